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
from scipy.linalg.blas import dsyrk



class RowCurvature:
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
        ``(m, |C|)``) placed at ``columns``, and ``b_i = new_weights[i]`` the
        weight of the edited row. ``None``: no edit (``d_i = 0``). Dense rows
        only.
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
            M, D = self.__dict__.pop("_edit_products", None) or self._edit_products()
            for a, c in enumerate(cols):
                # r d^T fills column c, d r^T row c: their parts on and
                # below the diagonal
                C[c:, c] += M[c:, a]
                C[c, :c + 1] += M[:c + 1, a]
                below = cols >= c
                C[cols[below], c] += D[below, a]

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

    def apply_flops(self):
        """Flops of :meth:`apply` on one vector."""
        m, p = self.rows.shape
        K = self.weights.shape[1] if self.coupled else 1
        flops = 4.0 * m * p * K + 2.0 * m * K * K
        if self.edit is not None:
            flops += 4.0 * self.edit[1].size * K + 2.0 * m * K * K
        return flops

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
    >>> from sklearn_unlearn.solvers._rows import apply_terms
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
            t._edit_products = (M[:, j * c:(j + 1) * c], D[:, j * c:(j + 1) * c])


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


def row_squares(R):
    """Squared Euclidean norm of every row of an array or a sparse matrix."""
    if sp.issparse(R):
        return np.asarray(R.multiply(R).sum(axis=1)).ravel()
    return np.einsum("ij,ij->i", R, R)


def row_norms(R):
    """Euclidean norm of every row of an array or a sparse matrix."""
    return np.sqrt(row_squares(R))


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
