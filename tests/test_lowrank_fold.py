"""Folding the corrections of a low-rank Hessian into its factor, within the
factor's span: corrections inside the span are kept exactly, the rest is
bounded by ``fold_error``, and the object holds no correction row."""

import pickle

import numpy as np
import pytest
import scipy.sparse as sp

from sklearn_unlearn.solvers import LowRankHessian, RowCurvature

EPS = np.finfo(float).eps

# A folded matrix equals the unfolded one to this, relative to its largest
# entry (measured: below 1e-13 on every case here).
MATRIX_RTOL = 1e-12

# |cos| of a stored column or row with a correction row at or above this is
# a copy of the row (up to scale).
PARALLEL = 1.0 - 1e-9


def _hessian(rng, p=60, m=8, intercept=True, null_basis=False):
    diagonal = rng.uniform(0.5, 2.0, p)
    W = rng.standard_normal((p, m)) * rng.uniform(0.3, 3.0, m)
    N = None
    if intercept:
        diagonal[-1] = 0.0          # an unpenalised intercept the sketch carries
    if null_basis:
        # two outputs of p / 2 coordinates, their intercepts last in each
        # half: the difference of the intercepts is unidentified
        N = np.zeros((p, 1))
        half = p // 2
        diagonal[[half - 1, p - 1]] = 0.0
        N[[half - 1, p - 1], 0] = 1.0 / np.sqrt(2.0)
        W -= N @ (N.T @ W)
    return LowRankHessian(diagonal, W, np.ones(m), null_basis=N)


def _sparse_rows(rng, k, p, nnz=8):
    """``k`` rows of ``nnz`` distinctive random values each (the intercept,
    the last coordinate, included)."""
    data, cols = [], []
    for _ in range(k):
        c = np.r_[np.sort(rng.choice(p - 1, nnz - 1, replace=False)), p - 1]
        cols.append(c)
        data.append(rng.uniform(0.2, 1.3, nnz))
    indptr = np.arange(k + 1) * nnz
    return sp.csr_matrix((np.concatenate(data), np.concatenate(cols), indptr),
                         shape=(k, p))


def _changes(rng, p):
    """Requests as the estimators make them: removals (negative weights),
    an insertion beside a removal, an edit of a few columns, sparse rows."""
    R = rng.standard_normal((3, p)) * 0.4
    edit_cols = np.array([1, 4, 7])
    delta = rng.standard_normal((2, 3))
    return {
        "removal": RowCurvature(R, -rng.uniform(0.05, 0.2, 3)),
        "removal_and_insertion": RowCurvature(R[:2], np.array([-0.15, 0.1])),
        "edit": RowCurvature(R[:2], np.array([0.0, -0.1]),
                             edit=(edit_cols, delta, np.array([0.12, 0.08]))),
        "sparse_removal": RowCurvature(_sparse_rows(rng, 4, p),
                                       -rng.uniform(0.05, 0.2, 4)),
    }


def _solve_tol(M):
    """The accuracy any backward-stable solve of ``M`` can promise, with room."""
    return max(1e-12, 1e3 * EPS * np.linalg.cond(M))


def _assert_same_matrix(A, B, proj=None, rng=None):
    """``A`` and ``B`` agree as matrices: dense form, products, diagonal and
    solves."""
    rng = np.random.default_rng(0) if rng is None else rng
    MA, MB = A.to_dense(), B.to_dense()
    scale = np.abs(MA).max()
    np.testing.assert_allclose(MB, MA, rtol=0, atol=MATRIX_RTOL * scale)
    np.testing.assert_allclose(B.diag(), A.diag(), rtol=0, atol=MATRIX_RTOL * scale)
    V = rng.standard_normal((len(MA), 3))
    np.testing.assert_allclose(B.matvec(V), A.matvec(V), rtol=0,
                               atol=MATRIX_RTOL * np.abs(A.matvec(V)).max())
    if proj is not None:
        V = V - proj @ (proj.T @ V)
    xa, xb = A.solve(V), B.solve(V)
    tol = _solve_tol(MA if proj is None else MA + proj @ proj.T)
    np.testing.assert_allclose(xb, xa, rtol=0, atol=tol * np.abs(xa).max())
    # and the folded solve solves the matrix
    np.testing.assert_allclose(MA @ xb, V, rtol=0, atol=tol * np.abs(V).max())


def _assert_within_fold_error(pending, folded):
    """The folded matrix differs from the exact sum by at most its
    ``fold_error`` (operator norm), and keeps the factor's span and rank."""
    A, B = pending.to_dense(), folded.to_dense()
    gap = np.linalg.norm(A - B, 2)
    assert gap <= folded.fold_error * (1 + 1e-9) + MATRIX_RTOL * np.abs(A).max()


def _in_span(H, rng, k):
    """``k`` rows in the span of the factor's columns."""
    return (H.W @ rng.standard_normal((H.W.shape[1], k))).T * 0.1


def _arrays(obj):
    """Every array reachable from the attributes of ``obj``."""
    out = []

    def walk(x):
        if isinstance(x, np.ndarray):
            out.append(x)
        elif sp.issparse(x):
            out.append(x.toarray())
        elif isinstance(x, (tuple, list)):
            for y in x:
                walk(y)
        elif isinstance(x, dict):
            for y in x.values():
                walk(y)

    walk(vars(obj))
    return out


def _max_cos(obj, rows):
    """The largest ``|cos|`` of a stored column or row with one of ``rows``."""
    rows = rows / np.linalg.norm(rows, axis=1, keepdims=True)
    p = rows.shape[1]
    best = 0.0
    for A in _arrays(obj):
        if A.ndim == 1:
            A = A[:, None]
        for B in (A, A.T):
            if B.ndim == 2 and B.shape[0] == p:
                norms = np.linalg.norm(B, axis=0)
                B = B[:, norms > 0] / norms[norms > 0]
                if B.size:
                    best = max(best, float(np.abs(rows @ B).max()))
    return best


def _raw_rows(change):
    R = change.rows.toarray() if sp.issparse(change.rows) else change.rows
    if change.edit is None:
        return R
    cols, delta, _ = change.edit
    edited = R.copy()
    edited[:, cols] += delta
    return np.vstack([R, edited])


@pytest.mark.parametrize("kind", ["removal", "removal_and_insertion", "edit",
                                  "sparse_removal"])
@pytest.mark.parametrize("null_basis", [False, True])
def test_fold_keeps_the_matrix(kind, null_basis):
    rng = np.random.default_rng(1)
    H = _hessian(rng, null_basis=null_basis)
    change = _changes(rng, H.shape[0])[kind]
    if null_basis:
        # the change of a model with an unidentified direction leaves it so
        N = H.null_basis
        rows = _raw_rows(change)
        if sp.issparse(change.rows) or change.edit is not None:
            change = RowCurvature(rows, np.r_[change.plain().weights])
        change = RowCurvature(change.rows - (change.rows @ N) @ N.T, change.weights)
    pending = H.corrected(change)
    folded = H.corrected(change, fold=True)
    assert pending.pending_rank > 0 and folded.pending_rank == 0
    assert folded.W.shape[1] <= H.W.shape[1]
    _assert_within_fold_error(pending, folded)
    if null_basis:
        g = rng.standard_normal(H.shape[0])
        x = folded.solve(g)
        assert abs(float(H.null_basis[:, 0] @ x)) <= 1e-12 * np.abs(x).max()
    # folding what is pending gives the same object as folding at once
    _assert_same_matrix(folded, pending.corrected(None, fold=True),
                        proj=H.null_basis, rng=rng)


def test_fold_keeps_corrections_in_the_span():
    rng = np.random.default_rng(11)
    H = _hessian(rng, intercept=False)
    change = RowCurvature(_in_span(H, rng, 3), np.array([-0.1, -0.05, 0.08]))
    folded = H.corrected(change, fold=True)
    # the bound is computed from a difference of squared norms: its own
    # rounding, about sqrt(eps) of the corrections, is what remains
    assert folded.fold_error <= 1e-6 * np.abs(folded.to_dense()).max()
    _assert_same_matrix(H.corrected(change), folded, rng=rng)


def test_fold_of_a_coupled_change():
    """Rows of a coupled loss (``K x K`` weights) enter as sparse columns
    ``b_ij (x) x_i``; the fold merges them like any other, within its bound."""
    rng = np.random.default_rng(2)
    K, d = 3, 20
    H = _hessian(rng, p=K * d, m=6, intercept=False)
    R = _sparse_rows(rng, 4, d, nnz=5)
    A = rng.standard_normal((4, K, K)) * 0.1
    change = RowCurvature(R, -np.einsum("ikl,ijl->ikj", A, A))
    pending, folded = H.corrected(change), H.corrected(change, fold=True)
    assert sp.issparse(pending.pending_corrections)
    _assert_within_fold_error(pending, folded)


@pytest.mark.parametrize("sparse", [False, True])
def test_fold_leaves_no_trace_of_the_rows(sparse):
    rng = np.random.default_rng(3)
    H = _hessian(rng, p=80, m=10)
    p = H.shape[0]
    # removals, and the removal of an edited row's old value
    if sparse:
        R = _sparse_rows(rng, 5, p)
        change = RowCurvature(R, -rng.uniform(0.05, 0.2, 5))
    else:
        R = rng.uniform(0.2, 1.3, (3, p)) * rng.choice([-1.0, 1.0], (3, p))
        change = RowCurvature(R, np.array([-0.1, -0.05, 0.0]),
                              edit=(np.array([2, 5]), rng.standard_normal((3, 2)),
                                    np.array([0.0, 0.0, 0.07])))
    rows = _raw_rows(change)
    U, _ = change.columns()
    columns = (U.toarray() if sp.issparse(U) else U).T
    # the values as given and as the correction columns hold them
    given, held = (np.unique(A[A != 0]) for A in (rows, columns))
    values = np.concatenate([given, held])

    def found(obj, values=values):
        blob = pickle.dumps(obj)
        return sum(v.tobytes() in blob for v in values)

    pending = H.corrected(change)
    # the scan sees the rows where they are kept
    assert _max_cos(pending, np.vstack([rows, columns])) >= PARALLEL
    assert found(pending, held) == len(held)
    folded = pending.corrected(None, fold=True)
    assert _max_cos(folded, np.vstack([rows, columns])) < PARALLEL
    assert found(folded) == 0
    # nor a second fold on top of the first (pending rows of a request, then
    # the next request's)
    more = RowCurvature(_sparse_rows(rng, 2, p), np.array([-0.1, 0.1]))
    again = folded.corrected(more).corrected(change, fold=True)
    assert _max_cos(again, np.vstack([rows, columns, _raw_rows(more)])) < PARALLEL
    assert found(again) == 0


def test_fold_is_copy_on_write():
    rng = np.random.default_rng(4)
    H = _hessian(rng)
    changes = _changes(rng, H.shape[0])
    first = H.corrected(changes["sparse_removal"])
    snapshot = {k: (v.copy() if isinstance(v, np.ndarray) else v)
                for k, v in vars(first).items()}
    dense_before, H_before = first.to_dense(), H.to_dense()
    g = rng.standard_normal(H.shape[0])
    x_before = first.solve(g)
    folded = first.corrected(changes["removal"], fold=True)
    assert folded is not first and folded.W is not first.W
    for key, value in vars(first).items():
        if isinstance(value, np.ndarray):
            np.testing.assert_array_equal(value, snapshot[key], err_msg=key)
    assert first.pending_rank == 4
    np.testing.assert_array_equal(first.to_dense(), dense_before)
    np.testing.assert_array_equal(first.solve(g), x_before)
    np.testing.assert_array_equal(H.to_dense(), H_before)
    assert H.pending_rank == 0


def test_twenty_folds_stay_within_their_bound():
    """A stream of requests, each folded: the matrix stays within the
    accumulated ``fold_error`` of the exact sum of the changes, the rank stays
    the sketch's, and the folded factor's columns stay in its span."""
    rng = np.random.default_rng(5)
    H = _hessian(rng, p=70, m=8)
    p, m = H.shape[0], H.W.shape[1]
    folded, pending = H, H
    inserted = []
    for i in range(20):
        R = _sparse_rows(rng, 3, p, nnz=6)
        w = rng.choice([-1.0, 1.0], 3) * rng.uniform(0.02, 0.1, 3)
        if i % 5 == 4:
            # remove the rows inserted five requests before, with their weights
            R, w = inserted.pop(0)
            w = -w
        elif i % 5 == 0:
            w = np.abs(w)
            inserted.append((R, w))
        change = RowCurvature(R, w)
        folded = folded.corrected(change, fold=True)
        pending = pending.corrected(change)
        assert folded.pending_rank == 0
        assert folded.W.shape[1] <= m
    _assert_within_fold_error(pending, folded)
    Q, _ = np.linalg.qr(H.W)
    assert np.linalg.norm(folded.W - Q @ (Q.T @ folded.W)) <= 1e-10 * np.linalg.norm(folded.W)


def test_fold_of_rows_in_the_span():
    """Corrections inside the span of the factor (a full-rank sketch, a row
    that is a combination of the factor's columns) are folded exactly."""
    rng = np.random.default_rng(6)
    # m > p: the factor spans everything
    p = 15
    H = LowRankHessian(rng.uniform(0.5, 2.0, p), rng.standard_normal((p, 20)),
                       np.ones(20))
    change = RowCurvature(rng.standard_normal((6, p)) * 0.3, -0.1 * np.ones(6))
    folded = H.corrected(change, fold=True)
    assert folded.W.shape[1] <= p
    _assert_same_matrix(H.corrected(change), folded, rng=rng)


def test_fold_of_nothing():
    rng = np.random.default_rng(8)
    H = _hessian(rng)
    same = H.corrected(None, fold=True)
    assert same.pending_rank == 0 and same.W is H.W
    np.testing.assert_array_equal(same.to_dense(), H.to_dense())
    # zero rows contribute nothing
    zero = H.corrected(RowCurvature(np.zeros((2, H.shape[0])), -np.ones(2)), fold=True)
    assert zero.W.shape[1] == H.W.shape[1]
    _assert_same_matrix(H, zero, rng=rng)


# -- the fold of a fit's sketch: the sketch of the changed matrix ------------
def _sketch_of(A, J, minus, n_random, seed):
    from sklearn_unlearn.solvers.hessian._sketch import sketch

    def apply(Omega, out):
        out[...] = np.asarray(A @ (Omega.toarray() if sp.issparse(Omega) else Omega))
        return out

    return sketch(apply, A.shape[0], J, n_random, seed, minus)


@pytest.mark.parametrize("sparse", [False, True])
@pytest.mark.parametrize("paired", [False, True])
def test_a_sketch_updated_equals_the_sketch_of_the_changed_matrix(sparse, paired):
    """Removing rows from (and adding rows to) a sketched matrix gives the
    factor and core a sketch of the changed matrix with the same test
    vectors gives: ``W W^T`` equal to round-off, on the exact columns
    (unit vectors, or pairs of them) included."""
    rng = np.random.default_rng(5)
    p, n = 80, 200
    X = rng.standard_normal((n, p)) * (rng.random((n, p)) < 0.2)
    w = rng.uniform(0.1, 1.0, n)
    A = (X * w[:, None]).T @ X
    J = [3, 17, 40, 41]
    minus = [50, -1, 60, -1] if paired else None
    W, core = _sketch_of(A, J, minus, 12, seed=9)
    gone, added = [5, 77, 123], rng.standard_normal((2, p)) * (rng.random((2, p)) < 0.2)
    U = np.column_stack([X[gone].T * np.sqrt(w[gone]), added.T])
    signs = np.array([-1.0, -1.0, -1.0, 1.0, 1.0])
    W_new, core_new = core.updated(W, sp.csc_matrix(U) if sparse else U, signs)
    A_new = A + (U * signs) @ U.T
    W_ref, core_ref = _sketch_of(A_new, J, minus, 12, seed=9)
    scale = np.abs(A_new).max()
    np.testing.assert_allclose(W_new @ W_new.T, W_ref @ W_ref.T, rtol=0, atol=1e-11 * scale)
    np.testing.assert_allclose(core_new.L @ core_new.L.T, core_ref.L @ core_ref.L.T,
                               rtol=0, atol=1e-11 * scale)
    # exact on the unit columns (less their pairs), as a sketch is
    cols = np.zeros((p, len(J)))
    cols[J, np.arange(len(J))] = 1.0
    if paired:
        cols[[50, 60], [0, 2]] = -1.0
    np.testing.assert_allclose(W_new @ (W_new.T @ cols), A_new @ cols, rtol=0,
                               atol=1e-9 * scale)


def test_the_random_signs_drawn_again_are_those_of_the_sketch():
    from sklearn_unlearn.solvers.hessian._sketch import _sign_vectors

    p, J = 1003, np.array([3, 10, 500])
    rows = np.array([0, 3, 7, 8, 9, 500, 1002])
    np.testing.assert_array_equal(_sign_vectors(p, J, 7, 5, 12, rows=rows),
                                  _sign_vectors(p, J, 7, 5, 12)[rows])


def test_thirty_sketch_updates_equal_the_sketch_of_the_final_matrix():
    """Removals and insertions one request after another: the factor stays
    the sketch of the current matrix (to round-off: measured 2.6e-15 of its
    largest entry over 20 such streams)."""
    rng = np.random.default_rng(3)
    p, n = 70, 150
    X = rng.standard_normal((n, p)) * (rng.random((n, p)) < 0.15) * rng.uniform(0.1, 10, p)
    w = rng.uniform(0.05, 1.0, n)
    alive = np.ones(n, bool)
    A = (X * w[:, None]).T @ X
    J = list(rng.choice(p, 5, replace=False))
    W, core = _sketch_of(A, J, None, 15, seed=3)
    for step in range(30):
        gone = rng.choice(np.flatnonzero(alive), 2, replace=False)
        alive[gone] = False
        U, signs = X[gone].T * np.sqrt(w[gone]), -np.ones(2)
        A = A - (X[gone] * w[gone, None]).T @ X[gone]
        if step % 3 == 0:
            v = rng.standard_normal((p, 1)) * (rng.random((p, 1)) < 0.15)
            U, signs = np.column_stack([U, v]), np.r_[signs, 1.0]
            A = A + v @ v.T
        W, core = core.updated(W, sp.csc_matrix(U) if step % 2 else U, signs)
    W_ref, _ = _sketch_of(A, J, None, 15, seed=3)
    np.testing.assert_allclose(W @ W.T, W_ref @ W_ref.T, rtol=0,
                               atol=1e-13 * np.abs(A).max())


def test_a_sketch_update_that_overflows_is_refused_and_changes_nothing():
    """Rows whose curvature overflows the sketch's core are refused with
    NotPositiveDefiniteError, and the matrix they were to change is as it
    was (a request is all or nothing)."""
    from sklearn_unlearn.solvers import NotPositiveDefiniteError

    rng = np.random.default_rng(8)
    p = 40
    X = rng.standard_normal((100, p))
    A = X.T @ X
    W, core = _sketch_of(A, [0, 1], None, 6, seed=2)
    H = LowRankHessian(np.ones(p), W, np.ones(W.shape[1]), sketch_core=core)
    before = H.to_dense().copy()
    huge = RowCurvature(np.full((1, p), 1e200), np.array([1.0]))
    with pytest.raises(NotPositiveDefiniteError):
        H.corrected(huge, fold=True)
    np.testing.assert_array_equal(H.to_dense(), before)
    assert H.pending_rank == 0 and H.sketch_core is core


def test_a_sketch_update_multiplies_by_a_triangular_matrix(monkeypatch):
    """The update's product ``W T`` with ``T = L^T L'^-T`` takes the BLAS's
    triangular product (half the flops) where ``T`` is triangular, which it
    is unless features are projected out; the general product otherwise.
    Both equal the plain product to round-off."""
    from sklearn_unlearn.solvers.hessian import _sketch

    rng = np.random.default_rng(0)
    W = rng.standard_normal((300, 12))
    upper = np.triu(rng.standard_normal((12, 12)))
    full = rng.standard_normal((12, 12))
    for T in (upper, full):
        np.testing.assert_allclose(_sketch._times(W, T), W @ T, rtol=0,
                                   atol=1e-14 * np.abs(W).sum(axis=1).max()
                                   * np.abs(T).max())
    from scipy.linalg.blas import dtrmm

    calls = []

    def counted(*args, **kwargs):
        calls.append(1)
        return dtrmm(*args, **kwargs)

    monkeypatch.setattr(_sketch, "dtrmm", counted)
    p, n = 40, 90
    X = rng.standard_normal((n, p)) * (rng.random((n, p)) < 0.3)
    W0, core = _sketch_of(X.T @ X, [3, 7], None, 8, seed=1)
    core.updated(W0, X[:2].T, -np.ones(2))
    assert calls == [1]
    core.updated(W0, X[:2].T, -np.ones(2), lines=[5])
    assert calls == [1]
