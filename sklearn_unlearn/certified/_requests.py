"""The state of a certified model after a request: the final step's update
and its bound, spent or measured against the budget, refused, warned about
or replaced by a retraining; built whole, without changing the model."""

import copy

import numpy as np
from sklearn.base import clone

from .._report import RequestReport
from .._request import validate_request
from .._warnings import warn_caller
from ..base import get_unlearn_tags
from ._certificate import LedgerEntry, as_bound
from ._ledger import BudgetExceededError, certified, describe_bound, released_finite
from ._structure import (fit_final, fit_rows, handed_over, split, transform,
                         with_final)


def requested(model, X_old, X_new, y_old, y_new, sample_weight, method):
    """The whole state of the meta-estimator ``model`` after a request, and
    the request's report, built without changing ``model``."""
    pre, final, _ = split(model.estimator_)
    X_old, X_new = transform(pre, X_old), transform(pre, X_new)
    request = validate_request(final, X_old, X_new, y_old, y_new, sample_weight)
    rows = model.training_rows_
    drop = np.array([], dtype=int)
    if rows is not None and request.X_old is not None:
        drop = rows.locate(request.X_old, request.y_old, request.sample_weight)
    updated, bound, report = updated_final(final, X_old, X_new, request, method)
    finite = released_finite(updated)
    cert = model.certificate_
    spent = max(cert.spent, bound)
    over = not finite or spent > cert.budget
    measured = False
    wanted = {"over_budget": over, "always": True, "never": False}
    if (wanted[model.measure_residual] and finite and rows is not None
            and get_unlearn_tags(final).measures_residual):
        rebased = _measured(updated, rows, drop, request, cert.budget, spent, over)
        if rebased is not None:
            updated, bound = rebased
            spent, over, measured = bound, False, True
    n_removed = 0 if request.X_old is None else request.X_old.shape[0]
    n_added = 0 if request.X_new is None else request.X_new.shape[0]
    if over and model.on_budget_exceeded == "raise":
        raise BudgetExceededError(
            f"The request would raise the bound on the gradient residual "
            f"to {describe_bound(bound if finite else np.inf)}, over the budget "
            f"{cert.budget:.4g} (spent {cert.spent:.4g}); nothing was "
            "changed. Retrain, raise the budget, or use "
            "on_budget_exceeded='retrain'."
        )
    if rows is not None:
        # the corrected rows as an edit of the kept ones, written in place
        # once the new state is swapped in (_complete_unlearn)
        # in the dtype the final step fits them in (validated as float64)
        rows = rows.edited(drop, None if X_new is None else fit_rows(X_new),
                           request.y_new, request.sample_weight)
    if over and model.on_budget_exceeded == "retrain":
        return retrained(model, final, rows, n_removed, n_added)
    void, void_reason = (_voided(cert, bound, finite) if over
                         else (cert.void, cert.void_reason))
    estimator = with_final(model.estimator_, updated)
    if measured:
        # spent starts again from the measured bound, as after a retraining
        entry = LedgerEntry("measured", n_removed, n_added, bound, bound)
    else:
        # spent only grows between measurements: the entry adds what it raised
        added = 0.0 if spent == cert.spent else spent - cert.spent
        entry = LedgerEntry("request", n_removed, n_added, bound, added)
    certificate = certified(
        cert, estimator, entry, spent=spent, n_requests=cert.n_requests + 1,
        void=void, void_reason=void_reason)
    return {"estimator_": estimator, "training_rows_": rows,
            "certificate_": certificate,
            "unlearn_history_": [*model.unlearn_history_, report.kept()]}, report


def _measured(updated, rows, drop, request, budget, spent, over):
    """``(updated, bound)`` with the released model's residual measured on
    the corrected rows, when it fits the budget and beats what is spent
    (``None`` otherwise)."""
    rebased = updated._rebased_on_kept_rows(corrected_chunks(rows, drop, request))
    value = as_bound(rebased.residual_bound_)
    if value <= budget and (over or value < spent):
        return rebased, value
    return None


def _voided(cert, bound, finite):
    """The certificate's void flag and reason after a request over the
    budget (warned about; refused when its parameters are not finite)."""
    if not finite:
        raise ValueError(
            "The request's update has parameters that are not finite (its "
            "rows overflow the arithmetic); nothing was changed. Check the "
            "rows, or use on_budget_exceeded='retrain'."
        )
    warn_caller(
        f"The request raises the residual bound to {describe_bound(bound)}, "
        f"over the budget {cert.budget:.4g}: the certificate is void.",
        UserWarning,
    )
    if cert.void:
        return cert.void, cert.void_reason
    return True, (f"request {cert.n_requests + 1} raised the residual bound to "
                  f"{describe_bound(bound)}, over the budget {cert.budget:.4g}")


def updated_final(final, X_old, X_new, request, method):
    """The final step after ``request``, its rows ``X_old``, ``X_new`` as
    the preprocessing steps hand them over (a data frame keeps the names
    the step checks), as a new object, and its bound.

    The step in use is left as it was: the plan is applied to a shallow
    copy (a plan made on another state would be refused).
    """
    plan = final.plan_unlearn(X_old, X_new, request.y_old, request.y_new,
                              sample_weight=request.sample_weight, method=method)
    updated = final.apply_unlearn(plan, copy=True)
    bound = max(as_bound(plan.report.residual_bound),
                as_bound(updated.residual_bound_))
    return updated, bound, plan.report


def retrained(model, final, rows, n_removed, n_added):
    """The whole state of ``model`` after refitting the final step on the
    corrected rows with fresh noise (built without changing ``model``)."""
    rng = copy.deepcopy(model.noise_rng_)   # advanced only if swapped in
    seed = int(rng.randint(np.iinfo(np.int32).max))
    X, y, sample_weight = rows.materialised()
    fresh = fit_final(clone(final), handed_over(final, X), y, sample_weight, seed,
                      model.sigma_, type(model).__name__)
    bound = as_bound(fresh.residual_bound_)
    if not released_finite(fresh) or not np.isfinite(bound):
        raise ValueError(
            "Retraining on the corrected rows gave a model without finite "
            "parameters or a finite residual bound (the rows overflow the "
            "arithmetic); nothing was changed. Check the request's rows."
        )
    cert = model.certificate_
    void, void_reason = cert.void, cert.void_reason
    if bound > cert.budget and not void:
        void, void_reason = True, (
            f"the retrained model's own residual bound {bound:.3g} exceeds the "
            "budget"
        )
    estimator = with_final(model.estimator_, fresh)
    certificate = certified(
        cert, estimator, LedgerEntry("retrain", n_removed, n_added, bound, bound),
        spent=bound, n_requests=cert.n_requests + 1,
        n_retrains=cert.n_retrains + 1, void=void, void_reason=void_reason)
    report = RequestReport(
        method="retrain", n_removed=n_removed, n_added=n_added, tau=None, n_iter=0,
        step_norm=float(np.linalg.norm(
            np.ravel(fresh.coef_) - np.ravel(final.coef_))),
        gradient_norm=None, residual_estimate=None, bound_increment=bound,
        residual_bound=bound)
    return {"estimator_": estimator, "training_rows_": rows,
            "certificate_": certificate, "noise_rng_": rng, "noise_seed_": seed,
            "unlearn_history_": [*model.unlearn_history_, report.kept()]}, report


def corrected_chunks(rows, drop, request, size=4096):
    """The corrected training rows in chunks, without writing them: the kept
    rows less the positions ``drop``, then the request's new rows."""
    drop = np.sort(np.asarray(drop, dtype=int))
    start = 0
    for X, y, w in rows.chunks(size):
        stop = start + X.shape[0]
        lo, hi = np.searchsorted(drop, [start, stop])
        if hi > lo:
            keep = np.ones(stop - start, dtype=bool)
            keep[drop[lo:hi] - start] = False
            X, y, w = X[keep], y[keep], w[keep]
        start = stop
        yield X, y, w
    if request.X_new is not None:
        yield request.X_new, request.y_new, request.sample_weight
