"""A kept copy of the training rows, and how a request edits it (used where
unlearning needs the data: the MLPs and certified removal).

The rows live in a :class:`RowStore` (buffers with spare capacity and an
index of where each row is); a :class:`TrainingRows` is one version of
them. A request computes a :class:`~sklearn_unlearn._row_edit.RowEdit` and a
new :class:`TrainingRows` that carries it (:meth:`TrainingRows.edited`),
without changing the store; the estimator swaps the new object in with the
rest of its state, then writes the edit into the store
(:meth:`TrainingRows.committed`). An edit cut short is written again, from
the start, by the next use of the rows.
"""

import itertools

import numpy as np
import scipy.sparse as sp

from . import _row_index as rix
from ._locks import serialised
from ._row_edit import _read_only_csr, plan_edit

#: Names of versions of kept rows: one per store and per edit, never reused
#: in a process (a store's copy keeps its name: it holds the same rows).
_VERSIONS = itertools.count()


def _same_target(a, b):
    if np.ndim(a) == 0 and np.ndim(b) == 0:
        return bool(a == b)
    a, b = np.asarray(a), np.asarray(b)
    return a.shape == b.shape and bool(np.all(a == b))


def _read_only(a):
    a.flags.writeable = False
    return a


def _grown(a, capacity):
    out = np.zeros((capacity,) + a.shape[1:], dtype=a.dtype)
    out[:a.shape[0]] = a
    return out


class KeptRowsMixin:
    """The hooks of :class:`~sklearn_unlearn.base.UnlearnerMixin` for an
    estimator that keeps its training rows in ``training_rows_`` (``None``
    when it keeps none), which requests edit in place: a commit writes its
    edit, a copy takes rows of its own, and a plan made on another object
    writes into none of this one's."""

    def _complete_unlearn(self, *, copied):
        rows = self.training_rows_
        self.__dict__["training_rows_"] = (None if rows is None
                                           else rows.committed(fork=copied))

    def _detached_state(self, state):
        rows = state.get("training_rows_")
        if rows is not None:
            state["training_rows_"] = rows.detached()
        return state

    def _applicable_state(self, state):
        rows = state.get("training_rows_")
        if rows is None:
            return state
        return {**state, "training_rows_": rows.applied_to(self.training_rows_)}


class RowStore:
    """The buffers and the index of one line of kept rows (private to the
    :class:`TrainingRows` objects that share it)."""

    def __init__(self, X, y, w):
        self.sparse = sp.issparse(X)
        self.X = _read_only_csr(X) if self.sparse else X
        self.y, self.w = y, w
        keys = rix.row_keys(X, w)
        self.keys = np.array(keys, dtype=np.int64)     # the key of each slot
        self.index = rix.build_index(keys)
        self.version = next(_VERSIONS)      # that of the rows written

    @property
    def capacity(self):
        return self.w.shape[0]

    def reserve(self, capacity, y_dtype, X_dtype):
        """Grow the buffers to ``capacity`` rows, the targets to ``y_dtype``
        and the dense features to ``X_dtype`` (each step only if still
        needed; a replaced buffer is zeroed)."""
        if self.y.dtype != y_dtype:
            self.y = self.y.astype(y_dtype)
        if not self.sparse and self.X.dtype != X_dtype:
            old, self.X = self.X, self.X.astype(X_dtype)
            old.fill(0)
        for name in ("y", "w", "keys") if self.sparse else ("X", "y", "w", "keys"):
            old = getattr(self, name)
            if old.shape[0] < capacity:
                setattr(self, name, _grown(old, capacity))
                old.fill(0)

    def clear(self, slots):
        if not self.sparse:
            self.X[slots] = 0.0
        self.y[slots] = np.zeros((), dtype=self.y.dtype)
        self.w[slots] = 0.0
        self.keys[slots] = 0

    def copy(self, n, *, index=True):
        """A store of its own holding the same rows (the first ``n`` live)."""
        out = RowStore.__new__(RowStore)
        out.sparse = self.sparse
        out.X = self.X if self.sparse else self.X.copy()
        out.y, out.w, out.keys = self.y.copy(), self.w.copy(), self.keys.copy()
        out.index = dict(self.index) if index else None
        out.version = self.version
        return out


class TrainingRows:
    """A copy of the training data: features, targets and sample weights.

    The arrays are copies, read through read-only views: editing the arrays
    given to ``fit`` afterwards, or writing into the views, cannot change
    the rows that were trained on. Only a request does: it deletes rows by
    overwriting them (with a live row moved from the end, the freed slots
    zeroed), inserts rows after the live ones and keeps an index of where
    each row is, at a cost of O(k d) for k rows of d features, whatever the
    number of rows kept. A view of dense rows read before a request shows
    the rows after it; sparse rows are a new matrix after each request, and
    a matrix read before it keeps the rows it held, erased ones included
    (the caller's object: the estimator and its files do not hold it). Copy
    what must outlive a request, and drop what must not.

    Parameters
    ----------
    X : ndarray or CSR matrix of shape (n, n_features), float64 or float32
        As the estimator's fit took them (float32 rows are kept as such;
        a request's float64 rows make them float64).
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
        def own(a, dtype=None):
            a = np.asarray(a, dtype=dtype)
            return a.copy() if copy or not a.flags.writeable else a

        if sp.issparse(X):
            X = sp.csr_matrix(X, copy=True)
        else:
            X = np.ascontiguousarray(own(X))
        self._store = RowStore(X, own(y), own(sample_weight, np.float64))
        self._n = X.shape[0]
        self._version = self._store.version
        self._edit = None

    def __getstate__(self):
        # the live rows only: no spare capacity, no index. An edit not written
        # yet (a plan's rows) is written into a copy: saving a plan writes
        # nothing into the rows it was made on
        X, y, w = (self.materialised() if self._edit is not None
                   else (self.X, self.y, self.sample_weight))
        return {"X": X, "y": y, "sample_weight": w}

    def __setstate__(self, state):
        self.__init__(state["X"], state["y"], state["sample_weight"], copy=False)

    # -- versions ------------------------------------------------------------
    def _settle(self):
        """Write this version's pending edit into the store if it is not in
        yet (under the store's lock: a reader in another thread may settle
        the rows while the request that swapped them in does)."""
        serialised(self._store, self._settle_now)

    def _settle_now(self):
        store, edit = self._store, self._edit
        if store.version != self._version:
            if edit is None or store.version != edit.base:
                raise RuntimeError(
                    "These kept training rows were replaced by a later request "
                    "on the estimator they belong to: read training_rows_ of the "
                    "estimator again (or plan the request again, for a plan's "
                    "rows)."
                )
            edit.apply(store)
            store.version = self._version
        self._edit = None

    def edited(self, drop, X_new, y_new, w_new):
        """The rows after a request: these less the positions ``drop`` (from
        :meth:`locate`), plus the new rows. Nothing is written until the
        result is :meth:`committed`."""
        self._settle()
        out = TrainingRows.__new__(TrainingRows)
        out._store = self._store
        out._edit = plan_edit(self._store, self._version, self._n, drop,
                              X_new, y_new, w_new)
        out._n = out._edit.n_rows
        # a name of its own: two plans made on one version are two versions
        # (numbered, both were the next one, and a copy that took one plan
        # read the rows the other had written into its store)
        out._version = next(_VERSIONS)
        return out

    def committed(self, *, fork=False):
        """These rows, with their edit written into the store; with ``fork``,
        a copy with a store of its own (the store is left as it is)."""
        if not fork:
            self._settle()
            return self
        return TrainingRows(*self.materialised(), copy=False)

    def detached(self):
        """These rows with a store of their own (copies of the buffers and the
        index), which requests on the rows they came from do not write into."""
        def copied():
            self._settle_now()
            out = TrainingRows.__new__(TrainingRows)
            out._store = self._store.copy(self._n)
            out._n, out._version, out._edit = self._n, out._store.version, None
            return out

        return serialised(self._store, copied)

    def materialised(self):
        """New arrays of these rows (features, targets, weights), whether
        their edit is written or not; nothing is changed."""
        def copied():
            edit, store = self._edit, self._store
            if edit is not None and store.version == edit.base:
                store = store.copy(self._n, index=False)
                edit.apply(store)
                X = store.X.copy() if store.sparse else store.X[:self._n]
                return X, store.y[:self._n], store.w[:self._n]
            return (self.X.copy(), np.array(self.y, copy=True),
                    np.array(self.sample_weight, copy=True))

        # under the store's lock: a request on the rows' estimator writes
        # into the store in place
        return serialised(self._store, copied)

    def applied_to(self, current):
        """These rows (a plan's) as an estimator whose kept rows are
        ``current`` takes them: themselves when they edit ``current``; for a
        plan made on another object of the same state (the estimator is a
        copy or a file of it), a copy with the edit written, so that nothing
        is written into that object's rows."""
        if current is None or self._store is current._store:
            return self
        edit = self._edit
        readable = (self._version,) if edit is None else (edit.base, self._version)
        if self._store.version not in readable:
            raise ValueError(
                "The plan was made on another object of this estimator's state, "
                "whose kept rows a later request has changed since: its rows can "
                "no longer be read. Plan the request again on this estimator. "
                "Nothing was changed.")
        return self.committed(fork=True)

    # -- reading -------------------------------------------------------------
    def _view(self, a):
        self._settle()
        return _read_only(a()[:self._n])

    @property
    def X(self):
        """The rows: a read-only view (a CSR matrix with read-only parts)."""
        if self._store.sparse:
            self._settle()
            return self._store.X
        return self._view(lambda: self._store.X)

    @property
    def y(self):
        return self._view(lambda: self._store.y)

    @property
    def sample_weight(self):
        return self._view(lambda: self._store.w)

    @property
    def n_rows(self):
        return self._n

    @property
    def total_weight(self):
        return float(np.sum(self.sample_weight))

    @property
    def nbytes(self):
        """Memory held by the buffers, in bytes."""
        store = self._store
        X = store.X
        x_bytes = (X.data.nbytes + X.indices.nbytes + X.indptr.nbytes
                   if store.sparse else X.nbytes)
        return int(x_bytes + store.y.nbytes + store.w.nbytes + store.keys.nbytes)

    def chunks(self, size=4096):
        """``(X, y, sample_weight)`` views of consecutive blocks of rows."""
        X, y, w = self.X, self.y, self.sample_weight
        for start in range(0, self._n, size):
            stop = min(start + size, self._n)
            yield X[start:stop], y[start:stop], w[start:stop]

    def _row_equals(self, p, canonical):
        """Whether kept row ``p`` has the canonical bytes ``canonical``."""
        X = self._store.X
        if self._store.sparse:
            return rix.canonical_rows(X[p])[0] == canonical
        # canonical bytes are float64 (float32 rows are kept as such)
        return (X[p].astype(np.float64) + 0.0).tobytes() == canonical

    def locate(self, X_rows, y_rows, weights):
        """Indices of kept rows equal to the given rows (features, target, weight).

        Each given row is matched to a different kept row, so duplicates must
        be present as often as they are asked for. Raises ``ValueError`` when a
        row is not found. Expected time O(k d) for k rows of d features.
        """
        self._settle()
        store = self._store
        if store.sparse != sp.issparse(X_rows):
            X_rows = sp.csr_matrix(X_rows) if store.sparse else X_rows.toarray()
        wanted = rix.canonical_rows(X_rows)
        used = set()
        found = np.empty(len(wanted), dtype=np.intp)
        for j, key in enumerate(rix.keys_of(wanted, weights)):
            match = next((p for p in rix.positions(store.index, key)
                          if p not in used and store.w[p] == weights[j]
                          and _same_target(store.y[p], y_rows[j])
                          and self._row_equals(p, wanted[j])), -1)
            if match < 0:
                raise ValueError(
                    # the row's own values stay out of the message, which logs
                    # keep after the rows are gone
                    f"Row {j} of X_old, with its target and sample weight, is not "
                    "among the training rows the model keeps (or is asked for "
                    "more often than it was trained on). Pass the affected rows "
                    "exactly as they were trained on (after earlier requests), "
                    "with their targets and weights."
                )
            used.add(match)
            found[j] = match
        return found
