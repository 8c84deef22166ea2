"""A row change formed densely: folded into the lower triangle of a dense
matrix by symmetric rank-k updates, or formed whole.

A fold adds ``sum_i w_i r_i r_i^T`` (and an edit's columns) to a cached
matrix. The BLAS's rank-k update takes the rows scaled by ``sqrt |w_i|``,
one update per sign of the weights, at half the flops of a general product.
The terms of one request fold one after the other into several matrices
over the same rows; :func:`prepare_fold` lets them share one buffer for the
scaled rows and one product for the edited columns.
"""

import numpy as np
import scipy.sparse as sp
from scipy.linalg.blas import dsyrk


class DenseForm:
    """The dense forms of a :class:`~sklearn_unlearn.solvers.RowCurvature`
    (which it is mixed into: it reads ``rows``, ``weights``, ``edit`` and
    ``coupled``)."""

    def dense(self):
        """The change as a dense ``(dim, dim)`` array, by symmetric rank-k
        updates of the rows (the edited columns added as products with
        ``|C|`` columns)."""
        R = self.rows.toarray() if sp.issparse(self.rows) else self.rows
        m, p = R.shape
        K = self.weights.shape[1] if self.coupled else 1
        pairs = list(zip(*np.triu_indices(K)))
        if self.coupled:
            W = np.column_stack([self.weights[:, k, l] for k, l in pairs])
        else:
            W = self.weights[:, None]
        blocks = [_signed_gram(R, W[:, j]) for j in range(W.shape[1])]
        if self.edit is not None:
            cols, delta, new = self.edit
            B = (np.column_stack([new[:, k, l] for k, l in pairs]) if self.coupled
                 else new[:, None])
            for j in range(len(pairs)):
                M = R.T @ (B[:, j, None] * delta)
                blocks[j][:, cols] += M
                blocks[j][cols, :] += M.T
                blocks[j][np.ix_(cols, cols)] += delta.T @ (B[:, j, None] * delta)
        if not self.coupled:
            return blocks[0]
        out = np.empty((K * p, K * p))
        for block, (k, l) in zip(blocks, pairs):
            out[k * p:(k + 1) * p, l * p:(l + 1) * p] = block
            out[l * p:(l + 1) * p, k * p:(k + 1) * p] = block.T
        return out

    @property
    def lower_only(self):
        """Whether :meth:`add_lower_to` leaves the strict upper triangle as it
        was (a coupled or sparse change is added whole)."""
        return not (self.coupled or sp.issparse(self.rows))

    def add_lower_to(self, C):
        """Add the change to the lower triangle (row >= column) of the
        Fortran-ordered ``C`` in place: symmetric rank-k updates by the
        BLAS, one per sign of the weights, and the edited columns as
        products with ``|C|`` columns. Nothing is written above the diagonal
        (see :attr:`lower_only`): a coupled or sparse change is formed whole
        and added."""
        if not self.lower_only:
            C += self.dense()
            return
        R = self.rows
        w = self.weights
        pos, neg = np.flatnonzero(w > 0), np.flatnonzero(w < 0)
        # the scaled rows of both signs in one C-ordered buffer: the transpose
        # of either part is in the BLAS's column order, which f2py then
        # passes without a copy
        A = self.__dict__.pop("_workspace", None)
        if A is None:
            A = np.empty((len(pos) + len(neg), R.shape[1]))
        else:
            A = A[:len(pos) + len(neg)]
        for sign, used, part in ((1.0, pos, A[:len(pos)]), (-1.0, neg, A[len(pos):])):
            if not len(used):
                continue
            root = np.sqrt(sign * w[used])[:, None]
            if len(used) == len(w):
                np.multiply(R, root, out=part)
            else:
                np.take(R, used, axis=0, out=part)
                part *= root
            out = dsyrk(sign, part.T, beta=1.0, c=C, trans=0, lower=1, overwrite_c=1)
            if out is not C:        # not updated in place (a layout f2py copies)
                C[...] = out
        if self.edit is not None:
            cols = self.edit[0]
            # products of a term folded with others on the same rows come
            # from one product for all of them (see prepare_fold)
            M, D = self.__dict__.pop("_shared_edit_products", None) or self._edit_products()
            # r d^T fills the edited columns, d r^T their rows: the parts on
            # and below the diagonal (the positions of each statement are
            # distinct, so a fancy-indexed sum adds every term)
            index = np.arange(len(M))[:, None]
            lower = np.where(index >= cols, M, 0.0)
            # d d^T: in the edited columns, at the edited rows below them
            lower[cols] += np.where(cols[:, None] >= cols, D, 0.0)
            C[:, cols] += lower
            C[cols, :] += np.where(index <= cols, M, 0.0).T

    def _edit_products(self):
        """``(R^T B delta, delta^T B delta)`` with ``B = diag(b)``: the edited
        columns' share of the change."""
        _, delta, new = self.edit
        Bd = new[:, None] * delta
        return self.rows.T @ Bd, delta.T @ Bd

    def form_flops(self):
        """Flops of :meth:`dense`: a rank-k update of ``m x p`` rows per block."""
        m, p = self.rows.shape
        blocks = 1 if not self.coupled else self.weights.shape[1] * (
            self.weights.shape[1] + 1) / 2
        flops = m * p * p
        if self.edit is not None:
            flops += 4.0 * m * p * len(self.edit[0])
        return flops * blocks


def prepare_fold(terms):
    """Prepare dense uncoupled terms that share their rows for folding one
    after the other: one buffer for the scaled rows of all of them (each
    alone takes ``k x p`` fresh memory, slow to map), and the edited
    columns' products (``R^T diag(b) delta``) of those sharing an edit by
    one product with the rows (each alone reads the rows). Each term keeps
    them for its next :meth:`RowCurvature.add_lower_to`."""
    groups = {}
    for t in terms:
        if t is not None and t.lower_only and t.n_rows:
            groups.setdefault(id(t.rows), []).append(t)
    for group in groups.values():
        if len(group) < 2:
            continue
        buffer = np.empty(group[0].rows.shape)
        for t in group:
            t._workspace = buffer
        edited = [t for t in group if t.edit is not None]
        if len(edited) < 2 or any(t.edit[1] is not edited[0].edit[1] for t in edited):
            continue
        delta = edited[0].edit[1]
        Bd = np.hstack([t.edit[2][:, None] * delta for t in edited])
        M = edited[0].rows.T @ Bd
        D = delta.T @ Bd
        c = delta.shape[1]
        for j, t in enumerate(edited):
            t._shared_edit_products = (M[:, j * c:(j + 1) * c], D[:, j * c:(j + 1) * c])


def _signed_gram(R, w):
    """``R.T @ diag(w) @ R`` by one symmetric rank-k update per sign of the
    weights (``A.T @ A`` of a scaled copy: half the flops of a general
    product); rows of zero weight take no part."""
    out = None
    for sign in (1.0, -1.0):
        used = np.flatnonzero(sign * w > 0)
        if not len(used):
            continue
        A = (R if len(used) == len(w) else R[used]) * np.sqrt(sign * w[used])[:, None]
        G = A.T @ A
        if out is None:
            out = G if sign > 0 else -G
        elif sign > 0:
            out += G
        else:
            out -= G
    return np.zeros((R.shape[1], R.shape[1])) if out is None else out
