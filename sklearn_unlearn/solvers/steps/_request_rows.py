"""A request's rows in the form the cache works with, and the products every
update takes with them."""

import numpy as np
import scipy.sparse as sp

from ..hessian._rows import row_squares


def find_edit(X_old, X_new, n_params):
    """``(columns, delta)`` when the rows ``X_new`` equal ``X_old`` outside at
    most half of the ``n_params`` columns (``X_new = X_old + delta`` on
    ``columns``, exactly), ``None`` otherwise, or when ``delta`` rounds: the
    edit then stands for other rows than ``X_new`` (a value of 1e8 replaced
    by 0.3 in a row of tiny weight left a ridge model's bound 420 times
    below its true residual).

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_unlearn.solvers.steps._request_rows import find_edit
    >>> old = np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    >>> new = old.copy(); new[:, 1] = 0.0
    >>> cols, delta = find_edit(old, new, 4)
    >>> cols.tolist(), delta.tolist()
    ([1], [[-2.0], [-5.0]])
    >>> new[0, 1] = 1e-20                # 1e-20 - 2 rounds to -2
    >>> find_edit(old, new, 4) is None
    True
    """
    if X_old is None or X_new is None or X_old.shape != X_new.shape or not X_old.shape[0]:
        return None
    if sp.issparse(X_old) or sp.issparse(X_new):
        new, old = (sp.csr_matrix(X, dtype=np.float64) for X in (X_new, X_old))
        diff = new - old
        diff.eliminate_zeros()
        cols = np.unique(diff.indices)
        if len(cols) > n_params // 2:
            return None
        new, old = new[:, cols].toarray(), old[:, cols].toarray()
    else:
        cols = np.flatnonzero((X_new != X_old).any(axis=0))
        if len(cols) > n_params // 2:
            return None
        new, old = X_new[:, cols], X_old[:, cols]
    with np.errstate(over="ignore"):
        delta = new - old
    return (cols, delta) if _exact_difference(new, old, delta) else None


def _exact_difference(a, b, s):
    """Whether ``s = fl(a - b)`` is ``a - b`` exactly: the rounding error of
    the difference, by Knuth's two-sum (error-free where nothing
    overflows), is zero everywhere and ``s`` finite."""
    with np.errstate(invalid="ignore", over="ignore"):
        v = s - a
        error = (a - (s - v)) - (b + v)
        return bool(np.all(np.isfinite(s)) and not np.any(error))


class RequestRows:
    """The augmented rows of a request as they were and as they should be.

    ``R_old`` holds the ``k_old`` rows as trained on and ``R_new`` the rows
    as they should be, ``norms_old`` and ``norms_new`` their row norms, and
    ``Y_*``, ``S_*``, ``w_*``, ``g_*`` the encoded targets, sample weights,
    row weights and class groups of each.

    A dense request that corrects rows in at most half of the columns (a
    feature zeroed, a label changed) is held as an edit: ``edit`` is
    ``(columns, delta)`` with ``R_new = R_old + delta`` on ``columns`` and
    equal elsewhere (``None`` otherwise). Only the old rows are stored
    (``R_new`` is formed if something asks for it), and a product with both
    parts reads the ``k x p`` old rows once, plus ``k x |columns|`` values.

    Parameters
    ----------
    rows : {ndarray, sparse matrix}
        The old rows, then the new ones; with ``edit``, the old rows only.
    k_old : int
        Number of old rows.
    Y_old, S_old, w_old, g_old, Y_new, S_new, w_new, g_new : ndarray
        Targets, sample weights, row weights and groups of each part.
    edit : tuple (columns, delta), default=None
        The new rows as an edit of the old ones (see :func:`find_edit`).
    edit_values : ndarray of shape (k, len(columns)), default=None
        The new rows' values in the edited columns, exactly as given (``R_new``
        then holds them, not ``R_old + delta``).

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_unlearn.solvers.steps._request_rows import RequestRows, find_edit
    >>> old = np.array([[1.0, 2.0, 1.0], [3.0, 4.0, 1.0]])
    >>> new = old.copy(); new[:, 1] = 0.0
    >>> none = np.zeros((2, 1))
    >>> r = RequestRows(old, 2, none, none, none[:, 0], none[:, 0],
    ...                 none, none, none[:, 0], none[:, 0], edit=find_edit(old, new, 3))
    >>> r.edit[0]
    array([1])
    >>> r.predictors(np.array([[1.0], [1.0], [0.0]]))[1].ravel().tolist()
    [1.0, 3.0]
    >>> r.norms_new.tolist()
    [1.4142135623730951, 3.1622776601683795]
    """

    def __init__(self, rows, k_old, Y_old, S_old, w_old, g_old, Y_new, S_new, w_new,
                 g_new, edit=None, edit_values=None):
        self.Y_old, self.S_old, self.w_old, self.g_old = Y_old, S_old, w_old, g_old
        self.Y_new, self.S_new, self.w_new, self.g_new = Y_new, S_new, w_new, g_new
        self.edit = edit
        self._edit_values = edit_values
        self._abs_rows, self._abs_products = {}, {}
        if edit is None:
            self.R_all = rows
            self.R_old, self._R_new = rows[:k_old], rows[k_old:]
            # from the rows, not from a difference of squares, which loses
            # the digits that cancel
            sq = row_squares(rows)
            self.squares_old, self.squares_new = sq[:k_old], sq[k_old:]
        else:
            self.R_all = None
            self.R_old, self._R_new = rows, None
            self.squares_old, self.squares_new = self._edit_squares()
        # the squared norms are shared by every term on these rows
        self.norms_old, self.norms_new = np.sqrt(self.squares_old), np.sqrt(self.squares_new)

    @classmethod
    def none(cls, n_params, n_outputs):
        """A request of no rows: what a step along which every row keeps its
        features leaves to bound (:func:`~sklearn_unlearn.solvers.bounds.
        _bound.bound_step` of a change of every row's features)."""
        Y, S = np.zeros((0, n_outputs)), np.zeros((0, 1))
        w, g = np.zeros(0), np.zeros(0, dtype=int)
        return cls(np.zeros((0, n_params)), 0, Y, S, w, g, Y, S, w, g)

    @property
    def R_new(self):
        """The rows as they should be (formed from an edit on first use)."""
        if self._R_new is None:
            cols, delta = self.edit
            if not len(cols):
                return self.R_old          # a label change: the same rows
            R_new = self.R_old.copy()
            if self._edit_values is None:
                R_new[:, cols] += delta
            else:
                # the new values as given: old + (new - old) can differ in
                # the last bit, and the rows must be the ones given
                R_new[:, cols] = self._edit_values
            self._R_new = R_new
        return self._R_new

    def _edit_squares(self):
        cols, delta = self.edit
        R = self.R_old
        sq_old = np.einsum("ij,ij->i", R, R)
        part_old = R[:, cols]
        part_new = part_old + delta
        sq_new = (sq_old - np.einsum("ij,ij->i", part_old, part_old)
                  + np.einsum("ij,ij->i", part_new, part_new))
        # The difference keeps its digits while the columns it takes away
        # hold at most half of the squared norm; other rows are summed again.
        again = np.flatnonzero(~(sq_new >= 0.5 * sq_old))
        if len(again):
            rest = R[again]
            rest[:, cols] = part_new[again]
            sq_new[again] = np.einsum("ij,ij->i", rest, rest)
        return sq_old, sq_new

    def changed_rows(self):
        """Which old rows leave the data with their values: all of a
        deletion, the edited rows of an edit (a label change keeps them)."""
        if self.edit is None:
            return np.ones(len(self.Y_old), dtype=bool)
        return np.any(self.edit[1] != 0, axis=1)

    def predictors(self, theta):
        """``(R_old @ theta, R_new @ theta)``; an edit reads the old rows
        only."""
        if self.edit is None:
            eta = np.asarray(self.R_all @ theta)
            k = self.R_old.shape[0]
            return eta[:k], eta[k:]
        eta_old = self.R_old @ theta
        return eta_old, self._edited_predictor(eta_old, theta)

    def new_predictor(self, theta):
        """``R_new @ theta``; an edit reads the old rows."""
        if self.edit is None:
            return np.asarray(self.R_new @ theta)
        return self._edited_predictor(self.R_old @ theta, theta)

    def abs_predictor(self, part, theta):
        """``|R| @ |theta|`` for ``part`` ``"old"`` or ``"new"`` rows: what the
        rounding of their predictors is proportional to.

        The absolute rows and each product are kept on this object, which
        lives as long as the request: the bounds of a request read the same
        products several times.
        """
        if part == "new" and self.edit is not None and not len(self.edit[0]):
            part = "old"           # a label change: the same rows
        key = (part, theta.shape, theta.tobytes())
        out = self._abs_products.get(key)
        if out is None:
            out = self._abs_products[key] = self._abs_product(part, np.abs(theta))
        return out

    def _abs_product(self, part, abs_theta):
        if part == "new" and self.edit is not None:
            # the edited rows are the old ones outside the edited columns:
            # no copy of the rows
            cols, delta = self.edit
            outside = abs_theta.copy()
            outside[cols] = 0.0
            inside = np.abs(self.R_old[:, cols] + delta) @ abs_theta[cols]
            return self._abs_product("old", outside) + inside
        A = self._abs_rows.get(part)
        if A is None:
            R = self.R_old if part == "old" else self.R_new
            A = self._abs_rows[part] = abs(R) if sp.issparse(R) else np.abs(R)
        return np.asarray(A @ abs_theta)

    def _edited_predictor(self, eta_old, theta):
        cols, delta = self.edit
        return eta_old + delta @ theta[cols]

    def transpose_products(self, C_old, C_new):
        """``(R_old.T @ C_old, R_new.T @ C_new)``, in one pass over the old
        rows for an edit."""
        if self.edit is None:
            return (np.asarray(self.R_old.T @ C_old), np.asarray(self.R_new.T @ C_new))
        m = C_old.shape[1]
        out = self.R_old.T @ np.hstack([C_old, C_new])
        self._add_edit_product(out[:, m:], C_new)
        return out[:, :m], out[:, m:]

    def new_transpose_product(self, C_new):
        """``R_new.T @ C_new``; an edit reads the old rows."""
        if self.edit is None:
            return np.asarray(self.R_new.T @ C_new)
        out = self.R_old.T @ C_new
        self._add_edit_product(out, C_new)
        return out

    def _add_edit_product(self, out, C_new):
        """``out += (R_new - R_old).T @ C_new``, on the edited columns."""
        cols, delta = self.edit
        out[cols] += delta.T @ C_new
