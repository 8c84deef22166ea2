"""A Hessian kept as diagonal plus low rank, for models too large for a dense
``p x p`` matrix (hashed text features, large multinomial models).

``matrix = diag(diagonal) + cross + W diag(w_signs) W^T + U diag(signs) U^T``

At fit, ``W`` is a Nystrom approximation of the data part of the Hessian
(exact on the columns of its test vectors that are unit vectors: the
intercepts and the coordinates of largest curvature), ``diagonal`` its exact
diagonal remainder plus the penalty, ``cross`` (a multinomial block only)
its exact remainder between the classes of each feature; requests add their
exact rank-one corrections ``U``. Every solve uses the Woodbury identity on the
(block) diagonal, in ``O(p (r + k) + (r + k)^3)``.

The corrections of sparse rows (hashed text) stay sparse: ``U`` is then a CSC
matrix, and every product with it costs ``O(nnz(U))`` per vector, never
``O(p k)``.

Pending corrections are the request's rows (scaled). ``corrected(terms,
fold=True)`` merges them into a new factor ``W'`` instead. A fit's sketch
keeps its core (:class:`~._sketch.SketchCore`): ``W'`` is then the factor a
sketch of the corrected matrix with the same test vectors would give, whose
span no longer holds the removed rows. Without it (a matrix made without a
sketch, a model saved before the core was kept), by their projection onto
the span of ``W``: the eigenvectors of the low-rank part in the metric of
the diagonal, a function of the corrected matrix alone, with no stored array
from which a row, or the old factor, can be read off. The span, and so the
rank, then stays the sketch's; what lies outside it is counted in
``fold_error``. The diagonal and the class blocks take the rows' own entries
out exactly and the factor's change in: they stay the remainder of the
corrected matrix. Rows leave with their curvature at the current
parameters, which can exceed what they entered with (the drift the dense
mode bounds and damps by): where that takes a block of the remainder below
the penalty, the least curvature of the objective, the fold raises the
block to it, and counts the amount in ``fold_error``.
"""

import numpy as np
import scipy.sparse as sp
from scipy.linalg import lu_solve

from ._blockdiag import BlockDiagonal
from ._columns import (
    factored_capacitance,
    hstack_columns,
    scaled_gram,
    signed_squares,
    stored_bytes,
    transposed_product,
)
from ._factored import NotPositiveDefiniteError
from ._fold import FoldMixin, _with_lines_set
from ._sketch import nystrom  # noqa: F401  (the sketch as eigenpairs)
from ._sketch import ordinary_pages

#: Rank of the Nystrom sketch when none is given.
DEFAULT_RANK = 200


class LowRankHessian(FoldMixin):
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
    cross : ndarray of shape (p / K, K, K), default=None
        For parameters ordered class by class (coordinate ``k p / K + j`` is
        class ``k`` of feature ``j``), the entries between the ``K`` classes
        of each feature, with a zero diagonal: ``diag(diagonal) + cross`` is
        then block diagonal, one ``K x K`` block per feature, and must be
        positive definite. ``None``: a plain diagonal.
    sketch_core : SketchCore, default=None
        The core of the sketch ``W`` was made from (a fit's sketch): a fold
        then updates the sketch exactly, as if it were taken of the changed
        matrix with the same test vectors (see :meth:`folded`). ``None``: a
        fold projects the change on the span of ``W``.
    squares : ndarray of shape (p,), default=None
        The diagonal of ``W diag(w_signs) W^T``, if the caller has it (a
        sketch takes it with the class blocks); computed otherwise.
    penalty : ndarray of shape (p,), default=None
        The penalty's part of ``diagonal``: the least curvature the matrix
        has in each coordinate. A fold raises the remainder (``diagonal``
        with ``cross``) to it where the rows' curvature, which they leave
        with at the current parameters, took it below (see
        :meth:`~._fold.FoldMixin.folded`). ``None``: nothing is raised.

    Attributes
    ----------
    pending_rank : int
        Number of correction columns added since construction or the last
        fold.
    fold_error : float
        Bound, in the operator norm, on the difference between the stored
        matrix and the exact sum of its changes: the parts of folded
        corrections outside the span of ``W``, and what folds raised the
        remainder by to keep it at the penalty.

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

    #: Class defaults: matrices saved before the class blocks existed, or
    #: before the sketch's core was kept (their folds project instead).
    cross = None
    _base_inv = _base_half = None
    sketch_core = None
    penalty = None

    def __init__(self, diagonal, W, w_signs, null_basis=None, cross=None,
                 sketch_core=None, squares=None, penalty=None):
        diagonal = np.asarray(diagonal, dtype=np.float64)
        W = np.asarray(W, dtype=np.float64)
        w_signs = np.asarray(w_signs, dtype=np.float64)
        self.null_basis = null_basis
        self.penalty = None if penalty is None else np.asarray(penalty, dtype=np.float64)
        self.diagonal = diagonal
        self.cross = None if cross is None else np.asarray(cross, dtype=np.float64)
        self.W = W
        self.w_signs = w_signs
        self.sketch_core = sketch_core
        self.fold_error = 0.0
        if squares is None:
            squares = np.einsum("ij,ij,j->i", W, W, w_signs)
        self._set_base(diagonal + squares)
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
        mu = _diagonal_shift(diagonal, full_diag, self.null_basis)
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
        base = BlockDiagonal(base_diag, self.cross)
        self._base_inv, self._base_half = base.factors
        # the factor is [W, extra]; the few extra columns are kept apart so
        # that W is never copied
        self._extra = np.hstack(cols) if cols else np.zeros((p, 0))
        self._base_signs = np.concatenate([self.w_signs] + sg)
        n = len(self._base_signs)
        gram = np.zeros((n, n))
        gram[:m, :m] = scaled_gram(W, base) if gram_w is None else gram_w
        # the extra columns live on a few coordinates (the intercepts), and
        # D^-1 of them on those coordinates' class blocks
        X = base.solve(self._extra)
        live = np.flatnonzero(np.any(X != 0, axis=1))
        X = X[live]
        gram[m:, :m] = X.T @ W[live]
        gram[:m, m:] = gram[m:, :m].T
        gram[m:, m:] = X.T @ self._extra[live]
        self._gram = 0.5 * (gram + gram.T)
        capacitance = np.diag(1.0 / self._base_signs) + self._gram
        self._base_cap = factored_capacitance(capacitance,
                                              "The Hessian of the training objective")

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
                  self._base_cap[0], self.cross, self._base_inv, self._base_half,
                  self.penalty]
        if self.sketch_core is not None:
            arrays += [self.sketch_core.L, self.sketch_core.J, self.sketch_core.minus]
        return int(sum(stored_bytes(a) for a in arrays if a is not None))

    @property
    def base(self):
        """The shifted diagonal ``D`` with the class blocks, as a
        :class:`~._blockdiag.BlockDiagonal` (a view of this object's arrays)."""
        return BlockDiagonal(self._base_diag, self.cross,
                             (self._base_inv, self._base_half))

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
        base = self.base
        x = base.solve(g)
        t = lu_solve(self._base_cap, self._factor_t(x))
        return x - base.solve(self._factor(t))

    def _scaled(self, U):
        """``D^-1 U`` for the shifted diagonal ``D``, dense or sparse as ``U``."""
        return self.base.divided(U)

    def corrected(self, terms=None, fold=False, lines=None):
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
        lines : tuple (index, diagonal), default=None
            With ``fold``: the rows and columns of features no current row
            holds, set to ``diagonal`` on the diagonal alone in the same
            fold (see :meth:`with_lines`).

        Returns
        -------
        H : LowRankHessian
            A new object; this one is unchanged.
        """
        if terms is None or not terms.n_rows:
            new = self.with_columns(None, None)
        else:
            new = self.with_columns(*terms.columns())
        return new.folded(lines) if fold else new

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
        FtDU = np.vstack([transposed_product(self.W, DU),
                          transposed_product(self._extra, DU)])
        new = object.__new__(type(self))
        new.__dict__.update(self.__dict__)
        new._U = hstack_columns(self._U, U)
        new._signs = np.concatenate([self._signs, signs])
        new._FtDU = np.hstack([self._FtDU, FtDU])
        new._capacitance = None
        return new

    def with_exact_renamed(self, old, new, rank):
        """This matrix, as a new object, with its sketch's exact coordinates
        ``old`` named ``new`` and taken in a fit's order (by ``rank``)
        (:meth:`SketchCore.renamed`: coordinates no row holds, which the
        sketch gives the same products; the same matrix up to rounding, a
        product of the factor with an ``s x s`` matrix)."""
        core, T = self.sketch_core.renamed(old, new, rank)
        with ordinary_pages():      # fresh memory, written once
            W = self.W @ T
        full_diag, remainder, cross, raised = self._folded_remainder(W, self.w_signs)
        return self._with_factor(W, self.w_signs, None, full_diag, raised, remainder,
                                 cross, sketch_core=core)

    def with_lines(self, index, diagonal):
        """The matrix with the rows and columns ``index`` set to zero but for
        ``diagonal`` on the diagonal, folded, as a new object (this one is
        unchanged): the lines of features that no current row holds.

        A fit's sketch is made again for the data part projected off those
        lines (:meth:`SketchCore.updated`); another factor has its rows
        there zeroed. The diagonal and the class blocks stay the remainder
        of the changed matrix, as in a fold.
        """
        if self.pending_rank:
            return self.folded((index, diagonal))
        index = np.asarray(index, dtype=np.intp)
        core = self.sketch_core
        if core is not None and len(core.L) == self.W.shape[1] and np.all(self.w_signs == 1):
            W, core = core.updated(self.W, np.zeros((self.W.shape[0], 0)), np.zeros(0),
                                   index)
        else:
            W, core = self.W.copy(), None
            W[index] = 0.0
        full_diag, remainder, cross, raised = self._folded_remainder(W, self.w_signs)
        full_diag, remainder, cross = _with_lines_set(full_diag, remainder, cross,
                                                      index, diagonal)
        return self._with_factor(W, self.w_signs, None, full_diag, raised, remainder,
                                 cross, sketch_core=core)

    def _capacitance_lu(self):
        """LU of ``diag(signs)^-1 + U^T B^-1 U``, ``B`` the matrix at construction.

        ``B^-1 = D^-1 - D^-1 F C_B^-1 F^T D^-1`` (Woodbury on the diagonal
        ``D`` and the factor ``F = [W, extra]``), so the capacitance needs
        ``U^T D^-1 U`` and ``F^T D^-1 U`` only: ``O(nnz(U) m)`` for sparse
        ``U``, no ``p x k`` array.
        """
        if self._capacitance is None:
            U, FtDU = self._U, self._FtDU
            UtDU = transposed_product(U, self._scaled(U))
            capacitance = (np.diag(1.0 / self._signs) + UtDU
                           - FtDU.T @ lu_solve(self._base_cap, FtDU))
            self._capacitance = factored_capacitance(capacitance, "The corrected Hessian")
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
        base = self.base
        y = base.solve(g)
        t = self._factor_t(y)
        UtBg = np.asarray(U.T @ y) - FtDU.T @ lu_solve(self._base_cap, t)
        c = lu_solve(self._capacitance_lu(), UtBg)
        s = lu_solve(self._base_cap, t - FtDU @ c)
        x = base.solve(g - np.asarray(U @ c) - self._factor(s))
        return self._project(x)

    def matvec(self, v, terms=None):
        """``(matrix + terms) @ v``; ``terms`` a RowCurvature or ``None``."""
        out = self.base.matvec(v, self.diagonal)
        for A, s in ((self.W, self.w_signs), (self._U, self._signs)):
            if A is not None and A.shape[1]:
                w = np.asarray(A.T @ v)
                out = out + np.asarray(A @ (w * (s if w.ndim == 1 else s[:, None])))
        if terms is not None:
            out = out + terms.apply(v)
        return out

    def forms(self, V):
        """``V^T matrix V`` for ``V`` of shape (p, c) with a few columns: one
        product of the factor's transpose with ``V`` (a column with few
        values reads only those rows), half of what :meth:`matvec` reads."""
        out = V.T @ self.base.matvec(V, self.diagonal)
        for A, s in ((self.W, self.w_signs), (self._U, self._signs)):
            if A is not None and A.shape[1]:
                Z = transposed_product(A, V)
                out = out + (Z * s[:, None]).T @ Z
        return 0.5 * (out + out.T)

    def diag(self):
        """The diagonal of the matrix."""
        return (self.diagonal + signed_squares(self.W, self.w_signs)
                + signed_squares(self._U, self._signs))

    def to_dense(self):
        """The matrix as a dense array (for small ``p`` and tests only)."""
        U = self._U.toarray() if sp.issparse(self._U) else self._U
        M = (self.W * self.w_signs) @ self.W.T + (U * self._signs) @ U.T
        return M + BlockDiagonal.dense(self.diagonal, self.cross)

    @property
    def matrix(self):
        """Dense matrix, formed on demand; refused above 4096 parameters."""
        if len(self.diagonal) > 4096:
            raise MemoryError(
                f"A {len(self.diagonal)} x {len(self.diagonal)} matrix is not "
                "formed in low-rank mode; use matvec or diag."
            )
        return self.to_dense()


def _diagonal_shift(diagonal, full_diag, null_basis=None):
    """The shift ``mu`` of the coordinates with (almost) no diagonal mass,
    and of those of the null basis (a multinomial model's intercepts):
    their block of the base is singular along the classes' common shift."""
    weak = diagonal <= 1e-10 * np.maximum(full_diag, 0.0)
    if null_basis is not None:
        weak |= np.any(null_basis != 0, axis=1)
    return np.where(weak, np.maximum(full_diag, 1.0), 0.0)
