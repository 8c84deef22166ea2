"""A Hessian kept as diagonal plus low rank, for models too large for a dense
``p x p`` matrix (hashed text features, large multinomial models).

``matrix = diag(diagonal) + W diag(w_signs) W^T + U diag(signs) U^T``

At fit, ``W`` is a Nystrom approximation of the data part of the Hessian
(exact on the columns of its test vectors that are unit vectors: the
intercepts and the coordinates of largest curvature), ``diagonal`` its exact
diagonal remainder plus the penalty; requests add their
exact rank-one corrections ``U``. Every solve uses the Woodbury identity on the
diagonal, in ``O(p (r + k) + (r + k)^3)``.

The corrections of sparse rows (hashed text) stay sparse: ``U`` is then a CSC
matrix, and every product with it costs ``O(nnz(U))`` per vector, never
``O(p k)``.

Pending corrections are the request's rows (scaled). ``corrected(terms,
fold=True)`` merges them into a new factor ``W'`` instead, by their
projection onto the span of ``W``: the eigenvectors of the low-rank part in
the metric of the diagonal, a function of the corrected matrix alone, with
no stored array from which a row, or the old factor, can be read off. The
span, and so the rank, stays the sketch's; what lies outside it is counted in
``fold_error``.
"""

import numpy as np
import scipy.sparse as sp
from scipy.linalg import LinAlgError, lu_factor, lu_solve
from scipy.linalg.blas import dsyrk

from ._factored import NotPositiveDefiniteError
from ._sketch import nystrom  # noqa: F401  (the sketch as eigenpairs)

#: Rank of the Nystrom sketch when none is given.
DEFAULT_RANK = 200


class LowRankModeWarning(UserWarning):
    """``hessian="auto"`` chose the low-rank mode: what it keeps and what it
    costs.

    Issued when a fit with ``hessian="auto"`` finds the dense Hessian blocks
    too large (above ``8000**2`` entries) and keeps
    :class:`LowRankHessian` blocks instead: the updates are approximate,
    ``residual_bound_`` is ``inf`` and the model cannot be certified. Python
    shows it once per message; ``hessian="low_rank"`` chooses the mode
    explicitly and issues none.

    Examples
    --------
    >>> import warnings
    >>> import scipy.sparse as sp
    >>> from sklearn_unlearn import UnlearnableLogisticRegression
    >>> from sklearn_unlearn.solvers import LowRankModeWarning
    >>> X = sp.random(60, 9000, density=0.002, random_state=0, format="csr")
    >>> y = [0, 1] * 30
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     clf = UnlearnableLogisticRegression().fit(X, y)
    >>> [w.category.__name__ for w in caught]
    ['LowRankModeWarning']
    >>> clf.residual_bound_
    inf
    """

    @classmethod
    def of(cls, objective):
        """The warning for a fit of ``objective`` (a LinearObjective)."""
        sizes = [len(objective.to_block(np.zeros((objective.n_params,
                                                  objective.n_outputs)), b))
                 for b in range(len(objective.block_columns))]
        columns = DEFAULT_RANK + (objective.n_outputs if objective.loss.coupled
                                  else 1) * objective.design.fit_intercept
        stored = sum(8 * size * columns for size in sizes)
        return cls(
            f"hessian='auto' keeps the Hessian in the low-rank mode: "
            f"{max(sizes)} parameters per block are above the dense mode's "
            f"8000. The cache keeps a sketch of rank {columns} ({stored / 2**20:.0f} "
            "MiB); updates are approximate Newton steps, residual_bound_ is inf "
            "and the model cannot be certified. Set hessian='low_rank' to choose "
            "this mode (no warning), or fewer features (e.g. a smaller "
            "HashingVectorizer n_features) for the dense mode's exact updates "
            "and bound: see 'Low-rank mode' in the user guide."
        )


class LowRankHessian:
    """``matrix = diag(diagonal) + W diag(w_signs) W^T``, plus pending
    corrections, solved through the Woodbury identity on the diagonal.

    The same interface as :class:`FactoredHessian` (``corrected``, ``solve``,
    ``matvec``, ``pending_rank``; request rows enter as correction columns)
    for matrices that are never formed: memory is ``8 p m`` bytes for ``m``
    columns of ``W``, plus the ``k`` pending corrections as given (``8 p k``
    bytes dense, 12 bytes per stored value sparse) and ``8 m k`` bytes of
    their products with ``W``, instead of ``8 p^2``. A fold (``corrected(...,
    fold=True)``) turns the pending corrections into columns of ``W``: ``8 p``
    bytes for each that sticks out of the span of ``W``, sparse or not.

    Parameters
    ----------
    diagonal : ndarray of shape (p,)
        Positive diagonal part.
    W : ndarray of shape (p, m)
        Low-rank factor.
    w_signs : ndarray of shape (m,)
        Signs (+1 or -1) of the columns of ``W``.
    null_basis : ndarray of shape (p, q), default=None
        Orthonormal directions along which the matrix is singular by
        construction; solutions are kept orthogonal to them.

    Attributes
    ----------
    pending_rank : int
        Number of correction columns added since construction or the last
        fold.
    fold_error : float
        Bound, in the operator norm, on the difference between the stored
        matrix and the exact sum of its changes: the parts of folded
        corrections outside the span of ``W``.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_unlearn.solvers import LowRankHessian
    >>> H = LowRankHessian(np.array([3.0, 2.0]), np.array([[1.0], [1.0]]),
    ...                    np.array([1.0]))
    >>> H.to_dense()
    array([[4., 1.],
           [1., 3.]])
    >>> H.solve(np.array([1.0, 2.0]))
    array([0.09090909, 0.63636364])

    A rank-one change ``+ u u^T`` gives a new object; the original is
    unchanged:

    >>> H2 = H.with_columns(np.array([[1.0], [0.0]]), np.array([1.0]))
    >>> H2.solve(np.array([1.0, 2.0]))
    array([0.07142857, 0.64285714])
    >>> H2.matvec(np.array([1.0, 0.0]))
    array([5., 1.])
    >>> H.pending_rank, H2.pending_rank
    (0, 1)

    Sparse corrections (a CSC matrix) give the same solution and are kept
    sparse:

    >>> import scipy.sparse as sp
    >>> H3 = H.with_columns(sp.csc_matrix([[1.0], [0.0]]), np.array([1.0]))
    >>> H3.solve(np.array([1.0, 2.0]))
    array([0.07142857, 0.64285714])
    >>> sp.issparse(H3.pending_corrections)
    True

    Folded, the matrix holds no pending column; a correction inside the
    factor's span is kept exactly, the rest is counted in ``fold_error``:

    >>> from sklearn_unlearn.solvers import RowCurvature
    >>> H4 = H.corrected(RowCurvature(np.array([[1.0, 1.0]]), np.array([1.0])),
    ...                  fold=True)
    >>> H4.pending_rank, H4.W.shape
    (0, (2, 1))
    >>> H4.to_dense()
    array([[5., 2.],
           [2., 4.]])
    >>> H5 = H.corrected(RowCurvature(np.array([[1.0, 0.0]]), np.array([1.0])),
    ...                  fold=True)
    >>> bool(H5.fold_error > 0)
    True
    """

    def __init__(self, diagonal, W, w_signs, null_basis=None):
        diagonal = np.asarray(diagonal, dtype=np.float64)
        W = np.asarray(W, dtype=np.float64)
        w_signs = np.asarray(w_signs, dtype=np.float64)
        self.null_basis = null_basis
        self.diagonal = diagonal
        self.W = W
        self.w_signs = w_signs
        self.fold_error = 0.0
        self._set_base(diagonal + np.einsum("ij,ij,j->i", W, W, w_signs))
        self._clear_pending()

    def _set_base(self, full_diag, gram_w=None):
        """The shifted diagonal, the extra columns and the factored capacitance
        of ``diag(diagonal) + W diag(w_signs) W^T``, whose diagonal is
        ``full_diag``.

        ``gram_w``, if given, is ``W^T D^-1 W`` for the shifted diagonal ``D``
        (a fold knows it from its small matrices); otherwise it is computed,
        ``O(p m^2)``.
        """
        diagonal, W = self.diagonal, self.W
        p, m = W.shape
        # Coordinates with (almost) no diagonal mass (an unpenalised intercept
        # whose column the low-rank part reproduces) get a shift ``mu`` on the
        # diagonal, taken back by a negative rank-one column.
        mu = _diagonal_shift(diagonal, full_diag)
        base_diag = diagonal + mu
        if np.any(base_diag <= 0) or not np.all(np.isfinite(base_diag)):
            raise NotPositiveDefiniteError(
                "The Hessian of the training objective is not positive definite "
                "(a parameter has no curvature). Use a stronger L2 penalty."
            )
        cols, sg = [], []
        idx = np.flatnonzero(mu)
        if len(idx):
            E = np.zeros((p, len(idx)))
            E[idx, np.arange(len(idx))] = np.sqrt(mu[idx])
            cols.append(E)
            sg.append(-np.ones(len(idx)))
        if self.null_basis is not None:
            shift = max(np.mean(full_diag), 1.0)
            cols.append(np.sqrt(shift) * self.null_basis)
            sg.append(np.ones(self.null_basis.shape[1]))
        self._base_diag = base_diag
        # the factor is [W, extra]; the few extra columns are kept apart so
        # that W is never copied
        self._extra = np.hstack(cols) if cols else np.zeros((p, 0))
        self._base_signs = np.concatenate([self.w_signs] + sg)
        n = len(self._base_signs)
        gram = np.zeros((n, n))
        gram[:m, :m] = _scaled_gram(W, base_diag) if gram_w is None else gram_w
        # the extra columns live on a few coordinates (the intercepts)
        live = np.flatnonzero(np.any(self._extra != 0, axis=1))
        X = self._extra[live] / base_diag[live, None]
        gram[m:, :m] = X.T @ W[live]
        gram[:m, m:] = gram[m:, :m].T
        gram[m:, m:] = X.T @ self._extra[live]
        self._gram = 0.5 * (gram + gram.T)
        capacitance = np.diag(1.0 / self._base_signs) + self._gram
        self._base_cap = _lu(capacitance, "The Hessian of the training objective")

    def _clear_pending(self):
        p = len(self.diagonal)
        self._U = np.zeros((p, 0))
        self._signs = np.zeros(0)
        # [W, extra]^T D^-1 U: the only products of the corrections with the
        # factor that the Woodbury capacitance needs
        self._FtDU = np.zeros((len(self._base_signs), 0))
        self._capacitance = None

    @property
    def pending_rank(self):
        return self._U.shape[1]

    @property
    def pending_corrections(self):
        """The pending correction columns ``U``, dense or sparse as given."""
        return self._U

    @property
    def shape(self):
        p = len(self.diagonal)
        return (p, p)

    @property
    def nbytes(self):
        """Bytes held by the arrays of this object."""
        arrays = [self.diagonal, self.W, self.w_signs, self._base_diag,
                  self._extra, self._U, self._FtDU, self._signs, self._gram,
                  self._base_cap[0]]
        return int(sum(_nbytes(a) for a in arrays))

    def _project(self, v):
        if self.null_basis is None:
            return v
        return v - self.null_basis @ (self.null_basis.T @ v)

    def _factor_t(self, x):
        """``F^T x`` for the factor ``F = [W, extra]``."""
        return np.concatenate([self.W.T @ x, self._extra.T @ x])

    def _factor(self, t):
        """``F t`` for the factor ``F = [W, extra]``."""
        m = self.W.shape[1]
        return self.W @ t[:m] + self._extra @ t[m:]

    def _base_solve(self, g):
        D = self._base_diag if g.ndim == 1 else self._base_diag[:, None]
        x = g / D
        t = lu_solve(self._base_cap, self._factor_t(x))
        return x - self._factor(t) / D

    def _scaled(self, U):
        """``D^-1 U`` for the shifted diagonal ``D``, dense or sparse as ``U``."""
        return _divided(U, self._base_diag)

    def corrected(self, terms=None, fold=False):
        """The matrix plus ``terms`` (a RowCurvature), ready to solve.

        Parameters
        ----------
        terms : RowCurvature, default=None
            The change; it enters as the columns of
            :meth:`RowCurvature.columns`.
        fold : bool, default=False
            ``False``: the change is kept as pending correction columns beside
            the factor (see :meth:`with_columns`); the new object holds the
            rows of ``terms`` as given. ``True``: the change and every pending
            correction are merged into a new factor (see :meth:`folded`); the
            new object holds no pending rows.

        Returns
        -------
        H : LowRankHessian
            A new object; this one is unchanged.
        """
        if terms is None or not terms.n_rows:
            new = self.with_columns(None, None)
        else:
            new = self.with_columns(*terms.columns())
        return new.folded() if fold else new

    def folded(self):
        """The matrix with its pending corrections merged into the factor,
        within the factor's span.

        A pending column ``u`` enters by its projection ``u_p = W c`` onto
        the span of ``W`` in the metric of the shifted diagonal ``D``:
        ``W diag(w_signs) W^T + U diag(signs) U^T`` becomes ``W M W^T`` with
        ``M = diag(w_signs) + C diag(signs) C^T``, factored anew by its
        eigenvectors in that metric (a function of the matrix alone, not of
        the pending rows). The factor's span stays the sketch's: an exact
        fold would give a span that holds every removed row (that of ``W
        diag(s) W^T - u u^T`` is that of ``[W, u]``), and the blocks of a
        one-vs-rest model, sketched apart, would share those directions, so
        their intersection would give the rows back. What is left out, ``2
        ||u_p|| ||u_o|| + ||u_o||^2`` per column for its part ``u_o`` outside
        the span, joins ``fold_error`` (the low-rank mode has no residual
        bound; this keeps the approximation measured).

        Returns
        -------
        H : LowRankHessian
            A new object without pending corrections; this one is unchanged.

        Notes
        -----
        With ``m`` columns in ``W`` and ``k`` pending columns, the fold costs
        one product of the ``p x m`` factor with an ``m x m`` matrix, the new
        factor's Gram matrix (``O(p m^2)``), and ``O(nnz(U) + m^2 k + m^3)``
        besides: the products with ``W`` come from the capacitance
        (``W^T D^-1 W``, ``W^T D^-1 U``).
        """
        if not self.pending_rank:
            return self.with_columns(None, None)
        W, U, signs = self.W, self._U, self._signs
        m = W.shape[1]
        D = self._base_diag
        G_ww = self._gram[:m, :m]
        G_wu = self._FtDU[:m]
        lam_g, V_g = np.linalg.eigh(0.5 * (G_ww + G_ww.T))
        good = lam_g > 1e-12 * max(lam_g.max(initial=0.0), 1e-300)
        C = (V_g[:, good] / lam_g[good]) @ (V_g[:, good].T @ G_wu)
        inside = np.maximum(np.einsum("ij,ij->j", G_wu, C), 0.0)
        if sp.issparse(U):
            total = np.asarray(_divided(U, D).multiply(U).sum(axis=0)).ravel()
        else:
            total = np.einsum("ij,ij->j", U, U / D[:, None])
        outside = np.maximum(total - inside, 0.0)
        dropped = D.max(initial=0.0) * float(np.sum(2.0 * np.sqrt(inside * outside)
                                                     + outside))
        M = np.diag(self.w_signs) + (C * signs) @ C.T
        L = V_g[:, good] * np.sqrt(lam_g[good])
        core = L.T @ M @ L
        lam, V = np.linalg.eigh(0.5 * (core + core.T))
        keep = np.abs(lam) > 1e-14 * max(np.abs(lam).max(initial=0.0), 1e-300)
        T = (V_g[:, good] / np.sqrt(lam_g[good])) @ (V[:, keep] * np.sqrt(np.abs(lam[keep])))
        W_new = W @ T
        w_signs = np.sign(lam[keep])
        if not (np.all(np.isfinite(W_new)) and np.all(np.isfinite(lam))):
            raise NotPositiveDefiniteError(
                "The corrected Hessian has non-finite entries; retrain on the "
                "corrected data instead."
            )
        full_diag = self.diagonal + np.einsum("ij,ij,j->i", W_new, W_new, w_signs)
        return self._with_factor(W_new, w_signs, None, full_diag, dropped)

    def _with_factor(self, W, w_signs, gram_w, full_diag, dropped):
        """A new object of this diagonal and null basis with the factor ``W``
        (``gram_w`` its ``W^T D^-1 W``) and no pending corrections."""
        new = object.__new__(type(self))
        new.null_basis = self.null_basis
        new.diagonal = self.diagonal
        new.W = W
        new.w_signs = w_signs
        new.fold_error = self.fold_error + float(dropped)
        new._set_base(full_diag, gram_w=None if gram_w is None
                      else 0.5 * (gram_w + gram_w.T))
        new._clear_pending()
        return new

    def with_columns(self, U, signs):
        """The matrix plus ``U diag(signs) U^T``, ready to solve.

        ``U`` of shape (p, k) is an array or a sparse matrix; sparse
        corrections are kept sparse. Returns a new object sharing this one's
        factorisation; this one is unchanged.
        """
        if U is None or not U.shape[1]:
            new = object.__new__(type(self))
            new.__dict__.update(self.__dict__)
            return new
        DU = self._scaled(U)
        FtDU = np.vstack([_transposed_product(self.W, DU),
                          _transposed_product(self._extra, DU)])
        new = object.__new__(type(self))
        new.__dict__.update(self.__dict__)
        new._U = hstack_columns(self._U, U)
        new._signs = np.concatenate([self._signs, signs])
        new._FtDU = np.hstack([self._FtDU, FtDU])
        new._capacitance = None
        return new

    def _capacitance_lu(self):
        """LU of ``diag(signs)^-1 + U^T B^-1 U``, ``B`` the matrix at construction.

        ``B^-1 = D^-1 - D^-1 F C_B^-1 F^T D^-1`` (Woodbury on the diagonal
        ``D`` and the factor ``F = [W, extra]``), so the capacitance needs
        ``U^T D^-1 U`` and ``F^T D^-1 U`` only: ``O(nnz(U) m)`` for sparse
        ``U``, no ``p x k`` array.
        """
        if self._capacitance is None:
            U, FtDU = self._U, self._FtDU
            UtDU = _transposed_product(U, self._scaled(U))
            capacitance = (np.diag(1.0 / self._signs) + UtDU
                           - FtDU.T @ lu_solve(self._base_cap, FtDU))
            self._capacitance = _lu(capacitance, "The corrected Hessian")
        return self._capacitance

    def solve(self, g, rtol=0.0, residual=False):
        """Solve ``matrix @ x = g`` for ``g`` of shape (p,) or (p, r) (a
        direct solve: ``rtol`` is not needed; ``residual`` also returns
        ``g - matrix @ x``).

        With pending corrections ``U``, ``x = B^-1 (g - U c)`` with ``c =
        C^-1 U^T B^-1 g`` (``C`` the capacitance); both products with ``B^-1``
        share one ``F^T D^-1 g``, so the solve passes over the factor twice,
        as without corrections.
        """
        x = self._solve(g)
        return (x, self._project(g) - self.matvec(x)) if residual else x

    def _solve(self, g):
        g = self._project(g)
        if not self.pending_rank:
            return self._project(self._base_solve(g))
        U, FtDU = self._U, self._FtDU
        D = self._base_diag if g.ndim == 1 else self._base_diag[:, None]
        y = g / D
        t = self._factor_t(y)
        UtBg = np.asarray(U.T @ y) - FtDU.T @ lu_solve(self._base_cap, t)
        c = lu_solve(self._capacitance_lu(), UtBg)
        s = lu_solve(self._base_cap, t - FtDU @ c)
        x = (g - np.asarray(U @ c) - self._factor(s)) / D
        return self._project(x)

    def matvec(self, v, terms=None):
        """``(matrix + terms) @ v``; ``terms`` a RowCurvature or ``None``."""
        out = (self.diagonal * v.T).T
        for A, s in ((self.W, self.w_signs), (self._U, self._signs)):
            if A is not None and A.shape[1]:
                w = np.asarray(A.T @ v)
                out = out + np.asarray(A @ (w * (s if w.ndim == 1 else s[:, None])))
        if terms is not None:
            out = out + terms.apply(v)
        return out

    def diag(self):
        """The diagonal of the matrix."""
        out = self.diagonal + np.einsum("ij,ij,j->i", self.W, self.W, self.w_signs)
        U = self._U
        if sp.issparse(U):
            return out + np.asarray(U.multiply(U) @ self._signs).ravel()
        return out + np.einsum("ij,ij,j->i", U, U, self._signs)

    def to_dense(self):
        """The matrix as a dense array (for small ``p`` and tests only)."""
        U = self._U.toarray() if sp.issparse(self._U) else self._U
        M = (self.W * self.w_signs) @ self.W.T + (U * self._signs) @ U.T
        M[np.diag_indices_from(M)] += self.diagonal
        return M

    @property
    def matrix(self):
        """Dense matrix, formed on demand; refused above 4096 parameters."""
        if len(self.diagonal) > 4096:
            raise MemoryError(
                f"A {len(self.diagonal)} x {len(self.diagonal)} matrix is not "
                "formed in low-rank mode; use matvec or diag."
            )
        return self.to_dense()


def _scaled_gram(W, D):
    """``W^T diag(D)^-1 W``, by symmetric rank-k updates (half the flops of
    a product) on blocks of rows: no scaled copy of ``W``."""
    p, m = W.shape
    gram = np.zeros((m, m))
    step = max(1, 2**20 // max(1, m))
    for start in range(0, p, step):
        rows = slice(start, min(p, start + step))
        # the transpose of a C-ordered block is what BLAS reads in place
        block = np.ascontiguousarray(W[rows] / np.sqrt(D[rows, None]))
        gram = dsyrk(1.0, block.T, beta=1.0, c=gram, overwrite_c=1)
    return np.triu(gram) + np.triu(gram, 1).T


def _diagonal_shift(diagonal, full_diag):
    """The shift ``mu`` of the coordinates with (almost) no diagonal mass."""
    weak = diagonal <= 1e-10 * np.maximum(full_diag, 0.0)
    return np.where(weak, np.maximum(full_diag, 1.0), 0.0)


def _signed_squares(U, signs):
    """The diagonal of ``U diag(signs) U^T``, dense or sparse ``U``."""
    if not U.shape[1]:
        return np.zeros(U.shape[0])
    if sp.issparse(U):
        return np.asarray(U.multiply(U) @ signs).ravel()
    return np.einsum("ij,ij,j->i", U, U, signs)


def _divided(U, D):
    """``diag(D)^-1 U``, dense or sparse as ``U``."""
    if sp.issparse(U):
        DU = sp.csc_matrix(U, copy=True)
        DU.data /= D[DU.indices]
        return DU
    return U / D[:, None]


def _dense(A):
    return A.toarray() if sp.issparse(A) else np.asarray(A)


def hstack_columns(A, B):
    """The columns of ``A`` then those of ``B``; sparse (CSC) if either is."""
    if not B.shape[1]:
        return A
    if not A.shape[1]:
        return B.tocsc() if sp.issparse(B) else B
    if sp.issparse(A) or sp.issparse(B):
        return sp.hstack([A, B], format="csc")
    return np.hstack([A, B])


def _transposed_product(A, B):
    """``A^T B`` as a dense array, for dense or sparse ``A`` and ``B``."""
    if sp.issparse(B) and not sp.issparse(A):
        # as (B^T A)^T: a sparse-dense product that reads only the rows of A
        # where B has values
        return np.asarray(B.T @ A).T
    out = A.T @ B
    return out.toarray() if sp.issparse(out) else np.asarray(out)


def _nbytes(A):
    if sp.issparse(A):
        A = A if A.format in ("csc", "csr") else A.tocsc()
        return A.data.nbytes + A.indices.nbytes + A.indptr.nbytes
    return A.nbytes


def _lu(capacitance, what):
    try:
        if not np.all(np.isfinite(capacitance)):
            raise ValueError("non-finite capacitance")
        lu = lu_factor(capacitance, check_finite=False)
    except (LinAlgError, ValueError) as exc:
        raise NotPositiveDefiniteError(
            f"{what} is singular: the request removes (almost) all the "
            "curvature the model was trained with. Retrain on the corrected "
            "data instead."
        ) from exc
    piv = np.abs(np.diag(lu[0]))
    if piv.min(initial=1.0) <= 1e-14 * piv.max(initial=1.0):
        raise NotPositiveDefiniteError(
            f"{what} is singular: the request removes (almost) all the "
            "curvature the model was trained with. Retrain on the corrected "
            "data instead."
        )
    return lu
