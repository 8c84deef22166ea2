"""One request's change of the kept rows, as a list of blind writes.

A :class:`RowEdit` is computed from the rows before a request (reading
them, changing nothing) and holds everything it writes: the new content of
each slot it fills, the slots it clears and the index entries it drops and
adds. Applying it never reads the rows it changes, and every step sets a
value regardless of the one before; so an edit cut short (an exception, a
``KeyboardInterrupt`` at any line) is completed by applying it again from
the start, and applying it twice is applying it once.

Layout: a deleted row's slot is filled by a live row moved from the end of
the live range (the slots it leaves are cleared to zeros), inserted rows go
after the live range (into spare capacity, grown by a factor when short).
"""

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from . import _row_index as rix

#: Growth factor of the spare capacity (amortised O(1) copies per row).
GROWTH = 1.5


@dataclass(frozen=True, eq=False)
class RowEdit:
    base: int               # the name of the rows' version the edit was computed on
    n_rows: int             # live rows after the edit
    capacity: int           # buffer length the edit needs (dense rows)
    y_dtype: object         # the targets' dtype after the edit
    X_dtype: object         # the features' dtype after the edit
    slots: np.ndarray       # slots written ...
    X_rows: object          # ... with these rows (dense), or the new CSR matrix
    y_rows: np.ndarray
    w_rows: np.ndarray
    keys: np.ndarray        # ... and these index keys
    cleared: np.ndarray     # slots set to zero
    dropped: tuple          # (key, position) pairs that leave the index
    added: tuple            # (key, position) pairs that enter it

    def apply(self, store):
        """Write the edit into ``store`` (a :class:`RowStore`); idempotent."""
        store.reserve(self.capacity, self.y_dtype, self.X_dtype)
        if store.sparse:
            store.X = self.X_rows
        else:
            store.X[self.slots] = self.X_rows
        store.y[self.slots] = self.y_rows
        store.w[self.slots] = self.w_rows
        store.keys[self.slots] = self.keys
        store.clear(self.cleared)
        if store.index is None:             # a scratch copy keeps no index
            return
        for key, position in self.dropped:
            rix.discard(store.index, key, position)
        for key, position in self.added:
            rix.add(store.index, key, position)


def _as_format(X, sparse):
    # float32 rows stay float32 (a fit takes them so), any other are float64
    X = sp.csr_matrix(X) if sparse else (X.toarray() if sp.issparse(X) else np.asarray(X))
    return X if X.dtype == np.float32 else X.astype(np.float64)


def plan_edit(store, base, n, drop, X_new, y_new, w_new):
    """The :class:`RowEdit` taking the ``n`` live rows of ``store`` (at version
    ``base``) to those less the positions ``drop``, plus the new rows."""
    drop = sorted(int(p) for p in drop)
    m = 0 if X_new is None else X_new.shape[0]
    end = n - len(drop)                          # live rows once the drops are out
    gone = set(drop)
    holes = [p for p in drop if p < end]
    movers = [p for p in range(end, n) if p not in gone]
    inserted = list(range(end, end + m))
    slots = np.asarray(holes + inserted, dtype=np.intp)
    moved = np.asarray(movers, dtype=np.intp)
    y_old = store.y[moved]
    y_dtype, X_dtype = store.y.dtype, store.X.dtype
    if m:
        X_new = _as_format(X_new, store.sparse)
        X_dtype = np.result_type(store.X, X_new)
        y_new = np.asarray(y_new).reshape((-1,) + store.y.shape[1:])
        y_dtype = np.result_type(store.y, y_new)
        y_rows = np.concatenate([y_old.astype(y_dtype), y_new.astype(y_dtype)])
        w_rows = np.concatenate([store.w[moved], np.asarray(w_new, dtype=np.float64)])
    else:
        y_rows, w_rows = y_old, store.w[moved]
    moved_keys = store.keys[moved].tolist()
    dropped = list(zip(store.keys[drop].tolist(), drop))
    dropped += list(zip(moved_keys, movers))
    new_keys = rix.row_keys(X_new, w_new) if m else []
    added = list(zip(moved_keys + new_keys, holes + inserted))
    capacity = store.capacity
    if end + m > capacity:
        capacity = max(end + m, int(GROWTH * capacity) + 16)
    if store.sparse:
        order = np.arange(n)
        order[holes] = movers
        X_rows = store.X[order[:end]]
        if m:
            X_rows = sp.vstack([X_rows, X_new], format="csr")
        X_rows = _read_only_csr(X_rows)
    else:
        X_rows = store.X[moved]
        if m:
            X_rows = np.concatenate([X_rows, X_new])
    return RowEdit(base=base, n_rows=end + m, capacity=capacity, y_dtype=y_dtype,
                   X_dtype=X_dtype,
                   slots=slots, X_rows=X_rows, y_rows=y_rows, w_rows=w_rows,
                   keys=np.array(moved_keys + new_keys, dtype=np.int64),
                   cleared=np.arange(end + m, n, dtype=np.intp),
                   dropped=tuple(dropped), added=tuple(added))


def _read_only_csr(X):
    X = sp.csr_matrix(X)
    for part in (X.data, X.indices, X.indptr):
        part.flags.writeable = False
    return X
