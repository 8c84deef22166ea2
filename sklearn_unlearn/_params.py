"""Hyper-parameters as text that survives pickling and skops: what the
ledger vouches for, and what a request checks against the fit's."""

import numpy as np

from ._digest import digest_of, held_by_content, value_text


def canonical(value):
    """A text form of a hyper-parameter value that survives pickling and skops
    (numpy scalars as Python numbers, a number by its value: ``1`` and
    ``1.0`` alike; a function, and an object held by content, by a digest
    of what it computes and holds (see :mod:`sklearn_unlearn._digest`);
    other objects by their type)."""
    text = value_text(value)
    if text is not None:
        return text
    if isinstance(value, dict):
        items = sorted((canonical(k), canonical(v)) for k, v in value.items())
        return "{" + ", ".join(f"{k}: {v}" for k, v in items) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(canonical(v) for v in value) + "]"
    if isinstance(value, np.ndarray):
        return canonical(value.tolist())
    if isinstance(value, type):
        return f"<{value.__module__}.{value.__qualname__}>"
    if callable(getattr(type(value), "get_params", None)):
        return type(value).__qualname__     # an estimator: its parameters are nested ones
    if callable(value) or held_by_content(value):
        # a function by what it computes (two lambdas are both "function"),
        # an object of the user's by what it holds
        return f"<{type(value).__qualname__} {digest_of(value)[:32]}>"
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
