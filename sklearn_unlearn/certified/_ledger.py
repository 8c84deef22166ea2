"""What the ledger vouches for: a digest of the certified model, the new
certificate of each of its events, and the errors raised when a request
would overspend or the model no longer matches it."""

import hashlib
from dataclasses import replace

import numpy as np
from sklearn.pipeline import Pipeline

from .._params import canonical
from ._certificate import Certificate, LedgerEntry, as_bound


class LedgerIntegrityError(RuntimeError):
    """The model no longer matches the certificate that accounts for it.

    Raised by :meth:`CertifiedRemoval.unlearn` and
    :meth:`CertifiedRemoval.verify` when the fitted model was changed other
    than by the meta-estimator itself (``coef_`` set or edited, ``estimator_``
    refitted or replaced, a hyper-parameter of the final step set; for
    :meth:`~CertifiedRemoval.verify`, a cache its kept rows no longer match,
    edited in a saved file, say): the ledger cannot account for such a
    change, so nothing is done until the model is restored or fitted again.

    Examples
    --------
    >>> from sklearn.datasets import load_breast_cancer
    >>> from sklearn.preprocessing import scale
    >>> from sklearn_unlearn import UnlearnableLogisticRegression
    >>> from sklearn_unlearn.certified import CertifiedRemoval, LedgerIntegrityError
    >>> X, y = load_breast_cancer(return_X_y=True)
    >>> X = scale(X)
    >>> model = CertifiedRemoval(UnlearnableLogisticRegression(),
    ...                          random_state=0).fit(X, y)
    >>> model.estimator_.coef_ = 2 * model.estimator_.coef_   # behind the ledger
    >>> try:
    ...     model.unlearn(X[:2], None, y[:2])
    ... except LedgerIntegrityError as exc:
    ...     print(str(exc)[:43])
    The model no longer matches its certificate
    """


class BudgetExceededError(ValueError):
    """A request would push the spent budget past the certified budget.

    Raised by :meth:`CertifiedRemoval.unlearn` with
    ``on_budget_exceeded="raise"``; the model, its ledger and its kept rows
    are left exactly as they were.

    Examples
    --------
    >>> from sklearn.datasets import load_breast_cancer
    >>> from sklearn.preprocessing import scale
    >>> from sklearn_unlearn import UnlearnableLogisticRegression
    >>> from sklearn_unlearn.certified import BudgetExceededError, CertifiedRemoval
    >>> X, y = load_breast_cancer(return_X_y=True)
    >>> X = scale(X)
    >>> model = CertifiedRemoval(UnlearnableLogisticRegression(), budget=0.01,
    ...                          on_budget_exceeded="raise",
    ...                          random_state=0).fit(X, y)
    >>> try:
    ...     model.unlearn(X[:50], None, y[:50])
    ... except BudgetExceededError as exc:
    ...     print(str(exc)[:49])
    The request would raise the bound on the gradient
    >>> model.certificate_.n_requests
    0
    """


def _array_bytes(value):
    a = np.ascontiguousarray(value)
    data = repr(a.tolist()).encode() if a.dtype.hasobject else a.tobytes()
    return f"{a.dtype.str}{a.shape}".encode() + data


def model_digest(estimator):
    """SHA-256 of what the ledger vouches for in a fitted model: the structure
    of the pipeline, the final step's hyper-parameters, released parameters
    and classes, the parameters and residual its cache holds (the next
    request starts from them), its residual bound and the number of requests
    its cache has applied. Anything missing enters as missing (a replaced
    model differs)."""
    h = hashlib.sha256()

    def add(tag, data):
        h.update(f"|{tag}:{len(data)}:".encode())
        h.update(data)

    steps = estimator.steps if isinstance(estimator, Pipeline) else [("", estimator)]
    for name, step in steps:
        add("step", f"{name}={type(step).__module__}.{type(step).__qualname__}".encode())
    final = steps[-1][1]
    if hasattr(final, "get_params"):
        add("params", canonical(final.get_params(deep=False)).encode())
    for attr in ("coef_", "intercept_", "classes_"):
        value = getattr(final, attr, None)
        add(attr, b"missing" if value is None else _array_bytes(value))
    cache = getattr(final, "unlearning_cache_", None)
    for attr in ("theta", "residual"):
        value = None if cache is None else getattr(cache, attr)
        add(f"cache.{attr}", b"missing" if value is None else _array_bytes(value))
    history = getattr(final, "unlearn_history_", None)
    add("n_requests", repr(None if history is None else len(history)).encode())
    try:
        bound = float(final.residual_bound_).hex()
    except (AttributeError, TypeError, ValueError):
        bound = "missing"
    add("bound", bound.encode())
    return h.hexdigest()


def released_finite(final):
    """Whether the released parameters of a linear final step are finite."""
    return bool(np.all(np.isfinite(final.coef_))
                and np.all(np.isfinite(getattr(final, "intercept_", 0.0))))


def describe_bound(bound):
    return f"{bound:.4g}" if np.isfinite(bound) else "a value that is not finite"


def certified(cert, estimator, entry, **changes):
    """A new certificate: ``cert`` with ``entry`` on its ledger and the
    digest of ``estimator``."""
    return replace(cert, ledger=(*cert.ledger, entry),
                   model_digest=model_digest(estimator), **changes)


def opened(estimator, final, *, epsilon, delta, sigma, budget, exact, uncovered,
           n_rows):
    """The certificate of a model just fitted on ``n_rows`` rows: it spends
    the fit's own bound, and is void when that is over the budget."""
    bound = as_bound(final.residual_bound_)
    void_reason = ""
    if not released_finite(final):
        void_reason = "the fitted model's parameters are not finite"
    elif bound > budget:
        void_reason = (
            f"the fitted model's own residual bound {describe_bound(bound)} exceeds "
            "the budget: increase the budget or the solver's accuracy"
        )
    return Certificate(
        epsilon=epsilon, delta=delta, sigma=sigma, budget=budget, spent=bound,
        exact=exact, uncovered_steps=uncovered, void=bool(void_reason),
        void_reason=void_reason,
        ledger=(LedgerEntry("fit", 0, n_rows, bound, bound),),
        model_digest=model_digest(estimator),
    )


def check_ledger(estimator, certificate, owner):
    """Refuse to act on a model changed behind the ledger of ``owner``."""
    if model_digest(estimator) != certificate.model_digest:
        raise LedgerIntegrityError(
            "The model no longer matches its certificate: its parameters, "
            "hyper-parameters or request count were changed other than by "
            f"{owner} (coef_ set or edited, estimator_ refitted "
            "or replaced, a hyper-parameter of the final step set), so the "
            "ledger cannot account for it; nothing was done. Restore the "
            "model the certificate describes, or fit again to open a new "
            "ledger."
        )
