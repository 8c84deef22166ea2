"""A kept copy of the training rows, and how a request edits it (used where
unlearning needs the data: the MLPs and certified removal)."""

import numpy as np
import scipy.sparse as sp


def _dense_row(X, i):
    if sp.issparse(X):
        return X[[i]].toarray().ravel()
    return np.asarray(X[i]).ravel()


def _same_target(a, b):
    a, b = np.asarray(a), np.asarray(b)
    return a.shape == b.shape and bool(np.all(a == b))


def _read_only(a):
    a.flags.writeable = False
    return a


def _frozen(X, y, sample_weight, copy):
    """The arrays as kept: copies (unless they are new already), read-only."""
    def own(a, dtype=None):
        return np.array(a, dtype=dtype, copy=True) if copy else np.asarray(a, dtype)

    if sp.issparse(X):
        X = sp.csr_matrix(X, copy=copy)
        for part in (X.data, X.indices, X.indptr):
            _read_only(part)
    else:
        X = _read_only(own(X))
    return X, _read_only(own(y)), _read_only(own(sample_weight, np.float64))


class TrainingRows:
    """A copy of the training data: features, targets and sample weights.

    The arrays are copies, made read-only: editing the arrays given to
    ``fit`` afterwards, or writing into the kept ones, cannot change the
    rows that were trained on (only a request does, through
    :meth:`corrected`, which returns a new object).

    Parameters
    ----------
    X : ndarray or CSR matrix of shape (n, n_features), float64
    y : ndarray of shape (n,) or (n, n_outputs)
        Targets as given to ``fit`` (class labels for a classifier).
    sample_weight : ndarray of shape (n,)
    copy : bool, default=True
        Copy the arrays; ``False`` only for arrays that nothing else holds.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_unlearn._training_rows import TrainingRows
    >>> X = np.zeros((3, 2))
    >>> rows = TrainingRows(X, np.array([0, 1, 1]), np.ones(3))
    >>> X[0, 0] = 5.0                         # the caller's array, not the kept one
    >>> float(rows.X[0, 0]), rows.X.flags.writeable
    (0.0, False)
    """

    def __init__(self, X, y, sample_weight, *, copy=True):
        self.X, self.y, self.sample_weight = _frozen(X, y, sample_weight, copy)

    def __setstate__(self, state):
        # pickle and skops give back writeable arrays, which nothing else holds
        self.__dict__.update(state)
        self.X, self.y, self.sample_weight = _frozen(
            self.X, self.y, self.sample_weight, copy=False)

    @property
    def n_rows(self):
        return self.X.shape[0]

    @property
    def total_weight(self):
        return float(np.sum(self.sample_weight))

    @property
    def nbytes(self):
        """Memory held, in bytes."""
        if sp.issparse(self.X):
            x_bytes = self.X.data.nbytes + self.X.indices.nbytes + self.X.indptr.nbytes
        else:
            x_bytes = self.X.nbytes
        return int(x_bytes + np.asarray(self.y).nbytes + self.sample_weight.nbytes)

    def locate(self, X_rows, y_rows, weights):
        """Indices of kept rows equal to the given rows (features, target, weight).

        Each given row is matched to a different kept row, so duplicates must
        be present as often as they are asked for. Raises ``ValueError`` when a
        row is not found.
        """
        n_features = self.X.shape[1]
        # Fingerprint every row by a fixed random projection, then compare the
        # candidates with the same fingerprint exactly.
        u = np.random.default_rng(0).standard_normal(n_features)
        f_kept = np.asarray(self.X @ u).ravel()
        f_rows = np.asarray(X_rows @ u).ravel()
        scale_kept = np.asarray(abs(self.X) @ np.abs(u)).ravel()
        order = np.argsort(f_kept, kind="stable")
        f_sorted = f_kept[order]
        tol = 1e-9 * (np.max(scale_kept, initial=0.0) + 1.0)
        used = np.zeros(self.n_rows, dtype=bool)
        found = np.empty(X_rows.shape[0], dtype=np.intp)
        for j in range(X_rows.shape[0]):
            lo = np.searchsorted(f_sorted, f_rows[j] - tol, side="left")
            hi = np.searchsorted(f_sorted, f_rows[j] + tol, side="right")
            row = _dense_row(X_rows, j)
            match = -1
            for i in order[lo:hi]:
                if used[i] or self.sample_weight[i] != weights[j]:
                    continue
                if not _same_target(self.y[i], y_rows[j]):
                    continue
                if np.array_equal(_dense_row(self.X, i), row):
                    match = i
                    break
            if match < 0:
                raise ValueError(
                    f"Row {j} of X_old, with its target {y_rows[j]!r} and sample "
                    f"weight {weights[j]:g}, is not among the training rows the "
                    "model keeps (or is asked for more often than it was trained "
                    "on). Pass the affected rows exactly as they were trained on "
                    "(after earlier requests), with their targets and weights."
                )
            used[match] = True
            found[j] = match
        return found

    def corrected(self, drop, X_new, y_new, w_new):
        """A new :class:`TrainingRows`: these rows less ``drop``, plus the new rows."""
        keep = np.ones(self.n_rows, dtype=bool)
        keep[drop] = False
        X, y, w = self.X[keep], self.y[keep], self.sample_weight[keep]
        if X_new is not None and X_new.shape[0]:
            if sp.issparse(X):
                X = sp.vstack([X, sp.csr_matrix(X_new)], format="csr")
            else:
                X = np.vstack([X, X_new.toarray() if sp.issparse(X_new) else X_new])
            y = np.concatenate([y, np.asarray(y_new).reshape((-1,) + y.shape[1:])])
            w = np.concatenate([w, w_new])
        # (boolean indexing and stacking made new arrays: no second copy)
        return TrainingRows(X, y, w, copy=False)
