"""Check 2 of the scan: every value reachable from the estimator."""

import io
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp

from ._bytes import _byte_keys, scan_bytes, scan_text
from ._erased import MAX_BLOCKS, PARALLEL, Finding


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
        if not _recorded(out, path, obj):
            stack += _parts(out, path, obj)
    return out


def _recorded(out, path, obj):
    """Record ``obj`` in ``out`` if it is a value the scan reads; whether it
    is one (it then has no parts to walk)."""
    if isinstance(obj, (float, np.floating)):
        out.floats.append((path, float(obj)))
    elif isinstance(obj, str):
        out.texts.append((path, obj))
    elif isinstance(obj, (bytes, bytearray, memoryview)):
        out.blobs.append((path, bytes(obj)))
    elif isinstance(obj, np.ndarray) and obj.dtype != object:
        if obj.dtype.kind == "f" and obj.size:
            out.arrays.append((path, obj))
    elif not isinstance(obj, np.generic):
        return False
    return True


def _parts(out, path, obj):
    """The ``(path, object)`` parts of a container, a function or an object
    (a sparse matrix is also read whole, an operator recorded)."""
    if isinstance(obj, np.ndarray):
        return [(f"{path}[{i}]", v) for i, v in zip(np.ndindex(obj.shape), obj.ravel())]
    if sp.issparse(obj) and obj.dtype.kind == "f" and np.prod(obj.shape) <= 4_000_000:
        out.arrays.append((path + ".toarray()", obj.toarray()))
    if isinstance(obj, dict):
        return ([(f"{path}[{k!r}]", v) for k, v in obj.items()]
                + [(f"{path}.keys()", k) for k in obj])
    if isinstance(obj, (list, tuple)):
        return [(f"{path}[{i}]", v) for i, v in enumerate(obj)]
    if isinstance(obj, (set, frozenset)):
        return [(f"{path}.<element>", v) for v in obj]
    if callable(getattr(obj, "matvec", None)) and len(getattr(obj, "shape", ())) == 2:
        out.operators.append((path, obj))
    if hasattr(obj, "__code__"):   # a function: what it closes over
        parts = [(f"{path}.__defaults__", obj.__defaults__),
                 (f"{path}.__kwdefaults__", obj.__kwdefaults__)]
        for i, cell in enumerate(obj.__closure__ or ()):
            try:
                parts.append((f"{path}.<closure {i}>", cell.cell_contents))
            except ValueError:
                pass
        return parts
    if hasattr(obj, "__self__"):   # a bound method
        return [(f"{path}.__self__", obj.__self__)]
    return _attributes(path, obj)


def _attributes(path, obj):
    """An object's attributes and slots, or what pickle and deepcopy would
    see of it (e.g. a RandomState's state)."""
    parts = [(f"{path}.{k}", v) for k, v in vars(obj).items()] if hasattr(obj, "__dict__") else []
    for cls in type(obj).__mro__:
        for slot in getattr(cls, "__slots__", ()):
            if slot not in ("__dict__", "__weakref__") and hasattr(obj, slot):
                parts.append((f"{path}.{slot}", getattr(obj, slot)))
    if parts or hasattr(obj, "__dict__"):
        return parts
    try:
        reduced = obj.__reduce_ex__(4)
    except Exception:
        return []
    if not isinstance(reduced, tuple):
        return []
    # the constructor's arguments and the state, not the iterators
    return [(f"{path}.<reduce {i}>", reduced[i]) for i in (1, 2) if len(reduced) > i]


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
