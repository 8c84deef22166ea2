"""A Cholesky factor updated for a change of low rank, by panels of columns.

A request changes the Hessian by ``U diag(signs) U^T``: a column per row it
removes or adds, two per edited row (or, for an edit of many rows in few
columns, two per edited column and one per row whose weight changes). When
the columns are few against the parameters, the factor of the new matrix
costs ``O(p^2 (b / 2 + 2 r))`` flops from the old factor (``r`` columns,
panels of ``b``), against ``p^3 / 3`` for a factorisation of the new matrix.

With ``A = L L^T`` split after a panel of ``b`` columns and ``A + U C U^T``
(``C`` symmetric ``r x r``), let ``W = L11^-1 U1`` and ``M`` the Cholesky
factor of ``I + W C W^T``. Then the new factor's panel is ``L11 M`` and
``(L21 + U2 C W^T) M^-T`` below it, and the trailing block is the factor of
``L22 L22^T + Z C' Z^T`` with ``Z = U2 - L21 W`` and ``C' = (C^-1 +
W^T W)^-1 = C - Y^T Y``, ``Y = M^-1 W C`` (the Schur complement of a matrix
changed in rank ``r`` changes in rank ``r``): the same step on the rest.
Every step is a product or a triangular solve of the BLAS.

A removal can leave a panel's ``I + W C W^T`` indefinite (the change takes
out curvature the matrix does not have, or rounding does near there): the
update then returns ``None`` and the caller factors the new matrix itself,
whose own check decides.
"""

import numpy as np
from scipy.linalg.blas import dgemm, dtrmm, dtrsm
from scipy.linalg.lapack import dpotrf

from ._pending import _lower_mask

#: Columns per panel: fewer panels cost fewer calls, narrower ones fewer
#: flops (``p^2 b / 2``).
PANEL = 64


def update_flops(p, r):
    """Modelled cost of :func:`updated_factor` for ``r`` columns, in flops
    of a factorisation (``p^3 / 3`` for one): the panels' solves and the
    products with the thin columns run well below its rate (the constants
    are fitted to the timings of both in ``benchmarks/RESULTS.md``)."""
    return p * p * (146.0 + 4.7 * r)


def updated_factor(L, U, signs, zero_upper=False, panel=PANEL):
    """The lower Cholesky factor of ``L L^T + U diag(signs) U^T`` as a new
    Fortran-ordered array with zeros above the diagonal, or ``None`` when a
    panel's step is not positive definite or any entry is not finite.

    ``L``'s upper triangle is not read. With ``zero_upper`` (it is known to
    hold zeros) ``L`` is copied plainly, otherwise cleared above as it is
    copied: what an older factor held there does not pass to the new one.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_unlearn.solvers.hessian._factor_update import updated_factor
    >>> A = np.array([[4.0, 2.0], [2.0, 3.0]])
    >>> u = np.array([[1.0], [1.0]])
    >>> L = updated_factor(np.linalg.cholesky(A), u, np.array([-1.0]))
    >>> np.allclose(L @ L.T, A - u @ u.T)
    True
    """
    p, r = U.shape
    out = (np.array(L, order="F") if zero_upper and L.flags.f_contiguous
           else np.multiply(L, _lower_mask(p), out=np.empty((p, p), order="F")))
    if not r:
        return out
    # an overflow is refused below (None), not warned about
    with np.errstate(over="ignore", invalid="ignore"):
        return _panels(out, U, signs, panel)


def _panels(out, U, signs, panel):
    """The panels of :func:`updated_factor`, in place on ``out``."""
    p = out.shape[0]
    Z = np.array(U, dtype=np.float64, order="F")
    C = np.diag(np.asarray(signs, dtype=np.float64))
    for j0 in range(0, p, panel):
        j1 = min(j0 + panel, p)
        L11 = np.asfortranarray(out[j0:j1, j0:j1])
        W = dtrsm(1.0, L11, Z[j0:j1], lower=1)
        CW = C @ W.T
        G = W @ CW
        G[np.diag_indices_from(G)] += 1.0
        M, info = dpotrf(G, lower=1, clean=1, overwrite_a=1)
        if info != 0 or not np.all(np.isfinite(np.diagonal(M))):
            return None
        if j1 < p:
            L21 = out[j1:, j0:j1]
            # both from the old panel below the diagonal, before it is
            # overwritten; X in column order, as the solve reads it
            X = dgemm(1.0, Z[j1:], CW, beta=1.0, c=np.array(L21, order="F"),
                      overwrite_c=1)
            Z[j1:] -= L21 @ W
            below = dtrsm(1.0, M, X, side=1, lower=1, trans_a=1, overwrite_b=1)
            # checked while in cache: no later panel reads these columns
            if not np.all(np.isfinite(below)):
                return None
            out[j1:, j0:j1] = below
            Y = dtrsm(1.0, M, CW.T, lower=1)
            C = C - Y.T @ Y
        out[j0:j1, j0:j1] = dtrmm(1.0, L11, M, lower=1)
    if not np.all(np.isfinite(np.diagonal(out))):
        return None
    return out
