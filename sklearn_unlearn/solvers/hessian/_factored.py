"""A symmetric positive definite matrix kept as a Cholesky factor plus the
pending row changes of recent requests, solved by conjugate gradients
preconditioned with that factor."""

import numpy as np
import scipy.sparse as sp
from scipy.linalg.blas import dtrsv
from scipy.linalg.lapack import dpocon, dpotrf, dpotrs

from .._cg import conjugate_gradient
from .._norms import scaled_norm
from ..bounds._roundoff import UNIT
from ._factor_update import update_flops, updated_factor
from ._pending import BLAS2_COST, PendingMatrix, symmetric_product

_EPS = np.finfo(float).eps


def _cholesky(M):
    """The lower Cholesky factor of ``M`` (its lower triangle read) and
    LAPACK's ``info``, which is also nonzero when the factor's diagonal is not
    finite: a non-finite entry of that triangle reaches the diagonal of its
    row of the factor or stops the factorisation, so the diagonal is
    checked, not the matrix."""
    L, info = dpotrf(M, lower=1, clean=0, overwrite_a=0)
    if info == 0 and not np.all(np.isfinite(np.diagonal(L))):
        info = len(M) + 1
    return L, info


class NotPositiveDefiniteError(ValueError):
    """The Hessian of the objective is not positive definite.

    A subclass of ``ValueError``, raised when a Hessian cannot be factored or
    a request leaves the corrected Hessian singular.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_unlearn.solvers import FactoredHessian, NotPositiveDefiniteError
    >>> try:
    ...     FactoredHessian(np.array([[1.0, 0.0], [0.0, -1.0]]))
    ... except NotPositiveDefiniteError as exc:
    ...     print("refused:", str(exc)[:45])
    refused: The Hessian of the training objective is not
    """


class LostCurvatureError(NotPositiveDefiniteError):
    """A fold left the corrected Hessian without positive curvature (its
    entries finite). Its message names removed rows, the likely cause; a
    request that removes none says otherwise."""


class FactoredHessian(PendingMatrix):
    """``matrix = base + pending rows``, with a Cholesky factor of ``base``.

    A request's change (a few weighted rows, see
    :class:`~sklearn_unlearn.solvers.RowCurvature`) is kept as rows. Solves
    with the corrected matrix run conjugate gradients preconditioned by the
    factor of ``base``: the change is small against the training data, so
    the preconditioned matrix is close to the identity and a few iterations,
    each ``O(p^2 + m p)`` for ``m`` pending rows, reach round-off. The rows
    are folded into ``base`` and factored anew (``O(m p^2 + p^3 / 3)``) when
    what their iterations have cost reaches that, or when the iterations do
    not converge within that cost.

    Parameters
    ----------
    matrix : ndarray of shape (p, p)
        The symmetric positive (semi-)definite matrix. Its lower triangle is
        copied (see :class:`PendingMatrix`).
    null_basis : ndarray of shape (p, q), default=None
        Orthonormal directions along which ``matrix`` is singular by
        construction (an unidentifiable shift). Solutions are kept orthogonal
        to them; right-hand sides must be orthogonal to them.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_unlearn.solvers import FactoredHessian, RowCurvature
    >>> H = FactoredHessian(np.array([[4.0, 1.0], [1.0, 3.0]]))
    >>> H.solve(np.array([1.0, 2.0]))
    array([0.09090909, 0.63636364])

    The matrix plus the row ``[1, 0]`` with weight 1: solved with the same
    factor; the original is unchanged:

    >>> H2 = H.corrected(RowCurvature(np.array([[1.0, 0.0]]), np.array([1.0])))
    >>> H2.solve(np.array([1.0, 2.0]))
    array([0.07142857, 0.64285714])
    >>> H2.matrix
    array([[5., 1.],
           [1., 3.]])
    >>> H.matrix
    array([[4., 1.],
           [1., 3.]])
    """

    # the iterations are charged as they run; one more use a request stands
    # for the products of the other methods (the first-order rate, the
    # refined iterations); the bound's drift product is kept by the cache
    uses_per_request = 1
    keeps_trace = False
    merges_chunks = True
    #: Iterations allowed even when folding is due sooner by the model.
    min_iterations = 3
    #: Whether the factor is known to hold zeros above its diagonal (one
    #: loaded from an older file may not).
    _chol_zero_upper = False
    #: Updates of the factor since it was last factored (see :meth:`_updated`).
    _chol_updates = 0
    #: The sum of the squared norms of the columns of the updates since the
    #: last factorisation (a factor from an older file: none).
    _chol_update_mass = 0.0

    def __init__(self, matrix, null_basis=None, error=0.0):
        super().__init__(matrix, error)
        self.null_basis = null_basis
        self._refactor()

    #: Diagonal shift of the factored matrix (see :meth:`corrected`).
    damping = 0.0
    #: The largest shift allowed: a bound on the operator-norm error of the
    #: matrix, given by the caller.
    max_damping = 0.0

    def _refactor(self):
        M = self._base
        self._shift_value = 0.0
        if self.null_basis is not None:
            self._shift_value = max(float(np.mean(np.diag(M))), 1.0)
            M = M + self._shift_value * (self.null_basis @ self.null_basis.T)
        damping = 0.0
        L, info = _cholesky(M)
        if info != 0 and not np.all(np.isfinite(M)):
            raise NotPositiveDefiniteError(
                "The Hessian of the training objective has non-finite entries. "
                "Check the data for infinities or overflowing values."
            )
        if info != 0 and self.max_damping > 0:
            # The cached matrix is within max_damping (in operator norm) of a
            # positive semidefinite one: shifted by it, it is positive
            # definite whenever the exact matrix is.
            damping = float(self.max_damping)
            L, info = _cholesky(M + damping * np.eye(len(M)))
        if info != 0:
            raise NotPositiveDefiniteError(
                "The Hessian of the training objective is not positive definite, "
                "so the update has no unique solution. Use a stronger L2 penalty "
                "(larger alpha, smaller C) or retrain."
            )
        self.damping = damping
        self._chol = L
        # dpotrf leaves the factored matrix's upper triangle above the factor
        self._chol_zero_upper = self._zero_upper and not self._shift_value
        self._chol_updates = 0
        self._chol_update_mass = 0.0
        self._set_factored_norm()

    def _set_factored_norm(self):
        # a bound on the Frobenius norm (kept by the base matrix)
        p = self._base.shape[0]
        self._factored_norm = (self._abs_norm + self._shift_value * np.sqrt(p)
                               + self.damping * np.sqrt(p))
        self._rent = 0.0

    def _updated(self, terms):
        """Whether the factor was updated for the folded ``terms`` in place
        of a factorisation: dense terms whose columns are few enough for
        the update to cost less
        (:func:`~._factor_update.update_flops`), where it succeeds. A damped
        factor is factored anew (its damping is chosen there)."""
        if self.damping or any(sp.issparse(t.rows) for t in terms):
            return False
        p = self._base.shape[0]
        # an edited row is two columns (its old and new versions), or an
        # edit of few columns two per edited column; a row of a coupled loss
        # one per output
        r = sum(t.n_update_columns for t in terms)
        if update_flops(p, r) >= p**3 / 3.0:
            return False
        columns = [t.update_columns() for t in terms]
        U = np.hstack([c[0] for c in columns])
        signs = np.concatenate([c[1] for c in columns])
        # Each update rounds in proportion to the size of the change, also
        # where later changes cancel it: once the changes since the last
        # factorisation add up to the matrix itself, the factor's error may
        # exceed a fresh one's in directions of small curvature, which the
        # residual of a solve does not show. Factored anew then.
        mass = self._chol_update_mass + float(np.einsum("ij,ij->", U, U))
        if not mass <= abs(self._trace):
            return False
        L = updated_factor(self._chol, U, signs, zero_upper=self._chol_zero_upper)
        if L is None:
            return False
        self._chol = L
        self._chol_zero_upper = True
        self._chol_updates += 1
        self._chol_update_mass = mass
        self._set_factored_norm()
        return True

    def _fold(self, lines=None):
        terms = self._pending
        super()._fold(lines)
        # set lines are factored with the rows, once
        if lines is None and terms and self._updated(terms):
            return
        try:
            self._refactor()
        except NotPositiveDefiniteError as exc:
            if not self.finite:
                raise NotPositiveDefiniteError(
                    "The corrected Hessian has non-finite entries: the request's "
                    "rows, targets or weights are too large for float64 "
                    "arithmetic. Nothing was changed. Rescale the data and "
                    "retrain.") from exc
            raise LostCurvatureError(
                "The corrected Hessian is not positive definite. Taking rows "
                "of the training data out leaves at least the penalty's "
                "curvature, so the request removes curvature the training "
                "data does not have: most likely some rows of X_old were never "
                "trained on, were deleted already, or are given more "
                "sample_weight than they were trained with (fit with "
                "fingerprint_key to have such rows named); otherwise the model "
                "has moved so far since the fit that a row's curvature has grown "
                "past what it entered with: retrain on the corrected data. "
                "Nothing was changed."
            ) from exc

    def corrected(self, terms=None, fold=False, max_damping=0.0, lines=None):
        """The matrix plus ``terms``, as a new object (see
        :meth:`PendingMatrix.corrected`).

        ``max_damping`` bounds the operator-norm error of the result: if it
        cannot be factored when it is folded, the factor is taken of the
        matrix plus that much times the identity. Solves are then damped
        Newton steps, and :meth:`solve` still returns the residual of the
        undamped system, so an estimate built on it stays honest.

        ``lines`` (``(index, diagonal)``, with ``fold``): the rows and
        columns of features no current row holds, set to ``diagonal`` on the
        diagonal alone in the folded base before it is factored (see
        :meth:`~PendingMatrix._fold`): one factorisation.
        """
        new = self._copy()
        new.max_damping = float(max_damping)
        return PendingMatrix.corrected(new, terms, fold=fold, lines=lines)

    def shifted(self, diagonal):
        """The matrix plus ``diag(diagonal)``, factored anew, as a new object
        (the change of an L2 weight; this one is unchanged). Pending rows stay
        pending; the rounding of the new diagonal joins :attr:`error`.

        Examples
        --------
        >>> import numpy as np
        >>> from sklearn_unlearn.solvers import FactoredHessian
        >>> H = FactoredHessian(np.array([[4.0, 1.0], [1.0, 3.0]]))
        >>> H.shifted(np.array([1.0, 0.0])).matrix
        array([[5., 1.],
               [1., 3.]])
        """
        new = self._copy()
        base = np.array(self._base, order="F" if self._base.flags.f_contiguous else "C")
        idx = np.arange(len(diagonal))
        base[idx, idx] += diagonal
        shift = float(np.linalg.norm(diagonal))
        new._base = base
        new._trace = self._trace + float(np.sum(diagonal))
        # each diagonal entry is rounded once
        new.error = self.error + UNIT * (self._abs_norm + shift)
        new._abs_norm = (self._abs_norm + shift) * (1.0 + 4.0 * UNIT)
        new._refactor()
        return new

    def _fold_price(self):
        p = self._base.shape[0]
        return super()._fold_price() + p**3 / 3.0

    def _project(self, v):
        if self.null_basis is None:
            return v
        return v - self.null_basis @ (self.null_basis.T @ v)

    def precision_ratio(self, error):
        """An estimate (not a bound) of how much an error of operator norm
        ``error`` in the factored matrix ``A`` can move its solves, relative
        to them: ``error p / tr(A)`` times LAPACK's estimate of
        ``||(D^-1 A D^-1)^-1||_1``, ``D`` the square roots of ``A``'s
        diagonal. Rounding errs in each entry by a share of the magnitudes
        it sums, so the error is taken to spread as ``D 1 1^T D`` does, and
        is weighed against the curvature in those scaled coordinates: an
        uncentred column (mean 1e4 times its spread), nearly parallel to the
        intercept, rounds in its large entries, which the scaling sees,
        where the unscaled condition number takes every entry's rounding
        against the smallest curvature. ``inf`` where the matrix is
        singular to working precision."""
        L = np.tril(self._chol)
        d2 = np.einsum("ij,ij->i", L, L)
        if not np.all(d2 > 0):
            return np.inf
        d = np.sqrt(d2)
        rcond, info = dpocon(L / d[:, None], 1.0, uplo="L")
        if info != 0 or not rcond > 0:
            return np.inf
        return float(error * len(d) / np.sum(d2) / rcond)

    def _base_solve(self, g):
        """``(base + shift) ^-1 g`` with the Cholesky factor."""
        L = self._chol
        if g.ndim == 1:
            return dtrsv(L, dtrsv(L, g, lower=1), lower=1, trans=1)
        if g.shape[1] == 1:
            # two triangular matrix-vector solves: a third of the time of
            # the matrix routine on one column
            return self._base_solve(g[:, 0])[:, None]
        x, info = dpotrs(L, g, lower=1)
        return x

    def _factored_matvec(self, v):
        """``(base + shift) @ v`` for the matrix that ``_chol`` factors."""
        out = symmetric_product(self._base, v)
        if self.damping:
            out = out + self.damping * v
        if self._shift_value:
            out = out + self._shift_value * (self.null_basis @ (self.null_basis.T @ v))
        return out

    def solve(self, g, rtol=0.0, residual=False):
        """Solve ``matrix @ x = g`` for ``g`` of shape (p,) or (p, r).

        With pending rows the solution is iterated to the round-off level of
        a direct solve, or to a residual of ``rtol ||g||`` if that is larger.
        With ``residual``, returns ``(x, g - matrix @ x)``: the iterations
        compute it anyway.
        """
        g = self._project(g)
        out = None
        if self._pending:
            out = self._pcg(g, rtol)
            if out is None:
                # not converged within the cost of folding: fold and solve
                # directly (this object only; the matrix it was corrected
                # from keeps its own factor)
                self._fold()
        if out is None:
            x = self._base_solve(g)
            res = None
            if residual or self._chol_updates:
                res = g - symmetric_product(self._base, x)
            if self._chol_updates and not self._direct_residual_ok(g, x, res):
                # rounding gathered over the factor's updates: factored anew
                self._refactor()
                x = self._base_solve(g)
                res = g - symmetric_product(self._base, x) if residual else None
            out = x, res
        x, res = out
        x = self._project(x)
        return (x, res) if residual else x

    def _direct_residual_ok(self, g, x, res):
        """Whether the residual of a direct solve is at the round-off level
        of one with a fresh factorisation, ``16 sqrt(p) eps (||A||_F ||x|| +
        ||g||)`` (columns alike). ``||A||_F`` is taken as the trace of the
        factored matrix (at least its Frobenius norm when it is positive
        definite): the kept norm bound grows with every row folded in or
        out, and against it a factor drifted over many updates would pass."""
        p = g.shape[0]
        level = 16.0 * np.sqrt(p) * _EPS
        scale = abs(self._trace) + self.damping * p
        if self._shift_value:
            res = res - self._shift_value * (self.null_basis @ (self.null_basis.T @ x))
            scale += self._shift_value * self.null_basis.shape[1]
        return bool(scaled_norm(res) <= level * (min(scale, self._factored_norm)
                                                 * scaled_norm(x) + scaled_norm(g)))

    def _pcg(self, g, rtol=0.0):
        """Conjugate gradients on ``base + shift + pending`` preconditioned by
        the factor of ``base + shift``, for ``g`` of shape (p,) or (p, r)
        (one column at a time).

        ``A0 d`` is carried by the recurrence (``split`` of
        :func:`~sklearn_unlearn.solvers._cg.conjugate_gradient`), so an
        iteration costs one solve with the factor and one product with the
        pending rows. The true residual is computed from ``A0`` and the
        pending rows once more at the end.
        The result ``(x, residual)`` is accepted when the true residual is at
        the round-off level of a direct solve, ``16 sqrt(p) eps (||A0||_F
        ||x|| + ||g||)``, or below ``2 rtol ||g||``; ``None`` otherwise, or
        when the iterations would cost more than folding.
        """
        if g.ndim == 2:
            return self._pcg_columns(g, rtol)
        p = g.shape[0]
        iteration = BLAS2_COST * 2.0 * p * p + self._use_cost()
        budget = max(self._fold_price() - self._rent, 0.0)
        max_iter = max(self.min_iterations, int(budget // iteration))
        gnorm = scaled_norm(g)
        level = 16.0 * np.sqrt(p) * _EPS

        x0 = self._base_solve(g)
        target = max(0.1 * level * (self._factored_norm * scaled_norm(x0) + gnorm),
                     rtol * gnorm)
        # stop when converged, or when the residual has not halved in three
        # iterations (round-off reached)
        res = conjugate_gradient(self._apply_pending, g, atol=target, max_iter=max_iter,
                                 precondition=self._base_solve, x0=x0,
                                 r0=-self._apply_pending(x0), split=True,
                                 stall=(3, 0.5))
        # the recurrences plus the product of the true residual
        self._rent += (res.n_iter + 2) * iteration
        if res.status == "non_finite":
            return None         # overflowed: the direct solve says what it can
        return self._accepted(g, res.x, level, rtol)

    def _accepted(self, g, x, level, rtol):
        """``(x, residual)`` when the true residual of the undamped system is
        at the round-off level of a direct solve or below ``2 rtol ||g||``,
        in the matrix's norm and in its norm scaled to a unit diagonal;
        ``None`` otherwise. The pending rows times ``x`` once more, from the
        rows: the sum the iterations kept drifts by the rounding of every
        update, which no bound of a single product covers.

        A direct solve errs by round-off of the scaled matrix ``D^-1 A
        D^-1`` (``D`` the square roots of the base's diagonal), whatever
        the scales of its lines. Measured against ``||A||`` alone, a
        residual along a line of curvature far below the largest passes
        however wrong the solution is there: an intercept of curvature
        1e-169 beside a penalty of 1 took the start of the iterations, a
        solve that left the pending row out, 3% off."""
        gnorm = scaled_norm(g)
        true = g - self._factored_matvec(x) - self._apply_pending(x)
        if self.damping:
            true += self.damping * x
        if rtol > 0.0 and scaled_norm(true) <= 2.0 * rtol * gnorm:
            return x, true
        if not scaled_norm(true) <= level * (self._factored_norm * scaled_norm(x) + gnorm):
            return None
        d2 = np.diagonal(self._base) + self.damping
        if np.all(d2 > 0) and np.all(np.isfinite(d2)):
            d = np.sqrt(d2)
            # ||D^-1 (A0 + P) D^-1|| <= tr(D^-1 A0 D^-1) + ||P|| / min d^2
            shift = (0.0 if not self._shift_value
                     else self._shift_value * self.null_basis.shape[1])
            norm = len(d) + (shift + self._pending_mass) / float(d2.min())
            if not scaled_norm(true / d) <= level * (norm * scaled_norm(d * x)
                                                     + scaled_norm(g / d)):
                return None
        return x, true

    def _pcg_columns(self, g, rtol):
        """:meth:`_pcg` of every column of ``g`` (shape ``(p, r)``); ``None``
        when one is not accepted."""
        if g.shape[1] == 1:
            out = self._pcg(g[:, 0], rtol)
            return None if out is None else (out[0][:, None], out[1][:, None])
        cols = []
        for j in range(g.shape[1]):
            out = self._pcg(np.ascontiguousarray(g[:, j]), rtol)
            if out is None:
                return None
            cols.append(out)
        if not cols:
            return np.zeros_like(g), np.zeros_like(g)
        return (np.column_stack([c[0] for c in cols]),
                np.column_stack([c[1] for c in cols]))
