"""Conjugate gradients: the one iteration behind every iterative solve of the
package (the polish's Newton steps, solves with rows pending beside a
factored Hessian, the damped steps of the MLPs)."""

from dataclasses import dataclass

import numpy as np

from ._norms import scaled_norm


@dataclass
class CGResult:
    """Solution of ``A x = b`` and how the iteration ended.

    ``status`` is ``"converged"`` (the residual reached its target),
    ``"max_iter"`` (the limit was reached first), ``"stalled"`` (the
    residual stopped falling: round-off), ``"negative_curvature"`` (a
    direction ``d`` with ``d^T A d <= 0``, or a residual the preconditioner
    does not keep positive, was met: ``x`` is not a solution) or
    ``"non_finite"`` (a product or a step overflowed: ``x`` is not a
    solution either).

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_unlearn.solvers._cg import conjugate_gradient
    >>> res = conjugate_gradient(lambda v: np.array([2.0, 4.0]) * v, np.ones(2),
    ...                          tol=1e-12, max_iter=10)
    >>> res.status, res.x.tolist()
    ('converged', [0.5, 0.25])
    """

    x: np.ndarray
    n_iter: int
    relative_residual: float
    status: str


def conjugate_gradient(apply, b, *, max_iter, tol=0.0, atol=0.0, precondition=None,
                       x0=None, r0=None, split=False, stall=None, keep_best=False):
    """Solve ``A x = b`` for a symmetric ``A`` given only by products.

    Parameters
    ----------
    apply : callable
        ``v -> A v`` for a vector ``v`` of shape (p,); with ``split``,
        ``v -> (A - M) v`` for the matrix ``M`` that ``precondition``
        inverts exactly.
    b : ndarray of shape (p,)
        The right-hand side.
    max_iter : int
        The most products with ``apply``.
    tol, atol : float, default=0.0
        Stop once the residual norm is at most ``max(tol ||b||, atol)``.
    precondition : callable, default=None
        ``v -> M^-1 v`` for a symmetric positive definite ``M``; ``None``:
        no preconditioner.
    x0, r0 : ndarray of shape (p,), default=None
        The start and its residual ``b - A x0`` (computed when ``None``).
        Without ``x0``: zero, or ``precondition(b)`` with ``split``.
    split : bool, default=False
        ``M d`` is carried by the recurrence ``M d = r + beta M d_prev``
        (``M z = r`` for the preconditioned residual ``z``), so an
        iteration costs one solve with ``M`` and one product with ``A -
        M``: for ``A`` a factored matrix plus a few rows.
    stall : tuple (n, factor), default=None
        Stop (``"stalled"``) when in ``n`` iterations in a row the residual
        did not fall below ``factor`` times the smallest so far.
    keep_best : bool, default=False
        Return the iterate of smallest residual rather than the last (the
        recurrence's residual no longer falls monotonically near
        round-off).

    Returns
    -------
    result : CGResult

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_unlearn.solvers._cg import conjugate_gradient
    >>> A = np.array([[4.0, 1.0], [1.0, 3.0]])
    >>> res = conjugate_gradient(lambda v: A @ v, np.array([1.0, 2.0]), tol=1e-12,
    ...                          max_iter=10)
    >>> res.status, res.n_iter, np.allclose(A @ res.x, [1.0, 2.0])
    ('converged', 2, True)
    """
    b = np.asarray(b, dtype=np.float64)
    b_norm = scaled_norm(b)
    if not np.isfinite(b_norm):
        x = np.zeros_like(b) if x0 is None else np.array(x0, dtype=np.float64)
        return CGResult(x, 0, float("nan"), "non_finite")
    x, r = _start(apply, b, precondition, x0, r0, split)
    z = r if precondition is None else precondition(r)
    d = z.copy()
    Md = r.copy() if split else None
    rz = float(r @ z)
    rnorm = best_norm = scaled_norm(r)
    best = x.copy() if keep_best else None
    target = max(tol * b_norm, atol)
    n_iter = since = 0
    while True:
        if rnorm <= target or not rnorm < np.inf or n_iter >= max_iter or not rz > 0:
            status = ("converged" if rnorm <= target else "non_finite" if not rnorm < np.inf
                      else "max_iter" if n_iter >= max_iter else "negative_curvature")
            break
        Ad = apply(d)
        if split:
            Ad = Md + Ad
        curvature = float(d @ Ad)
        if not 0 < curvature < np.inf:
            status = "non_finite" if not np.isfinite(curvature) else "negative_curvature"
            break
        alpha = rz / curvature
        x += alpha * d
        r -= alpha * Ad
        n_iter += 1
        rnorm = scaled_norm(r)
        if not (np.isfinite(rnorm) and np.all(np.isfinite(x))):
            rnorm = np.inf
            continue
        if keep_best and rnorm < best_norm:
            best = x.copy()
        if stall is not None:
            since = 0 if rnorm < stall[1] * best_norm else since + 1
        best_norm = min(best_norm, rnorm)
        if stall is not None and since >= stall[0] and rnorm > target:
            status = "stalled"
            break
        if rnorm <= target or n_iter >= max_iter:
            continue            # the next direction would not be used
        z = r if precondition is None else precondition(r)
        rz_new = float(r @ z)
        beta = rz_new / rz
        d *= beta
        d += z
        if split:
            Md *= beta
            Md += r
        rz = rz_new
    if keep_best:
        x, rnorm = best, best_norm
    relative = rnorm / b_norm if b_norm else 0.0
    return CGResult(x, n_iter, relative if np.isfinite(relative) else float("nan"), status)


def _start(apply, b, precondition, x0, r0, split):
    """The start and its residual (see :func:`conjugate_gradient`)."""
    if x0 is None and split:
        x0 = precondition(b)
        r0 = -apply(x0)         # A x0 = b + (A - M) x0
    if x0 is None:
        return np.zeros_like(b), b.copy()
    x = np.array(x0, dtype=np.float64)
    return x, (b - apply(x) if r0 is None else np.array(r0, dtype=np.float64))
