"""Products of the factor and of the correction columns of a low-rank
Hessian: dense arrays or sparse (CSC) columns alike, never densified."""

import numpy as np
import scipy.sparse as sp
from scipy.linalg import LinAlgError, lu_factor
from scipy.linalg.blas import dsyrk

from ._factored import NotPositiveDefiniteError


def scaled_gram(W, base):
    """``W^T D^-1 W`` for ``D`` a :class:`~._blockdiag.BlockDiagonal`, by
    symmetric rank-k updates (half the flops of a product) on blocks of
    rows: no scaled copy of ``W``."""
    m = W.shape[1]
    rows = base.n_rows
    gram = np.zeros((m, m))
    step = max(1, 2**20 // max(1, m * (W.shape[0] // rows)))
    for start in range(0, rows, step):
        # the transpose of a C-ordered block is what BLAS reads in place
        block = np.ascontiguousarray(base.scaled_rows(W, start, min(rows, start + step)))
        gram = dsyrk(1.0, block.T, beta=1.0, c=gram, overwrite_c=1)
    return np.triu(gram) + np.triu(gram, 1).T


def signed_squares(U, signs):
    """The diagonal of ``U diag(signs) U^T``, dense or sparse ``U``."""
    if not U.shape[1]:
        return np.zeros(U.shape[0])
    if sp.issparse(U):
        return np.asarray(U.multiply(U) @ signs).ravel()
    return np.einsum("ij,ij,j->i", U, U, signs)


def hstack_columns(A, B):
    """The columns of ``A`` then those of ``B``; sparse (CSC) if either is."""
    if not B.shape[1]:
        return A
    if not A.shape[1]:
        return B.tocsc() if sp.issparse(B) else B
    if sp.issparse(A) or sp.issparse(B):
        return sp.hstack([A, B], format="csc")
    return np.hstack([A, B])


def transposed_product(A, B):
    """``A^T B`` as a dense array, for dense or sparse ``A`` and ``B``."""
    if sp.issparse(B) and not sp.issparse(A):
        # as (B^T A)^T: a sparse-dense product that reads only the rows of A
        # where B has values
        return np.asarray(B.T @ A).T
    if not sp.issparse(A) and B.ndim == 2 and B.shape[1] <= _THIN:
        # a few columns: one matrix-vector product each (the BLAS's
        # matrix product on two columns took three times one's time), or
        # the rows of A where a column has values
        out = np.empty((A.shape[1], B.shape[1]))
        for j in range(B.shape[1]):
            live = np.flatnonzero(B[:, j])
            out[:, j] = (A[live].T @ B[live, j] if len(live) <= len(B) // 8
                         else A.T @ B[:, j])
        return out
    out = A.T @ B
    return out.toarray() if sp.issparse(out) else np.asarray(out)


#: Up to this many columns, :func:`transposed_product` takes them one at a
#: time.
_THIN = 4


def stored_bytes(A):
    if sp.issparse(A):
        A = A if A.format in ("csc", "csr") else A.tocsc()
        return A.data.nbytes + A.indices.nbytes + A.indptr.nbytes
    return A.nbytes


def factored_capacitance(capacitance, what):
    message = (
        f"{what} is singular, or too ill-conditioned to solve with: the request "
        "removes (almost) all the curvature the model was trained with, or its "
        "rows hold curvature many orders of magnitude above the other rows' (an "
        "inserted value of 1e8 among rows of unit norm). Nothing was changed. "
        "Retrain on the corrected data instead.")
    try:
        if not np.all(np.isfinite(capacitance)):
            raise ValueError("non-finite capacitance")
        lu = lu_factor(capacitance, check_finite=False)
    except (LinAlgError, ValueError) as exc:
        raise NotPositiveDefiniteError(message) from exc
    piv = np.abs(np.diag(lu[0]))
    if piv.min(initial=1.0) <= 1e-14 * piv.max(initial=1.0):
        raise NotPositiveDefiniteError(message)
    return lu
