"""Features zeroed in every row, in stages on the cache's cubic model.

A feature zero in every row leaves the objective as it was with the
feature's weight held at zero: the refit is the minimum of the old objective
over the other parameters with ``theta_S = 0`` (``S`` the zeroed features).
Without the rows, the cache's model of the old objective stands in for it:
``r^T d + 1/2 d^T H d + 1/6 T[d, d, d]``. Zeroing weights that carry much
of the model is a long step (a third of the parameters' norm and more), where
the cubic model's curvature ``H + T[d]`` differs from ``H`` by more than the
factor of two the one-step update trusts, and the cubic model has more than
one stationary point.

The continuation follows the minimum that starts at the fitted model: the
weights ``theta_S`` go to zero in :data:`STAGES` equal stages, and after each
the other parameters are taken by Newton steps to the model's minimum
over them, from the last one. It is kept while the model's curvature over
the other parameters is positive definite at every iterate and every stage
converges; otherwise the caller takes its one-step update. It is an update
on the cache's model: how far its minimum is from the refit depends on the
rows, which are gone (``benchmarks/RESULTS_pipeline.md``).
"""

import numpy as np
from scipy.linalg import LinAlgError, cho_factor, cho_solve

from ..hessian._factored import FactoredHessian
from ..hessian._third import along

#: Stages in which the zeroed weights go to zero.
STAGES = 8
#: Newton iterations per stage.
_NEWTON = 30


def zeroed_on_cubic(cache, zeroed):
    """The cache's cubic model minimised with the weights of the ``zeroed``
    features held at zero, by continuation.

    Parameters
    ----------
    cache : UnlearningCache
        With the cubic term (``cache.third``) and uncoupled blocks.
    zeroed : ndarray of bool of shape (n_features,)

    Returns
    -------
    (theta, residual, hessians, third, n_iter) or None
        The minimum, the model's gradient there (zero in the zeroed
        weights: their gradient is the penalty's, of a zero weight), the
        model's Hessian blocks there and the cubic term, both without the
        zeroed features' data (only the penalty in their rows and
        columns), and the Newton iterations taken; ``None`` where the
        continuation does not hold.
    """
    obj = cache.objective
    fixed = np.zeros(obj.n_params, dtype=bool)
    fixed[:obj.n_features] = zeroed
    parts, n_iter = [], 0
    for b, (H, T) in enumerate(zip(cache.hessians, cache.third)):
        r = np.ravel(obj.to_block(cache.residual, b))
        theta = np.ravel(obj.to_block(cache.theta, b))
        found = _block_path(H.matrix, T, r, theta, fixed)
        if found is None:
            return None
        parts.append(found[:3])
        n_iter += found[3]
    theta = cache.theta + obj.from_blocks([d[:, None] for d, _, _ in parts])
    theta[np.flatnonzero(fixed)] = 0.0
    residual = obj.from_blocks([g[:, None] for _, g, _ in parts])
    hessians, third = [], []
    for b, ((d, _, M), T, H) in enumerate(zip(parts, cache.third, cache.hessians)):
        M = M.copy()
        M[fixed, :] = 0.0
        M[:, fixed] = 0.0
        M[fixed, fixed] = obj._block_penalty(b)[fixed]
        hessians.append(FactoredHessian(0.5 * (M + M.T), H.null_basis))
        T = T.copy()
        T[fixed], T[:, fixed], T[:, :, fixed] = 0.0, 0.0, 0.0
        third.append(T)
    return theta, residual, hessians, third, n_iter


def _block_path(H, T, r, theta, fixed):
    """``(d, g, H + T[d], iterations)`` at the end of the continuation in
    one block (``d`` the step, ``g`` the model's gradient over the free
    parameters, zero in the fixed ones), or ``None``."""
    free = ~fixed
    d = np.zeros_like(theta)
    size = 1.0 + float(np.linalg.norm(theta))
    n_iter = 0
    for t in np.arange(1, STAGES + 1) / STAGES:
        d[fixed] = -t * theta[fixed]
        for _ in range(_NEWTON):
            change = along(T, d)
            try:
                factor = cho_factor((H + change)[np.ix_(free, free)], lower=True)
            except (LinAlgError, ValueError):
                return None
            # the model's gradient r + H d + 1/2 T[d, d], over the free ones
            step = -cho_solve(factor, (r + (H + 0.5 * change) @ d)[free])
            d[free] += step
            n_iter += 1
            if not np.linalg.norm(step) > 1e-12 * size:
                break
        else:
            return None
    change = along(T, d)
    curvature, g = H + change, r + (H + 0.5 * change) @ d
    try:
        cho_factor(curvature[np.ix_(free, free)], lower=True)
    except (LinAlgError, ValueError):
        return None
    if not (np.all(np.isfinite(d)) and np.all(np.isfinite(g))):
        return None
    return d, np.where(fixed, 0.0, g), curvature, n_iter
