"""The requests of the no-trace check, and what each one erases."""

import copy

import numpy as np
from sklearn.base import is_classifier

from ..edits import replace_features, zero_features
from . import _check_data as data
from ._trace_scan import Erased


def _distinctive(rng, shape):
    """Random values of random sign in ``[0.6, 1.9)``: full mantissas, none
    shared with another row."""
    return rng.uniform(0.6, 1.9, shape) * rng.choice([-1.0, 1.0], shape)


def trace_requests(estimator, seed=0):
    """``[(what, estimator, erased)]``: a fitted clone of ``estimator``
    after deleting one row, after deleting three, after zeroing two columns
    of three rows and after replacing two columns of three rows (each a
    request on its own copy), with the rows and values each erased."""
    rng = np.random.default_rng(seed)
    problem = data.make_problem(estimator, n_features=data.N_FEATURES_TRACE, seed=seed)
    d = problem.X.shape[1]
    secret = _distinctive(rng, (10, d))
    X = np.vstack([problem.X, secret])
    # the distinctive rows take targets of the problem's rows
    y = np.r_[problem.y, problem.y[:10]]
    if not is_classifier(estimator):
        y = y.astype(np.float64)
        y[len(problem.X):] *= 1.0 + rng.uniform(0.01, 0.02, 10)
    fitted = data.fit(estimator, X, y)
    s = len(problem.X)
    replacement = rng.uniform(2.1, 2.9, (3, 2))
    rows = {
        "deleting one row": (slice(s, s + 1), None),
        "deleting three rows": (slice(s + 1, s + 4), None),
        "zeroing columns [1, 6] of three rows": (slice(s + 4, s + 7), [1, 6]),
        "replacing columns [0, 4] of three rows": (slice(s + 7, s + 10), [0, 4]),
    }
    out = []
    for what, (idx, cols) in rows.items():
        X_old, y_old = X[idx], y[idx]
        erased = Erased(d)
        if cols is None:
            X_new = None
            values = [(r, range(d)) for r in X_old]
        else:
            X_new = (zero_features(X_old, cols) if what.startswith("zeroing")
                     else replace_features(X_old, cols, replacement[:len(X_old)]))
            values = [(r, cols) for r in X_old]
        for i, (row, columns) in enumerate(values):
            label = f"{'deleted' if cols is None else 'old version of'} row {i}"
            erased.add_row(row, label, 0)
            erased.add_values(row[list(columns)],
                              [f"{label} column {c}" for c in columns])
            if cols is not None:
                erased.add_new_row(X_new[i], f"new version of row {i}", 0)
            elif not is_classifier(estimator):
                erased.add_values([y_old[i]], [f"target of {label}"])
        est = data.unlearn(copy.deepcopy(fitted), (X_old, X_new, y_old, None))
        out.append((what, est, erased))
    return out
