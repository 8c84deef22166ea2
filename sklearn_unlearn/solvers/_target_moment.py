"""The moment of the current rows' targets, ``M = sum_i x_i (s_i y_i)^T``
over the augmented rows ``x_i``, encoded targets ``y_i`` and weights
``s_i``, which the cache keeps and every request updates, and the bounds on
its rounding.

Rows given as the model's current ones must have it: unlike the Gram
matrices, it sees their targets (labels swapped between two rows of the
same weight change it by the rows' difference), within the rounding of the
two sums alone, where the gradient's check allows the cached residual's
whole error bound.
"""

import numpy as np

from .bounds._roundoff import TINY, UNIT, gamma, upper_norms


def moment_rounding(n_rows, scale, max_norm):
    """A bound on every entry's difference between ``M`` summed over
    ``n_rows`` rows (in any order) and the exact sum: ``scale = sum_i N_i
    |c_i|_1`` over the rows' raised norms ``N_i`` and computed products
    ``c_i = fl(s_i y_i)`` bounds the magnitudes an entry sums (``|x_ij|
    <= N_i``), and ``max_norm``, the largest ``N_i``, what underflow loses
    (half of ``TINY`` in each product ``s_i y_i``, times ``|x_ij|``, and in
    each product with it)."""
    with np.errstate(over="ignore", invalid="ignore"):
        out = gamma(n_rows + 2) * scale + TINY * n_rows * (1.0 + max_norm)
    return float(out) if np.isfinite(out) else np.inf


def moment_after(moment, error, r, n_params):
    """``(moment, error)`` after the request ``r`` (a
    :class:`~sklearn_unlearn.solvers.steps._request_rows.RequestRows`): its
    old rows' terms taken out and its new rows' added, and the error bound
    grown by the rounding of both sums and of their addition to ``moment``
    (``(None, None)`` for a cache that keeps none)."""
    if moment is None:
        return None, None
    delta = np.zeros_like(moment)
    scale, n_rows, largest = 0.0, 0, 0.0
    with np.errstate(over="ignore", invalid="ignore"):
        for R, Y, S, norms, sign in ((r.R_old, r.Y_old, r.S_old, r.norms_old, -1.0),
                                     (r.R_new, r.Y_new, r.S_new, r.norms_new, 1.0)):
            if not len(Y):
                continue
            weighted = np.asarray(S * Y, dtype=np.float64)
            delta += sign * np.asarray(R.T @ weighted)
            raised = upper_norms(norms, n_params)
            scale += float(raised @ np.abs(weighted).sum(axis=1))
            n_rows += len(Y)
            largest = max(largest, float(raised.max()))
        new = moment + delta
        # the request's two sums, and their addition to the moment
        grown = (error + moment_rounding(n_rows + 1, scale, largest)
                 + 2.0 * UNIT * float(np.abs(new).max(initial=0.0)))
    return new, (float(grown) if np.isfinite(grown) else np.inf)
