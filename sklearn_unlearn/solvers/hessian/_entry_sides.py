"""The side of the margin each training row entered the Hessian on.

A loss whose curvature jumps (the squared hinge: ``2`` inside the margin,
``0`` outside) gives a row a curvature where it leaves the data a whole step
away from the one it entered the cached Hessian with, whenever the
parameters moved it across the margin in between. Folded out at its new side,
the row would leave ``2 s x x^T`` in the Hessian: in one-vs-rest blocks, the
difference of two blocks would then have the erased row in its range.

So a cache over such a loss keeps, for every row it holds, a digest of the
row (its values, its encoded targets and weights: see :func:`side_digests`)
with the side it entered
each block on, one bit a block. A removed row leaves with the sides it
entered on, exactly, and its digest leaves with it; a row the cache does not
hold cannot be folded out and is refused. The digests are keyed by a random
key drawn at fit and kept with the cache (requests need it): anyone holding
the model and a candidate row can tell whether the model holds that row now,
as a model that keeps its training rows could. Rows it erased are not among
them.
"""

import hashlib
import secrets

import numpy as np
import scipy.sparse as sp

from ..._fingerprints import MissingRowsError, RowFingerprints

#: Bytes of the key drawn at fit.
KEY_SIZE = 16
#: Rows mixed per block (bounds the temporary copy).
_BLOCK = 4096


def new_key():
    """A fresh key for a fit's digests."""
    return secrets.token_bytes(KEY_SIZE)


def side_digests(X, Y, S, key):
    """The digests of the rows of ``X`` (dense or sparse, without the
    intercept column), each with its encoded targets ``Y`` and weights
    ``S``: 16 bytes a row, equal exactly when the rows, targets and weights
    are equal as numbers, whatever their form (dense or sparse, float32 or
    float64, ``-0.0`` or ``0.0``), up to a chance of about ``2**-64`` for two
    given rows.

    Each value's bits go through a bijective mix (``0`` to ``0``, so a sparse
    row's absent entries count as its zeros), are multiplied by a
    coefficient drawn from the key and its column, and summed modulo
    ``2**64``, in two lanes with independent coefficients (vectorised). The
    sums are linear in the mixed values: with the key, which is kept with
    the digests, they would give back a row's values from its other ones.
    So each row's sums are hashed again, by BLAKE2b under the key: with the
    key a digest tells whether a candidate row is held, and nothing more
    (the keyed fingerprints of :mod:`sklearn_unlearn._fingerprints`, whose
    key is not kept, do not tell even that).
    """
    n, d = X.shape
    T = np.hstack([np.asarray(Y, dtype=np.float64), np.asarray(S, dtype=np.float64)])
    lanes = np.frombuffer(hashlib.blake2b(key, digest_size=16).digest(), np.uint64)
    out = _sparse_sums(X, lanes) if sp.issparse(X) else _dense_sums(X, 0, lanes)
    out += _dense_sums(T, d, lanes)
    sums = np.ascontiguousarray(out).tobytes()
    hashed = b"".join(hashlib.blake2b(sums[i:i + 16], digest_size=16, key=key).digest()
                      for i in range(0, len(sums), 16))
    return np.frombuffer(hashed, dtype="S16").copy()


def _mix(x):
    """A bijection of 64-bit words that maps 0 to 0 (splitmix64's finaliser)."""
    x = x ^ (x >> np.uint64(30))
    x *= np.uint64(0xBF58476D1CE4E5B9)
    x ^= x >> np.uint64(27)
    x *= np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


def _coefficients(columns, lanes):
    """The odd coefficient of each column in each lane, ``(len, 2)``."""
    c = np.asarray(columns, dtype=np.uint64)[:, None] + lanes[None, :]
    return _mix(c + np.uint64(0x9E3779B97F4A7C15)) | np.uint64(1)


def _bits(values):
    """The mixed bits of float64 values (``-0.0`` as ``0.0``)."""
    return _mix(np.ascontiguousarray(np.asarray(values, dtype=np.float64) + 0.0)
                .view(np.uint64))


def _dense_sums(B, first_column, lanes):
    """``sum_j mix(b_ij) c_j`` of each row in each lane, block by block."""
    B = B.toarray() if sp.issparse(B) else np.asarray(B)
    n, d = B.shape
    coef = _coefficients(np.arange(first_column, first_column + d), lanes)
    out = np.zeros((n, 2), dtype=np.uint64)
    for start in range(0, n, _BLOCK):
        M = _bits(B[start:start + _BLOCK])
        for lane in range(2):
            out[start:start + _BLOCK, lane] = (M * coef[:, lane]).sum(axis=1)
    return out


def _sparse_sums(X, lanes):
    """:func:`_dense_sums` of a sparse matrix, from its stored entries, block
    by block of rows (no copy of the whole matrix)."""
    X = sp.csr_matrix(X, dtype=np.float64)
    out = np.zeros((X.shape[0], 2), dtype=np.uint64)
    for start in range(0, X.shape[0], _BLOCK):
        B = X[start:start + _BLOCK]             # a copy of these rows only
        B.sum_duplicates()
        terms = _bits(B.data)[:, None] * _coefficients(B.indices, lanes)
        # row sums modulo 2**64 from a running sum (empty rows included)
        running = np.vstack([np.zeros((1, 2), np.uint64),
                             np.cumsum(terms, axis=0, dtype=np.uint64)])
        out[start:start + _BLOCK] = running[B.indptr[1:]] - running[B.indptr[:-1]]
    return out


def packed_sides(loss, Y, eta):
    """The side of every block (:meth:`~sklearn_unlearn.losses.SquaredHinge.side`)
    of each row, eight blocks a byte."""
    return np.packbits(loss.side(Y, eta), axis=1)


class EntrySides:
    """The rows a cache holds, each with the side it entered every block on.

    Parameters
    ----------
    store : RowFingerprints
        The rows' digests, with their packed sides as payload.
    key : bytes
        The key of the digests.
    n_blocks : int
        Blocks (one bit each).

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_unlearn.losses import SquaredHinge
    >>> from sklearn_unlearn.solvers.hessian._entry_sides import EntrySides
    >>> X = np.array([[1.0, 0.0], [0.0, 2.0]])
    >>> Y, S = np.array([[1.0], [-1.0]]), np.ones((2, 1))
    >>> eta = np.array([[0.5], [-3.0]])          # inside, then outside
    >>> sides = EntrySides.from_rows(SquaredHinge(), X, Y, S, eta, key=bytes(16))
    >>> after, inside = sides.exchange(X[1:], Y[1:], S[1:], X[:0], Y[:0], S[:0], None)
    >>> after.n_rows, inside.tolist()
    (1, [[False]])
    """

    def __init__(self, store, key, n_blocks):
        self.store = store
        self.key = key
        self.n_blocks = n_blocks

    @classmethod
    def from_rows(cls, loss, X, Y, S, eta, *, key):
        """The sides of the rows of ``X`` at the predictors ``eta``."""
        return cls.from_parts(side_digests(X, Y, S, key), packed_sides(loss, Y, eta),
                              key=key, n_blocks=Y.shape[1])

    @classmethod
    def from_parts(cls, digests, packed, *, key, n_blocks):
        """The store of digests with their packed sides (chunks' parts
        concatenated)."""
        return cls(RowFingerprints.from_digests(digests, None, payload=packed),
                   key, n_blocks)

    @classmethod
    def from_sums(cls, sums, n_blocks):
        """The store of the rows a fit's sums were taken over
        (:class:`~sklearn_unlearn.solvers.fit._chunks.RowSums`); ``None`` for a
        loss whose curvature does not jump."""
        if sums.side_digests is None:
            return None
        return cls.from_parts(sums.side_digests, sums.side_bits, key=sums.sides_key,
                              n_blocks=n_blocks)

    @property
    def n_rows(self):
        return self.store.n_rows

    @property
    def nbytes(self):
        return self.store.nbytes

    def exchange(self, X_old, Y_old, S_old, X_new, Y_new, S_new, new_packed):
        """``(sides, inside)``: the store without the rows ``X_old`` and with
        ``X_new`` (whose packed sides are ``new_packed``), as a new object
        (this one is unchanged), and the side each removed row entered every
        block on (bool, shape ``(k_old, n_blocks)``).

        Raises :class:`~sklearn_unlearn._fingerprints.MissingRowsError` when
        a removed row is not held.
        """
        removed = side_digests(X_old, Y_old, S_old, self.key)
        added = side_digests(X_new, Y_new, S_new, self.key)
        if new_packed is None:
            new_packed = np.zeros((len(added), (self.n_blocks + 7) // 8), np.uint8)
        store, missing, packed = self.store.exchange(removed, added, new_packed)
        if missing:
            rows = ", ".join(map(str, missing[:10])) + (" ..." if len(missing) > 10 else "")
            raise MissingRowsError(
                f"{len(missing)} row{'s' if len(missing) > 1 else ''} of X_old "
                f"({rows}) {'are' if len(missing) > 1 else 'is'} not among the rows "
                "this model holds, with their labels and sample weights. Its loss's "
                "curvature jumps at the margin, so the model records the side each "
                "row entered on and can fold out only rows it holds: pass the rows "
                "as trained on (never-trained rows, or rows deleted already, cannot "
                "be removed). Nothing was changed.")
        inside = np.unpackbits(packed, axis=1, count=self.n_blocks).astype(bool)
        return type(self)(store, self.key, self.n_blocks), inside
