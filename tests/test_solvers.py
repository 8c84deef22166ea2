"""The request's row changes, the pending matrices and the factored Hessian's
solves, against dense linear algebra."""

import copy

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from sklearn_unlearn.solvers import (
    FactoredHessian,
    NotPositiveDefiniteError,
    PendingMatrix,
    RowCurvature,
)


def _spd(rng, p, scale=50.0):
    A = rng.standard_normal((p, 2 * p))
    return A @ A.T + scale * np.eye(p)


def _change(rng, m, p, K=None, edit=False, positive=False, project=None):
    """Random rows (times ``project``), signed weights (K x K symmetric for
    coupled; positive with ``positive``), an edit of three columns; and the
    same change built by hand from outer products."""
    R = rng.standard_normal((m, p))
    if project is not None:
        R = R @ project
    if K is None:
        a, b = rng.standard_normal(m), rng.standard_normal(m)
        if positive:
            a = np.abs(a)
    else:
        a = rng.standard_normal((m, K, K))
        a = a + a.transpose(0, 2, 1)
        b = rng.standard_normal((m, K, K))
        b = b + b.transpose(0, 2, 1)
    cols = np.array([0, 2, p - 1])
    delta = rng.standard_normal((m, len(cols)))
    term = RowCurvature(R, a, edit=(cols, delta, b) if edit else None)

    def outer(W, x, y):
        return W * np.outer(x, y) if K is None else np.kron(W, np.outer(x, y))

    dim = p if K is None else K * p
    expected = np.zeros((dim, dim))
    for i in range(m):
        expected += outer(a[i], R[i], R[i])
        if edit:
            d = np.zeros(p)
            d[cols] = delta[i]
            r = R[i]
            expected += outer(b[i], r, d) + outer(b[i], d, r) + outer(b[i], d, d)
    return term, expected


def test_apply_terms_equals_every_product_on_its_own():
    """Terms sharing one array of rows are applied in one pass each way;
    the result is each term's product with its own vector, whatever mix of
    edits, shapes, coupled and sparse terms is passed."""
    import scipy.sparse as sp

    from sklearn_unlearn.solvers.hessian._rows import apply_terms

    rng = np.random.default_rng(1)
    m, p = 9, 7
    R, S = rng.standard_normal((m, p)), rng.standard_normal((m, p))
    cols = np.array([1, 4])

    def edit():
        return cols, rng.standard_normal((m, len(cols))), rng.standard_normal(m)

    terms = [
        RowCurvature(R, rng.standard_normal(m)),
        RowCurvature(R, rng.standard_normal(m), edit=edit()),
        RowCurvature(R, rng.standard_normal(m), edit=edit()),
        RowCurvature(S, rng.standard_normal(m)),
        RowCurvature(R[:0], np.zeros(0)),
        RowCurvature(sp.csr_matrix(R), rng.standard_normal(m)),
        _change(rng, m=5, p=p, K=2, edit=True)[0],
    ]
    vectors = [rng.standard_normal(p), rng.standard_normal((p, 1)),
               rng.standard_normal((p, 3)), rng.standard_normal(p),
               rng.standard_normal(p), rng.standard_normal((p, 2)),
               rng.standard_normal(2 * p)]
    got = apply_terms(list(zip(terms, vectors)))
    for t, v, out in zip(terms, vectors, got):
        assert out.shape == v.shape
        expected = t.dense() @ v if t.n_rows else np.zeros_like(v)
        np.testing.assert_allclose(out, expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("K", [None, 3])
@pytest.mark.parametrize("edit", [False, True])
def test_row_curvature_equals_its_outer_products(K, edit):
    rng = np.random.default_rng(0)
    term, expected = _change(rng, m=7, p=6, K=K, edit=edit)
    dim = expected.shape[0]
    np.testing.assert_allclose(term.dense(), expected, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(term.plain().dense(), expected, rtol=1e-12, atol=1e-12)
    v, V = rng.standard_normal(dim), rng.standard_normal((dim, 4))
    np.testing.assert_allclose(term.apply(v), expected @ v, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(term.apply(V), expected @ V, rtol=1e-12, atol=1e-12)
    U, signs = term.columns()
    np.testing.assert_allclose((U * signs) @ U.T, expected, rtol=1e-10, atol=1e-10)
    if K is None:
        assert term.quadratic_form(v) == pytest.approx(v @ expected @ v, rel=1e-12)
        assert term.quadratic_form(V) == pytest.approx(np.trace(V.T @ expected @ V),
                                                       rel=1e-12)
        assert term.trace() == pytest.approx(np.trace(expected), rel=1e-12)


@pytest.mark.parametrize("cols", [[0, 2, 5], [5, 0, 3], [4]])
def test_lower_triangle_fold_of_an_edit(cols):
    # the rank-k updates of both signs and the edited columns, in any order,
    # land in the lower triangle only
    rng = np.random.default_rng(3)
    m, p = 7, 6
    R = rng.standard_normal((m, p))
    a, b = rng.standard_normal(m), rng.standard_normal(m)
    cols = np.array(cols)
    delta = rng.standard_normal((m, len(cols)))
    term = RowCurvature(R, a, edit=(cols, delta, b))
    C = np.asfortranarray(np.tril(_spd(rng, p)))
    before = C.copy()
    term.add_lower_to(C)
    np.testing.assert_allclose(C - before, np.tril(term.dense()), rtol=1e-12, atol=1e-12)


def test_row_curvature_concatenates():
    rng = np.random.default_rng(1)
    t1, e1 = _change(rng, 3, 5, edit=True)
    t2, e2 = _change(rng, 4, 5)
    both = RowCurvature.concat([t1, t2])
    np.testing.assert_allclose(both.dense(), e1 + e2, rtol=1e-12, atol=1e-12)
    assert RowCurvature.concat([]) is None


def test_pending_matrix_forms_and_products():
    rng = np.random.default_rng(2)
    base = _spd(rng, 6)
    t1, e1 = _change(rng, 3, 6, edit=True)
    t2, e2 = _change(rng, 2, 6)
    K = PendingMatrix(base.copy()).corrected(t1)
    np.testing.assert_allclose(K.matrix, base + e1, rtol=1e-12)
    V, W = rng.standard_normal((6, 2)), rng.standard_normal((6, 2))
    M = base + e1 + e2
    np.testing.assert_allclose(K.quadratic_forms([V, W], t2),
                               [np.trace(V.T @ M @ V), np.trace(W.T @ M @ W)],
                               rtol=1e-12)
    assert K.trace(t2) == pytest.approx(np.trace(M), rel=1e-12)
    np.testing.assert_allclose(K.matvec(V, t2), M @ V, rtol=1e-12)
    # a matrix saved before the pending rows' trace was kept sums it
    del K.__dict__["_pending_trace"]
    assert K.trace(t2) == pytest.approx(np.trace(M), rel=1e-12)
    assert K.corrected(t2).trace() == pytest.approx(np.trace(M), rel=1e-12)


def test_pending_rows_are_folded_once_their_use_costs_as_much():
    rng = np.random.default_rng(3)
    p = 40
    K = PendingMatrix(_spd(rng, p))
    expected = K.matrix.copy()
    folds = 0
    for _ in range(200):
        term, e = _change(rng, 2, p)
        expected += e
        before = K.pending_rank
        K = K.corrected(term)
        folds += K.pending_rank <= before       # folded, then the new rows
        np.testing.assert_allclose(K.matrix, expected, rtol=1e-10, atol=1e-8)
    # each request pays rent on every pending row; folding costs O(m p^2):
    # the rows are folded now and then, not kept for ever
    assert 2 <= folds
    assert K.pending_rank < 400


@pytest.mark.parametrize("merges", [True, False])
def test_pending_chunks_and_the_dense_sum(merges):
    """Merging chunks (a Hessian, used several times a request), equal
    requests leave at most log2(requests) + 1 chunks of pending rows (each
    row copied O(log) times); not merging (a Gram matrix of the bound, used
    once), one chunk a request, never copied. Either way the matrix (all
    chunks folded by one product), its products and its trace (a kept sum)
    stay those of the dense sum."""
    rng = np.random.default_rng(4)
    p = 8
    base = _spd(rng, p)
    K = PendingMatrix(base.copy())
    K.merges_chunks = merges
    K._fold_price = lambda: np.inf          # keep every row pending
    expected = base.copy()
    for i in range(1, 40):
        term, e = _change(rng, 3, p, edit=bool(i % 2))
        expected += e
        K = K.corrected(term)
        sizes = [t.n_rows for t in K._pending]
        if merges:
            assert len(K._pending) <= np.log2(i) + 1
            assert sizes == sorted(sizes, reverse=True)
        else:
            assert sizes == [3] * i
        assert K.pending_rank == 3 * i
    assert K.trace() == pytest.approx(np.trace(expected), rel=1e-12)
    np.testing.assert_allclose(K.matrix, expected, rtol=1e-12, atol=1e-10)
    v = rng.standard_normal(p)
    np.testing.assert_allclose(K.matvec(v), expected @ v, rtol=1e-12, atol=1e-10)


@pytest.mark.parametrize("m", [1, 5, 60])
def test_factored_solves_with_pending_rows_like_a_dense_solve(m):
    rng = np.random.default_rng(4)
    p = 30
    base = _spd(rng, p)
    H = FactoredHessian(base.copy())
    term, e = _change(rng, m, p, positive=True)     # keeps it definite
    H2 = H.corrected(term)
    g, G = rng.standard_normal(p), rng.standard_normal((p, 3))
    M = base + e
    for rhs in (g, G):
        x = H2.solve(rhs)
        np.testing.assert_allclose(M @ x, rhs, rtol=1e-10, atol=1e-10)
        np.testing.assert_allclose(x, np.linalg.solve(M, rhs), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(H2.matvec(g), M @ g, rtol=1e-12)
    # the matrix it was corrected from is untouched
    assert H.pending_rank == 0
    np.testing.assert_array_equal(H.matrix, base)


def test_factored_solve_keeps_the_null_direction_out():
    rng = np.random.default_rng(5)
    p = 12
    null = np.zeros((p, 1))
    null[[3, 7, 11], 0] = 1 / np.sqrt(3)
    P = np.eye(p) - null @ null.T
    base = P @ _spd(rng, p) @ P                     # singular along null only
    H = FactoredHessian(base.copy(), null_basis=null)
    term, e = _change(rng, 4, p, positive=True, project=P)  # orthogonal to it
    g = P @ rng.standard_normal(p)
    x = H.corrected(term).solve(g)
    assert abs(float(null[:, 0] @ x)) < 1e-12
    np.testing.assert_allclose((base + e) @ x, g, rtol=1e-10, atol=1e-10)


def test_a_change_far_from_the_factor_is_folded_and_solved_directly():
    rng = np.random.default_rng(6)
    p = 25
    A = rng.standard_normal((200, p))
    base = A.T @ A + np.eye(p)
    H = FactoredHessian(base.copy())
    # remove 190 of the 200 rows: the corrected matrix is far from the base
    term = RowCurvature(A[:190], -np.ones(190))
    H2 = H.corrected(term)
    g = rng.standard_normal(p)
    x = H2.solve(g)
    M = A[190:].T @ A[190:] + np.eye(p)
    np.testing.assert_allclose(M @ x, g, rtol=1e-9, atol=1e-9)
    assert H2.pending_rank == 0                     # folded into a new factor
    assert H.pending_rank == 0 and np.array_equal(H.matrix, base)


def test_a_change_that_removes_the_curvature_is_refused():
    rng = np.random.default_rng(7)
    p = 8
    A = rng.standard_normal((20, p))
    H = FactoredHessian(A.T @ A)
    H2 = H.corrected(RowCurvature(A, -np.ones(20) * 1.5))
    with pytest.raises(NotPositiveDefiniteError, match="removes"):
        H2.solve(rng.standard_normal(p))


def test_solves_are_reproducible_after_a_copy():
    rng = np.random.default_rng(8)
    p = 20
    H = FactoredHessian(_spd(rng, p))
    for _ in range(5):
        term, _ = _change(rng, 3, p, positive=True)
        H = H.corrected(term)
        H.solve(rng.standard_normal(p))
    g = rng.standard_normal(p)
    clone = copy.deepcopy(H)
    np.testing.assert_array_equal(clone.solve(g), H.solve(g))


def test_gram_matrices_split_between_joblib_jobs():
    """Under the caller's joblib configuration the rows are split between
    threads; the sums are those of one job up to round-off."""
    from joblib import parallel_config

    from sklearn_unlearn.solvers import LinearDesign

    rng = np.random.default_rng(9)
    X = rng.standard_normal((6000, 400))
    W = np.column_stack([rng.random(6000), -rng.random(6000), rng.standard_normal(6000)])
    design = LinearDesign(True, 1.5)
    one = design.weighted_grams(X, W)
    with parallel_config(backend="threading", n_jobs=2):
        two = design.weighted_grams(X, W)
    Xa = design.augmented_rows(X)
    ref = np.stack([(Xa.T * w) @ Xa for w in W.T])
    scale = np.abs(ref).max()
    assert np.abs(one - ref).max() <= 1e-12 * scale
    assert np.abs(two - ref).max() <= 1e-12 * scale
    assert not np.array_equal(one, two)        # the split did happen


@pytest.mark.parametrize("sparse_X", [True, False])
@pytest.mark.parametrize("fit_intercept", [True, False])
def test_predictor_of_sparse_unit_vectors(fit_intercept, sparse_X):
    """A sketch's unit test vectors come as a CSR matrix (signed pairs for a
    multinomial block); the predictor gathers the columns they select, the
    intercept's included, and equals the product with the dense vectors."""
    from sklearn_unlearn.solvers import LinearDesign

    rng = np.random.default_rng(11)
    X = sp.random(50, 30, density=0.2, random_state=rng, format="csr")
    X = X if sparse_X else X.toarray()
    design = LinearDesign(fit_intercept, 1.5)
    p = 30 + fit_intercept
    V = np.zeros((p, 4))
    V[[3, 7, p - 1, 12], [0, 1, 2, 3]] = 1.0
    V[20, 3] = -1.0
    got = design.predictor(X, sp.csr_matrix(V))
    assert isinstance(got, np.ndarray) and got.shape == (50, 4)
    np.testing.assert_allclose(got, design.predictor(X, V), rtol=0, atol=1e-15)


@pytest.mark.parametrize("sparse_X", [True, False])
@pytest.mark.parametrize("fit_intercept", [True, False])
def test_transposed_products_written_by_blocks(fit_intercept, sparse_X):
    """``transposed(X)`` gives ``X_aug.T @ R`` for vectors and blocks of
    columns, written into ``out`` when given; a sparse ``X``'s product is
    written by blocks of rows (here several: the result has more than
    2**19 values)."""
    from sklearn_unlearn.solvers import LinearDesign

    rng = np.random.default_rng(12)
    X = sp.random(40, 9000, density=0.01, random_state=rng, format="csr")
    X = X if sparse_X else X.toarray()
    design = LinearDesign(fit_intercept, 1.5)
    X_aug = design.augmented_rows(X)
    product = design.transposed(X)
    for R in (rng.normal(size=40), rng.normal(size=(40, 70))):
        expected = X_aug.T @ R
        np.testing.assert_allclose(product(R), expected, rtol=1e-13, atol=1e-13)
        out = np.full((X_aug.shape[1] + 3,) + R.shape[1:], np.nan)
        got = product(R, out=out[2:-1])
        assert np.shares_memory(got, out)
        np.testing.assert_allclose(out[2:-1], expected, rtol=1e-13, atol=1e-13)
        assert np.isnan(out[:2]).all() and np.isnan(out[-1:]).all()


def test_ordinary_pages_restores_numpy_huge_page_setting():
    """The sketch's arrays are allocated on ordinary pages through NumPy's
    own switch, off inside the context and left as it was found after it,
    either way, an exception included."""
    from sklearn_unlearn.solvers.hessian import _sketch

    switch = _sketch._set_madvise_hugepage
    if switch is None:
        pytest.skip("this NumPy has no huge-page switch")
    original = switch(True)
    try:
        for setting in (True, False):
            switch(setting)
            with _sketch.ordinary_pages():
                assert switch(False) is False
            assert switch(setting) is setting
        switch(True)
        with pytest.raises(RuntimeError), _sketch.ordinary_pages():
            raise RuntimeError
        assert switch(True) is True
    finally:
        switch(original)


@pytest.mark.parametrize("fit_intercept", [True, False])
def test_gram_matrices_of_zero_and_mixed_weights(fit_intercept):
    """Rows of zero weight, and in a column of mixed signs the rows of the
    other sign, take no part in an update: the sums are still the dense
    ones (a column of zeros gives zeros)."""
    from sklearn_unlearn.solvers import LinearDesign

    rng = np.random.default_rng(10)
    X = rng.standard_normal((3000, 40))
    mixed = rng.standard_normal(3000)
    mixed[rng.random(3000) < 0.5] = 0.0
    sparse_pos = np.where(rng.random(3000) < 0.05, rng.random(3000), 0.0)
    W = np.column_stack([mixed, sparse_pos, np.zeros(3000), rng.random(3000)])
    design = LinearDesign(fit_intercept, 2.0)
    grams = design.weighted_grams(X, W)
    Xa = design.augmented_rows(X)
    ref = np.stack([(Xa.T * w) @ Xa for w in W.T])
    assert np.abs(grams - ref).max() <= 1e-12 * np.abs(ref).max()
    assert not grams[2].any()


@pytest.mark.parametrize("kind", ["features", "labels", "delete", "insert"])
@pytest.mark.parametrize("n_classes", [2, 3])
def test_request_gram_traces_from_the_row_norms_equal_the_rows(kind, n_classes):
    """The bound's Gram matrices take their change's trace from the row
    norms; it is the trace of the rows themselves."""
    from sklearn_unlearn import UnlearnableLogisticRegression, zero_features
    from sklearn_unlearn._request import validate_request
    from sklearn_unlearn.solvers.steps._request_change import RequestChange as _RequestChange
    from sklearn_unlearn.solvers.steps._request_change import removed_gram as _removed_gram

    rng = np.random.default_rng(5)
    X = rng.standard_normal((80, 6)) * 2.0
    y = np.digitize(X[:, 0] + rng.standard_normal(80),
                    np.quantile(X[:, 0], np.linspace(0, 1, n_classes + 1)[1:-1]))
    sw = rng.uniform(0.5, 2.0, 80)
    est = UnlearnableLogisticRegression().fit(X, y, sample_weight=sw)
    rows, w = X[:7], sw[:7]
    X_old, X_new, y_old, y_new = {
        "features": (rows, zero_features(rows, [1, 4]), y[:7], None),
        "labels": (rows, rows, y[:7], (y[:7] + 1) % n_classes),
        "delete": (rows, None, y[:7], None),
        "insert": (None, rows + 1.0, None, y[:7]),
    }[kind]
    request = validate_request(est, X_old, X_new, y_old, y_new, w)
    r = est._encode_request(request)
    cache = est.unlearning_cache_
    assert cache.gram is not None
    k_old = r.R_old.shape[0]
    change = _RequestChange(cache.objective, r, cache.theta, *r.predictors(cache.theta),
                            grams=True)
    for t in (change.gram, change.norm_gram):
        from_rows = RowCurvature(t.rows, t.weights, t.edit).trace()
        assert t.trace() == pytest.approx(from_rows, rel=1e-12, abs=1e-12)
    if k_old:
        for power in (0, 1):
            out = _removed_gram(r, power)
            assert out.trace() == pytest.approx(
                RowCurvature(out.rows, out.weights).trace(), rel=1e-12, abs=1e-12)


@pytest.mark.parametrize("kind", ["features", "dominant_column", "many_columns",
                                  "labels", "delete", "insert", "sparse"])
@pytest.mark.parametrize("m", [1, 3])
def test_request_rows_products_equal_the_rows(kind, m):
    """The request's predictors, transposed products and row norms, read once
    through the old rows for an edit, equal those of each part (the norms
    too where the edited columns carry nearly all of a row's norm)."""
    import scipy.sparse as sp

    from sklearn_unlearn.solvers.steps._request_rows import RequestRows, find_edit

    rng = np.random.default_rng(11)
    k, p = 9, 12
    old = rng.standard_normal((k, p))
    new = old.copy()
    if kind == "features":
        new[:, [1, 5]] = 0.0
    elif kind == "dominant_column":
        old[:4, 5] = 1e9
        new = old.copy()
        new[:, [1, 5]] = 0.0
    elif kind == "many_columns":
        new[:, : p // 2 + 1] += 1.0
    blocks = {"delete": [old], "insert": [new]}.get(kind, [old, new])
    k_old = 0 if kind == "insert" else k
    R_all = np.vstack(blocks)
    if kind == "sparse":
        R_all = sp.csr_matrix(R_all)
    k_new = R_all.shape[0] - k_old

    def side(n):
        return np.zeros((n, m)), np.ones((n, 1)), np.ones(n), np.zeros(n, dtype=int)

    edit = (find_edit(R_all[:k_old], R_all[k_old:], p)
            if kind not in ("delete", "insert", "sparse") else None)
    assert (edit is not None) == (kind in ("features", "dominant_column", "labels"))
    rows = R_all[:k_old].copy() if edit is not None else R_all
    r = RequestRows(rows, k_old, *side(k_old), *side(k_new), edit=edit)
    dense = R_all.toarray() if sp.issparse(R_all) else R_all
    R_old, R_new = dense[:k_old], dense[k_old:]
    np.testing.assert_array_equal(r.R_new.toarray() if sp.issparse(R_all) else r.R_new,
                                  R_new)
    theta = rng.standard_normal((p, m))
    C_old, C_new = rng.standard_normal((k_old, m)), rng.standard_normal((k_new, m))
    # Products through the old rows carry their round-off: an edit that
    # removes a large value cancels it (|R| |theta| is 1e9 for those rows).
    eta_tol = T_tol = 1e-13
    if edit is not None:
        eta_tol = 1e-13 * np.maximum(np.abs(R_old) @ np.abs(theta), 1.0)
        T_tol = 1e-13 * np.maximum(np.abs(R_old.T) @ np.abs(C_new), 1.0)

    def close(actual, desired, tol=1e-13):
        error = np.abs(np.asarray(actual) - desired)
        assert np.all(error <= 1e-13 * np.abs(desired) + tol), error.max()

    eta_old, eta_new = r.predictors(theta)
    close(eta_old, R_old @ theta)
    close(eta_new, R_new @ theta, eta_tol)
    close(r.new_predictor(theta), R_new @ theta, eta_tol)
    T_old, T_new = r.transpose_products(C_old, C_new)
    close(T_old, R_old.T @ C_old)
    close(T_new, R_new.T @ C_new, T_tol)
    close(r.new_transpose_product(C_new), R_new.T @ C_new, T_tol)
    np.testing.assert_allclose(np.concatenate([r.norms_old, r.norms_new]),
                               np.linalg.norm(dense, axis=1), rtol=1e-14)


def test_a_fold_keeps_no_copy_of_the_old_matrix(breast_cancer):
    """A fold updates one triangle of a copy of the base: the other triangle,
    which still held the matrix before the request (rows that left
    included), is cleared, so no stored matrix differs from another by a
    removed row."""
    from sklearn_unlearn import UnlearnableLogisticRegression

    X, y = breast_cancer
    est = UnlearnableLogisticRegression().fit(X, y)
    est.unlearn(X[:3], None, y[:3])
    cache = est.unlearning_cache_
    for M in [H for H in cache.hessians] + [cache.gram, cache.norm_gram]:
        base = M._base
        upper = np.triu(base, 1)
        assert not upper.any() or np.array_equal(upper, np.tril(base, -1).T)


def test_a_base_saved_whole_is_cleared_at_its_first_fold():
    """A base that may hold the whole matrix (as in a file saved before
    bases kept their lower triangle only) is cleared above the diagonal by
    its first fold, not copied plainly: the upper triangle held the matrix
    before the request."""
    rng = np.random.default_rng(4)
    A = _spd(rng, 5)
    K = PendingMatrix(A)
    state = dict(K.__dict__, _base=np.asfortranarray(A))
    del state["_zero_upper"]
    old = object.__new__(PendingMatrix)
    old.__dict__.update(state)
    term = RowCurvature(rng.standard_normal((2, 5)), np.array([-0.1, 0.2]))
    for M in (old, K):
        folded = M.corrected(term, fold=True)
        assert not np.triu(folded._base, 1).any()
        np.testing.assert_allclose(folded.matrix, A + term.dense(), rtol=1e-12)


def test_one_conjugate_gradient_split_preconditioned_and_stalled():
    """The package's one CG (solvers/_cg.py): with ``split`` (the part ``M``
    its preconditioner inverts carried by the recurrence) it solves ``(M +
    P) x = b`` like the plain preconditioned iteration, to 1e-10; a stalled
    recurrence stops as ``"stalled"``; ``keep_best`` returns the iterate of
    smallest residual."""
    from sklearn_unlearn.solvers._cg import conjugate_gradient

    rng = np.random.default_rng(0)
    p = 40
    G = rng.normal(size=(p, p))
    M = G @ G.T + p * np.eye(p)
    U = rng.normal(size=(p, 3))
    P = U @ U.T
    b = rng.normal(size=p)
    exact = np.linalg.solve(M + P, b)
    Minv = np.linalg.inv(M)
    plain = conjugate_gradient(lambda v: (M + P) @ v, b, tol=1e-13, max_iter=100,
                               precondition=lambda v: Minv @ v)
    split = conjugate_gradient(lambda v: P @ v, b, tol=1e-13, max_iter=100,
                               precondition=lambda v: Minv @ v, split=True)
    assert plain.status == split.status == "converged"
    # rank-3 change: at most 3 preconditioned iterations (plus round-off)
    assert split.n_iter <= 5
    for res in (plain, split):
        np.testing.assert_allclose(res.x, exact, rtol=1e-10, atol=1e-12)
    # a tolerance below round-off: the residual stops falling
    # slow progress without a preconditioner: the residual does not halve in
    # three iterations, the iteration stops there with its best iterate
    Q, _ = np.linalg.qr(rng.normal(size=(p, p)))
    A = (Q * np.logspace(0, 6, p)) @ Q.T
    steps = [conjugate_gradient(lambda v: A @ v, b, max_iter=k) for k in range(1, 6)]
    stalled = conjugate_gradient(lambda v: A @ v, b, max_iter=500, stall=(3, 0.5),
                                 keep_best=True)
    assert stalled.status == "stalled" and stalled.n_iter < 10
    smallest = min([1.0] + [s.relative_residual for s in steps[:stalled.n_iter]])
    assert stalled.relative_residual == pytest.approx(smallest)
    np.testing.assert_allclose(np.linalg.norm(b - A @ stalled.x) / np.linalg.norm(b),
                               smallest, rtol=1e-6)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.floats(allow_nan=True, allow_infinity=False, width=64),
                          st.integers(0, 3)), max_size=40))
def test_exact_sums_by_group_are_the_exact_sums_rounded_part_by_part(pairs):
    """The exact sum of every group by exponent bins, against the sum in
    rationals: its rounding, then the rounding of what is left, and so on;
    the same parts as ``exact_parts`` gives group by group where its partial
    sums do not overflow. Values far apart (subnormals beside 1e308) and
    cancelling ones included; a sum that overflows is refused."""
    from fractions import Fraction

    from sklearn_unlearn.solvers._weight_totals import exact_parts, grouped_parts

    values = np.array([v for v, _ in pairs], dtype=np.float64)
    groups = np.array([g for _, g in pairs], dtype=np.int64)
    exact = []
    for g in range(4):
        total = sum((Fraction(v) for v in values[groups == g] if v == v), Fraction(0))
        parts = []
        try:
            while total:
                parts.append(float(total))
                total -= Fraction(parts[-1])
        except OverflowError:
            parts = None
        exact.append(parts)
    if any(parts is None for parts in exact):
        with pytest.raises(ValueError, match="too large for float64"):
            grouped_parts(values, groups, 4)
        return
    assert grouped_parts(values, groups, 4) == exact
    for g in range(4):
        assert exact_parts([v for v in values[groups == g] if v == v]) == exact[g]


def test_an_exact_sum_does_not_depend_on_the_order_of_its_values():
    """fsum's partial sums overflowed for 1e308 + 1e308 - 1e308 and the
    weights were refused, but not in another order."""
    from sklearn_unlearn.solvers._weight_totals import exact_parts, grouped_parts

    for order in ([1e308, 1e308, -1e308], [1e308, -1e308, 1e308], [-1e308, 1e308, 1e308]):
        assert exact_parts(order) == [1e308]
        assert grouped_parts(np.array(order), np.zeros(3, int), 1) == [[1e308]]
