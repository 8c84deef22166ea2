"""What the ledger vouches for: a digest of the certified model, and the
error raised when the model no longer matches it."""

import hashlib

import numpy as np
from sklearn.pipeline import Pipeline


class LedgerIntegrityError(RuntimeError):
    """The model no longer matches the certificate that accounts for it.

    Raised by :meth:`CertifiedRemoval.unlearn` and
    :meth:`CertifiedRemoval.verify` when the fitted model was changed other
    than by the meta-estimator itself (``coef_`` set or edited, ``estimator_``
    refitted or replaced, a hyper-parameter of the final step set): the
    ledger cannot account for such a change, so nothing is done until the
    model is restored or fitted again.

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


def _canonical(value):
    """A text form of a hyper-parameter value that survives pickling and skops
    (numpy scalars as Python numbers; objects by their type)."""
    if value is None or type(value) in (bool, int, float, str):
        return repr(value)
    if isinstance(value, dict):
        items = sorted((_canonical(k), _canonical(v)) for k, v in value.items())
        return "{" + ", ".join(f"{k}: {v}" for k, v in items) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_canonical(v) for v in value) + "]"
    if isinstance(value, (np.generic, np.ndarray)):
        return repr(value.tolist())
    for base in (bool, int, float, str):                      # their subclasses
        if isinstance(value, base):
            return repr(base(value))
    return type(value).__qualname__


def _array_bytes(value):
    a = np.ascontiguousarray(value)
    data = repr(a.tolist()).encode() if a.dtype.hasobject else a.tobytes()
    return f"{a.dtype.str}{a.shape}".encode() + data


def model_digest(estimator):
    """SHA-256 of what the ledger vouches for in a fitted model: the structure
    of the pipeline, the final step's hyper-parameters, released parameters
    and classes, its residual bound and the number of requests its cache has
    applied. Anything missing enters as missing (a replaced model differs)."""
    h = hashlib.sha256()

    def add(tag, data):
        h.update(f"|{tag}:{len(data)}:".encode())
        h.update(data)

    steps = estimator.steps if isinstance(estimator, Pipeline) else [("", estimator)]
    for name, step in steps:
        add("step", f"{name}={type(step).__module__}.{type(step).__qualname__}".encode())
    final = steps[-1][1]
    if hasattr(final, "get_params"):
        add("params", _canonical(final.get_params(deep=False)).encode())
    for attr in ("coef_", "intercept_", "classes_"):
        value = getattr(final, attr, None)
        add(attr, b"missing" if value is None else _array_bytes(value))
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
