"""The gradient residual measured on the current training rows, with the
rounding of its computation bounded.

A bound accumulated over requests grows with each one; when the rows are at
hand (certified removal keeps them), the residual of the current parameters
can instead be computed in one pass over them: ``g = sum_i s_i grad l_i +
penalty * theta + noise``. Its computed value is off from the exact one by
at most the allowance the fit uses for its own residual (the rounding of
every predictor, coefficient and sum; see ``_roundoff``), summed over the
chunks, plus the rounding of adding the chunks' sums. So
``||g_computed|| + allowance`` bounds the exact residual, and a cache can
take ``g_computed`` as its residual and the allowance as its error: its
bound then starts again from what was measured.
"""

import numpy as np

from . import _roundoff

#: Rows per chunk of the pass (bounds the temporaries at a few megabytes a
#: column of parameters).
CHUNK_ROWS = 16384


def measured_residual(objective, chunks, theta, noise):
    """``(g, allowance)``: the gradient of ``objective`` at ``theta`` summed
    over ``chunks`` (an iterable of ``(X, Y, S)``), with ``noise`` added, and
    a bound on ``||g - exact gradient||``."""
    design = objective.design
    g = objective.penalty[:, None] * theta
    parts = [np.linalg.norm(g)]
    allowance = 0.0
    for X, Y, S in chunks:
        eta = design.predictor(X, theta)
        coef = objective.gradient_coefficients(Y, S, eta)
        part = design.transpose_product(X, coef)
        g = g + part
        parts.append(np.linalg.norm(part))
        allowance += _roundoff.data_gradient_error(
            objective, Y, S, eta, _roundoff.absolute_predictor(design, X, theta),
            design.row_norms(X), coef)
    if noise is not None:
        g = g + noise
        parts.append(np.linalg.norm(noise))
    allowance += _roundoff.sum_error(*parts)
    if not np.all(np.isfinite(g)):
        return g, np.inf
    return g, float(allowance)


def row_chunks(X, y, sample_weight=None, size=CHUNK_ROWS):
    """``(X, y, sample_weight)`` in chunks of ``size`` rows (views of
    arrays; data frames and lists are converted once)."""
    rows = X.iloc if hasattr(X, "iloc") else X      # a data frame keeps its names
    if not hasattr(rows, "__getitem__") or not hasattr(X, "shape"):
        X = rows = np.asarray(X)
    y = np.asarray(y)
    w = None if sample_weight is None else np.broadcast_to(
        np.asarray(sample_weight, dtype=np.float64).ravel(), (X.shape[0],))
    for start in range(0, X.shape[0], size):
        stop = start + size
        yield rows[start:stop], y[start:stop], None if w is None else w[start:stop]
