"""Training rows read chunk by chunk: from a Dask array (or DataFrame), whose
chunks are reduced on its cluster, or from an iterable of in-memory chunks.

Each source gives ``reduce(theta, **wanted)``: one pass over the rows,
returning the added
:class:`~sklearn_unlearn.solvers.fit._chunks.RowSums` of :func:`~sklearn_unlearn.solvers.fit._chunks.row_sums` with the options
``wanted`` (what
:func:`~sklearn_unlearn.solvers.fit._chunked_newton.cache_by_chunks` reads). Dask
is imported only when a Dask collection is given.
"""

import functools
import secrets
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from sklearn.utils import check_array

from .._fingerprints import canonical_targets, row_digests
from .._request import check_sparse_structure, check_training_weights
from ..solvers.bounds._roundoff import UNIT, gamma
from ..solvers._weight_totals import exact_parts
from ..solvers.fit._chunks import row_sums

#: Chunk sums added per task of the reduction tree on the cluster.
_FAN_IN = 8


def is_dask_collection(X):
    """Whether ``X`` is a Dask collection (by the Dask protocol; no import)."""
    return hasattr(X, "__dask_graph__")


def check_target_shape(shape, targets):
    """Refuse targets of ``shape`` for a model that takes ``targets`` per row
    (``()``: one, which a column of one also gives; ``(k,)``: ``k``)."""
    given = tuple(shape[1:])
    if given == tuple(targets) or (targets == () and given == (1,)):
        return
    raise ValueError(
        f"The targets given have shape {tuple(shape)}; the model takes "
        f"{'one target' if targets == () else targets[0]} per row. Give them as "
        "at fit.")


class ChunkPass:
    """Checks, encodes and sums one chunk of rows (picklable: it travels to
    the workers of a cluster).

    ``encoder`` is the fitted estimator, or an unfitted copy of it with its
    ``classes_`` (for a classifier), whose ``_request_targets`` encodes the
    targets as its fit weighs them.
    ``names``: the feature names the model was fitted with, which a chunk
    given as a data frame must have, in that order. ``targets``: the shape
    of a row's targets, ``()`` for one (a column is taken as one), ``(k,)``
    for ``k``; ``None`` for any. ``probe_seed``: the seed of the rows' probe
    (:func:`row_probe`), drawn from the system's entropy when not given (a
    pass compared with an earlier one takes its seed). ``probe_view``: what
    the probe is taken of, a function of the rows (their columns zeroed, to
    compare a pass with one over the zeroed rows); the rows themselves when
    ``None``.

    A call sums one chunk (:class:`~sklearn_unlearn.solvers.fit._chunks.RowSums`),
    or gives ``None`` for a chunk of no rows: :func:`added` adds them.
    """

    def __init__(self, encoder, objective, n_features, n_groups, classes=None,
                 names=None, targets=None, probe_seed=None, probe_view=None):
        self.probe_seed = secrets.randbits(63) if probe_seed is None else probe_seed
        self.probe_view = probe_view
        self.encoder = encoder
        self.objective = objective
        self.n_features = n_features
        self.n_groups = n_groups
        self.classes = classes
        self.names = names
        self.targets = targets

    def checked(self, X, y, w):
        if (self.names is not None and hasattr(X, "columns")
                and list(X.columns) != list(self.names)):
            raise ValueError(
                f"The columns {list(X.columns)[:10]} of the rows given are not the "
                "feature names the model was fitted with, in that order "
                f"({list(self.names)[:10]}): give them as at fit.")
        check_sparse_structure(X, "A chunk of rows")
        X = check_array(X, accept_sparse="csr", dtype=np.float64, order="C",
                        ensure_min_samples=0)
        if sp.issparse(X):
            X = X.tocsr()
        if X.shape[1] != self.n_features:
            raise ValueError(f"A chunk has {X.shape[1]} features; the model has "
                             f"{self.n_features}.")
        y = np.asarray(y)
        if self.classes is not None:
            y = y.reshape(len(y)) if y.ndim == 2 and y.shape[1] == 1 else y
            unknown = ~np.isin(y, self.classes)
            if y.ndim != 1 or unknown.any():
                raise ValueError(
                    "A chunk has labels the model was not fitted with: "
                    f"{np.unique(y[unknown]).tolist()[:5]} (classes_ = "
                    f"{self.classes.tolist()}).")
        else:
            y = check_array(y, ensure_2d=False, dtype=np.float64, ensure_min_samples=0)
            if self.targets is not None:
                check_target_shape(y.shape, self.targets)
                if self.targets == ():
                    y = y.reshape(len(y))
        if len(y) != X.shape[0]:
            raise ValueError(f"A chunk has {X.shape[0]} rows and {len(y)} targets.")
        if X.shape[0] == 0 and np.ndim(w) and np.size(w):
            raise ValueError(f"A chunk has 0 rows and {np.size(w)} sample weights.")
        if X.shape[0] == 0:
            return X, y, np.zeros(0)
        # as scikit-learn takes them (none: ones; a scalar: one for every row)
        w = check_training_weights(w, X, allow_all_zero_weights=True)
        return X, y, w

    def __call__(self, X, y, w, theta, wanted):
        X, y, w = self.checked(X, y, w)
        if X.shape[0] == 0:
            # an empty chunk (a Dask partition a filter emptied) adds nothing
            return None
        self.encoder._check_targets_as_parent(y)
        Y, S, row_weight, groups, _ = self.encoder._request_targets(y, w)
        wanted = dict(wanted)
        key = wanted.pop("fingerprint_key", None)
        design = self.objective.design
        norms = design.row_norms(X)
        sums = row_sums(self.objective, X, Y, S, theta, groups=groups,
                        n_groups=self.n_groups, row_weight=row_weight, target_moment=True,
                        row_norms=norms, **wanted)
        if key is not None:
            sums.fingerprints = row_digests(
                X, canonical_targets(self.encoder, y, X.shape[0]), w, key)
        if self.probe_view is not None:
            X = self.probe_view(X)
            norms = design.row_norms(X)
        sums.probe, sums.probe_error = row_probe(X, Y, S, self.probe_seed, design, norms)
        sums.probe_seed = self.probe_seed
        return sums


def row_probe(X, Y, S, seed, design, norms):
    """``(parts, e)``: ``sum_i |s_i| cos(pi u_i)``, a sum over the rows of a
    function of each row's direction, norm and targets that no summary of
    moments sees, summed exactly (floats whose exact sum it is, see
    :func:`~sklearn_unlearn.solvers._weight_totals.exact_parts`), and a
    bound ``e`` on the rounding of its terms.

    ``u_i = z^T x_i / ||x_i|| + a arctan(log ||x_i||) + c^T arctan(y_i)``
    for the augmented rows of ``design`` (``norms``: their norms, which the
    pass has), with ``z``, ``a`` and ``c`` standard normal from ``seed``,
    which the rows' source does not know: rows changed so that their
    count, norms, weights per class and target moment stay (rotated in
    pairs about their mean, or stretched along their own directions in
    pairs whose shifts cancel) change this sum. Passes over the same rows
    agree on it to ``e`` each, in any order and any chunks: the sum is
    exact, so only the terms' own rounding differs (a sum rounded as it
    went would allow ``gamma(n + 1) sum_i |s_i|``, 4e-6 at 200,000 rows,
    under which weights moved by 1e-8 in rotated pairs passed).
    """
    n, d = X.shape
    rng = np.random.default_rng(seed)
    z, c = rng.standard_normal(d + 1), rng.standard_normal(Y.shape[1])
    a = rng.standard_normal()
    with np.errstate(invalid="ignore", over="ignore"):
        projection = np.asarray(X @ z[:d]).ravel()
    if design.fit_intercept:
        projection += design.intercept_value * z[d]
    held = np.isfinite(norms) & (norms > 0)
    direction = np.divide(projection, norms, out=np.zeros(n), where=held)
    log_norm = np.log(norms, out=np.zeros(n), where=held)
    u = (direction + a * np.arctan(log_norm)
         + np.arctan(np.asarray(Y, dtype=np.float64)) @ c)
    s = np.abs(S[:, 0])
    # the projection and the norm (each within gamma(d + 3)); the norm's
    # logarithm (the norm's error, twice, and two units of it), its
    # arctangent's own rounding; the targets' term; times pi, and the
    # rounding of the cosine and of its product with the weight
    per_row = (np.pi * (2.0 * gamma(d + 3) * np.linalg.norm(z)
                        + abs(a) * (2.0 * gamma(d + 3) + 2.0 * UNIT * np.abs(log_norm)
                                    + np.pi * UNIT)
                        + (gamma(Y.shape[1] + 2) + 4.0 * UNIT) * np.abs(c).sum() * np.pi / 2)
               + 3.0 * UNIT)
    terms = s * np.cos(np.pi * u)
    error = float(s @ per_row) * (1.0 + gamma(n + 1))
    # a row whose projection overflows (a norm near the largest float) has
    # no term: anything within its weight
    lost = ~np.isfinite(terms)
    if lost.any():
        terms[lost] = 0.0
        error += float(s[lost].sum()) * (1.0 + gamma(n + 1))
    return tuple(exact_parts(terms.tolist())), error


def same_rows(reduce, like=None):
    """``reduce`` checking that every pass reads the rows of the first (of
    the pass that gave the sums ``like``, if given): see :class:`_PassSummary`.
    A source whose passes differ (rows dropped, values or targets changed)
    would leave a cache of rows of several passes, whose Hessian no bound
    then covers."""
    first = [] if like is None else [_PassSummary.of(like)]

    def checked(theta, **wanted):
        sums = reduce(theta, **wanted)
        summary = _PassSummary.of(sums)
        if not first:
            first.append(summary)
        elif not first[0].same_rows(summary):
            raise ValueError(_OTHER_ROWS)
        return sums

    return checked


#: Why sample weights given beside chunks are refused: each chunk carries its own.
CHUNK_WEIGHTS = ("With chunks, give the sample weights as the third element of every "
                 "chunk. Nothing was changed.")
_OTHER_ROWS = ("The chunks gave other rows on a later pass than on the first: the "
               "model reads them once per Newton iteration, and every pass must give "
               "the same rows, targets and weights.")


@dataclass(frozen=True)
class _PassSummary:
    """What a pass over rows sums whatever the parameters: their count and
    weight per class, their norms (largest, and summed with the weights),
    the moment of their targets
    (:attr:`~sklearn_unlearn.solvers.fit._chunks.RowSums.target_moment`)
    and their probe (:func:`row_probe`, with its seed: the same function
    in both passes)."""

    counts: np.ndarray
    weights: np.ndarray
    norms: np.ndarray
    moment: np.ndarray
    moment_allowance: float
    probe: float | None
    probe_allowance: float | None

    @classmethod
    def of(cls, sums):
        probe = allowance = None
        if sums.probe is not None:
            probe, allowance = sums.probe, sums.probe_error
        return cls(np.r_[sums.n_rows, sums.counts], sums.weight_totals,
                   np.r_[sums.max_norm, sums.weight_norm2, sums.gram_norm2,
                         sums.gram_norm3],
                   sums.target_moment,
                   # the rounding of one pass's sums, in whatever order
                   gamma(sums.n_rows + 1) * sums.target_moment_scale,
                   probe, allowance)

    def same_rows(self, other, columns=None):
        """Whether ``other`` is of the same rows; with ``columns``, of the
        same rows with those columns zeroed (the norms are then not compared,
        nor the moment's entries of those columns; the probes, taken of the
        zeroed rows in both, are)."""
        keep = np.setdiff1d(np.arange(len(self.moment)), [] if columns is None else columns)
        gap = np.abs(self.moment[keep] - other.moment[keep])
        if self.probe is not None and other.probe is not None:
            # the exact difference, rounded once, against the allowances
            # (summed over the chunks in floating point: within gamma of
            # their count, at most the rows')
            probe_gap = exact_parts([*self.probe, *(-v for v in other.probe)])
            rows = int(self.counts[0]) + int(other.counts[0])
            if not abs(probe_gap[0] if probe_gap else 0.0) <= (
                    (self.probe_allowance + other.probe_allowance) * (1.0 + gamma(rows + 4))):
                return False
        return bool(np.array_equal(self.counts, other.counts)
                    and np.allclose(self.weights, other.weights, rtol=1e-12, atol=0.0)
                    and (columns is not None
                         or np.allclose(self.norms, other.norms, rtol=1e-12, atol=0.0))
                    and np.all(gap <= self.moment_allowance + other.moment_allowance))


def check_zeroed_view(sums, zeroed, columns):
    """Refuse the sums ``zeroed`` of a pass over the rows with ``columns``
    zeroed unless they are of the rows of the pass that gave ``sums`` (a
    Dask graph computed once for each may give other rows)."""
    if not _PassSummary.of(sums).same_rows(_PassSummary.of(zeroed), columns):
        raise ValueError(_OTHER_ROWS)


def unpack_chunk(chunk):
    if not isinstance(chunk, tuple) or len(chunk) not in (2, 3):
        raise ValueError(
            "Each chunk must be a tuple (X_chunk, y_chunk) or (X_chunk, y_chunk, "
            f"sample_weight_chunk); got {type(chunk).__name__}.")
    return chunk if len(chunk) == 3 else (*chunk, None)


def check_reiterable(chunks):
    if iter(chunks) is chunks:
        raise ValueError(
            "The chunks are a one-shot iterator, but the fit reads them once per "
            "Newton iteration: pass a list, or an object whose __iter__ starts a "
            "new pass over the data each time (e.g. one that reads the files "
            "again).")


class MappedChunks:
    """A re-iterable of ``(X, y[, w])`` chunks with ``transform`` applied to
    every chunk's ``X`` as it is read (nothing is kept)."""

    def __init__(self, chunks, transform):
        check_reiterable(chunks)
        self.chunks, self.transform = chunks, transform

    def __iter__(self):
        for chunk in self.chunks:
            X, y, w = unpack_chunk(chunk)
            yield self.transform(X), y, w


def iterable_reducer(chunks, chunk_pass):
    """``reduce`` over a re-iterable of ``(X, y[, w])`` chunks, in this process."""
    check_reiterable(chunks)

    passes = []

    def reduce(theta, **wanted):
        total = None
        for chunk in chunks:
            total = added(total, chunk_pass(*unpack_chunk(chunk), theta, wanted))
        if total is None:
            # a source whose __iter__ hands back one iterator is spent after
            # the first pass
            raise ValueError(_NO_ROWS if not passes else _SPENT)
        passes.append(True)
        return total

    return same_rows(reduce)


#: Why a source that gave rows once and none on a later pass is refused.
_SPENT = ("The chunks gave rows on the first pass and none on a later one: the "
          "source is spent after one pass (its __iter__ hands back the same "
          "iterator). The fit reads the rows once per Newton iteration: pass a "
          "list, or an object whose __iter__ starts a new pass over the data each "
          "time. Nothing was changed.")


def added(total, part):
    """``total + part`` of two chunks' sums, either ``None`` for no rows."""
    if total is None or part is None:
        return part if total is None else total
    return total + part


def _add_all(*parts):
    return functools.reduce(added, parts, None)


#: Why chunks that hold no row at all are refused.
_NO_ROWS = ("The chunks are empty (no chunk holds a row): give the training rows. "
            "Nothing was changed.")


def dask_arrays(X, y, sample_weight):
    """``X``, ``y`` and the weights as Dask arrays whose chunks are whole rows,
    aligned on the same row chunks, and the feature names of a DataFrame."""
    import dask.array as da

    names = None
    if hasattr(X, "columns"):           # a Dask DataFrame
        names = np.asarray(X.columns, dtype=object)
        X = X.to_dask_array(lengths=True)
    if not isinstance(X, da.Array) or X.ndim != 2:
        raise ValueError("A Dask X must be a 2-d Dask array or a Dask DataFrame.")
    if any(np.isnan(c) for c in X.chunks[0]):
        X = X.compute_chunk_sizes()
    X = X.rechunk({1: -1})
    rows = X.chunks[0]
    if (sample_weight is not None and not is_dask_collection(sample_weight)
            and np.ndim(sample_weight) == 0):
        # one weight for every row, as scikit-learn takes a scalar
        sample_weight = np.full(X.shape[0], float(sample_weight))

    def aligned(v):
        if v is None:
            return None
        if hasattr(v, "to_dask_array"):     # a Dask Series or DataFrame
            v = v.to_dask_array(lengths=True)
        if not isinstance(v, da.Array):
            if np.ndim(v) == 0:
                raise ValueError("y and sample_weight take one value per row of X; "
                                 "got a scalar for y.")
            v = da.from_array(np.asarray(v), chunks=-1)
        if any(np.isnan(c) for c in v.chunks[0]):
            v = v.compute_chunk_sizes()
        if v.shape[0] != X.shape[0]:
            raise ValueError(f"X has {X.shape[0]} rows; got {v.shape[0]} values.")
        return v.rechunk((rows,) + tuple((-1,) * (v.ndim - 1)))

    return X, aligned(y), aligned(sample_weight), names


def dask_reducer(X, y, w, chunk_pass):
    """``reduce`` over the row chunks of Dask arrays: one task per chunk and a
    tree of additions, computed by Dask (on the active client's cluster, if
    any)."""
    import dask
    from dask import delayed

    xs = X.to_delayed().ravel()
    ys = y.to_delayed().ravel()
    ws = [None] * len(xs) if w is None else w.to_delayed().ravel()
    task = delayed(chunk_pass, pure=True)

    def reduce(theta, **wanted):
        parts = [task(xb, yb, wb, theta, wanted)
                 for xb, yb, wb in zip(xs, ys, ws)]
        while len(parts) > 1:
            parts = [delayed(_add_all, pure=True)(*parts[i:i + _FAN_IN])
                     for i in range(0, len(parts), _FAN_IN)]
        total = dask.compute(parts[0])[0]
        if total is None:
            raise ValueError(_NO_ROWS)
        return total

    return same_rows(reduce)


#: Rows per chunk when rows in memory are read chunk by chunk.
ROW_CHUNK = 16384


def row_chunks(X, y, sample_weight=None, size=ROW_CHUNK):
    """``(X, y, sample_weight)`` in chunks of ``size`` rows (views of
    arrays; data frames, lists and sparse matrices of a format that cannot
    slice rows are converted once); ``size=None``: all rows in one."""
    # slicing and converting read a sparse matrix's index arrays unchecked
    check_sparse_structure(X, "X")
    if sp.issparse(X) and X.format != "csr":
        # COO and DIA matrices cannot be sliced; the chunks are read as CSR
        X = X.tocsr()
    rows = X.iloc if hasattr(X, "iloc") else X      # a data frame keeps its names
    if not hasattr(rows, "__getitem__") or not hasattr(X, "shape"):
        X = rows = np.asarray(X)
    y = np.asarray(y)
    w = None if sample_weight is None else np.broadcast_to(
        np.asarray(sample_weight, dtype=np.float64).ravel(), (X.shape[0],))
    size = max(X.shape[0], 1) if size is None else size
    for start in range(0, X.shape[0], size):
        stop = start + size
        yield rows[start:stop], y[start:stop], None if w is None else w[start:stop]
