"""Search an estimator, in memory and in its serializations, for traces of
erased training data.

The scan knows nothing of the estimator's internals. It is given the erased
rows (removed rows, and the old versions of edited rows) and the erased values
(every value of a removed row, the old values of the edited columns of an
edited row, the targets of a removed row of a regressor), and looks for:

1. ``bytes``: the 8-byte float64 pattern of every erased value and of its
   negative, little- and big-endian (NumPy writes the first, pickle's Python
   floats the second), the 4-byte float32 pattern where the estimator was fit
   on float32, and the decimal ``repr`` in the text parts (skops' JSON), in a
   pickle, in joblib files (uncompressed, and zlib-compressed, decompressed
   before the search), in a skops file (every member of the archive) and in a
   pickle of a ``copy.deepcopy``; of an erased row with many values,
   ``MAX_BYTE_VALUES`` evenly spread stand for the row;
2. reachable values: every object reachable from the estimator (attributes,
   dicts, lists, tuples, sets, dataclasses, ``__slots__``, what
   ``__reduce_ex__`` hands to pickle, closures, NumPy object arrays, scipy
   sparse matrices, also densified) is walked and
   a. ``value``: every float array and Python float is searched for the
      erased values (and their negatives);
   b. ``parallel``: every vector of length ``d`` or ``d + 1`` along any axis
      of an array (a 1-D array itself, rows and columns of a 2-D one), and
      every block of such a length of a longer vector (per class: contiguous
      or strided), is compared with the erased rows: ``|cos| > 1 - 1e-9``
      with the row, with the row augmented by a 1 (intercept), or of its
      first ``d`` entries with the row; ``span``: the same vector lies in the
      span of the rows one request erased (``|projection| > 1 - 1e-9``, for
      at most ``q - 2`` rows), or, for an edit, in the span of the old and
      new versions of its rows but off that of the new ones alone and off
      that of the edited columns' unit vectors (by ``1 - |projection| >
      1e-6``): given the new rows, such a vector (an edit's gradient
      difference, say) gives the old values back;
3. differences, which reveal a row although neither object holds it:
   a. ``difference``: for every pair of square ``p x p`` matrices held (and of
      matrices derived from what is held: the products of a triangular
      factor, the symmetric completion of either triangle, ``A A^T`` of a
      thin ``p x m`` array (``m >= 2``), the dense form of any object with
      ``matvec`` and ``shape``, and the zero matrix, so that a single
      low-rank matrix is checked too), the difference, and each of its
      ``q x q`` class blocks,
      is tested for a numerical rank ``r <= q - 2`` (a gap of ``1e6``
      between singular values ``r`` and ``r + 1``) whose range contains an
      erased row (rank one: the top singular vector is parallel to the row);
      a pair with a member found alone is not reported again;
   b. ``product``: for every parameter-shaped vector ``a`` held (a 1-D array,
      a column or row of a thin 2-D array, a small 2-D array raveled) and
      every difference ``a - b`` of two of them, ``M a`` and ``M (a - b)``
      are tested as in 2b, for every matrix ``M`` of 3a that 3a did not find
      alone, the identity, and every object with ``matvec`` (for example an
      old optimum kept beside the new one and the Hessian:
      ``H (theta_new - theta_old)`` is the erased row's gradient, parallel
      to the row). A vector that 2b finds is not used again.

Limits (so that the scan stays fast): differences of matrices larger than
``MAX_SVD`` on a side and products of thin arrays larger than ``MAX_DERIVED``
are not formed (an object with ``matvec`` larger than ``MAX_SVD`` still
enters 3b); vectors are split into at most ``MAX_BLOCKS`` class blocks. An
object with ``matvec`` is applied on a deep copy of itself (a product may
charge a cost model), so the scan never changes what it scans.
"""

import copy
import io
import pickle
import re
import zipfile
import zlib
from dataclasses import dataclass, field

import joblib
import numpy as np
import scipy.sparse as sp

#: ``|cos|`` above which two vectors count as parallel.
PARALLEL = 1 - 1e-9
#: Singular-value ratio that counts as a gap in the spectrum of a difference.
GAP = 1e6
#: Largest number of classes (blocks) a long vector is split into.
MAX_BLOCKS = 10
#: Largest side of a matrix whose differences are decomposed.
MAX_SVD = 400
#: Largest side of a ``A A^T`` formed from a thin array.
MAX_DERIVED = 128
#: Largest number of columns of an array whose columns count as parameters.
MAX_OUTPUTS = 10
#: Largest number of values per erased row searched for in bytes and text
#: (evenly spread; every value is searched for in the arrays and floats).
MAX_BYTE_VALUES = 48


# -- what was erased --------------------------------------------------------------
@dataclass
class Erased:
    """The erased rows and values a scan looks for.

    Parameters
    ----------
    d : int
        Number of features of the rows as the final estimator sees them.
    float32 : bool
        Whether the estimator was fit on float32 data (then float32 byte
        patterns are searched too).
    """

    d: int
    float32: bool = False
    rows: list = field(default_factory=list)        # (label, row, group)
    values: list = field(default_factory=list)      # (label, value)
    new_rows: list = field(default_factory=list)    # (label, row, group)
    _memo: dict = field(default_factory=dict, repr=False, compare=False)

    def add_row(self, row, label, group):
        row = np.asarray(row, dtype=np.float64).ravel()
        assert row.shape == (self.d,) and np.all(np.isfinite(row))
        self.rows.append((label, row, group))
        self._memo.clear()

    def add_new_row(self, row, label, group):
        """The new version of a row edited by request ``group``: legitimate
        data, but a vector in the span of old and new versions, and not of
        the new ones alone, holds information on the old values."""
        row = np.asarray(row, dtype=np.float64).ravel()
        assert row.shape == (self.d,) and np.all(np.isfinite(row))
        self.new_rows.append((label, row, group))
        self._memo.clear()

    def add_values(self, values, labels):
        for v, lab in zip(np.ravel(values), labels, strict=True):
            v = float(v)
            assert v != 0.0 and np.isfinite(v)
            self.values.append((lab, v))
        self._memo.clear()

    def memo(self, key, compute):
        """``compute()``, once per state of the erased rows and values."""
        if key not in self._memo:
            self._memo[key] = compute()
        return self._memo[key]

    # views used by the checks
    def _row_matrix(self, augmented):
        R = np.array([r for _, r, _ in self.rows]).reshape(-1, self.d)
        if augmented:
            R = np.hstack([R, np.ones((len(R), 1))])
        return R

    def unit_rows(self, augmented=False):
        return self.memo(("unit", augmented), lambda: self._unit_rows(augmented))

    def _unit_rows(self, augmented):
        R = self._row_matrix(augmented)
        return R / np.linalg.norm(R, axis=1, keepdims=True)

    def groups(self, augmented=False, max_size=None):
        """Orthonormal bases of the spans of the rows erased by one request
        (for groups of 2 to ``max_size`` rows)."""
        return self.memo(("groups", augmented, max_size),
                         lambda: self._groups(augmented, max_size))

    def edit_groups(self, augmented=False, max_size=None):
        """``[(group, old row indices, Q_all, Q_new, E)]``: orthonormal bases
        of the spans of the old and new versions of the rows one request
        edited, and of the new versions alone (for at most ``max_size`` rows),
        and the unit vectors of the edited columns."""
        return self.memo(("edits", augmented, max_size),
                         lambda: self._edit_groups(augmented, max_size))

    def _edit_groups(self, augmented, max_size):
        R = self._row_matrix(augmented)
        out = []
        for g in sorted({g for _, _, g in self.new_rows}):
            idx = [i for i, (_, _, gi) in enumerate(self.rows) if gi == g]
            N = np.array([r for _, r, gi in self.new_rows if gi == g])
            if augmented:
                N = np.hstack([N, np.ones((len(N), 1))])
            if idx and len(idx) == len(N) and 2 * len(N) <= max_size:
                Q_all, _ = np.linalg.qr(np.vstack([R[idx], N]).T)
                Q_new, _ = np.linalg.qr(N.T)
                E = np.eye(R.shape[1])[:, np.any(R[idx] != N, axis=0)]
                out.append((g, idx, Q_all, Q_new, E))
        return out

    def _groups(self, augmented, max_size):
        R = self._row_matrix(augmented)
        out = []
        for g in sorted({g for _, _, g in self.rows}):
            idx = [i for i, (_, _, gi) in enumerate(self.rows) if gi == g]
            if 2 <= len(idx) <= max_size:
                Q, _ = np.linalg.qr(R[idx].T)
                out.append((g, idx, Q))
        return out

    def value_array(self):
        return np.array([v for _, v in self.values])


@dataclass(frozen=True)
class Finding:
    """One trace: which check found it, where, and of which erased datum."""

    check: str
    where: str
    erased: str
    detail: str = ""

    def __str__(self):
        detail = f" ({self.detail})" if self.detail else ""
        return f"[{self.check}] {self.where}: {self.erased}{detail}"


# -- 1. bytes of the serializations ----------------------------------------------------
def serializations(est):
    """``{name: [(part, bytes, is_text)]}`` for every way of saving ``est``."""
    import skops.io as sio

    out = {"pickle": [("", pickle.dumps(est, protocol=pickle.HIGHEST_PROTOCOL), False)]}
    buf = io.BytesIO()
    joblib.dump(est, buf)
    out["joblib"] = [("", buf.getvalue(), False)]
    buf = io.BytesIO()
    joblib.dump(est, buf, compress=("zlib", 1))
    raw = buf.getvalue()
    out["joblib zlib"] = [("compressed", raw, False),
                          ("decompressed", zlib.decompress(raw), False)]
    blob = sio.dumps(est)
    # the archive stores its members uncompressed; they are searched once
    # decompressed all the same (the JSON schema also as text), the arrays
    # together, apart so that no pattern spans two of them
    with zipfile.ZipFile(io.BytesIO(blob)) as z:
        names = z.namelist()
        arrays = (b"\0" * 8).join(z.read(n) for n in names if not n.endswith(".json"))
        out["skops"] = [(n, z.read(n), True) for n in names if n.endswith(".json")]
        out["skops"].append(("arrays", arrays, False))
    out["deepcopy, then pickle"] = [("", pickle.dumps(copy.deepcopy(est)), False)]
    return out


def _searched_values(erased):
    return erased.memo("searched", lambda: _searched_values_of(erased))


def _searched_values_of(erased):
    """Indices of the values searched for in bytes and text: of a row with
    many values, ``MAX_BYTE_VALUES`` evenly spread stand for it (a stored
    row is stored whole); an edit's few old values are all searched."""
    per_row = {}
    for i, (label, _) in enumerate(erased.values):
        per_row.setdefault(label.rsplit(" column ", 1)[0], []).append(i)
    chosen = []
    for idx in per_row.values():
        chosen += idx[::max(1, -(-len(idx) // MAX_BYTE_VALUES))]
    return sorted(chosen)


def _byte_keys(erased):
    return erased.memo("byte keys", lambda: _byte_keys_of(erased))


def _byte_keys_of(erased):
    """Sorted window keys of every byte pattern, what each one stands for,
    and a table of 20 bits of the keys."""
    keys, meaning = {8: [], 4: []}, {8: [], 4: []}
    for i in _searched_values(erased):
        label, v = erased.values[i]
        for sign, sname in ((1.0, ""), (-1.0, "minus ")):
            for order, oname in (("<", "little-endian"), (">", "big-endian")):
                for width, kind in ((8, "f8"), (4, "f4")):
                    if width == 4 and (not erased.float32 or order == ">"):
                        continue
                    pat = np.array([sign * v], dtype=order + kind).tobytes()
                    keys[width].append(np.frombuffer(pat, dtype="<u%d" % width)[0])
                    meaning[width].append(
                        f"{sname}{label} as {'float64' if width == 8 else 'float32'} "
                        f"{oname} bytes")
    out = {}
    for width in (8, 4):
        k = np.array(keys[width], dtype="<u%d" % width)
        order = np.argsort(k, kind="stable")
        table = np.zeros(1 << 20, dtype=bool)
        table[_table_bits(k, width)] = True
        out[width] = (k[order], [meaning[width][j] for j in order], table)
    return out


def _table_bits(w, width):
    """20 bits of a window: mantissa bits of a float64 pattern in either byte
    order (bits 20-39), the low 20 bits of a float32 one."""
    return ((w >> 20) & 0xFFFFF if width == 8 else w & 0xFFFFF).astype(np.intp)


def scan_bytes(blob, keys):
    """Descriptions of the patterns found anywhere in ``blob``."""
    found = set()
    for width, (k, meaning, table) in keys.items():
        if not len(k) or len(blob) < width:
            continue
        # the table of 20 bits of the keys sorts out all but a few windows
        for off in range(width):
            w = np.frombuffer(blob, dtype="<u%d" % width, offset=off,
                              count=(len(blob) - off) // width)
            w = w[table[_table_bits(w, width)]]
            pos = np.minimum(np.searchsorted(k, w), len(k) - 1)
            hit = k[pos] == w
            found.update(meaning[j] for j in np.unique(pos[hit]))
    return found


def scan_text(text, erased):
    found = set()
    for i in _searched_values(erased):
        label, v = erased.values[i]
        for sign, sname in ((1.0, ""), (-1.0, "minus ")):
            if repr(sign * v).encode() in text:
                found.add(f"{sname}{label} as decimal text")
    return found


def scan_serializations(est, erased):
    keys = _byte_keys(erased)
    findings = []
    for fmt, parts in serializations(est).items():
        for part, blob, is_text in parts:
            hits = scan_bytes(blob, keys)
            if is_text:
                hits |= scan_text(blob, erased)
            where = fmt + (f" [{part}]" if part else "")
            findings += [Finding("bytes", where, h) for h in sorted(hits)]
    return findings


# -- 2. everything reachable ------------------------------------------------------------
_LEAVES = (type(None), bool, int, complex, type, type(Ellipsis), np.dtype,
           np.ufunc, type(len), type(io))


@dataclass
class Reachable:
    arrays: list = field(default_factory=list)     # (path, float ndarray)
    floats: list = field(default_factory=list)     # (path, float)
    texts: list = field(default_factory=list)      # (path, str)
    blobs: list = field(default_factory=list)      # (path, bytes)
    operators: list = field(default_factory=list)  # (path, object with matvec)


def walk(root, name="est"):
    """Every float array, float, text, bytes and operator reachable from ``root``."""
    out = Reachable()
    seen = set()
    stack = [(name, root)]
    while stack:
        path, obj = stack.pop()
        if isinstance(obj, _LEAVES) or id(obj) in seen:
            continue
        seen.add(id(obj))
        if isinstance(obj, (float, np.floating)):
            out.floats.append((path, float(obj)))
            continue
        if isinstance(obj, np.generic):
            continue
        if isinstance(obj, str):
            out.texts.append((path, obj))
            continue
        if isinstance(obj, (bytes, bytearray, memoryview)):
            out.blobs.append((path, bytes(obj)))
            continue
        if isinstance(obj, np.ndarray):
            if obj.dtype == object:
                stack += [(f"{path}[{i}]", v) for i, v in
                          zip(np.ndindex(obj.shape), obj.ravel())]
            elif obj.dtype.kind == "f" and obj.size:
                out.arrays.append((path, obj))
            continue
        if sp.issparse(obj):
            if obj.dtype.kind == "f" and np.prod(obj.shape) <= 4_000_000:
                out.arrays.append((path + ".toarray()", obj.toarray()))
        if isinstance(obj, dict):
            stack += [(f"{path}[{k!r}]", v) for k, v in obj.items()]
            stack += [(f"{path}.keys()", k) for k in obj]
            continue
        if isinstance(obj, (list, tuple)):
            stack += [(f"{path}[{i}]", v) for i, v in enumerate(obj)]
            continue
        if isinstance(obj, (set, frozenset)):
            stack += [(f"{path}.<element>", v) for v in obj]
            continue
        if callable(getattr(obj, "matvec", None)) and len(getattr(obj, "shape", ())) == 2:
            out.operators.append((path, obj))
        if hasattr(obj, "__code__"):   # a function: what it closes over
            for i, cell in enumerate(obj.__closure__ or ()):
                try:
                    stack.append((f"{path}.<closure {i}>", cell.cell_contents))
                except ValueError:
                    pass
            stack.append((f"{path}.__defaults__", obj.__defaults__))
            stack.append((f"{path}.__kwdefaults__", obj.__kwdefaults__))
            continue
        if hasattr(obj, "__self__"):   # a bound method
            stack.append((f"{path}.__self__", obj.__self__))
            continue
        walked = False
        if hasattr(obj, "__dict__"):
            stack += [(f"{path}.{k}", v) for k, v in vars(obj).items()]
            walked = True
        for cls in type(obj).__mro__:
            for slot in getattr(cls, "__slots__", ()):
                if slot in ("__dict__", "__weakref__") or not hasattr(obj, slot):
                    continue
                stack.append((f"{path}.{slot}", getattr(obj, slot)))
                walked = True
        if not walked:
            # what pickle and deepcopy would see (e.g. a RandomState's state)
            try:
                reduced = obj.__reduce_ex__(4)
            except Exception:
                continue
            if isinstance(reduced, tuple):
                # the constructor's arguments and the state, not the iterators
                stack += [(f"{path}.<reduce {i}>", reduced[i])
                          for i in (1, 2) if len(reduced) > i]
    return out


def _lengths(d):
    return (d, d + 1)


def _vectors(A, d, axes=None):
    """``{q: (V, where, index)}``: vectors of length ``q`` in ``A`` (``q`` =
    ``d``, ``d + 1``), along every axis (or ``axes``) and as class blocks of
    longer vectors; ``where[i]`` says where vector ``i`` lies, ``index[i]``
    is the flat index of the vector it comes from along its axis."""
    out = {}
    for ax, n in enumerate(A.shape):
        if axes is not None and ax not in axes:
            continue
        for q in _lengths(d):
            m = n // q
            if n % q or m > MAX_BLOCKS:
                continue
            V = np.moveaxis(A, ax, -1).reshape(-1, n)
            other = [s for i, s in enumerate(A.shape) if i != ax]
            idx = [np.unravel_index(i, other) if other else () for i in range(len(V))]
            kind = ("row" if ax == 1 else "column") if A.ndim == 2 else "index"
            base = ["" if A.ndim == 1 else f"{kind} {','.join(map(str, ix))}"
                    for ix in idx]
            layouts = [("", V)] if m == 1 else [
                ("contiguous block", V.reshape(-1, m, q)),
                ("strided block", V.reshape(-1, q, m).transpose(0, 2, 1))]
            for lname, W in layouts:
                W = W.reshape(-1, q)
                where = [b if m == 1 else f"{b} {lname} {j}".strip()
                         for b in base for j in range(m)]
                index = [k for k in range(len(V)) for _ in range(m)]
                Vq, wq, iq = out.get(q, (np.empty((0, q)), [], []))
                out[q] = (np.vstack([Vq, W]), wq + where, iq + index)
    return out


def match_vectors(V, q, erased):
    """``[(i, erased label, how, cos)]`` for the vectors (rows of ``V``, of
    length ``q``) parallel to an erased row or in the span of a request's."""
    d = erased.d
    norms = np.linalg.norm(V, axis=1)
    ok = np.isfinite(norms) & (norms > 0)
    hits = []
    if not erased.rows or not ok.any():
        return hits
    labels = [lab for lab, _, _ in erased.rows]
    forms = []
    if q == d:
        forms.append(("", V, erased.unit_rows(), False))
    else:
        forms.append(("augmented with 1", V, erased.unit_rows(True), True))
        forms.append(("first d entries", V[:, :d], erased.unit_rows(), False))
    for how, W, R, aug in forms:
        n = np.linalg.norm(W, axis=1)
        good = ok & (n > 0) & np.isfinite(n)
        if not good.any():
            continue
        Wn = np.zeros_like(W)
        Wn[good] = W[good] / n[good, None]
        C = np.abs(Wn @ R.T)
        for i, j in zip(*np.nonzero(C > PARALLEL), strict=True):
            hits.append((i, labels[j], "parallel" + (f", {how}" if how else ""), C[i, j]))
        parallel = (C > PARALLEL).any(axis=1)
        for g, idx, Q in erased.groups(aug, max_size=W.shape[1] - 2):
            P = np.linalg.norm(Wn @ Q, axis=1)
            for i in np.flatnonzero((P > PARALLEL) & good & ~parallel):
                hits.append((i, "the rows " + ", ".join(labels[k] for k in idx),
                             "in their span" + (f", {how}" if how else ""), P[i]))
        for g, idx, Q_all, Q_new, E in erased.edit_groups(aug, max_size=W.shape[1] - 2):
            P = np.linalg.norm(Wn @ Q_all, axis=1)
            # off the span of the new versions and off that of the edited
            # columns' unit vectors (a vector on these columns alone says
            # nothing of the old values), by more than round-off
            off = ((np.linalg.norm(Wn @ Q_new, axis=1) < 1 - 1e-6)
                   & (np.linalg.norm(Wn @ E, axis=1) < 1 - 1e-6))
            for i in np.flatnonzero((P > PARALLEL) & off & good & ~parallel):
                hits.append((i, "the rows " + ", ".join(labels[k] for k in idx),
                             "in the span of their old and new versions, not of "
                             "the new ones alone" + (f", {how}" if how else ""), P[i]))
    return hits


def scan_values(reach, erased):
    """2a: erased values held in a float array or a float."""
    findings = []
    vals = erased.value_array()
    if not len(vals):
        return findings
    labels = [lab for lab, _ in erased.values]
    signed = np.concatenate([vals, -vals])
    order = np.argsort(signed)
    s64 = signed[order]
    s32 = s64.astype(np.float32)

    def describe(path, flat, keys, minus_too=True):
        pos = np.minimum(np.searchsorted(keys, flat), len(keys) - 1)
        hit = keys[pos] == flat
        out = []
        for j in np.unique(pos[hit]):
            k = order[j]
            sign = "minus " if k >= len(vals) else ""
            out.append(Finding("value", path, sign + labels[k % len(vals)],
                               f"{int(np.sum(flat == keys[j]))} entr"
                               f"{'y' if np.sum(flat == keys[j]) == 1 else 'ies'}"))
        return out

    for path, A in reach.arrays:
        flat = A.ravel()
        if A.dtype == np.float32 or A.dtype == np.float16:
            findings += describe(path, flat.astype(np.float32), s32)
        else:
            findings += describe(path, flat.astype(np.float64), s64)
    for path, v in reach.floats:
        findings += describe(path, np.array([v]), s64)
    for path, text in reach.texts:
        for f in scan_text(text.encode(), erased):
            findings.append(Finding("value", path, f))
    keys = _byte_keys(erased)
    for path, blob in reach.blobs:
        findings += [Finding("value", path, h) for h in sorted(scan_bytes(blob, keys))]
    return findings


def scan_parallel(reach, erased, flagged=None):
    """2b: vectors held parallel to an erased row, or in a request's span.
    The paths of the arrays found are added to the set ``flagged``."""
    findings = []
    for path, A in reach.arrays:
        A = np.asarray(A, dtype=np.float64)
        for q, (V, where, _) in _vectors(A, erased.d).items():
            for i, lab, how, c in match_vectors(V, q, erased):
                if flagged is not None:
                    flagged.add(path)
                loc = f"{path} {where[i]}".strip()
                findings.append(Finding("parallel" if "parallel" in how else "span",
                                        loc, lab, f"{how}, |cos| = 1 - {max(1 - c, 0):.1e}"))
    return findings


# -- 3. differences ---------------------------------------------------------------------
def _dense_operator(op, p):
    op = copy.deepcopy(op)    # the product may charge a cost model: not on the original
    try:
        M = np.asarray(op.matvec(np.eye(p)), dtype=np.float64)
        if M.shape == (p, p):
            return M
    except Exception:
        pass
    return np.column_stack([np.asarray(op.matvec(e), dtype=np.float64).ravel()
                            for e in np.eye(p)])


def square_pool(reach, d, skip=()):
    """``{p: [(label, M)]}``: square matrices held or derivable from what is
    held (no product of a thin array in ``skip``: found by 2b already)."""
    allowed = {m * q for q in _lengths(d) for m in range(1, MAX_BLOCKS + 1)}
    pool = {}

    def add(p, label, M):
        if np.all(np.isfinite(M)):
            pool.setdefault(p, []).append((label, M))

    for path, A in reach.arrays:
        if A.ndim != 2:
            continue
        A = np.asarray(A, dtype=np.float64)
        r, c = A.shape
        if r == c and r in allowed and r <= MAX_SVD:
            add(r, path, A)
            scale = np.max(np.abs(A)) if A.size else 0.0
            if scale and np.max(np.abs(A - A.T)) > 1e-12 * scale:
                L, U = np.tril(A), np.triu(A)
                add(r, f"{path} lower triangle times its transpose", L @ L.T)
                add(r, f"{path} upper triangle, transposed, times it", U.T @ U)
                add(r, f"{path} lower triangle, made symmetric",
                    L + np.tril(A, -1).T)
                add(r, f"{path} upper triangle, made symmetric",
                    U + np.triu(A, 1).T)
        elif path in skip:
            continue
        elif r in allowed and 2 <= c < r <= MAX_DERIVED:
            add(r, f"{path} times its transpose", A @ A.T)
        elif c in allowed and 2 <= r < c <= MAX_DERIVED:
            add(c, f"{path} transposed, times it", A.T @ A)
    for path, op in reach.operators:
        p = op.shape[0]
        if op.shape == (p, p) and p in allowed and p <= MAX_SVD:
            try:
                add(p, f"{path} (dense form of its matvec)", _dense_operator(op, p))
            except Exception:
                pass
    return pool


def _blocks(D, d):
    """``[(name, q, B)]``: ``D`` itself and its class blocks of side ``d`` or
    ``d + 1``."""
    p = D.shape[0]
    out = []
    for q in _lengths(d):
        if p == q:
            out.append(("", q, D))
        elif p % q == 0 and p // q <= MAX_BLOCKS:
            m = p // q
            for a in range(m):
                for b in range(m):
                    out.append((f"contiguous block ({a}, {b})", q,
                                D[a * q:(a + 1) * q, b * q:(b + 1) * q]))
                    out.append((f"strided block ({a}, {b})", q, D[a::m, b::m]))
    return out


def _range_hits(U, s, q, erased):
    """Erased rows in the range of a numerically low-rank matrix ``U diag(s) V^T``."""
    hits = []
    if not np.isfinite(s[0]) or s[0] <= 0:
        return hits
    d = erased.d
    gaps = _gaps(s)
    labels = [lab for lab, _, _ in erased.rows]
    for r in gaps:
        forms = []
        if q == d:
            forms.append(("", U[:, :r], erased.unit_rows()))
        else:
            forms.append(("augmented with 1", U[:, :r], erased.unit_rows(True)))
            if r < d:
                Qd, _ = np.linalg.qr(U[:d, :r])
                forms.append(("first d entries", Qd, erased.unit_rows()))
        for how, Q, R in forms:
            P = np.linalg.norm(R @ Q, axis=1)
            for j in np.flatnonzero(P > PARALLEL):
                hits.append((labels[j], f"rank {r}" + (f", {how}" if how else "")
                             + f", |projection| = 1 - {max(1 - P[j], 0):.1e}"))
    return hits


def _gaps(s):
    """The ranks ``r <= len(s) - 2`` after which the spectrum ``s`` drops by
    ``GAP`` (a random row is as far from a subspace of codimension 2 as
    ``|cos| < 1 - 1e-9`` but with probability ``1e-9``)."""
    if not np.isfinite(s[0]) or s[0] <= 0:
        return []
    return [r + 1 for r in range(len(s) - 2) if s[r] > GAP * s[r + 1]]


def _spectrum(B, vectors):
    """Singular values of ``B`` (descending), and its left singular vectors
    if ``vectors``; by the cheaper symmetric eigensolver when ``B`` is
    symmetric (singular values are then the eigenvalues' magnitudes)."""
    scale = np.max(np.abs(B))
    if np.max(np.abs(B - B.T)) <= 1e-12 * scale:
        B = (B + B.T) / 2     # symmetric up to round-off: the same spectrum
        if not vectors:
            return np.sort(np.abs(np.linalg.eigvalsh(B)))[::-1], None
        lam, U = np.linalg.eigh(B)
        order = np.argsort(np.abs(lam))[::-1]
        return np.abs(lam)[order], U[:, order]
    if not vectors:
        return np.linalg.svd(B, compute_uv=False), None
    U, s, _ = np.linalg.svd(B)
    return s, U


def _svd_hits(cases, erased):
    """``[(case index, erased label, how)]`` for ``cases`` ``(q, B)``."""
    hits = []
    for k, (q, B) in enumerate(cases):
        s, _ = _spectrum(B, vectors=False)
        if not _gaps(s):     # of high rank, as the difference of two fits is
            continue
        s, U = _spectrum(B, vectors=True)
        hits += [(k, lab, how) for lab, how in _range_hits(U, s, q, erased)]
    return hits


def scan_differences(reach, erased, pool=None, flagged_alone=None):
    """3a: a square matrix of low rank with an erased row in its range, and
    pairs of square matrices whose difference is (a pair with a member
    already found alone is not reported again). The labels of the matrices
    found alone are added to the set ``flagged_alone``."""
    if not erased.rows:
        return []
    pool = square_pool(reach, erased.d) if pool is None else pool
    findings = []
    for p, mats in pool.items():
        flagged = set()
        for stage in ("alone", "pairs"):
            cases, meta = [], []
            for i in range(len(mats)):
                partners = [None] if stage == "alone" else range(i + 1, len(mats))
                for j in partners:
                    D = mats[i][1] if j is None else mats[i][1] - mats[j][1]
                    if not np.any(D):
                        continue
                    where = (mats[i][0] if j is None
                             else f"{mats[i][0]} minus {mats[j][0]}")
                    for bname, q, B in _blocks(D, erased.d):
                        if np.any(B):
                            cases.append((q, B))
                            meta.append((i, j, where + (f", {bname}" if bname else "")))
            for k, lab, how in _svd_hits(cases, erased):
                i, j, where = meta[k]
                if j is None:
                    flagged.add((i, lab))
                    if flagged_alone is not None:
                        flagged_alone.add(mats[i][0])
                elif (i, lab) in flagged or (j, lab) in flagged:
                    continue
                findings.append(Finding("difference", where, lab, how))
    return findings


def parameter_vectors(reach, p):
    """``[(label, a)]``: vectors of length ``p`` shaped like parameters."""
    out = []
    for path, A in reach.arrays:
        A = np.asarray(A, dtype=np.float64)
        if A.ndim == 1 and A.shape[0] == p:
            out.append((path, A))
        elif A.ndim == 2:
            r, c = A.shape
            if r == p and c <= MAX_OUTPUTS:
                out += [(f"{path} column {j}", A[:, j]) for j in range(c)]
            if c == p and r <= MAX_OUTPUTS:
                out += [(f"{path} row {i}", A[i]) for i in range(r)]
            if r * c == p and r > 1 and c > 1:
                out += [(f"{path} raveled", A.ravel()), (f"{path} raveled (F)", A.ravel("F"))]
    return [(lab, a) for lab, a in out if np.all(np.isfinite(a))]


def scan_products(reach, erased, pool=None, skip=()):
    """3b: ``M a`` and ``M (a - b)`` parallel to an erased row (not for the
    matrices ``M`` in ``skip``, found by 3a alone: every product with one is
    in the erased rows' span)."""
    if not erased.rows:
        return []
    pool = square_pool(reach, erased.d) if pool is None else pool
    findings = []
    sizes = {p for p in pool} | {op.shape[0] for _, op in reach.operators
                                if len(op.shape) == 2 and op.shape[0] == op.shape[1]}
    allowed = {m * q for q in _lengths(erased.d) for m in range(1, MAX_BLOCKS + 1)}
    sizes |= allowed
    for p in sorted(sizes):
        vecs = parameter_vectors(reach, p)
        if vecs:
            # a vector found by 2b is reported there, not again in products
            V = np.array([a for _, a in vecs]).T
            found = {index[i] for q, (W, _, index) in _vectors(V, erased.d, axes=(0,)).items()
                     for i, *_ in match_vectors(W, q, erased)}
            vecs = [v for k, v in enumerate(vecs) if k not in found]
        if not vecs:
            continue
        cand = [(lab, a) for lab, a in vecs]
        n_single = len(cand)
        for i in range(len(vecs)):
            for j in range(i + 1, len(vecs)):
                diff = vecs[i][1] - vecs[j][1]
                if np.any(diff):
                    cand.append((f"({vecs[i][0]} minus {vecs[j][0]})", diff))
        C = np.array([a for _, a in cand]).T            # (p, n)
        products = [("", C)]
        for lab, M in pool.get(p, []):
            if lab not in skip:
                products.append((lab, M @ C))
        for path, op in reach.operators:
            if tuple(op.shape) == (p, p) and p > MAX_SVD:
                try:
                    products.append((f"{path} (its matvec)",
                                     np.asarray(copy.deepcopy(op).matvec(C))))
                except Exception:
                    pass
        for mlabel, R in products:
            R = R.reshape(p, -1)
            for q, (V, where, index) in _vectors(R, erased.d, axes=(0,)).items():
                for i, lab, how, c in match_vectors(V, q, erased):
                    k = index[i]
                    if not mlabel and k < n_single:
                        continue
                    block = " ".join(where[i].split()[2:])
                    what = cand[k][0] + (f" times {mlabel}" if mlabel else "")
                    what += f", {block}" if block else ""
                    findings.append(Finding("product", what, lab,
                                            f"{how}, |cos| = 1 - {max(1 - c, 0):.1e}"))
    return findings


# -- all of it ---------------------------------------------------------------------
def scan(est, erased, *, serialize=True):
    """Every :class:`Finding` of the checks above, without duplicates."""
    reach = walk(est)
    held, alone = set(), set()
    findings = scan_values(reach, erased) + scan_parallel(reach, erased, held)
    pool = square_pool(reach, erased.d, skip=held)
    findings += scan_differences(reach, erased, pool, alone)
    findings += scan_products(reach, erased, pool, skip=alone)
    if serialize:
        findings += scan_serializations(est, erased)
    return list(dict.fromkeys(findings))


def _compact(labels):
    """``row 3 column 1``, ``row 3 column 4`` -> ``row 3 columns [1, 4]``."""
    groups = {}
    for lab in labels:
        m = re.fullmatch(r"(.*) column (\d+)(.*)", lab)
        key = (m.group(1), m.group(3)) if m else (lab, None)
        groups.setdefault(key, []).append(int(m.group(2)) if m else None)
    out = []
    for (head, tail), cols in groups.items():
        if tail is None:
            out.append(head)
        else:
            cs = sorted(set(cols))
            out.append(f"{head} column{'s' if len(cs) > 1 else ''} "
                       f"{cs if len(cs) > 1 else cs[0]}{tail}")
    return out


def report(findings, limit=25):
    """The findings as text: per check, one line per place, with every
    erased datum found there."""
    lines = []
    for check in ("bytes", "value", "parallel", "span", "difference", "product"):
        places = {}
        for f in findings:
            if f.check == check:
                # the class blocks of one difference make one place
                where = re.sub(r", (contiguous|strided) block \(\d+, \d+\)$",
                               ", in class blocks", f.where)
                places.setdefault(where, []).append(f)
        if not places:
            continue
        lines.append(f"{check}: {sum(map(len, places.values()))} finding(s) "
                     f"in {len(places)} place(s)")
        for where, fs in list(places.items())[:limit]:
            what = "; ".join(_compact(dict.fromkeys(f.erased for f in fs)))
            detail = fs[0].detail
            lines.append(f"  {where}: {what}" + (f" ({detail}{', ...' if len(fs) > 1 else ''})"
                                                 if detail else ""))
        if len(places) > limit:
            lines.append(f"  ... and {len(places) - limit} more places")
    return "\n".join(lines)
