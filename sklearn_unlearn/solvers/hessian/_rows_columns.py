"""A row change as columns: ``U diag(signs) U^T``, the form a low-rank
Hessian takes a change in (one column per plain row, ``K`` per row of a
coupled loss)."""

import numpy as np
import scipy.sparse as sp


class ColumnForm:
    """The column form of a :class:`~sklearn_unlearn.solvers.RowCurvature`
    (which it is mixed into: it reads ``plain()`` and ``_edit_products()``)."""

    @property
    def n_update_columns(self):
        """The number of columns of :meth:`update_columns` (at most)."""
        if self._by_edited_columns():
            return int(np.count_nonzero(self.weights)) + 2 * len(self.edit[0])
        K = self.weights.shape[1] if self.coupled else 1
        return self.n_rows * (1 if self.edit is None else 2) * K

    def _by_edited_columns(self):
        # a dense uncoupled edit of few columns: its share is of rank at most
        # twice their number, whatever the number of rows
        return (self.edit is not None and not self.coupled
                and not sp.issparse(self.rows)
                and np.count_nonzero(self.weights) + 2 * len(self.edit[0])
                < 2 * self.n_rows)

    def update_columns(self):
        """``(U, signs)`` as :meth:`columns` gives them, or, for a dense edit
        of few columns ``C``, fewer: a column per row of nonzero weight, and
        the edited columns' share ``M E^T + E M^T + E Q E^T`` (``E`` the
        columns ``C`` of the identity, ``M = R^T diag(b) delta``, ``Q =
        delta^T diag(b) delta``) as ``A E^T + E A^T = u u^T - v v^T`` with
        ``A = M + E Q / 2``, ``u, v = (A / s +- E s) / sqrt 2``, two columns per
        edited column. ``s = sqrt ||A_j||`` per column balances the two
        parts, so their difference loses little to rounding."""
        if not self._by_edited_columns():
            return self.columns()
        cols = self.edit[0]
        keep = np.flatnonzero(self.weights != 0)
        rows = self.rows[keep].T * np.sqrt(np.abs(self.weights[keep]))
        M, Q = self._edit_products()
        c = len(cols)
        A = np.array(M, dtype=np.float64)
        A[cols] += 0.5 * Q
        s = np.sqrt(np.linalg.norm(A, axis=0))
        s[s == 0] = 1.0
        A /= s
        Es = np.zeros_like(A)
        Es[cols, np.arange(c)] = s
        U = np.hstack([rows, (A + Es) / np.sqrt(2.0), (A - Es) / np.sqrt(2.0)])
        signs = np.concatenate([np.sign(self.weights[keep]), np.ones(c), -np.ones(c)])
        return U, signs

    def columns(self):
        """``(U, signs)`` with the change equal to ``U diag(signs) U^T``.

        Zero weights give no column. A coupled row's ``K x K`` matrix is
        factored by one batched eigendecomposition: its columns ``b_ij (x)
        r_i`` span the change. Sparse rows give sparse (CSC) columns.
        """
        t = self.plain()
        R = t.rows
        sparse = sp.issparse(R)
        if not t.coupled:
            keep = np.flatnonzero(t.weights != 0)
            root = np.sqrt(np.abs(t.weights[keep]))
            if sparse:
                U = (sp.diags(root) @ R[keep]).T.tocsc()
            else:
                U = R[keep].T * root
            return U, np.sign(t.weights[keep])
        m, p = R.shape
        K = t.weights.shape[1]
        # W_i = V diag(lam) V^T with signed eigenvalues
        lam, V = np.linalg.eigh(t.weights)
        B = V * np.sqrt(np.abs(lam))[:, None, :]
        keep = np.abs(lam) > 1e-14 * np.maximum(np.abs(lam).max(axis=1, keepdims=True),
                                                1e-300)
        signs = np.sign(lam)[keep]
        if sparse:
            return _coupled_columns(R, B, keep), signs
        cols = np.einsum("ikj,il->ijkl", B, R)[keep].reshape(-1, K * p)
        return cols.T.copy(), signs


def _coupled_columns(R, B, keep):
    """Sparse columns ``b_ij (x) x_i`` of the kept pairs ``(i, j)``.

    ``R`` is a sparse matrix of shape (k, p), ``B`` of shape (k, K, K) holds
    the scaled eigenvectors ``b_ij = B[i, :, j]``. Column ``(i, j)`` has the
    value ``B[i, o, j] x_il`` at coordinate ``o p + l``; the columns are in
    the order of the dense construction (row by row, then ``j``).
    """
    k, p = R.shape
    K = B.shape[1]
    coo = R.tocoo()
    col_id = np.full(keep.shape, -1)
    col_id[keep] = np.arange(keep.sum())
    # one entry per stored value of R, output o and eigenvector j
    e, o, j = np.meshgrid(np.arange(coo.nnz), np.arange(K), np.arange(K),
                          indexing="ij")
    e, o, j = e.ravel(), o.ravel(), j.ravel()
    i = coo.row[e]
    mask = keep[i, j]
    e, o, j, i = e[mask], o[mask], j[mask], i[mask]
    values = B[i, o, j] * coo.data[e]
    rows = o * p + coo.col[e]
    return sp.csc_matrix((values, (rows, col_id[i, j])), shape=(K * p, int(keep.sum())))
