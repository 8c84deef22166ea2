"""Where each kept training row is: a hash table from a row's canonical form
to its positions, so that a request finds its rows in O(k d) time.

The table holds, for each *live* row, Python's (per-process keyed) hash of
the row's canonical bytes and weight, mapped to its position; nothing else
(the store also keeps each slot's key, zero in a free slot, so that an edit
needs no hashing of the rows it moves or drops).
It is never saved (it is rebuilt when the rows are loaded), and a request
removes the entries of the rows it erases.
"""

import numpy as np
import scipy.sparse as sp

#: Rows hashed per block at fit (bounds the temporary copy).
BLOCK = 4096


def canonical_rows(X):
    """The canonical bytes of each row of ``X`` (dense or CSR): equal bytes
    exactly when the rows are equal as numbers (``-0.0`` is ``0.0``; a
    sparse row is its sorted non-zero columns and values)."""
    if sp.issparse(X):
        X = sp.csr_matrix(X, copy=True)
        X.sum_duplicates()                  # also sorts the indices
        X.eliminate_zeros()
        out = []
        for i in range(X.shape[0]):
            lo, hi = X.indptr[i], X.indptr[i + 1]
            cols = X.indices[lo:hi].astype(np.int64)
            out.append(cols.tobytes()
                       + (X.data[lo:hi].astype(np.float64) + 0.0).tobytes())
        return out
    out = []
    for start in range(0, X.shape[0], BLOCK):
        block = np.array(X[start:start + BLOCK], dtype=np.float64, order="C")
        block += 0.0                        # -0.0 + 0.0 is 0.0
        out.extend(row.tobytes() for row in block)
    return out


def keys_of(rows, w):
    """The index key of each row given as canonical bytes, with its weight."""
    weights = (np.asarray(w, dtype=np.float64).reshape(-1) + 0.0).tobytes()
    return [hash(row + weights[8 * i:8 * i + 8]) for i, row in enumerate(rows)]


def row_keys(X, w):
    """The index key of each row of ``X`` with its weight in ``w`` (block by
    block: the canonical bytes of all rows are never held at once)."""
    keys = []
    for start in range(0, X.shape[0], BLOCK):
        stop = start + BLOCK
        keys.extend(keys_of(canonical_rows(X[start:stop]), w[start:stop]))
    return keys


def build_index(keys):
    """The table of ``keys`` (the key of the row at each position)."""
    index = {}
    for position, key in enumerate(keys):
        add(index, key, position)
    return index


def positions(index, key):
    """The positions of the rows with ``key``."""
    found = index.get(key)
    if found is None:
        return ()
    return (found,) if isinstance(found, int) else found


# Both edits below set whether one (key, position) pair is in the table and
# touch no other pair, each with a single dictionary operation: a sequence of
# them gives the same table when it is run again from any of its prefixes.
def add(index, key, position):
    """Record ``position`` under ``key`` (no change if it is there)."""
    found = positions(index, key)
    if position not in found:
        # sorted: the table is the same however the edits were interleaved
        index[key] = position if not found else tuple(sorted((*found, position)))


def discard(index, key, position):
    """Remove ``position`` from ``key`` (no change if it is not there)."""
    found = positions(index, key)
    if position not in found:
        return
    rest = tuple(p for p in found if p != position)
    if not rest:
        del index[key]
    else:
        index[key] = rest[0] if len(rest) == 1 else rest
