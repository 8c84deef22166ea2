"""Matrix-free conjugate gradients with a stopping rule."""

from dataclasses import dataclass

import numpy as np


@dataclass
class CGResult:
    """Solution of ``A x = b`` and how the iteration ended.

    ``status`` is ``"converged"`` (``||b - A x|| <= tol ||b||``),
    ``"max_iter"`` (the limit was reached first), ``"negative_curvature"``
    (a direction ``p`` with ``p^T A p <= 0`` was met: ``A`` is not positive
    definite and ``x`` is not returned as a solution) or ``"non_finite"``
    (a product or a step overflowed: ``x`` is not a solution either).
    """

    x: np.ndarray
    n_iter: int
    relative_residual: float
    status: str


def conjugate_gradient(apply_A, b, *, tol, max_iter):
    """Solve ``A x = b`` for a symmetric ``A`` given only ``v -> A v``.

    Starts from ``x = 0``. Stops when the relative residual
    ``||b - A x|| / ||b||`` is at most ``tol``, after ``max_iter`` products, at
    the first direction of non-positive curvature, or at the first value that
    is not finite.
    """
    b = np.asarray(b, dtype=np.float64)
    x = np.zeros_like(b)
    b_norm = float(np.linalg.norm(b))
    if not np.isfinite(b_norm):
        return CGResult(x, 0, float("nan"), "non_finite")
    if b_norm == 0.0:
        return CGResult(x, 0, 0.0, "converged")
    r = b.copy()
    p = r.copy()
    rr = float(r @ r)
    for k in range(max_iter):
        Ap = apply_A(p)
        curvature = float(p @ Ap)
        if not np.isfinite(curvature):
            return CGResult(x, k, float(np.sqrt(rr)) / b_norm, "non_finite")
        if not curvature > 0.0:
            return CGResult(x, k, float(np.sqrt(rr)) / b_norm, "negative_curvature")
        step = rr / curvature
        x += step * p
        r -= step * Ap
        rr_new = float(r @ r)
        if not (np.isfinite(rr_new) and np.all(np.isfinite(x))):
            return CGResult(x, k + 1, float("nan"), "non_finite")
        if np.sqrt(rr_new) <= tol * b_norm:
            return CGResult(x, k + 1, float(np.sqrt(rr_new)) / b_norm, "converged")
        p *= rr_new / rr
        p += r
        rr = rr_new
    return CGResult(x, max_iter, float(np.sqrt(rr)) / b_norm, "max_iter")
