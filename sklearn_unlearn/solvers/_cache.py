"""What a linear estimator keeps from fit to unlearn without its data, and the
updates that move it.

Conventions (see the user guide for the derivations):

- ``theta`` is the current (published) parameter. Every row's curvature
  entered the cached Hessian where the parameters were at the time (the fit's
  anchor, or the request that inserted it); a row leaves with its curvature at
  the request's ``theta``. Only scalar bounds on the drift since are kept
  (:class:`_Drift`): a stored vector of earlier parameters would, with the
  Hessian, reveal the rows a request removed.
- ``residual`` is an estimate of the gradient of the current objective at
  ``theta``; ``residual_error`` bounds its distance to the true gradient.
  ``||residual|| + residual_error`` bounds the true gradient residual.
"""

import logging
import warnings
from dataclasses import dataclass, field, replace
from typing import NamedTuple

import numpy as np

from .._report import RequestReport
from ._factored import FactoredHessian, NotPositiveDefiniteError
from ._pending import PendingMatrix
from . import _bound, _roundoff, _third
from ._auto import auto_method
from ._blocks import apply_all, corrected, matvec, solve
from ._chunks import published_theta, row_sums
from ._entry_sides import EntrySides, new_key, packed_sides
from ._polish import polish, unconverged_polish
from ._refine import refine
from ._request_change import RequestChange as _RequestChange
from ._rows import prepare_fold

#: Relative residual to which the Newton system of a non-quadratic loss is
#: solved.
_STEP_RTOL = 1e-8

logger = logging.getLogger("sklearn_unlearn")


class UnlearningWarning(UserWarning):
    """An update that is likely far from what retraining would give.

    Issued, for instance, when a ``method="second_order"`` step increases
    the cached quadratic model of the corrected objective: the request moves
    the optimum too far for one Newton step. ``method="refined"`` (which the
    default, ``method="auto"``, switches to by itself) or retraining is then
    the better choice. The update is still applied.

    Examples
    --------
    Turn it into an error to refuse such updates:

    >>> import warnings
    >>> from sklearn_unlearn.solvers import UnlearningWarning
    >>> warnings.simplefilter("error", UnlearningWarning)   # doctest: +SKIP
    >>> issubclass(UnlearningWarning, UserWarning)
    True
    """


class _Step(NamedTuple):
    """The parameters after a step and what the request's figures need
    (``delta`` the step before rounding, ``res`` the residual of its solve,
    ``None`` when it was not one solve)."""

    theta_new: np.ndarray
    rounding: np.ndarray
    step: np.ndarray
    H_rest_step: np.ndarray
    eta_new_after: np.ndarray
    coef_after: np.ndarray
    grad_new_after: np.ndarray
    delta: np.ndarray
    res: np.ndarray | None


class _Gradients(NamedTuple):
    """A request's rows at ``theta`` and the corrected objective's gradient:
    ``G_rest`` of the rows that stay (with the penalty's change ``shift``
    times ``theta``), ``G`` with the new rows; ``rest`` the cached blocks
    under the corrected data's penalty (``new_obj``); the corrected data's
    class ``totals`` and ``counts``; the squared hinge's entry sides after
    the request and the sides the removed rows entered on."""

    eta_old: np.ndarray
    eta_new: np.ndarray
    coef_old: np.ndarray
    coef_new: np.ndarray
    grad_old: np.ndarray
    G_rest: np.ndarray
    G: np.ndarray
    shift_theta: np.ndarray | None
    new_obj: object
    rest: list
    totals: np.ndarray
    counts: np.ndarray
    entry_sides: object
    inside_old: np.ndarray | None


class _Changed(NamedTuple):
    """How a request changes the cached matrices, the corrected Hessian
    blocks, the bound on their error, the cubic term of the rows that stay
    (``None`` where not kept) and whether rows are folded out."""

    change: object
    hessians: list
    hessian_error: float
    cubic: object
    fold: bool


class _StepInfo(NamedTuple):
    """The figures of a step: iterations, the first-order rate, auto's
    estimate of one step's error, and the cubic term the steps were taken on."""

    n_iter: int
    tau: float | None
    one_step_error: float | None
    stepped_on: object


@dataclass
class _Plan:
    objective: object
    theta: np.ndarray
    residual: np.ndarray
    error_increment: float
    hessians: list
    gram: object
    norm_gram: object
    weight_totals: np.ndarray
    counts: np.ndarray
    max_row_norm: float
    drift: "_Drift"
    report: RequestReport
    entry_sides: object = None
    third: list | None = None


@dataclass
class UnlearningCache:
    """State kept at fit time for closed-form unlearning.

    Attributes
    ----------
    objective : LinearObjective
    theta : ndarray of shape (n_params, n_outputs)
        Current parameters (intercept weight in the last row).
    noise : ndarray of shape (n_params, n_outputs) or None
        The objective perturbation ``B``.
    hessians : list of FactoredHessian
        One per independent block of outputs.
    residual : ndarray of shape (n_params, n_outputs)
        Estimated gradient of the current objective at ``theta``.
    residual_error : float
        Bound on the error of ``residual``.
    gram : PendingMatrix or None
        ``K = sum_i s_i x_i x_i^T`` over the current data, for the bound.
    norm_gram : PendingMatrix or None
        ``K_R = sum_i s_i ||x_i|| x_i x_i^T`` over the current data, for the
        bound.
    max_row_norm : float
        Largest augmented row norm ever trained on (an upper bound for the
        current data).
    weight_totals, counts : ndarray of shape (n_groups,)
        Trained weight and number of rows per class (one group for regressors).
    drift : _Drift
        Scalar bounds on how far the curvature of the current rows has moved
        since the cached Hessian took it in, and on the Hessian's error.
        Only scalars: a stored vector of the old parameters would, with the
        Hessian, reveal the gradient of the rows a request removed.
    entry_sides : EntrySides or None
        For a loss whose curvature jumps, the digest of every row held and
        the side it entered each block on
        (:mod:`~sklearn_unlearn.solvers._entry_sides`).
    n_requests : int
        Number of requests applied.
    third : list of ndarray of shape (p, p, p) or None
        The third derivatives of the rows' loss, one tensor per Hessian
        block, with their terms taken where the rows' curvature was (the
        cubic term of the cache's model; see ``solvers._third``). ``None``
        for more than ``_third.MAX_PARAMS`` parameters per block, low-rank
        blocks, and losses without a smooth curvature.
    history : list of RequestReport
        The report of every request.

    Examples
    --------
    Every unlearnable estimator keeps one in ``unlearning_cache_``; its size
    depends on the number of parameters, not on the number of rows:

    >>> from sklearn.datasets import load_breast_cancer
    >>> from sklearn.preprocessing import scale
    >>> from sklearn_unlearn import UnlearnableLogisticRegression
    >>> X, y = load_breast_cancer(return_X_y=True)
    >>> cache = UnlearnableLogisticRegression().fit(scale(X), y).unlearning_cache_
    >>> cache.theta.shape                    # 30 weights and the intercept
    (31, 1)
    >>> [H.matrix.shape for H in cache.hessians]
    [(31, 31)]
    >>> cache.gram.shape
    (31, 31)
    """

    objective: object
    theta: np.ndarray
    noise: np.ndarray | None
    hessians: list
    residual: np.ndarray
    residual_error: float
    gram: PendingMatrix | None
    norm_gram: PendingMatrix | None
    max_row_norm: float
    weight_totals: np.ndarray
    counts: np.ndarray
    drift: "_Drift" = None
    dtype: type = np.float64
    entry_sides: EntrySides | None = None
    n_requests: int = 0
    history: list = field(default_factory=list)
    third: list | None = None

    # -- construction --------------------------------------------------------
    @classmethod
    def from_fit(cls, objective, X, Y, S, theta, *, noise=None, groups, n_groups,
                 row_weight, max_newton=100, mode="dense", rank=None, bound=True,
                 hessians=None, dtype=np.float64):
        """Polish ``theta`` to the exact optimum and cache what unlearning needs.

        ``mode="dense"`` keeps factored ``p x p`` Hessian blocks and the Gram
        matrices of the residual bound; ``mode="low_rank"`` keeps
        :class:`~sklearn_unlearn.solvers.LowRankHessian` blocks of rank
        ``rank`` and no Gram matrix (the bound is then ``inf``).

        The polish takes chord steps with the Hessian cached at the start (one
        solve and one pass over the data each) while they make fast progress,
        and Newton steps solved by conjugate gradients with exact
        Hessian-vector products otherwise; when a step makes slow progress
        (the start was far from the optimum), the cached Hessian is recomputed
        once at the polished optimum. ``bound=False`` keeps no Gram matrix:
        the residual bound is then ``inf``. ``hessians``: blocks already
        made for this data, for a loss of constant curvature (the same at
        every ``theta``, and no Gram matrix for the bound). ``dtype``: that
        of the published parameters; with float32 the cached ``theta`` is
        their float32 rounding, so the bound is about the model that
        predicts.
        """
        # a penalty that grows with the total weight takes the training data's
        objective = objective.for_total_weight(float(np.sum(row_weight)))
        gamma = objective.loss.curvature_lipschitz
        exact = mode == "dense"
        theta = theta.copy()
        row_norms = objective.design.row_norms(X)
        gram_weights = None
        if exact and bound and gamma is not None and gamma > 0:
            gram_weights = np.column_stack([S[:, 0], S[:, 0] * row_norms])
        start = objective.value_and_gradient(X, Y, S, theta, noise,
                                             return_predictor=True)
        if hessians is None:
            hessians, grams = objective.hessian(
                X, Y, S, theta, gram_weights=gram_weights, mode=mode, rank=rank,
                eta=start[2] if exact else None)
        elif objective.loss.constant_curvature and gram_weights is None:
            grams = None
        else:
            raise ValueError("Hessian blocks made at another theta are exact only "
                             "for a loss of constant curvature.")
        anchor, eta_anchor = theta.copy(), start[2]
        theta, g, eta, far, converged = polish(
            objective, X, Y, S, theta, noise, hessians,
            # a noisy objective starts from the noise-free optimum, far out
            max_newton=max_newton if noise is None else 5 * max_newton,
            row_norms=row_norms, start=start)
        if not converged:
            unconverged_polish(g, noise)
        published = published_theta(objective, theta, dtype)
        if published is not theta:
            # the bound is about the parameters the estimator publishes
            theta = published
            _, g, eta = objective.value_and_gradient(X, Y, S, theta, noise,
                                                     return_predictor=True)
        # handed over in a list, so that a sketch taken again can release the
        # first one before the second is made
        held, hessians = [hessians], None
        hessians, anchor, eta_anchor = _anchored(
            objective, X, Y, S, theta, eta, held, anchor, eta_anchor,
            far=far, exact=exact, noisy=noise is not None, mode=mode, rank=rank)
        third = (_third.fit_tensors(objective, X, Y, S, eta_anchor)
                 if _third.keeps_third(objective, exact) else None)
        sums = row_sums(objective, X, Y, S, theta, groups=groups, n_groups=n_groups,
                        row_weight=row_weight, gradient=False, eta=eta,
                        row_norms=row_norms, anchor=anchor, eta_anchor=eta_anchor,
                        sides_key=new_key() if objective.loss.curvature_jumps else None)
        return cls.from_sums(objective, theta, g, sums, hessians=hessians, grams=grams,
                             noise=noise, anchor=anchor, exact=exact, bound=bound,
                             dtype=dtype, third=third)

    @classmethod
    def from_sums(cls, objective, theta, gradient, sums, *, hessians, grams, noise,
                  anchor, exact, bound, dtype=np.float64, third=None):
        """The cache at the polished ``theta`` from the sums over the
        training rows (:class:`~sklearn_unlearn.solvers._chunks.RowSums`,
        of one chunk or added over many): ``gradient`` of the objective
        there, the Hessian ``hessians`` with its curvature taken at
        ``anchor``, and ``grams`` (``K`` and ``K_R``, or ``None``)."""
        gamma = objective.loss.curvature_lipschitz
        drift = _Drift.from_sums(objective, sums, theta, anchor, exact)
        roundoff = np.inf
        if gamma is not None and exact and (bound or gamma == 0):
            roundoff = _bound.gradient_roundoff(objective, theta, gradient, sums, noise)
        grams_error = sums.gram_errors(objective.n_params)
        return cls(
            objective=objective,
            theta=theta,
            noise=noise,
            hessians=hessians,
            residual=gradient,
            residual_error=roundoff,
            gram=None if grams is None else PendingMatrix(grams[0], error=grams_error[0]),
            norm_gram=(None if grams is None
                       else PendingMatrix(grams[1], error=grams_error[1])),
            max_row_norm=sums.max_norm,
            weight_totals=sums.weight_totals,
            counts=sums.counts,
            drift=drift,
            dtype=np.dtype(dtype).type,
            entry_sides=_entry_sides(objective, sums),
            third=third,
        )

    def measured(self, sums):
        """The cache with its residual measured on the current training rows:
        ``sums`` (:class:`~sklearn_unlearn.solvers._chunks.RowSums` of every
        row at ``theta``) give the gradient, which becomes the residual, and
        its rounding, which becomes the residual's error (the allowance the
        fit takes for its own residual). This one is unchanged."""
        _, gradient = self.objective.penalized(sums.value, sums.gradient.copy(),
                                               self.theta, self.noise)
        error = _bound.gradient_roundoff(self.objective, self.theta, gradient, sums,
                                   self.noise)
        return replace(self, residual=gradient, residual_error=error)

    @property
    def exact_hessian(self):
        """Whether the cached Hessian blocks are exact (dense mode)."""
        return all(isinstance(H, FactoredHessian) for H in self.hessians)

    @property
    def residual_bound(self):
        """Upper bound on ``||grad L(theta; current data)||``."""
        return float(np.linalg.norm(self.residual) + self.residual_error)

    # -- a request -------------------------------------------------------------
    def plan(self, request, *, method="second_order", tau="auto", max_iter=10,
             tol=1e-10, remaining=None):
        """Compute the update of ``request`` without changing the cache.

        ``request`` is a :class:`~sklearn_unlearn.solvers._request_rows.RequestRows`:
        augmented rows ``R_old``, ``R_new`` (arrays, or sparse matrices with
        low-rank Hessian blocks, which then keep the request's corrections
        sparse), encoded targets ``Y_old``, ``Y_new``, weights ``S_old``,
        ``S_new`` (shape ``(k, 1)`` or ``(k, m)``), row weights ``w_old``,
        ``w_new`` and class groups ``g_old``, ``g_new``. ``remaining`` is
        :meth:`remaining` of the request, if the caller has it.

        A request that removes or edits rows folds every cached matrix (the
        Hessian blocks, refactored, and the bound's Gram matrices): the new
        state holds no removed row. Rows that are only inserted may stay
        pending beside the matrices; they belong to the corrected data.
        """
        r = request
        g = self._gradients(r, remaining)
        c = self._changed(r, g)
        requested = method
        method, after, info = self._stepped(r, g, c, method, tau, max_iter, tol)
        residual = g.G_rest + after.H_rest_step + after.grad_new_after
        if requested == "second_order" and self.objective.loss.curvature_lipschitz != 0:
            _warn_on_overshoot(self.objective, r, g.G_rest, after.step, after.H_rest_step,
                               g.eta_new, after.eta_new_after)
        cubic_norm = 0.0
        if info.stepped_on is not None:
            # the estimate of a step taken on the cubic model takes its cubic
            # term; the bound adds the term's norm
            cubic_step = info.stepped_on.gradient(after.step)
            cubic_norm = float(np.linalg.norm(cubic_step))
            residual = residual + cubic_step
        if not (np.all(np.isfinite(after.theta_new)) and np.all(np.isfinite(residual))):
            raise ValueError(
                "The request gives non-finite parameters or gradients: its rows, "
                "targets or weights are too large for float64 arithmetic. Nothing "
                "was changed. Rescale the data and retrain."
            )
        drift, increment = _bound.increment(self, r, g, c.hessians, c.hessian_error,
                                            c.change, after, cubic_norm)
        report = RequestReport(
            method=method,
            one_step_error=info.one_step_error,
            n_removed=r.R_old.shape[0],
            n_added=len(r.Y_new),
            tau=info.tau,
            n_iter=info.n_iter,
            step_norm=float(np.linalg.norm(after.step)),
            gradient_norm=float(np.linalg.norm(g.G)),
            residual_estimate=float(np.linalg.norm(residual)),
            bound_increment=float(increment),
            residual_bound=float(np.linalg.norm(residual)
                                 + (self.residual_error + increment)),
        )
        return self._planned(r, g, c, after, residual, increment, drift, report)

    def _gradients(self, r, remaining):
        """The request rows' predictors and gradients at ``theta``, the
        cached blocks under the corrected data's penalty, and the gradient of
        the corrected objective there (see :class:`_Gradients`)."""
        obj = self.objective
        theta = self.theta
        # the predictors of the request rows at theta: every row leaves and
        # enters the cached matrices with its curvature here
        eta_old, eta_new = r.predictors(theta)
        entry_sides, inside_old = self._exchange_sides(r, eta_new)
        coef_old = obj.gradient_coefficients(r.Y_old, r.S_old, eta_old)
        coef_new = obj.gradient_coefficients(r.Y_new, r.S_new, eta_new)
        grad_old, grad_new = r.transpose_products(coef_old, coef_new)
        totals, counts = self.remaining(r) if remaining is None else remaining
        # ``rest``: the cached blocks under the penalty of the corrected data
        new_obj, rest, shift = self._reweighted(totals)
        G_rest = self.residual - grad_old
        shift_theta = None
        if shift is not None:
            shift_theta = shift[:, None] * theta
            G_rest = G_rest + shift_theta
        return _Gradients(eta_old, eta_new, coef_old, coef_new, grad_old, G_rest,
                          G_rest + grad_new, shift_theta, new_obj, rest, totals, counts,
                          entry_sides, inside_old)

    def _changed(self, r, g):
        """How the request changes the cached matrices, and the Hessian blocks
        of the corrected data (solved here, adopted on commit): removed rows
        folded, the bound on their error, the cubic term of the rows that
        stay (see :class:`_Changed`)."""
        obj = self.objective
        fold = r.R_old.shape[0] > 0
        change = _RequestChange(obj, r, self.theta, g.eta_old, g.eta_new,
                                grams=self.gram is not None, inside_old=g.inside_old)
        hessian_error = _bound.hessian_error_after(self, r)
        if fold:
            # every dense matrix folds the same rows: one buffer for their
            # scaled rows, the edited columns' products by one pass over them
            prepare_fold((change.hessian if self.exact_hessian else [])
                         + [change.gram, change.norm_gram])
        hessians = [corrected(H, t, fold, hessian_error)
                    for H, t in zip(g.rest, change.hessian)]
        cubic = None if self.third is None else _third.CubicTerm(obj, _third.changed(
            obj, self.third, r.R_old, r.Y_old, r.S_old, g.eta_old, -1.0), hessians)
        return _Changed(change, hessians, hessian_error, cubic, fold)

    def _stepped(self, r, g, c, method, tau, max_iter, tol):
        """The step of ``method`` (``"auto"`` choosing by the request's own
        rows): the method taken, the state after the step, and the step's
        figures (see :class:`_StepInfo`)."""
        obj = self.objective
        n_iter, used_tau, res, one_step_error, stepped_on = 1, None, None, None, None
        if method == "first_order":
            if tau == "auto":
                HG = matvec(obj, c.hessians, g.G)
                curv = float((g.G * HG).sum())
                used_tau = float((g.G * g.G).sum()) / curv if curv > 0 else 0.0
            else:
                used_tau = float(tau)
            delta = -used_tau * g.G
        else:
            # A curvature that changes along the step makes the step itself
            # approximate: its system is solved to 1e-8 of the gradient, two
            # orders below the step's own error. The true residual enters the
            # estimate, so the bound holds whatever the tolerance.
            x, res = solve(obj, c.hessians, g.G, residual=True,
                           rtol=0.0 if obj.loss.constant_curvature else _STEP_RTOL)
            delta = -x
        after = self._after_step(r, self.theta, g.G, g.G_rest, res, g.rest, c.change,
                                 delta)
        if method == "auto":
            method, one_step_error = auto_method(
                obj, g.G, g.G_rest + after.H_rest_step + after.grad_new_after, delta,
                after.theta_new, c.cubic)
        if method == "refined":
            delta, n_iter, stepped_on = refine(
                self, r, self.theta, g.G_rest, c.change.removed, delta,
                max_iter=max_iter, tol=tol, max_damping=c.hessian_error,
                hessians=g.rest, cubic=c.cubic)
            after = self._after_step(r, self.theta, g.G, g.G_rest, None, g.rest,
                                     c.change, delta)
        return method, after, _StepInfo(n_iter, used_tau, one_step_error, stepped_on)

    def _planned(self, r, g, c, after, residual, increment, drift, report):
        """The :class:`_Plan` of a request from its phases."""
        obj = self.objective
        third, hessians, drift = _third.after_request(
            obj, c.cubic, r, g.eta_new, c.hessians, after.step, drift,
            # after a change of the features (a loss of unbounded curvature
            # never bounds the error, and keeps its pending rows)
            follow=(not np.isfinite(self.drift.hessian_error)
                    and obj.loss.curvature_lipschitz is not None))
        return _Plan(
            objective=g.new_obj,
            theta=after.theta_new,
            residual=residual,
            error_increment=increment,
            hessians=hessians,
            gram=(None if self.gram is None
                  else self.gram.corrected(c.change.gram, fold=c.fold)),
            norm_gram=(None if self.norm_gram is None
                       else self.norm_gram.corrected(c.change.norm_gram, fold=c.fold)),
            weight_totals=g.totals,
            counts=g.counts,
            max_row_norm=float(max(self.max_row_norm, _roundoff.upper_norms(
                r.norms_new, obj.n_params).max(initial=0.0))),
            drift=drift,
            report=report,
            entry_sides=g.entry_sides,
            third=third,
        )

    def _after_step(self, r, theta, G, G_rest, res, rest, change, delta):
        """The published parameters after ``delta``, their rounding, the step,
        the remaining rows' Hessian times it (from the solve's residual
        ``res`` when given: no product with the dense matrix), and the new
        rows' predictors, gradient coefficients and gradient there."""
        obj = self.objective
        theta_new = published_theta(obj, theta + delta, self.dtype)
        rounding = theta_new - (theta + delta)
        step = delta + rounding
        if res is not None:
            (added_delta,) = apply_all(obj, [(change.added, delta)])
            H_rest_step = res - G - added_delta
            if rounding.any():
                H_rest_step = H_rest_step + matvec(obj, rest, rounding, change.removed)
        else:
            H_rest_step = matvec(obj, rest, step, change.removed)
        eta_new_after = r.new_predictor(theta_new)
        coef_after = obj.gradient_coefficients(r.Y_new, r.S_new, eta_new_after)
        return _Step(theta_new, rounding, step, H_rest_step, eta_new_after, coef_after,
                     r.new_transpose_product(coef_after), delta, res)

    def _exchange_sides(self, r, eta_new):
        """The rows held after the request, and the side each removed row
        entered every block on (``None``, ``None`` for a loss whose
        curvature does not jump)."""
        sides = self.entry_sides
        if sides is None:
            if self.objective.loss.curvature_jumps and r.R_old.shape[0]:
                raise ValueError(
                    "This cache does not record the side of the margin its rows "
                    "entered on (it was made before that was kept): it cannot fold "
                    "out removed rows without leaving a trace of them. Refit the "
                    "model. Nothing was changed.")
            return None, None
        design = self.objective.design
        d = r.R_old.shape[1] - int(design.fit_intercept)
        packed = packed_sides(self.objective.loss, r.Y_new, eta_new)
        return sides.exchange(r.R_old[:, :d], r.Y_old, r.S_old,
                              r.R_new[:, :d], r.Y_new, r.S_new, packed)

    def remaining(self, r):
        """Weight and row count per group after the request ``r``."""
        n = len(self.counts)

        def per_group(g, w=None):
            return np.bincount(g, weights=w, minlength=n)

        totals = (self.weight_totals - per_group(r.g_old, r.w_old)
                  + per_group(r.g_new, r.w_new))
        counts = self.counts - per_group(r.g_old) + per_group(r.g_new)
        return totals, counts

    def _reweighted(self, totals):
        """The objective of the corrected data (of total weight
        ``totals.sum()``), the cached Hessian blocks under its penalty, and
        the change of the penalty (``None`` when there is none: only a
        penalty that grows with the total weight changes)."""
        obj = self.objective
        new = obj.for_total_weight(float(totals.sum()))
        shift = new.penalty - obj.penalty
        if new is obj or not shift.any():
            return new, self.hessians, None
        full = np.repeat(shift[:, None], obj.n_outputs, axis=1)
        blocks = [obj.to_block(full, b) for b in range(len(self.hessians))]
        return new, [H.shifted(d if d.ndim == 1 else d[:, 0])
                     for H, d in zip(self.hessians, blocks)], shift

    def committed(self, plan):
        """The cache after a plan computed by :meth:`plan`, as a new object.

        This one is unchanged, so a caller can build the whole new state of
        an estimator first and swap it in with one assignment.
        """
        return replace(
            self,
            objective=plan.objective,
            hessians=plan.hessians,
            gram=plan.gram,
            norm_gram=plan.norm_gram,
            theta=plan.theta,
            residual=plan.residual,
            residual_error=self.residual_error + plan.error_increment,
            weight_totals=plan.weight_totals,
            counts=plan.counts,
            max_row_norm=plan.max_row_norm,
            drift=plan.drift,
            entry_sides=plan.entry_sides,
            third=plan.third,
            n_requests=self.n_requests + 1,
            history=[*self.history, plan.report],
        )


@dataclass(frozen=True)
class _Drift:
    """Scalar bounds that let the cached Hessian serve away from where its
    rows' curvature was evaluated, without keeping where that was.

    Row ``i`` entered the cached Hessian with its curvature ``a_i`` at some
    ``theta_i`` (the fit's anchor, or the parameters of the request that
    inserted it); ``v_i = x_i^T (theta - theta_i)`` is its drift since.

    Attributes
    ----------
    form : float
        Bound on ``sum_i s_i ||x_i|| ||v_i||^2`` over the current rows.
    norm : float
        Bound on ``max_i ||theta - theta_i||``.
    curvature : float
        Bound on ``sum_i a_i ||v_i||^2`` (used by a self-concordant loss).
    hessian_error : float
        Bound on the operator norm of the cached Hessian minus the sum of the
        current rows' cached curvature terms and the penalty: what removed
        rows left behind (they leave with their curvature at the request's
        ``theta``) and the rounding of the curvature weights.
    """

    form: float = 0.0
    norm: float = 0.0
    curvature: float = 0.0
    hessian_error: float = 0.0

    @classmethod
    def from_sums(cls, obj, sums, theta, anchor, exact):
        """The bounds of a cache fitted at ``theta`` with its curvature taken
        at ``anchor``, from the sums over the training rows
        (:class:`~sklearn_unlearn.solvers._chunks.RowSums`)."""
        n = sums.n_rows
        kappa = obj.loss.curvature_max
        if not np.isfinite(kappa):
            # an unbounded curvature (a log link): no bound on the rounding of
            # its sums, nor on any drift the bound would need
            return cls(hessian_error=np.inf)
        coupled_factor = np.sqrt(obj.n_outputs) if obj.loss.coupled else 1.0
        # the rounding of the Hessian's sums and of its curvature weights
        error = float(_roundoff.gamma(n + 2) * obj.scale * kappa * coupled_factor
                      * sums.weight_norm2 + sums.weight_error_norm2)
        error += _roundoff.gamma(2) * float(np.max(obj.penalty, initial=0.0))
        if anchor is theta or not exact:
            return cls(hessian_error=error)
        growth = 1.0 + _roundoff.gamma(n + 2)
        return cls(form=growth * sums.drift_form,
                   norm=growth * float(np.linalg.norm(theta - anchor)),
                   curvature=growth * sums.drift_curvature, hessian_error=error)


def _anchored(objective, X, Y, S, theta, eta, held, anchor, eta_anchor, *, far,
              exact, noisy, mode, rank):
    """The fit's Hessian blocks (taken from the list ``held``) and where they
    were taken (``anchor``, its predictors ``eta_anchor``), taken again at
    the polished ``theta`` when the polish moved far from where they were."""
    gamma = objective.loss.curvature_lipschitz
    hessians = held.pop()
    moved = np.linalg.norm(theta - anchor) > 1e-9 * np.linalg.norm(theta)
    if objective.loss.constant_curvature:
        # the same Hessian at every theta: no drift to carry
        anchor, eta_anchor = theta, eta
    elif far or (moved and (exact or (noisy and gamma))):
        # The start was too far from the optimum for its curvature to
        # describe the optimum, or the rows would carry the drift from it
        # into every request (removed rows leave with their curvature at
        # theta, and the cache cannot keep the start, so what they leave
        # behind grows with that drift): anchor the cache there. A
        # low-rank sketch, which has no bound, is taken again only when
        # the start was far.
        if not exact:
            hessians = None     # release the first sketch before the second
        try:
            # the polish's last predictor is at theta: no pass of its own
            hessians, _ = objective.hessian(X, Y, S, theta, mode=mode, rank=rank,
                                            eta=eta if exact else None)
            anchor, eta_anchor = theta, eta
        except NotPositiveDefiniteError:
            if not exact:
                raise
            # no curvature left at the optimum (e.g. one class carries
            # all the weight): keep the Hessian where it was computed
    return hessians, anchor, eta_anchor


def _warn_on_overshoot(obj, r, G_rest, step, H_rest_step, eta_new, eta_new_after):
    """Warn when a second-order step increases the cached model of the
    corrected objective (quadratic in the remaining rows, exact in the new
    ones) by more than the rounding of its terms, which a tiny step leaves
    alone."""
    before = obj.loss_sum(r.Y_new, r.S_new, eta_new)
    linear = float((G_rest * step).sum())
    quadratic = 0.5 * float((step * H_rest_step).sum())
    after = linear + quadratic + obj.loss_sum(r.Y_new, r.S_new, eta_new_after)
    scale = max(abs(before), abs(after), abs(linear), abs(quadratic))
    if after > before + 1e-12 * scale:
        warnings.warn(
            "The second-order step increases the cached model of the "
            "corrected objective: the request moves the optimum too far "
            "for one Newton step (typical of many flipped labels on nearly "
            "separable data). method='refined' (or the default, 'auto') "
            "iterates with a line search; retraining is safest.",
            UnlearningWarning, stacklevel=2,
        )


def _entry_sides(objective, sums):
    """The :class:`EntrySides` of the rows the ``sums`` were taken over
    (``None`` for a loss whose curvature does not jump)."""
    if sums.side_digests is None:
        return None
    return EntrySides.from_parts(sums.side_digests, sums.side_bits, key=sums.sides_key,
                                 n_blocks=objective.n_outputs)
