"""A symmetric positive definite matrix kept as a Cholesky factor plus a
pending low-rank correction, solved with the Woodbury identity."""

import numpy as np
from scipy.linalg import LinAlgError, cho_factor, cho_solve, lu_factor, lu_solve


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


class FactoredHessian:
    """``matrix = factored + U @ diag(signs) @ U.T``, never inverted explicitly.

    Small changes (a request's rows) are applied through the Woodbury identity
    on the existing Cholesky factor, in ``O(p^2 r)``; once the pending rank
    ``r`` makes that dearer than a new factorisation (``O(p^3 / 3)``), the
    explicit matrix is refactored.

    Parameters
    ----------
    matrix : ndarray of shape (p, p)
        The symmetric positive (semi-)definite matrix. Owned, not copied.
    null_basis : ndarray of shape (p, q), default=None
        Orthonormal directions along which ``matrix`` is singular by
        construction (an unidentifiable shift). Solutions are kept orthogonal
        to them; right-hand sides must be orthogonal to them.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_unlearn.solvers import FactoredHessian
    >>> H = FactoredHessian(np.array([[4.0, 1.0], [1.0, 3.0]]))
    >>> H.solve(np.array([1.0, 2.0]))
    array([0.09090909, 0.63636364])

    The matrix with a rank-one change ``+ u u^T``, solved through the
    Woodbury identity on the same factor; the original is unchanged:

    >>> u, signs = np.array([[1.0], [0.0]]), np.array([1.0])
    >>> H2 = H.corrected(u, signs)
    >>> H2.solve(np.array([1.0, 2.0]))
    array([0.07142857, 0.64285714])
    >>> H2.matrix
    array([[5., 1.],
           [1., 3.]])
    >>> H.matrix
    array([[4., 1.],
           [1., 3.]])
    """

    # Refactor once the pending rank exceeds this share of the dimension.
    refactor_share = 0.25

    def __init__(self, matrix, null_basis=None):
        self._base = matrix
        self.null_basis = null_basis
        self._refactor()

    @property
    def pending_rank(self):
        return self._U.shape[1]

    @property
    def matrix(self):
        """The matrix, formed on demand (the factored one plus the pending
        correction)."""
        if not self.pending_rank:
            return self._base
        return self._base + (self._U * self._signs) @ self._U.T

    def _refactor(self):
        M = self._base
        if self.null_basis is not None:
            shift = max(np.mean(np.diag(M)), 1.0)
            M = M + shift * (self.null_basis @ self.null_basis.T)
        try:
            self._chol = cho_factor(M, lower=True, check_finite=True)
        except (LinAlgError, ValueError) as exc:
            raise NotPositiveDefiniteError(
                "The Hessian of the training objective is not positive definite, "
                "so the update has no unique solution. Use a stronger L2 penalty "
                "(larger alpha, smaller C) or retrain."
            ) from exc
        p = self._base.shape[0]
        self._U = np.zeros((p, 0))
        self._signs = np.zeros(0)
        self._HinvU = np.zeros((p, 0))
        self._capacitance = None

    def _project(self, v):
        if self.null_basis is None:
            return v
        return v - self.null_basis @ (self.null_basis.T @ v)

    def corrected(self, U=None, signs=None):
        """The matrix plus ``U diag(signs) U^T``, ready to solve.

        Returns a new object and leaves this one unchanged (the factored
        matrix is shared, not copied). A small change reuses this Cholesky
        factor through the Woodbury identity; once the total pending rank
        passes ``refactor_share * p``, the corrected matrix is formed and
        factored anew, which is then cheaper.
        """
        if U is None or not U.shape[1]:
            return self
        new = object.__new__(type(self))
        new.null_basis = self.null_basis
        p = self._base.shape[0]
        if self.pending_rank + U.shape[1] > self.refactor_share * p:
            new._base = self.matrix + (U * signs) @ U.T
            new._refactor()
        else:
            new._base = self._base
            new._chol = self._chol
            new._U = np.hstack([self._U, U])
            new._signs = np.concatenate([self._signs, signs])
            new._HinvU = np.hstack(
                [self._HinvU, cho_solve(self._chol, U, check_finite=False)])
            new._capacitance = None
        return new

    def _capacitance_lu(self):
        if getattr(self, "_capacitance", None) is None:
            capacitance = np.diag(1.0 / self._signs) + self._U.T @ self._HinvU
            try:
                self._capacitance = lu_factor(capacitance, check_finite=True)
            except (LinAlgError, ValueError) as exc:
                raise NotPositiveDefiniteError(
                    "The corrected Hessian is singular: the request removes "
                    "(almost) all the curvature the model was trained with. "
                    "Retrain on the corrected data instead."
                ) from exc
        return self._capacitance

    def solve(self, g):
        """Solve ``matrix @ x = g`` for ``g`` of shape (p,) or (p, r)."""
        x = cho_solve(self._chol, self._project(g), check_finite=False)
        if self.pending_rank:
            x = x - self._HinvU @ lu_solve(self._capacitance_lu(), self._U.T @ x)
        return self._project(x)

    def matvec(self, v, U=None, signs=None):
        """``(matrix + U diag(signs) U^T) @ v``, without forming the matrix."""
        out = self._base @ v
        for W, sg in ((self._U, self._signs), (U, signs)):
            if W is not None and W.shape[1]:
                w = W.T @ v
                out = out + W @ (w * (sg if w.ndim == 1 else sg[:, None]))
        return out
