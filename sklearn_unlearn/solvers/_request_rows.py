"""A request's rows in the form the cache works with, and the products every
update takes with them."""

import numpy as np
import scipy.sparse as sp

from ._rows import row_norms


class RequestRows:
    """The augmented rows of a request as they were and as they should be.

    ``R_all`` holds the ``k_old`` rows as trained on, then the rows as they
    should be; ``R_old`` and ``R_new`` are its two parts, ``norms_old`` and
    ``norms_new`` their row norms, and ``Y_*``, ``S_*``, ``w_*``, ``g_*`` the
    encoded targets, sample weights, row weights and class groups of each.

    A dense request that corrects rows in at most half of the columns (a
    feature zeroed, a label changed) is also held as an edit: ``edit`` is
    ``(columns, delta)`` with ``R_new = R_old + delta`` on ``columns`` and
    equal elsewhere (``None`` otherwise). A product with both parts then
    reads the ``k x p`` old rows once, plus ``k x |columns|`` values.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_unlearn.solvers._request_rows import RequestRows
    >>> old = np.array([[1.0, 2.0, 1.0], [3.0, 4.0, 1.0]])
    >>> new = old.copy(); new[:, 1] = 0.0
    >>> none = np.zeros((2, 1))
    >>> r = RequestRows(np.vstack([old, new]), 2, none, none, none[:, 0], none[:, 0],
    ...                 none, none, none[:, 0], none[:, 0])
    >>> r.edit[0]
    array([1])
    >>> r.predictors(np.array([[1.0], [1.0], [0.0]]))[1].ravel().tolist()
    [1.0, 3.0]
    """

    def __init__(self, R_all, k_old, Y_old, S_old, w_old, g_old, Y_new, S_new, w_new,
                 g_new):
        self.R_all = R_all
        self.R_old, self.R_new = R_all[:k_old], R_all[k_old:]
        self.Y_old, self.S_old, self.w_old, self.g_old = Y_old, S_old, w_old, g_old
        self.Y_new, self.S_new, self.w_new, self.g_new = Y_new, S_new, w_new, g_new
        self.edit = self._find_edit()
        # from the rows, not from the edit: a norm updated by the difference
        # of squares loses the digits that cancel
        norms = row_norms(R_all)
        self.norms_old, self.norms_new = norms[:k_old], norms[k_old:]

    def _find_edit(self):
        R_old, R_new = self.R_old, self.R_new
        k, p = R_old.shape
        if sp.issparse(self.R_all) or R_new.shape[0] != k or not k:
            return None
        cols = np.flatnonzero(np.any(R_new != R_old, axis=0))
        if len(cols) > p // 2:
            return None
        return cols, R_new[:, cols] - R_old[:, cols]

    def predictors(self, theta):
        """``(R_old @ theta, R_new @ theta)``; an edit reads the old rows
        only."""
        if self.edit is None:
            eta = np.asarray(self.R_all @ theta)
            k = self.R_old.shape[0]
            return eta[:k], eta[k:]
        cols, delta = self.edit
        eta_old = self.R_old @ theta
        return eta_old, eta_old + delta @ theta[cols]

    def transpose_products(self, C_old, C_new):
        """``(R_old.T @ C_old, R_new.T @ C_new)``, in one pass over the old
        rows for an edit."""
        if self.edit is None:
            return (np.asarray(self.R_old.T @ C_old), np.asarray(self.R_new.T @ C_new))
        cols, delta = self.edit
        m = C_old.shape[1]
        out = self.R_old.T @ np.hstack([C_old, C_new])
        out[cols, m:] += delta.T @ C_new
        return out[:, :m], out[:, m:]
