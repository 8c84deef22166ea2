"""Hyper-parameters as text that survives pickling and skops: what the
ledger vouches for, and what a request checks against the fit's."""

import numpy as np


def canonical(value):
    """A text form of a hyper-parameter value that survives pickling and skops
    (numpy scalars as Python numbers; objects by their type)."""
    if value is None or type(value) in (bool, int, float, str):
        return repr(value)
    if isinstance(value, dict):
        items = sorted((canonical(k), canonical(v)) for k, v in value.items())
        return "{" + ", ".join(f"{k}: {v}" for k, v in items) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(canonical(v) for v in value) + "]"
    if isinstance(value, (np.generic, np.ndarray)):
        return repr(value.tolist())
    for base in (bool, int, float, str):                      # their subclasses
        if isinstance(value, base):
            return repr(base(value))
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
