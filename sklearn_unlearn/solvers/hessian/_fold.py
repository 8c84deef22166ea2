"""The fold of a low-rank Hessian's pending corrections into its factor."""

import numpy as np
import scipy.sparse as sp

from ._blockdiag import block_diagonal, feature_blocks, floored
from ._columns import signed_squares
from ._factored import LostCurvatureError, NotPositiveDefiniteError
from ._sketch import ordinary_pages


class FoldMixin:
    """:meth:`folded` for :class:`~._lowrank.LowRankHessian`, whose state
    (the factor, the diagonal, the capacitance's small matrices) it reads."""

    def folded(self, lines=None):
        """The matrix with its pending corrections merged into the factor
        (and with ``lines``, ``(index, diagonal)``, the rows and columns of
        features no current row holds set to ``diagonal`` on the diagonal
        alone, in the same pass: see :meth:`LowRankHessian.with_lines`).

        A fit's sketch (``sketch_core`` kept) is made again for the corrected
        matrix, with the same test vectors, from the factor, its core and the
        columns alone (:meth:`SketchCore.updated`): the new span is that of
        the corrected matrix's sketch, which a removed row no longer shapes,
        and nothing is dropped. Otherwise (a matrix made without a sketch,
        or saved before the core was kept) the fold stays within the
        factor's span:

        a pending column ``u`` enters by its projection ``u_p = W c`` onto
        the span of ``W`` in the metric of the shifted diagonal ``D``:
        ``W diag(w_signs) W^T + U diag(signs) U^T`` becomes ``W M W^T`` with
        ``M = diag(w_signs) + C diag(signs) C^T``, factored anew by its
        eigenvectors in that metric (a function of the matrix alone, not of
        the pending rows). The factor's span stays the sketch's: an exact
        factorisation of the corrected low-rank part would give a span that
        holds every removed row (that of ``W diag(s) W^T - u u^T`` is that
        of ``[W, u]``; the sketch made again has the span of ``A' Omega``
        instead, the corrected matrix's), and the blocks of a
        one-vs-rest model, sketched apart, would share those directions, so
        their intersection would give the rows back. What is left out, ``2
        ||u_p|| ||u_o|| + ||u_o||^2`` per column for its part ``u_o`` outside
        the span, joins ``fold_error`` (the low-rank mode has no residual
        bound; this keeps the approximation measured).

        Either way the remainder is raised to the penalty where the rows'
        drift took it below (see :meth:`_folded_remainder`); the amount
        joins ``fold_error`` too.

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
            new = self.with_columns(None, None)
            return new if lines is None else new.with_lines(*lines)
        if self.sketch_core is not None and len(self.sketch_core.L) == self.W.shape[1]:
            return self._sketched_again(lines)
        W, U, signs = self.W, self._U, self._signs
        m = W.shape[1]
        base = self.base
        G_ww = self._gram[:m, :m]
        G_wu = self._FtDU[:m]
        lam_g, V_g = np.linalg.eigh(0.5 * (G_ww + G_ww.T))
        good = lam_g > 1e-12 * max(lam_g.max(initial=0.0), 1e-300)
        C = (V_g[:, good] / lam_g[good]) @ (V_g[:, good].T @ G_wu)
        inside = np.maximum(np.einsum("ij,ij->j", G_wu, C), 0.0)
        DU = base.divided(U)
        if sp.issparse(U):
            total = np.asarray(DU.multiply(U).sum(axis=0)).ravel()
        else:
            total = np.einsum("ij,ij->j", U, DU)
        outside = np.maximum(total - inside, 0.0)
        dropped = base.norm_bound() * float(np.sum(2.0 * np.sqrt(inside * outside)
                                                    + outside))
        M = np.diag(self.w_signs) + (C * signs) @ C.T
        L = V_g[:, good] * np.sqrt(lam_g[good])
        core = L.T @ M @ L
        lam, V = np.linalg.eigh(0.5 * (core + core.T))
        keep = np.abs(lam) > 1e-14 * max(np.abs(lam).max(initial=0.0), 1e-300)
        T = (V_g[:, good] / np.sqrt(lam_g[good])) @ (V[:, keep] * np.sqrt(np.abs(lam[keep])))
        with ordinary_pages():      # the new factor is fresh memory, written once
            W_new = W @ T
        w_signs = np.sign(lam[keep])
        if not (np.all(np.isfinite(W_new)) and np.all(np.isfinite(lam))):
            raise NotPositiveDefiniteError(
                "The corrected Hessian has non-finite entries; retrain on the "
                "corrected data instead."
            )
        full_diag, diagonal, cross, raised = self._folded_remainder(W_new, w_signs)
        new = self._with_factor(W_new, w_signs, None, full_diag, dropped + raised,
                                diagonal, cross)
        return new if lines is None else new.with_lines(*lines)

    def _sketched_again(self, lines=None):
        """The fold of a fit's sketch: the sketch of the corrected matrix with
        the same test vectors (:meth:`SketchCore.updated`), with nothing
        dropped. Its span is that of the corrected matrix's sketch: a removed
        row leaves it as it leaves the data."""
        index = None if lines is None else lines[0]
        W_new, core = self.sketch_core.updated(self.W, self._U, self._signs, index)
        w_signs = np.ones(W_new.shape[1])
        full_diag, diagonal, cross, raised = self._folded_remainder(W_new, w_signs)
        if lines is not None:
            full_diag, diagonal, cross = _with_lines_set(full_diag, diagonal, cross,
                                                         *lines)
        return self._with_factor(W_new, w_signs, None, full_diag, raised, diagonal,
                                 cross, sketch_core=core)

    def _folded_remainder(self, W_new, w_signs):
        """The diagonal and the class blocks after a fold to ``W_new``.

        Both hold what the factor misses of the exact matrix's entries (the
        diagonal, and between a feature's classes): sums over the rows, the
        pending ones included. A fold takes the pending rows' entries out
        exactly and the change of the factor's in, so that they are again
        those of the matrix the rows left. Nothing of a removed row stays in
        them: a diagonal kept as fitted would hold the squares of its values
        outside the sketch, which anyone holding the remaining rows could
        read off. Returns the corrected matrix's diagonal (which the fold
        does not change) too.

        The rows leave with their curvature at the current parameters, which
        may exceed the curvature they entered with (the dense mode bounds
        that drift and damps by it): the remainder can then fall below the
        penalty, the least curvature the objective has, or lose positive
        definiteness. Blocks (entries) below the penalty are raised to it
        (:func:`~._blockdiag.floored`), and the amount, the operator norm of
        the change, is returned last (it joins ``fold_error``).
        """
        if self.cross is None:
            full_diag = self.diag()
            diagonal, _, raised = self._floored(
                full_diag - signed_squares(W_new, w_signs), None)
            return full_diag, diagonal, None, raised
        K = self.cross.shape[1]
        # each factor's entries between a feature's classes, its diagonal
        # included, in one pass over it
        old = feature_blocks(self.W, self.w_signs, K) + feature_blocks(
            self._U, self._signs, K)
        new = feature_blocks(W_new, w_signs, K)
        full_diag = self.diagonal + block_diagonal(old)
        # cross' = cross + the class entries of W S W^T + U S U^T - W' S' W'^T
        cross = self.cross + old - new
        cross[:, np.arange(K), np.arange(K)] = 0.0
        # The whole block of an unpenalised intercept too: every part of it
        # (the rows', the old and the new factor's) is blind to the classes'
        # common shift, and so is the difference only as a whole; a
        # diagonal alone would give the folded matrix curvature along the
        # shift, which its solves project out (see _diagonal_shift)
        diagonal, cross, raised = self._floored(full_diag - block_diagonal(new), cross)
        return full_diag, diagonal, cross, raised

    def _floored(self, diagonal, cross):
        """The remainder raised to the penalty where it fell below (see
        :meth:`_folded_remainder`); a matrix saved without its penalty is
        left as it is."""
        if self.penalty is None:
            return diagonal, cross, 0.0
        return floored(diagonal, cross, self.penalty)

    def _with_factor(self, W, w_signs, gram_w, full_diag, dropped, diagonal=None,
                     cross=None, sketch_core=None):
        """A new object of this null basis with the factor ``W`` (``gram_w``
        its ``W^T D^-1 W``), the diagonal and class blocks given (this
        object's by default), the sketch's core if ``W`` is a sketch's
        (``None``: its folds project) and no pending corrections."""
        new = object.__new__(type(self))
        new.null_basis = self.null_basis
        new.penalty = self.penalty
        new.diagonal = self.diagonal if diagonal is None else diagonal
        new.cross = self.cross if diagonal is None else cross
        new.W = W
        new.w_signs = w_signs
        new.sketch_core = sketch_core
        new.fold_error = self.fold_error + float(dropped)
        try:
            new._set_base(full_diag, gram_w=None if gram_w is None
                          else 0.5 * (gram_w + gram_w.T))
        except NotPositiveDefiniteError as exc:
            # not the penalty's fault: the matrix had it at fit
            raise LostCurvatureError(
                "The corrected Hessian is not positive definite: the request "
                "removes more curvature than its rows hold in the cached "
                "Hessian. Most likely the model has moved so far since the fit "
                "that the rows' curvature has grown past what they entered "
                "with, or some rows of X_old were never trained on or were "
                "deleted already. Nothing was changed. Refit on the corrected "
                "data, or use hessian='dense', which bounds that drift."
            ) from exc
        new._clear_pending()
        return new


def _with_lines_set(full_diag, remainder, cross, index, diagonal):
    """The diagonal, remainder and class blocks of a factor with no entry in
    the rows ``index``, whose lines hold ``diagonal`` alone."""
    full_diag = full_diag.copy()
    full_diag[index] = diagonal
    remainder[index] = diagonal
    if cross is not None:
        cross[np.unique(np.asarray(index) % cross.shape[0])] = 0.0
    return full_diag, remainder, cross
