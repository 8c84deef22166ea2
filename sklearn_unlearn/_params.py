"""Hyper-parameters as text that survives pickling and skops: what the
ledger vouches for, and what a request checks against the fit's."""

import numpy as np


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
