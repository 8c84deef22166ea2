"""Hyper-parameters as text that survives pickling and skops: what the
ledger vouches for, and what a request checks against the fit's."""

import hashlib

import numpy as np
import scipy.sparse as sp


def canonical(value):
    """A text form of a hyper-parameter value that survives pickling and skops
    (numpy scalars as Python numbers, a number by its value: ``1`` and
    ``1.0`` alike; objects by their type)."""
    if value is None or type(value) in (bool, str):
        return repr(value)
    if isinstance(value, dict):
        items = sorted((canonical(k), canonical(v)) for k, v in value.items())
        return "{" + ", ".join(f"{k}: {v}" for k, v in items) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(canonical(v) for v in value) + "]"
    if isinstance(value, (np.generic, np.ndarray)):
        return canonical(value.tolist())
    if isinstance(value, bool):                               # a subclass of int
        return repr(bool(value))
    if isinstance(value, int):
        number = float(value)
        # an integer too large for a float keeps its digits
        return repr(number) if number == value else repr(int(value))
    if isinstance(value, float):
        return repr(float(value))
    if isinstance(value, str):
        return repr(str(value))
    return type(value).__qualname__


def params_text(estimator, free):
    """:func:`canonical` of ``estimator``'s parameters (not nested), all but
    ``free``: read by name, as ``get_params(deep=False)`` reads them, with
    the names found once per class (a request checks them every time)."""
    cls = type(estimator)
    names = _PARAM_NAMES.get(cls)
    if names is None:
        names = _PARAM_NAMES[cls] = tuple(cls._get_param_names())
    return canonical({k: getattr(estimator, k) for k in names if k not in free})


#: The parameter names of each estimator class (no data).
_PARAM_NAMES = {}


def fitted_digest(estimators):
    """A digest of the parameters and fitted attributes (public, with a
    trailing underscore) of ``estimators`` and of every estimator nested in
    them, which survives pickling and skops: a pipeline compares it with
    the one its last fit or request left, so that a step changed, replaced
    or refitted in between (``set_params``, an assignment) is noticed."""
    digest = hashlib.sha256()
    _feed(digest, list(estimators), set())
    return digest.hexdigest()


def _feed(digest, value, seen):
    if hasattr(value, "get_params") and not isinstance(value, type):
        if id(value) in seen:
            digest.update(b"<seen>")
            return
        seen.add(id(value))
        digest.update(f"<{type(value).__qualname__}>".encode())
        fitted = {k: v for k, v in vars(value).items()
                  if k.endswith("_") and not k.startswith("_")}
        for part in (value.get_params(deep=False), fitted):
            for key in sorted(part):
                digest.update(key.encode())
                _feed(digest, part[key], seen)
    elif isinstance(value, np.ndarray) and value.dtype != object:
        digest.update(f"{value.dtype.str}{value.shape}".encode())
        digest.update(np.ascontiguousarray(value).tobytes())
    elif isinstance(value, (list, tuple, np.ndarray)):
        digest.update(f"[{len(value)}".encode())
        for item in (value.tolist() if isinstance(value, np.ndarray) else value):
            _feed(digest, item, seen)
        digest.update(b"]")
    elif isinstance(value, dict):
        digest.update(b"{")
        for key in sorted(value, key=repr):
            digest.update(repr(key).encode())
            _feed(digest, value[key], seen)
        digest.update(b"}")
    elif sp.issparse(value):
        _feed(digest, [value.format, value.shape, *(
            getattr(value, name) for name in ("data", "indices", "indptr", "row", "col")
            if hasattr(value, name))], seen)
    elif callable(value):
        digest.update(f"<{getattr(value, '__module__', '')}.{getattr(value, '__qualname__', type(value).__qualname__)}>".encode())
    else:
        digest.update(canonical(value).encode() if not isinstance(value, (slice, complex))
                      else repr(value).encode())
