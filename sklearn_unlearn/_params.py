"""Hyper-parameters as text that survives pickling and skops: what the
ledger vouches for, and what a request checks against the fit's."""

import hashlib

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


def params_digest(estimator, free):
    """SHA-256 of ``estimator``'s parameters (not nested), all but ``free``."""
    params = {k: v for k, v in estimator.get_params(deep=False).items() if k not in free}
    return hashlib.sha256(canonical(params).encode()).hexdigest()
