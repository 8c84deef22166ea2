"""from_fitted: a fitted scikit-learn model made unlearnable without refitting,
from arrays and from chunks of rows, equals the unlearnable fit."""

import logging
import pickle

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.datasets import load_diabetes
from sklearn.linear_model import LogisticRegression, LogisticRegressionCV, Ridge
from sklearn.svm import LinearSVC

from sklearn_unlearn import (UnlearnableLinearSVC, UnlearnableLogisticRegression,
                             UnlearnableRidge)
from sklearn_unlearn.solvers.fit._chunks import row_sums

from ._chunked_reference import assert_bound_holds, assert_same_model
from .conftest import exact_refit, rel_dist

PARENTS = {UnlearnableLogisticRegression: LogisticRegression,
           UnlearnableRidge: Ridge, UnlearnableLinearSVC: LinearSVC}

CASES = [
    (UnlearnableLogisticRegression, dict(C=0.5), "binary"),
    (UnlearnableLogisticRegression, dict(C=2.0), "multiclass"),
    (UnlearnableLogisticRegression, dict(solver="liblinear", intercept_scaling=2.0),
     "binary"),
    (UnlearnableLogisticRegression, dict(class_weight={0: 2.0, 1: 0.5, 2: 1.0}),
     "multiclass"),
    (UnlearnableLinearSVC, dict(C=0.1), "multiclass"),
    (UnlearnableRidge, dict(alpha=3.0), "regression"),
    (UnlearnableRidge, dict(alpha=0.5, fit_intercept=False), "multitarget"),
]


def data(kind, digits, diabetes, synthetic_regression):
    rng = np.random.default_rng(0)
    if kind == "binary":
        X, y = digits
        return X[:600], (y[:600] > 4).astype(int), rng.uniform(0.5, 2, 600)
    if kind == "multiclass":
        X, y = digits
        keep = np.flatnonzero(y < 3)[:300]
        X, y = X[keep], y[keep]
        return X, y, rng.uniform(0.5, 2, len(y))
    if kind == "regression":
        X, y = diabetes
        return X, y, rng.uniform(0.5, 2, len(y))
    X, y = synthetic_regression
    return X, y, rng.uniform(0.5, 2, len(y))


def chunks_of(X, y, w, size):
    return [(X[i:i + size], y[i:i + size], w[i:i + size])
            for i in range(0, X.shape[0], size)]


@pytest.mark.parametrize("cls, params, kind", CASES)
def test_from_fitted_equals_the_unlearnable_fit(cls, params, kind, digits, diabetes,
                                                synthetic_regression):
    X, y, w = data(kind, digits, diabetes, synthetic_regression)
    parent = PARENTS[cls](**params).fit(X, y, sample_weight=w)
    ref = cls(**params).fit(X, y, sample_weight=w)
    from_arrays = cls.from_fitted(parent, X, y, sample_weight=w)
    from_sparse = cls.from_fitted(parent, sp.csr_matrix(X), y, sample_weight=w)
    from_chunks = cls.from_fitted(parent, chunks_of(X, y, w, 97))
    for model in (from_arrays, from_sparse, from_chunks):
        assert type(model) is cls
        assert_same_model(model, ref, rtol=1e-6)
        if cls is not UnlearnableLinearSVC and params.get("solver") != "liblinear":
            # (the reference does not model liblinear's penalised intercept)
            assert_bound_holds(model, X, y, w)
    # scikit-learn's own exact refit is the optimum all of them reach
    assert rel_dist(from_chunks, exact_refit(ref, X, y, w)) < 1e-6


def test_requests_on_an_adopted_model_equal_the_refit(diabetes):
    X, y = diabetes
    parent = Ridge(alpha=0.1).fit(X, y)
    chunks = [(X[i:i + 50], y[i:i + 50]) for i in range(0, len(y), 50)]
    model = UnlearnableRidge.from_fitted(parent, chunks)
    model.unlearn(X[:30], None, y[:30])
    refit = Ridge(alpha=0.1, solver="cholesky").fit(X[30:], y[30:])
    assert rel_dist(model, refit) < 1e-9


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_the_adopted_estimator_is_unchanged(breast_cancer):
    X, y = breast_cancer
    parent = LogisticRegression(max_iter=3).fit(X, y)        # not converged
    coef = parent.coef_.copy()
    model = UnlearnableLogisticRegression.from_fitted(parent, X, y)
    np.testing.assert_array_equal(parent.coef_, coef)
    assert not hasattr(parent, "unlearning_cache_")
    # polished from a start far from the optimum to the unlearnable fit's
    assert_same_model(model, UnlearnableLogisticRegression().fit(X, y), rtol=1e-6)


def test_adopted_feature_names_and_chunk_checks(breast_cancer):
    pd = pytest.importorskip("pandas")
    X, y = breast_cancer
    df = pd.DataFrame(X, columns=[f"f{i}" for i in range(X.shape[1])])
    parent = LogisticRegression().fit(df, y)
    model = UnlearnableLogisticRegression.from_fitted(parent, df, y)
    np.testing.assert_array_equal(model.feature_names_in_, parent.feature_names_in_)
    with pytest.raises(ValueError, match="feature names"):
        UnlearnableLogisticRegression.from_fitted(parent, df[df.columns[::-1]], y)
    with pytest.raises(ValueError, match="not fitted with"):
        UnlearnableLogisticRegression.from_fitted(parent, X, np.where(y == 1, 2, 0))
    bad = X.copy()
    bad[3, 2] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        UnlearnableLogisticRegression.from_fitted(parent, [(X[:200], y[:200]),
                                                           (bad, y)])
    with pytest.raises(ValueError, match="features"):
        UnlearnableLogisticRegression.from_fitted(parent, [(X[:, :5], y)])
    with pytest.raises(ValueError, match="rows and"):
        UnlearnableLogisticRegression.from_fitted(parent, [(X, y[:-1])])


@pytest.mark.parametrize("cls, estimator, message", [
    (UnlearnableRidge, LogisticRegression(), "adopts a fitted Ridge"),
    (UnlearnableLogisticRegression, LogisticRegressionCV(Cs=2, l1_ratios=(0.0,),
                                                         use_legacy_attributes=False),
     "adopts a fitted"),
    (UnlearnableLogisticRegression, LogisticRegression(l1_ratio=1.0, solver="saga",
                                                       max_iter=1000),
     "only the L2 penalty"),
    (UnlearnableRidge, Ridge(positive=True), "positive=True"),
    (UnlearnableLinearSVC, LinearSVC(loss="hinge"), "squared_hinge"),
])
def test_mismatched_or_unsupported_models_are_refused(cls, estimator, message,
                                                      breast_cancer):
    X, y = breast_cancer
    estimator.fit(X, y)
    with pytest.raises((TypeError, ValueError), match=message):
        cls.from_fitted(estimator, X, y)


def test_unfitted_one_shot_and_balanced_are_refused(breast_cancer):
    from sklearn.exceptions import NotFittedError

    X, y = breast_cancer
    with pytest.raises(NotFittedError):
        UnlearnableLogisticRegression.from_fitted(LogisticRegression(), X, y)
    parent = LogisticRegression().fit(X, y)
    one_shot = ((X[i:i + 100], y[i:i + 100]) for i in range(0, len(y), 100))
    with pytest.raises(ValueError, match="one-shot iterator"):
        UnlearnableLogisticRegression.from_fitted(parent, one_shot)
    balanced = LogisticRegression(class_weight="balanced").fit(X, y)
    with pytest.raises(ValueError, match="balanced"):
        UnlearnableLogisticRegression.from_fitted(balanced, [(X, y)])
    # in memory the balanced weights are those of all the labels
    adopted = UnlearnableLogisticRegression.from_fitted(balanced, X, y)
    ref = UnlearnableLogisticRegression(class_weight="balanced").fit(X, y)
    assert_same_model(adopted, ref, rtol=1e-6)


class _Drifting:
    """Chunks whose rows change after the first pass that reads them (the
    first iteration only checks that a new pass starts)."""

    def __init__(self, chunks, change):
        self.chunks, self.change, self.passes = chunks, change, 0

    def __iter__(self):
        self.passes += 1
        return iter(self.chunks if self.passes <= 2 else self.change(self.chunks))


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def _labels_swapped(chunks):
    (X, y), *rest = chunks
    i, j = np.flatnonzero(y == 0)[0], np.flatnonzero(y == 1)[0]
    y = y.copy()
    y[[i, j]] = y[[j, i]]                   # the count and weight per class stay
    return [(X, y), *rest]


def _rotated_in_pairs(chunks):
    """Rows of a class paired, and each pair's half-difference rotated about
    its mean: every row keeps its norm and every class its sums (count,
    weight, norms, target moment), and rows move by up to their size."""
    out = []
    for X, y in chunks:
        X = X.copy()
        for c in (0, 1):
            rows = np.flatnonzero(y == c)
            for a, b in zip(rows[0::2], rows[1::2]):
                mean, half = (X[a] + X[b]) / 2, (X[a] - X[b]) / 2
                u = mean / np.linalg.norm(mean)
                along = (half @ u) * u
                e1 = (half - along) / np.linalg.norm(half - along)
                e2 = np.zeros_like(e1)
                e2[np.argmin(np.abs(e1))] = 1.0
                e2 -= (e2 @ u) * u + (e2 @ e1) * e1
                e2 /= np.linalg.norm(e2)
                turned = along + np.linalg.norm(half - along) * (np.cos(2.0) * e1
                                                                 + np.sin(2.0) * e2)
                X[a], X[b] = mean + turned, mean - turned
        out.append((X, y))
    return out


@pytest.mark.parametrize("change", [
    lambda chunks: chunks[:-1],                                    # rows dropped
    lambda chunks: [(X + 0.1, y) for X, y in chunks],              # values moved
    _labels_swapped,
    # every summary of moments kept: caught by the rows' probe (a cache of
    # the two passes' rows published residual_bound_ 0.19 against a true 0.60)
    _rotated_in_pairs,
])
def test_chunks_whose_passes_differ_are_refused(breast_cancer, change):
    """The cache would hold rows of several passes, which no bound covers."""
    X, y = breast_cancer
    X = (X - X.mean(axis=0)) / X.std(axis=0)
    chunks = [(X[i:i + 100], y[i:i + 100]) for i in range(0, len(y), 100)]
    # a start far from the optimum: the polish takes several passes
    parent = LogisticRegression(max_iter=2).fit(X, y)
    with pytest.raises(ValueError, match="other rows on a later pass"):
        UnlearnableLogisticRegression.from_fitted(parent, _Drifting(chunks, change))
    model = UnlearnableLogisticRegression().fit(X, y)
    before = pickle.dumps(model.__dict__)
    with pytest.raises(ValueError, match="other rows on a later pass"):
        model.forget_features([1], _Drifting(chunks, change))
    assert pickle.dumps(model.__dict__) == before


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize("cls, parent", [
    (UnlearnableLogisticRegression, LogisticRegression(fit_intercept=False)),
    (UnlearnableRidge, Ridge(fit_intercept=False, solver="sag", tol=1e-1, max_iter=2)),
])
def test_rows_stretched_along_their_directions_are_refused(cls, parent):
    """Three pairs of rows of one label, ``x_b = -c x_a``, stretched along
    their own directions on the later passes so that the count, weights,
    largest norm, summed squared and cubed norms and the target moment all
    stay (each pair's shifts cancel in the moment): the probe saw only the
    rows' directions, and took them. Ridge's cache then mixed the passes'
    rows, with a residual_bound_ of 3e-11 against a true residual of 0.44.
    The probe now sees each row's norm too."""
    from scipy.optimize import fsolve

    rng = np.random.default_rng(7)
    X = rng.normal(size=(200, 4))
    y = X @ [1.0, -1.0, 0.5, 0.0] + rng.normal(size=200)
    if cls is UnlearnableLogisticRegression:
        y = (y > 0).astype(int)
    X[10] *= 4                              # the largest row, left alone
    for k in range(3):
        X[2 * k + 1] = -rng.uniform(0.5, 1.5) * X[2 * k]
        y[2 * k + 1] = y[2 * k]
    r = np.linalg.norm(X[:6], axis=1)

    def stretched(shifts):
        out = r.copy()
        for k, shift in enumerate(shifts):
            out[2 * k: 2 * k + 2] += shift
        return out

    rest = fsolve(lambda D: [np.sum(stretched(np.r_[-0.15, D])**m) - np.sum(r**m)
                             for m in (2, 3)], [-0.1, -0.1], xtol=1e-15)
    X_later = X.copy()
    X_later[:6] *= (stretched(np.r_[-0.15, rest]) / r)[:, None]
    np.testing.assert_allclose([np.sum(np.linalg.norm(X_later, axis=1)**m) for m in (2, 3)],
                               [np.sum(np.linalg.norm(X, axis=1)**m) for m in (2, 3)],
                               rtol=1e-14)
    chunks = [(X[:100], y[:100]), (X[100:], y[100:])]
    later = [(X_later[:100], y[:100]), (X_later[100:], y[100:])]
    parent.fit(X, y)
    with pytest.raises(ValueError, match="other rows on a later pass"):
        cls.from_fitted(parent, _Drifting(chunks, lambda _: later))


def test_weights_moved_below_a_rounded_sum_s_allowance_are_refused():
    """Later passes put 1 + 1e-9 on rows and 1 - 1e-9 on their twins turned
    by 90 degrees (the same norms and targets): every moment stays, and the
    probe moved by less than the worst rounding of a sum of 50,000 terms,
    which its allowance was. A ridge cache then took its Hessian from one
    pass and its model from another (11 to 14 times the bound at 200,000
    rows and 1e-8). The probe is now summed exactly: its allowance is the
    terms' own rounding."""
    rng = np.random.default_rng(1)
    m, K = 10_000, 6
    phi, r = rng.uniform(-np.pi / 4, np.pi / 4, m), rng.uniform(1, 5, m)
    targets = np.tan(rng.uniform(-1.4, 1.4, (m, K)))
    along = np.column_stack([r * np.cos(phi), r * np.sin(phi)])
    turned = np.column_stack([-r * np.sin(phi), r * np.cos(phi)])
    signal = rng.normal(0, 2, (m, 2))
    X = np.vstack([along, -along, turned, -turned, signal])
    y = np.vstack([targets] * 4 + [signal @ rng.normal(0, 2, (2, K))
                                   + rng.normal(0, 0.5, (m, K))])
    first = np.ones(len(y))
    later = first.copy()
    later[:4 * m] += 1e-9 * np.r_[np.ones(2 * m), -np.ones(2 * m)]
    order = rng.permutation(len(y))
    X, y, first, later = X[order], y[order], first[order], later[order]

    def chunks(w):
        return [(X[i:i + 20_000], y[i:i + 20_000], w[i:i + 20_000])
                for i in range(0, len(y), 20_000)]

    start = Ridge(alpha=1.0).fit(X[:1000], y[:1000])   # not the optimum
    with pytest.raises(ValueError, match="other rows on a later pass"):
        UnlearnableRidge.from_fitted(start, _Drifting(chunks(first), lambda _: chunks(later)))
    # the same rows, chunked otherwise on every pass, are taken
    shuffled = [(X[order[i:i + 7_000]], y[order[i:i + 7_000]], first[order[i:i + 7_000]])
                for i in range(0, len(y), 7_000)]
    UnlearnableRidge.from_fitted(start, _Drifting(chunks(first), lambda _: shuffled))


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_chunks_of_the_same_rows_in_another_order_are_taken(breast_cancer):
    """The probe is a sum over rows: the same rows in other chunks, in
    another order on every pass, give the same model as the rows at once."""
    X, y = breast_cancer
    X = (X - X.mean(axis=0)) / X.std(axis=0)

    class Shuffled:
        passes = 0

        def __iter__(self):
            self.passes += 1
            order = np.random.default_rng(self.passes).permutation(len(y))
            size = 50 + 17 * self.passes
            return iter([(X[order[i:i + size]], y[order[i:i + size]])
                         for i in range(0, len(y), size)])

    parent = LogisticRegression(max_iter=2).fit(X, y)
    source = Shuffled()
    adopted = UnlearnableLogisticRegression.from_fitted(parent, source)
    assert source.passes > 2
    ref = UnlearnableLogisticRegression().fit(X, y)
    assert_same_model(adopted, ref, rtol=1e-8)


def test_chunk_sums_add_up_to_the_sums_of_all_rows(digits):
    X, y = digits
    keep = np.flatnonzero(y < 3)[:400]
    X, y = X[keep], y[keep]
    model = UnlearnableLogisticRegression(C=0.3).fit(X, y)
    cache = model.unlearning_cache_
    obj, theta = cache.objective, cache.theta
    Y, S, rw, groups, k = model._unlearn_targets(y, np.ones(400))

    def sums(rows):
        return row_sums(obj, X[rows], Y[rows], S[rows], theta, groups=groups[rows],
                        n_groups=k, row_weight=rw[rows], hessian=True,
                        bound_grams=True)

    whole = sums(slice(0, 400))
    added = sums(slice(0, 150)) + sums(slice(150, 320)) + sums(slice(320, 400))
    assert added.n_rows == whole.n_rows == 400
    for name in ("value", "abs_coef", "coef_error", "weight_norm2",
                 "weight_error_norm2", "gram_norm2", "gram_norm3"):
        np.testing.assert_allclose(getattr(added, name), getattr(whole, name),
                                   rtol=1e-12)
    for name in ("gradient", "hessian_grams", "bound_grams"):
        np.testing.assert_allclose(getattr(added, name), getattr(whole, name),
                                   rtol=1e-12, atol=1e-10)
    assert added.max_norm == whole.max_norm
    np.testing.assert_array_equal(added.counts, whole.counts)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_each_newton_iteration_is_logged(breast_cancer, caplog):
    X, y = breast_cancer
    parent = LogisticRegression(max_iter=5).fit(X, y)
    chunks = [(X[i:i + 100], y[i:i + 100]) for i in range(0, len(y), 100)]
    with caplog.at_level(logging.INFO, logger="sklearn_unlearn"):
        UnlearnableLogisticRegression.from_fitted(parent, chunks)
    lines = [r.getMessage() for r in caplog.records if r.name == "sklearn_unlearn"]
    assert len(lines) >= 2
    assert all(line.startswith("Newton iteration") and "gradient norm" in line
               for line in lines)


def test_the_in_memory_polish_logs_its_iterations(breast_cancer, caplog):
    X, y = breast_cancer
    with caplog.at_level(logging.INFO, logger="sklearn_unlearn"):
        UnlearnableLogisticRegression(C=0.5).fit(X, y)
    lines = [r.getMessage() for r in caplog.records if r.name == "sklearn_unlearn"]
    assert lines and all(line.startswith("Newton iteration") for line in lines)


class CountedChunks:
    """A re-iterable of chunks that counts the passes that read it."""

    def __init__(self, chunks):
        self.chunks, self.passes = chunks, 0

    def __iter__(self):
        for i, chunk in enumerate(self.chunks):
            self.passes += i == 0
            yield chunk


def test_the_last_step_takes_the_hessian_of_the_optimum(breast_cancer, caplog):
    """A step expected to reach round-off takes the Hessian and the
    allowances in its own pass: one pass per logged iteration, none after,
    and the cache equals the fit's (its Hessian taken at the optimum)."""
    from sklearn.preprocessing import StandardScaler

    X, y = breast_cancer
    X = StandardScaler().fit_transform(X)
    parent = LogisticRegression(C=0.5).fit(X, y)
    chunks = CountedChunks([(X[i:i + 100], y[i:i + 100]) for i in range(0, len(y), 100)])
    with caplog.at_level(logging.INFO, logger="sklearn_unlearn"):
        model = UnlearnableLogisticRegression.from_fitted(parent, chunks)
    lines = [r for r in caplog.records if r.name == "sklearn_unlearn"]
    assert len(lines) >= 3 and chunks.passes == len(lines)
    ref = UnlearnableLogisticRegression(C=0.5).fit(X, y)
    assert_same_model(model, ref, rtol=1e-6)
    np.testing.assert_allclose(model.unlearning_cache_.hessians[0].matrix,
                               ref.unlearning_cache_.hessians[0].matrix, rtol=1e-10)


class _Shuffling:
    """The same rows on every pass, in another order and other chunks."""

    def __init__(self, X, y):
        self.X, self.y, self.passes = X, y, 0

    def __iter__(self):
        self.passes += 1
        order = np.random.default_rng(self.passes).permutation(len(self.y))
        size = 50 + 7 * self.passes
        for start in range(0, len(order), size):
            rows = order[start:start + size]
            yield self.X[rows], self.y[rows]


def test_a_source_giving_its_rows_in_another_order_each_pass_is_accepted():
    """Passes are compared within what summing the same rows in another
    order can change (centred targets: the moment's intercept entry is a sum
    that cancels to round-off, which an exact comparison refused)."""
    X, y = load_diabetes(return_X_y=True)
    y = (y - y.mean()) / y.std()
    in_memory = UnlearnableRidge().fit(X, y).forget_features([2], X, y)
    source = _Shuffling(X, y)
    chunked = UnlearnableRidge().fit(X, y).forget_features([2], source)
    assert source.passes >= 2
    np.testing.assert_allclose(chunked.coef_, in_memory.coef_, rtol=1e-9, atol=1e-12)
    adopted = UnlearnableRidge.from_fitted(Ridge().fit(X, y), _Shuffling(X, y))
    np.testing.assert_allclose(adopted.coef_, Ridge().fit(X, y).coef_, rtol=1e-9, atol=1e-9)


def test_a_model_adopted_from_chunks_chooses_its_method_as_in_memory(breast_cancer):
    """The cubic term of the cache's model (the third derivatives of the
    rows' loss, kept for at most 32 parameters) was left out of caches made
    from chunks: ``method="auto"`` then judged a long step by the request's
    rows alone, took one second-order step where the in-memory model refines,
    and reported a distance still to go many times too small. It is summed
    over the chunks in the pass that takes the Hessian at the optimum."""
    from sklearn.preprocessing import StandardScaler

    X, y = breast_cancer
    X = StandardScaler().fit_transform(X)
    chunks = [(X[i:i + 100], y[i:i + 100]) for i in range(0, len(y), 100)]
    parent = LogisticRegression(C=0.5).fit(X, y)
    adopted = UnlearnableLogisticRegression.from_fitted(parent, chunks)
    ref = UnlearnableLogisticRegression(C=0.5).fit(X, y)
    assert adopted.unlearning_cache_.third is not None
    assert_same_model(adopted, ref, rtol=1e-8)
    a, r = [model.plan_unlearn(X[:10], X[:10], y[:10], 1 - y[:10]) for model in (adopted, ref)]
    adopted.apply_unlearn(a)
    ref.apply_unlearn(r)
    a, r = a.report, r.report
    assert a.method == r.method == "refined"
    np.testing.assert_allclose(a.one_step_error, r.one_step_error, rtol=1e-6)
    assert rel_dist(adopted, ref) < 1e-8


def test_adopted_rows_are_checked_as_the_parent_checks_them():
    """Rows given to from_fitted in memory were not checked against the
    loss's range (a negative Poisson target was accepted), and chunks given
    as data frames were read by position (columns in another order gave
    a model with two coefficients swapped)."""
    import pandas as pd
    from sklearn.linear_model import PoissonRegressor

    from sklearn_unlearn import UnlearnablePoissonRegressor

    rng = np.random.default_rng(0)
    X = pd.DataFrame(rng.normal(size=(120, 3)), columns=["a", "b", "c"])
    y = rng.poisson(np.exp(X.to_numpy() @ [0.3, -0.2, 0.1])).astype(float)
    fitted = PoissonRegressor(alpha=0.1).fit(X, y)
    bad = y.copy()
    bad[7] = -5.0
    with pytest.raises(ValueError, match="out of the valid range"):
        UnlearnablePoissonRegressor.from_fitted(fitted, X, bad)
    with pytest.raises(ValueError, match="one target per row"):
        UnlearnablePoissonRegressor.from_fitted(fitted, X, np.c_[y, y])
    swapped = [(X.iloc[i:i + 40][["b", "a", "c"]], y[i:i + 40]) for i in range(0, 120, 40)]
    with pytest.raises(ValueError, match="not the feature names"):
        UnlearnablePoissonRegressor.from_fitted(fitted, swapped)
    model = UnlearnablePoissonRegressor.from_fitted(fitted, X, y)
    with pytest.raises(ValueError, match="not the feature names"):
        model.rebase_residual_bound(X[["b", "a", "c"]], y)
    ordered = [(X.iloc[i:i + 40], y[i:i + 40]) for i in range(0, 120, 40)]
    assert rel_dist(UnlearnablePoissonRegressor.from_fitted(fitted, ordered), model) < 1e-8


def test_adopted_targets_must_have_the_models_shape():
    """A two-target Ridge adopted from chunks of one target per row made its
    second target's model a copy of the first; Dask and in-memory rows were
    refused by a numpy reshape error, or accepted with two columns for one
    target. Each is refused by name; a column of one target, and a scalar
    sample weight, are taken as at fit."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(240, 3))
    y = X @ [0.5, -0.2, 0.1]
    one, two = Ridge().fit(X, y), Ridge().fit(X, np.c_[y, 1 - y])

    def chunks(Y):
        return [(X[i:i + 80], Y[i:i + 80]) for i in range(0, 240, 80)]

    for fitted, Y in ((one, np.c_[y, y]), (two, y)):
        for rows in ((X, Y), (chunks(Y),)):
            with pytest.raises(ValueError, match="per row. Give them as at fit"):
                UnlearnableRidge.from_fitted(fitted, *rows)
    assert rel_dist(UnlearnableRidge.from_fitted(two, chunks(np.c_[y, 1 - y])), two) < 1e-8
    assert rel_dist(UnlearnableRidge.from_fitted(one, X, y[:, None]), one) < 1e-8
    weighted = Ridge().fit(X, y, sample_weight=2.5)
    assert rel_dist(UnlearnableRidge.from_fitted(weighted, X, y, sample_weight=2.5),
                    weighted) < 1e-8


def test_a_source_spent_after_one_pass_is_named_as_such(breast_cancer):
    """A source whose ``__iter__`` hands back one iterator passes the check
    for one-shot iterators and gives no rows on its second pass: it was
    refused as "empty", which it is not."""
    X, y = breast_cancer
    chunks = [(X[i:i + 100], y[i:i + 100]) for i in range(0, len(y), 100)]

    class Spent:
        def __init__(self):
            self.rows = iter(chunks)

        def __iter__(self):
            return self.rows

    parent = LogisticRegression().fit(X, y)
    with pytest.raises(ValueError, match="spent after one pass"):
        UnlearnableLogisticRegression.from_fitted(parent, Spent())


def test_passes_differing_in_their_target_moment_alone_are_told_apart():
    """The summaries of two passes compare the target moment whatever the
    probe says (a variable shared by both comparisons once let the probe's
    gap stand for the moment's)."""
    from sklearn_unlearn.linear_model._chunked import _PassSummary

    def summary(moment):
        return _PassSummary(np.array([10, 5, 5]), np.array([5.0, 5.0]),
                            np.array([2.0, 10.0, 10.0, 20.0]), moment, np.float64(1e-12),
                            (3.5,), 1e-12)

    first = summary(np.array([[1.0], [2.0]]))
    assert first.same_rows(summary(np.array([[1.0], [2.0]])))
    assert not first.same_rows(summary(np.array([[1.0], [2.5]])))
    assert not first.same_rows(_PassSummary(**{**vars(first), "probe": (3.6,)}))
