"""Check 3 of the scan: differences and products of what is held."""

import copy

import numpy as np

from ._erased import GAP, MAX_BLOCKS, MAX_DERIVED, MAX_OUTPUTS, MAX_SVD, PARALLEL, Finding
from ._reach import _lengths, _vectors, match_vectors


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
