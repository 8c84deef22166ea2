"""Check 1 of the scan: the bytes of every serialization."""

import copy
import io
import pickle
import zipfile
import zlib

import joblib
import numpy as np

from ._erased import MAX_BYTE_VALUES, Finding


# -- 1. bytes of the serializations ----------------------------------------------------
def serializations(est):
    """``{name: [(part, bytes, is_text)]}`` for every way of saving ``est``
    (skops' format when skops is installed)."""
    out = {"pickle": [("", pickle.dumps(est, protocol=pickle.HIGHEST_PROTOCOL), False)]}
    buf = io.BytesIO()
    joblib.dump(est, buf)
    out["joblib"] = [("", buf.getvalue(), False)]
    buf = io.BytesIO()
    joblib.dump(est, buf, compress=("zlib", 1))
    # what a compressed file holds is what it decompresses to; its own bytes
    # are noise, in which a 4-byte float32 pattern turns up by chance (a
    # file whose state names are drawn at random differs every time)
    out["joblib zlib"] = [("decompressed", zlib.decompress(buf.getvalue()), False)]
    out["deepcopy, then pickle"] = [("", pickle.dumps(copy.deepcopy(est)), False)]
    try:
        import skops.io as sio
    except ImportError:
        return out
    blob = sio.dumps(est)
    # the archive stores its members uncompressed; they are searched once
    # decompressed all the same (the JSON schema also as text), the arrays
    # together, apart so that no pattern spans two of them
    with zipfile.ZipFile(io.BytesIO(blob)) as z:
        names = z.namelist()
        arrays = (b"\0" * 8).join(z.read(n) for n in names if not n.endswith(".json"))
        out["skops"] = [(n, z.read(n), True) for n in names if n.endswith(".json")]
        out["skops"].append(("arrays", arrays, False))
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
