"""The curvature of a few rows: how a request changes a Hessian or a Gram matrix.

A request adds and removes rows ``r_i`` with signed weights ``w_i``; the matrix
changes by ``sum_i w_i r_i r_i^T`` (for a coupled loss with ``K`` outputs by
``sum_i W_i (x) r_i r_i^T`` with ``K x K`` matrices ``W_i``, on parameters
stacked output by output). Kept as rows, the change costs ``O(m p)`` to apply
to a vector, where its dense form costs ``O(p^2)`` memory and ``O(m p^2)``
flops to build.

A row edited in a few columns ``C`` (``r_i`` becomes ``r_i + d_i`` with
``d_i`` zero outside ``C``) changes the matrix by ``w~_i (r + d)(r + d)^T -
w_i r r^T = (w~_i - w_i) r r^T + w~_i (r d^T + d r^T + d d^T)``: one row and
``|C|`` values instead of two rows, half the work of every product.
"""

import numpy as np
import scipy.sparse as sp

from ._rows_columns import ColumnForm
from ._rows_dense import DenseForm


class RowCurvature(DenseForm, ColumnForm):
    """``sum_i a_i r_i r_i^T + b_i (r_i d_i^T + d_i r_i^T + d_i d_i^T)``.

    Parameters
    ----------
    rows : {ndarray, sparse matrix} of shape (m, p)
        The rows ``r_i`` (augmented: intercept column included). Shared, not
        copied: several terms (the blocks of a Hessian, the Gram matrices of
        the bound) can hold the same array.
    weights : ndarray of shape (m,) or (m, K, K)
        ``a_i``: the signed weight of every row, or its ``K x K`` matrix for a
        coupled loss (``a_i (x) r_i r_i^T``).
    edit : tuple (columns, delta, new_weights), default=None
        Rows edited in a few columns: ``d_i`` is ``delta[i]`` (shape
        ``(m, |C|)``) placed at ``columns`` (distinct), and ``b_i =
        new_weights[i]`` the weight of the edited row. ``None``: no edit
        (``d_i = 0``). Dense rows only.
    trace : float, default=None
        The trace of the change, when the caller knows it (a Gram matrix's
        change from the row norms: ``O(m)`` instead of ``O(m p)``). ``None``:
        computed from the rows when asked.
    row_squares : ndarray of shape (m,), default=None
        The squared norms of the rows, when the caller knows them. ``None``:
        computed from the rows when asked.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_unlearn.solvers import RowCurvature
    >>> rows = np.array([[1.0, 0.0], [1.0, 1.0]])
    >>> change = RowCurvature(rows, np.array([2.0, -1.0]))
    >>> change.dense()
    array([[ 1., -1.],
           [-1., -1.]])
    >>> change.apply(np.array([1.0, 2.0]))
    array([-1., -3.])

    The row ``[1, 1]`` (weight 1) edited into ``[1, 0]``: the same change as
    removing one and adding the other.

    >>> edited = RowCurvature(np.array([[1.0, 1.0]]), np.array([0.0]),
    ...                       edit=(np.array([1]), np.array([[-1.0]]), np.array([1.0])))
    >>> edited.dense()
    array([[ 0., -1.],
           [-1., -1.]])
    """

    def __init__(self, rows, weights, edit=None, trace=None, row_squares=None):
        if edit is not None and len(np.unique(edit[0])) != len(edit[0]):
            # a repeated column would be added twice by the products' sums
            raise ValueError("The edited columns must be distinct; got "
                             f"{np.asarray(edit[0]).tolist()}.")
        self.rows = rows
        self.weights = np.asarray(weights, dtype=np.float64)
        self.edit = edit
        self.known_trace = trace
        #: The squared norms of the rows, when the caller has them (the terms
        #: of one request share its rows, and their norms).
        self.row_squares = row_squares

    @property
    def coupled(self):
        return self.weights.ndim == 3

    @property
    def n_rows(self):
        return self.rows.shape[0]

    def _scale(self, W, Z):
        """``W_i Z_i`` for every row: scalars times ``(m, s)`` or ``K x K``
        matrices times ``(m, K, s)``."""
        if W.ndim == 3:
            return np.einsum("ikl,ils->iks", W, Z)
        return Z * W.reshape((-1,) + (1,) * (Z.ndim - 1))

    def _weighted(self, Z, V):
        """``(top, fix)`` for ``Z = rows @ V`` (uncoupled; ``V`` of shape
        ``(p,)`` or ``(p, s)``): the change times ``V`` is ``rows.T @ top``
        plus ``fix`` on the edited columns (``None`` without an edit)."""
        expand = (slice(None),) + (None,) * (Z.ndim - 1)
        top = self.weights[expand] * Z
        if self.edit is None:
            return top, None
        cols, delta, new = self.edit
        zd = delta @ V[cols]
        top += new[expand] * zd
        return top, delta.T @ (new[expand] * (Z + zd))

    def apply(self, v):
        """The change times ``v`` of shape ``(dim,)`` or ``(dim, s)``."""
        if not self.n_rows:
            return np.zeros_like(v)
        R = self.rows
        if v.ndim == 1 and not self.coupled:
            # one vector: the few products of the definition, nothing else
            top, fix = self._weighted(np.asarray(R @ v), v)
            out = np.asarray(R.T @ top)
            if fix is not None:
                out[self.edit[0]] += fix
            return out
        m, p = R.shape
        flat = v.ndim == 1
        K = self.weights.shape[1] if self.coupled else 1
        # the outputs of a coupled block are stacked: coordinate o p + j is
        # feature j of output o; all outputs and vectors go through one
        # product with R
        V = v.reshape(K, p, -1).transpose(1, 0, 2)       # (p, K, s)
        s = V.shape[2]
        Z = np.asarray(R @ V.reshape(p, K * s)).reshape(m, K, s)
        top = self._scale(self.weights, Z)
        out_C = None
        if self.edit is not None:
            cols, delta, new = self.edit
            Zd = (delta @ V[cols].reshape(len(cols), K * s)).reshape(m, K, s)
            top = top + self._scale(new, Zd)
            # d_i (r_i + d_i)^T v with weight b_i
            out_C = delta.T @ self._scale(new, Z + Zd).reshape(m, K * s)
        out = np.asarray(R.T @ top.reshape(m, K * s))
        if out_C is not None:
            out[cols] += out_C
        out = out.reshape(p, K, s).transpose(1, 0, 2).reshape(K * p, s)
        return out[:, 0] if flat else out

    def quadratic_form(self, V):
        """``sum_j V_j^T change V_j`` over the columns of ``V`` (uncoupled)."""
        V = V.reshape(len(V), -1)
        return float(self.quadratic_forms(V, 1)[0])

    def quadratic_forms(self, V, groups):
        """:meth:`quadratic_form` of ``groups`` equal blocks of the columns of
        ``V`` (shape ``(p, s)``), from one product with the rows."""
        if not self.n_rows:
            return np.zeros(groups)
        Z = np.asarray(self.rows @ V)
        vals = self.weights @ (Z * Z)
        if self.edit is not None:
            cols, delta, new = self.edit
            Zd = delta @ V[cols]
            vals += new @ (Zd * (2.0 * Z + Zd))
        return vals.reshape(groups, -1).sum(axis=1)

    def trace(self):
        """Trace of the change (uncoupled)."""
        known = getattr(self, "known_trace", None)
        if known is not None:
            return float(known)
        R = self.rows
        sq = R.multiply(R).sum(axis=1) if sp.issparse(R) else np.einsum("ij,ij->i", R, R)
        val = float(self.weights @ np.asarray(sq).ravel())
        if self.edit is not None:
            cols, delta, new = self.edit
            cross = np.einsum("ij,ij->i", R[:, cols], delta)
            val += float(new @ (2.0 * cross + np.einsum("ij,ij->i", delta, delta)))
        return val

    def abs_mass(self):
        """``sum_i ||a_i|| ||r_i||^2`` (plus the edited parts): a bound on the
        Frobenius norm of the change and the scale of its rounding."""
        known = self.__dict__.get("_abs_mass")
        if known is not None:
            return known
        self._abs_mass = self._compute_abs_mass()
        return self._abs_mass

    def _compute_abs_mass(self):
        if not self.n_rows:
            return 0.0
        sq = self.__dict__.get("row_squares")
        if sq is None:
            sq = row_squares(self.rows)
        W = np.abs(self.weights)
        w = np.sqrt((W * W).sum(axis=(1, 2))) if self.coupled else W
        total = float(w @ sq)
        if self.edit is not None:
            cols, delta, new = self.edit
            dn = np.sqrt(np.einsum("ij,ij->i", delta, delta))
            B = np.abs(new)
            b = np.sqrt((B * B).sum(axis=(1, 2))) if self.coupled else B
            total += float(b @ (2.0 * np.sqrt(sq) * dn + dn * dn))
        return total

    def negated(self):
        """The opposite change: the same rows, every weight negated."""
        edit = None if self.edit is None else (self.edit[0], self.edit[1], -self.edit[2])
        trace = None if self.known_trace is None else -self.known_trace
        return RowCurvature(self.rows, -self.weights, edit=edit, trace=trace,
                            row_squares=self.row_squares)

    def plain(self):
        """The same change as plain rows (an edited row becomes two rows)."""
        if self.edit is None:
            return self
        cols, delta, new = self.edit
        edited = self.rows.copy()
        edited[:, cols] += delta
        # a r r^T + b ((r + d)(r + d)^T - r r^T)
        return RowCurvature(np.vstack([self.rows, edited]),
                            np.concatenate([self.weights - new, new]))

    def apply_flops(self):
        """Flops of :meth:`apply` on one vector."""
        m, p = self.rows.shape
        K = self.weights.shape[1] if self.coupled else 1
        flops = 4.0 * m * p * K + 2.0 * m * K * K
        if self.edit is not None:
            flops += 4.0 * self.edit[1].size * K + 2.0 * m * K * K
        return flops

    @staticmethod
    def concat(terms):
        """One term holding the rows of all ``terms`` (copies the rows).

        Dense edited terms stay edited on the union of their columns while
        it is at most half of them; otherwise every term enters as plain
        rows.
        """
        terms = [t for t in terms if t.n_rows]
        if not terms:
            return None
        if len(terms) == 1:
            return terms[0]
        rows = [t.rows for t in terms]
        if any(sp.issparse(R) for R in rows):
            terms = [t.plain() for t in terms]
            return RowCurvature(sp.vstack([t.rows for t in terms], format="csr"),
                                np.concatenate([t.weights for t in terms]))
        edited = [t for t in terms if t.edit is not None]
        cols = (np.unique(np.concatenate([t.edit[0] for t in edited]))
                if edited else np.zeros(0, dtype=int))
        if not edited or len(cols) > rows[0].shape[1] // 2:
            terms = [t.plain() for t in terms]
            return RowCurvature(np.vstack([t.rows for t in terms]),
                                np.concatenate([t.weights for t in terms]))
        weights = np.concatenate([t.weights for t in terms])
        delta = np.zeros((len(weights), len(cols)))
        new = np.zeros_like(weights)
        start = 0
        for t in terms:
            stop = start + t.n_rows
            if t.edit is not None:
                c, dl, nw = t.edit
                delta[start:stop, np.searchsorted(cols, c)] = dl
                new[start:stop] = nw
            start = stop
        return RowCurvature(np.vstack(rows), weights, edit=(cols, delta, new))


def apply_terms(pairs):
    """``[term.apply(v) for term, v in pairs]``, reading every array of rows
    once each way.

    The terms of one request share their rows (the Hessian blocks, the
    Gram matrices of the bound, the removed and the edited rows); uncoupled
    dense terms on one array are applied by one product with the rows and
    one with their transpose, for all their vectors at once. A request of
    ``k`` rows reads ``k x p`` values per product: done term by term this
    is as much memory traffic as a ``p x p`` matrix once ``k`` nears ``p /
    10``.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_unlearn.solvers import RowCurvature
    >>> from sklearn_unlearn.solvers.hessian._rows import apply_terms
    >>> rows = np.array([[1.0, 0.0], [1.0, 1.0]])
    >>> a, b = RowCurvature(rows, np.array([2.0, -1.0])), RowCurvature(rows, np.ones(2))
    >>> [out.tolist() for out in apply_terms([(a, np.array([1.0, 2.0])),
    ...                                       (b, np.array([0.0, 1.0]))])]
    [[-1.0, -3.0], [1.0, 1.0]]
    """
    out = [None] * len(pairs)
    shared = {}
    for i, (t, v) in enumerate(pairs):
        if t.n_rows and type(t.rows) is np.ndarray and t.weights.ndim == 1:
            shared.setdefault(id(t.rows), []).append(i)
        else:
            out[i] = t.apply(v)
    for idx in shared.values():
        R = pairs[idx[0]][0].rows
        Vs = [pairs[i][1] if pairs[i][1].ndim == 2 else pairs[i][1][:, None] for i in idx]
        spans, start = [], 0
        for V in Vs:
            spans.append((start, start + V.shape[1]))
            start += V.shape[1]
        Z = R @ (Vs[0] if len(Vs) == 1 else np.hstack(Vs))
        top = np.empty_like(Z)
        fixes = []
        for i, V, (a, b) in zip(idx, Vs, spans):
            t = pairs[i][0]
            top[:, a:b], fix = t._weighted(Z[:, a:b], V)
            if fix is not None:
                fixes.append((a, b, t.edit[0], fix))
        O = R.T @ top
        for a, b, cols, fix in fixes:
            O[cols, a:b] += fix
        for i, (a, b) in zip(idx, spans):
            out[i] = O[:, a] if pairs[i][1].ndim == 1 else O[:, a:b]
    return out


def row_squares(R):
    """Squared Euclidean norm of every row of an array or a sparse matrix."""
    if sp.issparse(R):
        return np.asarray(R.multiply(R).sum(axis=1)).ravel()
    return np.einsum("ij,ij->i", R, R)


def row_norms(R):
    """Euclidean norm of every row of an array or a sparse matrix."""
    return np.sqrt(row_squares(R))
