"""The base of a low-rank Hessian: a diagonal, or for a multinomial block
one ``K x K`` matrix per feature (the curvature between its classes).

A multinomial block orders its parameters class by class: coordinate ``k q
+ j`` is class ``k`` of feature ``j`` (``q`` features with the intercept).
``cross`` of shape ``(q, K, K)`` holds the entries between the classes of
each feature (its diagonal is zero; the diagonal is ``diagonal``).
"""

import numpy as np
import scipy.sparse as sp

from ._factored import NotPositiveDefiniteError


def class_blocks(A, K):
    """The ``K`` class blocks of rows of ``A`` (``(K q, ...)``): views of a
    dense array, row slices of a sparse one."""
    q = A.shape[0] // K
    return [A[k * q:(k + 1) * q] for k in range(K)]


def feature_blocks(U, signs, K):
    """The per-feature ``K x K`` blocks of ``U diag(signs) U^T``, shape
    ``(q, K, K)``, for dense or sparse ``U`` (never densified)."""
    parts = class_blocks(U, K)
    out = np.zeros((U.shape[0] // K, K, K))
    if not U.shape[1]:
        return out
    for k in range(K):
        for l in range(k, K):
            if sp.issparse(U):
                col = np.asarray(parts[k].multiply(parts[l]) @ signs).ravel()
            else:
                col = np.einsum("ij,ij,j->i", parts[k], parts[l], signs)
            out[:, k, l] = col
            out[:, l, k] = col
    return out


def block_diagonal(blocks):
    """The diagonal of per-feature ``K x K`` blocks (``(q, K, K)``) as
    coordinates ``k q + j``."""
    return np.diagonal(blocks, axis1=1, axis2=2).T.ravel()


def floored(d, cross, floor):
    """``diag(d) + cross`` with every feature's block (or, without
    ``cross``, every diagonal entry) raised to at least ``floor`` in the
    Loewner order: the eigenvalues of a block below its feature's floor set
    to it, every other block left exactly as it was.

    Parameters
    ----------
    d : ndarray of shape (p,)
    cross : ndarray of shape (q, K, K) or None
    floor : ndarray of shape (p,)
        The least curvature of each coordinate; a block's floor is the
        smallest of its classes'.

    Returns
    -------
    d, cross : the raised diagonal and class blocks (new arrays where any
        is raised; the given ones otherwise).
    raised : float
        The largest amount any block was raised by: the operator norm of the
        change.

    Examples
    --------
    >>> import numpy as np
    >>> cross = np.array([[[0.0, 2.0], [2.0, 0.0]]])
    >>> d, cross, raised = floored(np.array([1.0, 1.0]), cross, np.ones(2))
    >>> BlockDiagonal.dense(d, cross), raised
    (array([[2., 1.],
           [1., 2.]]), 2.0)
    """
    if cross is None:
        low = d < floor
        if not low.any():
            return d, cross, 0.0
        return np.where(low, floor, d), cross, float(np.max(floor[low] - d[low]))
    K, q = cross.shape[1], cross.shape[0]
    blocks = cross.copy()
    blocks[:, np.arange(K), np.arange(K)] = d.reshape(K, q).T
    least = floor.reshape(K, q).min(axis=0)
    lam, V = np.linalg.eigh(blocks)
    low = np.flatnonzero(lam[:, 0] < least)
    if not len(low):
        return d, cross, 0.0
    raised = float(np.max(least[low] - lam[low, 0]))
    lam = np.maximum(lam[low], least[low, None])
    blocks[low] = np.einsum("jkl,jl,jml->jkm", V[low], lam, V[low])
    d = d.copy()
    d.reshape(K, q)[:, low] = np.diagonal(blocks[low], axis1=1, axis2=2).T
    cross = cross.copy()
    sub = blocks[low]
    sub[:, np.arange(K), np.arange(K)] = 0.0
    cross[low] = 0.5 * (sub + sub.transpose(0, 2, 1))
    return d, cross, raised


class BlockDiagonal:
    """``diag(d) + cross``: solves, products and the factor's scaled Gram
    matrix with it, dense or sparse operands alike.

    Parameters
    ----------
    d : ndarray of shape (p,)
        Positive diagonal.
    cross : ndarray of shape (q, K, K), default=None
        The entries between the classes of each feature (``p = K q``), with
        a zero diagonal; ``None`` for a plain diagonal.
    factors : tuple of two ndarrays, default=None
        ``(inverse, half)`` of an earlier object of the same ``d`` and
        ``cross`` (see :attr:`factors`): no factorisation is repeated.

    Examples
    --------
    Two classes of two features: coordinates 0 and 2 are feature 0, 1 and
    3 feature 1.

    >>> import numpy as np
    >>> from sklearn_unlearn.solvers.hessian._blockdiag import BlockDiagonal
    >>> cross = np.array([[[0.0, 1.0], [1.0, 0.0]], [[0.0, 0.0], [0.0, 0.0]]])
    >>> D = BlockDiagonal(np.array([2.0, 1.0, 2.0, 1.0]), cross)
    >>> BlockDiagonal.dense(D.d, D.cross)
    array([[2., 0., 1., 0.],
           [0., 1., 0., 0.],
           [1., 0., 2., 0.],
           [0., 0., 0., 1.]])
    >>> D.solve(np.array([3.0, 1.0, 3.0, 1.0]))
    array([1., 1., 1., 1.])
    """

    def __init__(self, d, cross=None, factors=None):
        self.d = d
        self.cross = cross
        self._inv = self._half = None
        if cross is None:
            return
        if factors is not None and factors[0] is not None:
            self._inv, self._half = factors
            return
        K = cross.shape[1]
        blocks = cross.copy()
        blocks[:, np.arange(K), np.arange(K)] = d.reshape(K, -1).T
        try:
            L = np.linalg.cholesky(blocks)
        except np.linalg.LinAlgError as exc:
            raise NotPositiveDefiniteError(
                "The Hessian of the training objective is not positive definite "
                "(the curvature between a feature's classes). Use a stronger L2 "
                "penalty.") from exc
        # D^-1 = L^-T L^-1, feature by feature
        self._half = np.linalg.inv(L)
        self._inv = np.einsum("jlk,jlm->jkm", self._half, self._half)

    @property
    def factors(self):
        """``D^-1`` and ``L^-1`` (``D = L L^T``) feature by feature, shape
        ``(q, K, K)`` each (``None`` for a plain diagonal)."""
        return self._inv, self._half

    @staticmethod
    def _apply(M, x):
        """``blockdiag(M) @ x`` for ``x`` of shape (K q,) or (K q, r)."""
        K = M.shape[1]
        X3 = x.reshape(K, M.shape[0], -1)
        out = np.einsum("jkl,ljr->kjr", M, X3)
        return out.reshape(x.shape)

    def solve(self, x):
        """``D^-1 x`` for dense ``x`` of shape (p,) or (p, r)."""
        if self._inv is None:
            return x / (self.d if x.ndim == 1 else self.d[:, None])
        return self._apply(self._inv, x)

    def matvec(self, x, d=None):
        """``(diag(d) + cross) @ x``, ``d`` this diagonal unless given."""
        d = self.d if d is None else d
        out = (d * x.T).T
        if self.cross is not None:
            out = out + self._apply(self.cross, x)
        return out

    def divided(self, U):
        """``D^-1 U``, dense or sparse (CSC) as ``U``."""
        if not sp.issparse(U):
            return self.solve(U)
        if self._inv is None:
            DU = sp.csc_matrix(U, copy=True)
            DU.data /= self.d[DU.indices]
            return DU
        K = self._inv.shape[1]
        parts = class_blocks(sp.csr_matrix(U), K)
        rows = [sum(sp.diags(self._inv[:, k, l]) @ parts[l] for l in range(K))
                for k in range(K)]
        return sp.vstack(rows, format="csc")

    def scaled_rows(self, W, start, stop):
        """The rows of ``L^-1 W`` (``D = L L^T``) of features ``start:stop``
        (all their classes), for ``W^T D^-1 W`` by blocks of rows."""
        if self._half is None:
            return W[start:stop] / np.sqrt(self.d[start:stop, None])
        K, q = self._half.shape[1], self._half.shape[0]
        W3 = W.reshape(K, q, -1)[:, start:stop]
        return np.einsum("jkl,ljr->kjr", self._half[start:stop], W3).reshape(
            -1, W.shape[1])

    @property
    def n_rows(self):
        """Rows of ``scaled_rows``' index: features (or coordinates)."""
        return len(self.d) if self.cross is None else self.cross.shape[0]

    def norm_bound(self):
        """An upper bound on the largest eigenvalue (Gershgorin's)."""
        if self.cross is None:
            return float(self.d.max(initial=0.0))
        K = self.cross.shape[1]
        rows = self.d.reshape(K, -1).T + np.abs(self.cross).sum(axis=2)
        return float(rows.max(initial=0.0))

    @staticmethod
    def dense(d, cross=None):
        """``diag(d) + cross`` as a dense array (tests only)."""
        M = np.diag(d)
        if cross is not None:
            K, q = cross.shape[1], cross.shape[0]
            j = np.arange(q)
            for k in range(K):
                for l in range(K):
                    M[k * q + j, l * q + j] += cross[:, k, l]
        return M
