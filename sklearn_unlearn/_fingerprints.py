"""Keyed fingerprints of the training rows.

An estimator fitted with ``fingerprint_key`` keeps, for every training row, a
keyed BLAKE2b digest (128 bits) of the row's canonical bytes, its target and
its weight, and nothing else of the row. A request must present the same key;
a row it removes whose digest is not kept (never trained on, deleted already,
a wrong label or weight) is refused before anything changes. Without the key
the digests are pseudorandom strings: keyed BLAKE2b is a pseudorandom
function, so telling whether a given row was trained on, or anything else
about it, needs the key, which is never stored.

The digests form a multiset (a row trained on twice is kept twice), stored as
sorted arrays in shards by the leading bits of the digest, so that a request
of ``k`` rows builds ``k`` small new shards and shares the others with the
state it came from: the old state is left as it was, and the new one is
swapped in whole with the estimator's other attributes.
"""

import hashlib

import numpy as np
import scipy.sparse as sp
from sklearn.base import is_classifier
from sklearn.utils import check_array

from ._request import plain
from ._row_index import canonical_rows

#: Bytes of one digest.
DIGEST_SIZE = 16
#: Shortest and longest key BLAKE2b takes (bytes).
KEY_SIZES = (16, 64)
#: Rows per shard aimed at when the shards are made at fit.
ROWS_PER_SHARD = 256
#: Rows hashed per chunk at fit (bounds the canonical copy's memory).
CHUNK_ROWS = 8192

_DTYPE = np.dtype(f"S{DIGEST_SIZE}")
_ROW_PERSON = b"sklu-row"
_KEY_PERSON = b"sklu-key"


def check_key(key):
    """Refuse a key that is not 16 to 64 bytes (the key is never echoed)."""
    if not isinstance(key, (bytes, bytearray)):
        raise TypeError(
            f"fingerprint_key must be bytes, got {type(key).__name__}. Use a random "
            "key, for instance secrets.token_bytes(32), and keep it secret."
        )
    if not KEY_SIZES[0] <= len(key) <= KEY_SIZES[1]:
        raise ValueError(
            f"fingerprint_key must be {KEY_SIZES[0]} to {KEY_SIZES[1]} bytes long, "
            f"got {len(key)} bytes. Use a random key, for instance "
            "secrets.token_bytes(32)."
        )
    return bytes(key)


def key_check(key):
    """A digest of a public constant under ``key``: tells a wrong key from
    rows that are not there, and says nothing of any row."""
    return hashlib.blake2b(b"sklearn-unlearn fingerprint key", key=key,
                           digest_size=DIGEST_SIZE, person=_KEY_PERSON).digest()


def canonical_targets(estimator, y, n_rows):
    """Targets as the bytes the digests take: a class's index in ``classes_``
    for a classifier, float64 values for a regressor, one row per sample."""
    y = np.asarray(y)
    if is_classifier(estimator) and y.ndim == 1:
        return np.searchsorted(estimator.classes_, y).astype("<i8").reshape(n_rows, 1)
    dtype = "<i8" if is_classifier(estimator) else "<f8"
    # + 0.0 makes -0.0 and 0.0 one value
    return (np.asarray(y, dtype=np.float64) + 0.0).astype(dtype).reshape(n_rows, -1)


def row_digests(X, targets, weights, key):
    """The keyed digests of the rows of ``X`` (dense or sparse), each with its
    canonical target row and weight: an array of ``DIGEST_SIZE``-byte strings.

    A row's bytes are its canonical sparse form (:func:`canonical_rows` of
    the kept rows' index: nonzero columns and float64 values, sorted by
    column, stored zeros and the sign of zero dropped), so a row given dense
    or sparse, float32 or float64, has one digest.
    """
    n = X.shape[0]
    weights = np.asarray(weights, dtype="<f8") + 0.0
    out = []
    for start in range(0, n, CHUNK_ROWS):
        stop = min(start + CHUNK_ROWS, n)
        out.extend(_chunk_digests(X[start:stop], targets[start:stop],
                                  weights[start:stop], key))
    return np.frombuffer(b"".join(out), dtype=_DTYPE).copy() if out else np.zeros(0, _DTYPE)


def _chunk_digests(X, targets, weights, key):
    # the sparse canonical form for dense rows too, so that both forms agree;
    # the target and weight have fixed lengths, so the bytes are unambiguous
    if not sp.issparse(X):
        X = sp.csr_matrix(check_array(X, dtype=np.float64, ensure_all_finite=False))
    rows = canonical_rows(X)
    tb = np.ascontiguousarray(targets).tobytes()
    t_size = targets.shape[1] * 8
    wb = weights.tobytes()
    blake = hashlib.blake2b
    return [blake(b"".join((row, tb[i * t_size:(i + 1) * t_size], wb[i * 8:(i + 1) * 8])),
                  key=key, digest_size=DIGEST_SIZE, person=_ROW_PERSON).digest()
            for i, row in enumerate(rows)]


class MissingRowsError(ValueError):
    """Rows a request removes are not among the fingerprinted training rows.

    Nothing was changed. The message names the rows and the likely cause.

    Examples
    --------
    >>> import secrets
    >>> from sklearn.datasets import load_diabetes
    >>> from sklearn_unlearn import UnlearnableRidge
    >>> from sklearn_unlearn.base import MissingRowsError
    >>> X, y = load_diabetes(return_X_y=True)
    >>> key = secrets.token_bytes(32)
    >>> reg = UnlearnableRidge().fit(X[:400], y[:400], fingerprint_key=key)
    >>> try:
    ...     reg.unlearn(X[400:401], None, y[400:401], fingerprint_key=key)
    ... except MissingRowsError as exc:
    ...     print(str(exc)[:57])
    1 row of X_old is not among the training rows this model
    """


class RowFingerprints:
    """A multiset of keyed row digests, in sorted shards by leading bits.

    Parameters
    ----------
    shards : list of ndarray
        The sorted digests of each shard, each its own array.
    bits : int
        Leading bits of a digest that name its shard (``len(shards) ==
        2**bits``).
    check : bytes
        The key's check digest (:func:`key_check`).

    Attributes
    ----------
    n_rows : int
        Rows fingerprinted (duplicates counted).
    nbytes : int
        Bytes of the digests and the shards' array headers.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_unlearn._fingerprints import RowFingerprints, key_check, row_digests
    >>> key = bytes(range(32))
    >>> X = np.array([[1.0, 0.0], [0.0, 2.0], [1.0, 0.0]])
    >>> d = row_digests(X, np.zeros((3, 1), "<i8"), np.ones(3), key)
    >>> fp = RowFingerprints.from_digests(d, key_check(key))
    >>> fp.n_rows, bool(d[0] == d[2])
    (3, True)
    >>> fp.after(d[:1], d[:0])[0].n_rows
    2
    """

    def __init__(self, shards, bits, check, payloads=None):
        self.shards = shards
        self.bits = bits
        self.check = check
        self.payloads = payloads
        self.n_rows = int(sum(len(s) for s in shards))

    @classmethod
    def from_digests(cls, digests, check, payload=None):
        """The multiset of ``digests``, in about ``len/ROWS_PER_SHARD`` shards;
        ``payload`` (one row of bytes per digest) goes with them."""
        n = len(digests)
        bits = int(np.clip(np.round(np.log2(max(n, 1) / ROWS_PER_SHARD)), 0, 16))
        order = np.argsort(digests, kind="stable")
        ordered = digests[order]
        bounds = np.searchsorted(_shard_of(ordered, bits), np.arange(2**bits + 1))
        # each shard its own array: a view would keep the whole fit-time
        # buffer, deleted rows' digests included, alive
        pairs = list(zip(bounds[:-1].tolist(), bounds[1:].tolist()))
        shards = [ordered[a:b].copy() for a, b in pairs]
        payloads = None
        if payload is not None:
            payload = payload[order]
            payloads = [payload[a:b].copy() for a, b in pairs]
        return cls(shards, bits, check, payloads)

    @property
    def nbytes(self):
        extra = 0 if self.payloads is None else sum(p.nbytes + 112 for p in self.payloads)
        return int(sum(s.nbytes for s in self.shards)) + 112 * len(self.shards) + extra

    def missing(self, removed):
        """Indices into ``removed`` of digests the multiset does not hold (as
        often as they are removed)."""
        return self.after(removed, removed[:0])[1]

    def after(self, removed, added):
        """``(fingerprints, missing)``: the multiset without ``removed`` and
        with ``added``, as a new object that shares the untouched shards
        (this one is unchanged), or ``None`` when some removed digests are
        not held; and the sorted indices into ``removed`` of those."""
        after, missing, _ = self.exchange(removed, added)
        return after, missing

    def exchange(self, removed, added, added_payload=None):
        """:meth:`after`, with the payloads: ``(fingerprints, missing,
        removed_payload)``, the payload each removed digest was held with (in
        the order of ``removed``; ``None`` without payloads or when some are
        missing). ``added_payload`` goes with ``added``."""
        order = np.argsort(removed, kind="stable")
        r = removed[order]
        a_order = np.argsort(added, kind="stable")
        a = added[a_order]
        touched = np.unique(np.concatenate([_shard_of(r, self.bits),
                                            _shard_of(a, self.bits)])).tolist()
        # the touched shards in order are one sorted array: one search for all
        joined = np.concatenate([self.shards[s] for s in touched]) if touched else r[:0]
        # a digest named m times takes the m slots from where it sorts
        rank = np.arange(len(r)) - np.searchsorted(r, r, "left")
        pos = np.searchsorted(joined, r, "left") + rank
        inside = pos < len(joined)
        found = inside & (joined[np.where(inside, pos, 0)] == r)
        if not found.all():
            return None, sorted(order[~found].tolist()), None
        keep = np.ones(len(joined), dtype=bool)
        keep[pos] = False
        at = np.searchsorted(joined[keep], a)
        joined = np.insert(joined[keep], at, a)
        bounds = np.searchsorted(_shard_of(joined, self.bits), np.r_[touched, np.add(touched, 1)])
        spans = list(zip(bounds[:len(touched)].tolist(), bounds[len(touched):].tolist()))
        # copies: a view would keep the joined buffer alive after a later
        # request deletes from one of the shards it holds
        shards = list(self.shards)
        for s, (lo, hi) in zip(touched, spans):
            shards[s] = joined[lo:hi].copy()
        payloads = removed_payload = None
        if self.payloads is not None:
            held = (np.concatenate([self.payloads[s] for s in touched]) if touched
                    else self.payloads[0][:0])
            removed_payload = np.empty((len(r),) + held.shape[1:], held.dtype)
            removed_payload[order] = held[pos]
            if added_payload is None:
                added_payload = np.zeros((len(a),) + held.shape[1:], held.dtype)
            held = np.insert(held[keep], at, np.asarray(added_payload)[a_order], axis=0)
            payloads = list(self.payloads)
            for s, (lo, hi) in zip(touched, spans):
                payloads[s] = held[lo:hi].copy()
        return type(self)(shards, self.bits, self.check, payloads), [], removed_payload


def _shard_of(digests, bits):
    """The shard of each digest: its leading ``bits`` bits."""
    if not len(digests):
        return np.zeros(0, dtype=np.int64)
    head = digests.view(np.uint8).reshape(-1, DIGEST_SIZE)[:, :2].astype(np.int64)
    return ((head[:, 0] << 8) | head[:, 1]) >> (16 - bits)


def fingerprint_training_rows(estimator, X, y, sample_weight, key):
    """The :class:`RowFingerprints` of a fit's training rows (``None``
    without a key)."""
    if key is None:
        return None
    key = check_key(key)
    return RowFingerprints.from_digests(
        training_digests(estimator, X, y, sample_weight, key), key_check(key))


def training_digests(estimator, X, y, sample_weight, key):
    X = check_array(X, accept_sparse="csr", dtype=np.float64, ensure_all_finite=False)
    n = X.shape[0]
    weights = np.ones(n) if sample_weight is None else np.broadcast_to(
        np.asarray(sample_weight, dtype=np.float64).ravel(), (n,))
    return row_digests(X, canonical_targets(estimator, y, n), weights, key)


def kept_fingerprints(estimator, key, what):
    """``(fingerprints, key)`` of an estimator that keeps fingerprints, the
    key checked against them; ``(None, None)`` for one that keeps none and
    no key. A key for an estimator without fingerprints, no key for one
    with them, or another key is refused (``what`` says what the key is
    for)."""
    kept = estimator.__dict__.get("row_fingerprints_")
    if kept is None:
        if key is not None:
            raise ValueError(
                f"fingerprint_key was given, but this {type(estimator).__name__} was "
                "fitted without one and keeps no fingerprints: fit it with "
                "fingerprint_key=... to have requests checked. Nothing was changed."
            )
        return None, None
    if key is None:
        raise ValueError(
            f"This {type(estimator).__name__} keeps fingerprints of its training rows: "
            f"pass the fingerprint_key it was fitted with, so that {what}. Nothing "
            "was changed."
        )
    key = check_key(key)
    if key_check(key) != kept.check:
        raise ValueError(
            "fingerprint_key is not the key this model was fitted with. Nothing was "
            "changed."
        )
    return kept, key


def fingerprints_after(estimator, request, key):
    """The fingerprints after a validated request, or ``None`` when the
    estimator keeps none; a request without the key, with another key, or
    removing a row that is not held is refused (nothing changes)."""
    kept, key = kept_fingerprints(
        estimator, key, "the request's rows can be checked against them")
    if kept is None:
        return None

    def digests(X, y):
        if X is None:
            return np.zeros(0, _DTYPE)
        return row_digests(X, canonical_targets(estimator, y, X.shape[0]),
                           request.sample_weight, key)

    after, missing = kept.after(digests(request.X_old, request.y_old),
                                digests(request.X_new, request.y_new))
    if missing:
        raise MissingRowsError(_missing_message(estimator, kept, request, key, missing))
    return after


def fingerprints_replaced(estimator, X, X_new, y, sample_weight, key):
    """The fingerprints of the rows ``X_new`` that replace every training
    row ``X`` (targets ``y``, weights ``sample_weight``), built afresh: the
    digests of ``X`` must be exactly the kept multiset, and none of them
    stays. ``None`` when the estimator keeps none and no key is given; a
    missing or wrong key, or rows that are not the training rows, are
    refused (nothing changes)."""
    kept, key = kept_fingerprints(
        estimator, key, "the rows can be checked against them and fingerprinted "
        "again with the features zeroed")
    if kept is None:
        return None
    check_fingerprinted(kept, training_digests(estimator, X, y, sample_weight, key))
    return fingerprint_training_rows(estimator, X_new, y, sample_weight, key)


def check_fingerprinted(kept, digests):
    """Refuse rows (their ``digests``) that are not exactly the multiset the
    fingerprints ``kept`` hold."""
    after, missing = kept.after(digests, digests[:0])
    if missing or after.n_rows:
        raise ValueError(
            f"The rows given are not this model's training rows: {len(missing)} of "
            f"them are not among its fingerprints, and {0 if after is None else after.n_rows} "
            "fingerprinted rows were not given. Pass the fit's rows after every "
            "request, with their targets and weights. Nothing was changed.")


def _missing_message(estimator, kept, request, key, missing):
    """Name the missing rows, grouped by the most likely cause of each."""
    X, y, w = request.X_old, request.y_old, request.sample_weight
    by_cause = {}
    for i in missing[:10]:
        by_cause.setdefault(_likely_cause(estimator, kept, X[i:i + 1], y[i:i + 1],
                                          w[i:i + 1], key), []).append(i)
    parts = [f"row{'s' if len(rows) > 1 else ''} {', '.join(map(str, rows))}: {cause}"
             for cause, rows in by_cause.items()]
    more = f" (and {len(missing) - 10} more rows)" if len(missing) > 10 else ""
    return (f"{len(missing)} row{'s' if len(missing) > 1 else ''} of X_old "
            f"{'are' if len(missing) > 1 else 'is'} not among the training rows this "
            f"model holds, with their targets and weights; {'; '.join(parts)}{more}. "
            "Nothing was changed.")


def _likely_cause(estimator, kept, row, y, w, key):
    def held(target, weight):
        t = canonical_targets(estimator, target, 1)
        return not kept.missing(row_digests(row, t, weight, key))

    if is_classifier(estimator):
        for c in estimator.classes_:
            if c != y[0] and held(np.array([c]), w):
                return (f"trained with the label {plain(c)}, not {plain(y[0])}; pass "
                        "the label it was trained on")
    if w[0] != 1.0 and held(y, np.ones(1)):
        return f"trained with weight 1, not {plain(w[0])}; pass its sample_weight"
    return ("never trained on with this target and weight, or deleted already (a "
            "row trained with a sample_weight needs it passed; another "
            "fingerprint_key finds no row either)")
