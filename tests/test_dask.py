"""Fits on a Dask cluster equal the in-memory fits: the same optimum (the
parent's objective) and the same cache, from one pass over the chunks per
Newton iteration."""

import pickle

import dask.array as da
import dask.dataframe as dd
import numpy as np
import pandas as pd
import pytest
from dask.distributed import Client, LocalCluster
from sklearn.base import clone
from sklearn.linear_model import LogisticRegression, PoissonRegressor, Ridge

from sklearn_unlearn import (UnlearnableGammaRegressor, UnlearnableLinearSVC,
                             UnlearnableLogisticRegression, UnlearnablePoissonRegressor,
                             UnlearnableRidge, UnlearnableTweedieRegressor)

from ._chunked_reference import assert_bound_holds, assert_same_model
from .conftest import exact_refit, params_of, rel_dist


@pytest.fixture(scope="module")
def client():
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                      dashboard_address=None) as cluster, Client(cluster) as c:
        yield c


@pytest.fixture(scope="module")
def classes_data(digits):
    X, y = digits
    keep = np.flatnonzero(y < 3)[:450]
    w = np.random.default_rng(1).uniform(0.5, 2.0, len(keep))
    return X[keep], y[keep], w


@pytest.mark.parametrize("est", [
    UnlearnableLogisticRegression(C=0.5),
    UnlearnableLogisticRegression(C=2.0, fit_intercept=False),
    UnlearnableLinearSVC(C=0.2),
])
def test_dask_fit_of_a_classifier_equals_the_in_memory_fit(est, client, classes_data):
    X, y, w = classes_data
    ref = clone(est).fit(X, y, sample_weight=w)
    model = clone(est).fit(da.from_array(X, chunks=(100, 32)),
                           da.from_array(y, chunks=100),
                           sample_weight=da.from_array(w, chunks=100))
    np.testing.assert_array_equal(model.classes_, ref.classes_)
    assert model.coef_.shape == ref.coef_.shape
    assert model.intercept_.shape == ref.intercept_.shape
    assert_same_model(model, ref, rtol=1e-6)
    if isinstance(est, LogisticRegression):
        # the parent's objective: scikit-learn's exact refit, and the bound
        assert rel_dist(model, exact_refit(ref, X, y, w)) < 1e-6
        assert_bound_holds(model, X, y, w)
    np.testing.assert_array_equal(model.predict(X), ref.predict(X))


def test_dask_ridge_with_several_targets_and_binary_labels(client, synthetic_regression,
                                                           breast_cancer):
    X, Y = synthetic_regression
    ref = UnlearnableRidge(alpha=2.0).fit(X, Y)
    model = UnlearnableRidge(alpha=2.0).fit(da.from_array(X, chunks=70), Y)
    assert model.coef_.shape == ref.coef_.shape and model.solver_ == "cholesky"
    assert_same_model(model, ref, rtol=1e-6)
    assert rel_dist(model, Ridge(alpha=2.0, solver="cholesky").fit(X, Y)) < 1e-9
    Xb, yb = breast_cancer
    ref = UnlearnableLogisticRegression().fit(Xb, yb)
    model = UnlearnableLogisticRegression().fit(da.from_array(Xb, chunks=150),
                                                da.from_array(yb, chunks=150))
    assert model.coef_.shape == (1, Xb.shape[1])
    assert_same_model(model, ref, rtol=1e-6)


def test_dask_dataframe_keeps_the_feature_names(client, breast_cancer):
    X, y = breast_cancer
    df = pd.DataFrame(X, columns=[f"f{i}" for i in range(X.shape[1])])
    ddf = dd.from_pandas(df, npartitions=3)
    ys = dd.from_pandas(pd.Series(y), npartitions=3)
    model = UnlearnableLogisticRegression(C=0.3).fit(ddf, ys)
    ref = UnlearnableLogisticRegression(C=0.3).fit(df, y)
    np.testing.assert_array_equal(model.feature_names_in_, ref.feature_names_in_)
    assert_same_model(model, ref, rtol=1e-6)
    # one step each: the default method also iterates on the cubic term,
    # which a fit by chunks does not keep
    model.unlearn(df.iloc[:10], None, y[:10], method="second_order")
    ref.unlearn(df.iloc[:10], None, y[:10], method="second_order")
    assert rel_dist(model, ref) < 1e-6


def test_columns_of_mixed_name_types_are_refused_as_scikit_learn_refuses_them(
        client, breast_cancer):
    """A Dask frame whose columns mix strings and integers was fitted, its
    names silently dropped, where scikit-learn's fit (and one in memory)
    refuses it."""
    X, y = breast_cancer
    df = pd.DataFrame(X[:, :4], columns=[0, 1, "c", "d"])
    with pytest.raises(TypeError, match="all input features have string names"):
        UnlearnableLogisticRegression().fit(df, y)
    with pytest.raises(TypeError, match="all input features have string names"):
        UnlearnableLogisticRegression().fit(dd.from_pandas(df, npartitions=2),
                                            dd.from_pandas(pd.Series(y), npartitions=2))


def test_a_request_on_the_dask_model_equals_the_refit(client, diabetes):
    X, y = diabetes
    model = UnlearnableRidge(alpha=0.1).fit(da.from_array(X, chunks=100),
                                            da.from_array(y, chunks=100))
    model.unlearn(X[:40], None, y[:40])
    refit = Ridge(alpha=0.1, solver="cholesky").fit(X[40:], y[40:])
    assert rel_dist(model, refit) < 1e-9


def test_forget_features_reads_the_rows_from_a_dask_array(client, classes_data):
    """forget_features with the training rows on the cluster gives the model
    it gives with them in memory, to 1e-9."""
    X, y, w = classes_data
    cols = [10, 20, 30]
    in_memory = UnlearnableLogisticRegression(C=0.5).fit(X, y, sample_weight=w)
    in_memory.forget_features(cols, X, y, w)
    model = UnlearnableLogisticRegression(C=0.5).fit(X, y, sample_weight=w)
    model.forget_features(cols, da.from_array(X, chunks=(90, 16)),
                          da.from_array(y, chunks=90), w)
    assert rel_dist(model, in_memory) <= 1e-9
    assert np.all(model.coef_[:, cols] == 0)
    # the rows are checked as in memory: two rows of other classes swap
    # labels and weights (the count and weight per class stay), which the
    # gradient at the model refuses
    other = UnlearnableLogisticRegression(C=0.5).fit(X, y, sample_weight=w)
    cache, wrong_y, wrong_w = other.unlearning_cache_, y.copy(), w.copy()
    i, j = np.flatnonzero(y == 0)[0], np.flatnonzero(y == 1)[0]
    wrong_y[[i, j]], wrong_w[[i, j]] = wrong_y[[j, i]], wrong_w[[j, i]]
    with pytest.raises(ValueError, match="not the model's current training rows"):
        other.forget_features(cols, da.from_array(X, chunks=(90, 16)),
                              da.from_array(wrong_y, chunks=90), wrong_w)
    assert other.unlearning_cache_ is cache
    with pytest.raises(ValueError, match="Give both the training rows X and their targets"):
        other.forget_features(cols, da.from_array(X, chunks=(90, 16)))


def test_from_fitted_reads_a_dask_array(client, classes_data):
    X, y, w = classes_data
    parent = LogisticRegression(C=0.5).fit(X, y, sample_weight=w)
    model = UnlearnableLogisticRegression.from_fitted(
        parent, da.from_array(X, chunks=90), da.from_array(y, chunks=90),
        sample_weight=w)
    ref = UnlearnableLogisticRegression(C=0.5).fit(X, y, sample_weight=w)
    assert_same_model(model, ref, rtol=1e-6)


def test_dask_fits_refuse_what_chunks_cannot_do(client, breast_cancer):
    X, y = breast_cancer
    Xd, yd = da.from_array(X, chunks=200), da.from_array(y, chunks=200)
    with pytest.raises(ValueError, match="dense Hessian"):
        UnlearnableLogisticRegression(hessian="low_rank").fit(Xd, yd)
    with pytest.raises(ValueError, match="balanced"):
        UnlearnableLogisticRegression(class_weight="balanced").fit(Xd, yd)
    with pytest.raises(ValueError, match="only one class"):
        UnlearnableLogisticRegression().fit(Xd, da.zeros(len(y), chunks=200))
    bad = X.copy()
    bad[5, 1] = np.inf
    with pytest.raises(ValueError, match="infinity"):
        UnlearnableLogisticRegression().fit(da.from_array(bad, chunks=200), yd)


def test_a_dask_fit_keeps_the_loss_profile_and_fingerprints(client, classes_data):
    # From the last pass over the chunks: the profile equals the in-memory
    # fit's (rtol 1e-9: the same losses, summed chunk by chunk), and the
    # fingerprints check requests as the in-memory ones do.
    from sklearn_unlearn.base import MissingRowsError

    X, y, w = classes_data
    key = bytes(range(32))
    ref = UnlearnableLogisticRegression(C=0.5).fit(X, y, sample_weight=w,
                                                   fingerprint_key=key)
    model = UnlearnableLogisticRegression(C=0.5).fit(
        da.from_array(X, chunks=(100, 32)), da.from_array(y, chunks=100),
        sample_weight=da.from_array(w, chunks=100), fingerprint_key=key)
    a, b = model.training_loss_profile_, ref.training_loss_profile_
    assert a.n_rows == b.n_rows == len(y)
    np.testing.assert_allclose([a.total, a.total_sq], [b.total, b.total_sq], rtol=1e-9)
    assert model.row_fingerprints_.n_rows == len(y)
    assert sorted(np.concatenate(model.row_fingerprints_.shards).tolist()) == sorted(
        np.concatenate(ref.row_fingerprints_.shards).tolist())
    with pytest.raises(MissingRowsError):
        model.unlearn(X[:2], None, (y[:2] + 1) % 3, sample_weight=w[:2],
                      fingerprint_key=key)
    model.unlearn(X[:2], None, y[:2], sample_weight=w[:2], fingerprint_key=key)
    assert model.row_fingerprints_.n_rows == len(y) - 2
    # adopted from chunks: the profile too
    chunks = [(X[i:i + 100], y[i:i + 100], w[i:i + 100]) for i in range(0, len(y), 100)]
    adopted = UnlearnableLogisticRegression.from_fitted(
        LogisticRegression(C=0.5).fit(X, y, sample_weight=w), chunks)
    np.testing.assert_allclose(adopted.training_loss_profile_.total, b.total, rtol=1e-6)


_COMPUTES = {"n": 0}


def _labels_swapped_from_second_compute(block, swapped, block_info=None):
    """Block 0 of the labels, swapped from its second compute on: a graph
    that gives other rows each time it is computed."""
    if block_info[0]["array-location"][0][0] != 0:
        return block
    _COMPUTES["n"] += 1
    return block if _COMPUTES["n"] == 1 else swapped[:len(block)]


def test_forget_features_refuses_a_graph_whose_rows_change(client, breast_cancer):
    """The check reads the rows as they are, and (Dask computes the graph
    again) zeroed: labels swapped from the second compute on were checked
    in neither, and the model was polished on them."""
    X, y = breast_cancer
    X = (X - X.mean(axis=0)) / X.std(axis=0)
    model = UnlearnableLogisticRegression(C=0.5).fit(X, y)
    before = pickle.dumps(model.__dict__)
    i, j = np.flatnonzero(y[:100] == 0)[0], np.flatnonzero(y[:100] == 1)[0]
    swapped = y.copy()
    swapped[[i, j]] = swapped[[j, i]]
    _COMPUTES["n"] = 0
    labels = da.from_array(y, chunks=100).map_blocks(
        _labels_swapped_from_second_compute, swapped, dtype=y.dtype)
    with pytest.raises(ValueError, match="other rows on a later pass"):
        model.forget_features([0, 1], da.from_array(X, chunks=(100, -1)), labels)
    assert pickle.dumps(model.__dict__) == before


def test_arrays_of_unknown_chunk_sizes_are_read(client, classes_data):
    """Rows selected by a mask have chunks of unknown sizes: X's were
    computed, y's were not, and every fit, check and adoption failed on
    ``X has 450 rows; got nan values``. Both are computed; each result
    equals the in-memory one (1e-8)."""
    X, y, w = classes_data
    Xd, yd = da.from_array(X, chunks=(100, 32)), da.from_array(y, chunks=100)
    kept = Xd[:, 0] > -1.0       # every row, in chunks of unknown size
    Xu, yu, wu = Xd[kept], yd[kept], da.from_array(w, chunks=100)[kept]
    assert np.isnan(yu.chunks[0][0])
    ref = UnlearnableLogisticRegression(C=0.5).fit(X, y, sample_weight=w)
    model = UnlearnableLogisticRegression(C=0.5).fit(Xu, yu, sample_weight=wu)
    assert_same_model(model, ref, rtol=1e-8)
    model.rebase_residual_bound(Xu, yu, wu)
    model.forget_features([5], Xu, yu, wu)
    ref.forget_features([5], X, y, w)
    assert rel_dist(model, ref) < 1e-8
    adopted = UnlearnableLogisticRegression.from_fitted(
        LogisticRegression(C=0.5).fit(X, y, sample_weight=w), Xu, yu, sample_weight=wu)
    assert rel_dist(adopted, UnlearnableLogisticRegression(C=0.5).fit(
        X, y, sample_weight=w)) < 1e-8


@pytest.fixture(scope="module")
def glm_data():
    rng = np.random.default_rng(3)
    X = rng.normal(size=(600, 4))
    y = rng.poisson(np.exp(X @ [0.3, 0.1, -0.2, 0.0]))
    return X, y + 0.5, rng.uniform(0.5, 2.0, 600)


@pytest.mark.parametrize("est", [
    UnlearnablePoissonRegressor(alpha=0.1),
    UnlearnableGammaRegressor(alpha=0.1),
    UnlearnableTweedieRegressor(power=1.5, alpha=0.1, fit_intercept=False),
    UnlearnableTweedieRegressor(power=0, alpha=0.1),
])
def test_dask_fit_of_a_glm_equals_the_in_memory_fit(est, client, glm_data):
    """A GLM's penalty grows with the total sample weight, which the first
    pass gives: its fit by chunks raised a bare NotImplementedError. It
    equals the in-memory fit (1e-8) and scikit-learn's refit (1e-6), and a
    request on it gives what it gives on the in-memory fit (1e-8)."""
    X, y, w = glm_data
    ref = clone(est).fit(X, y, sample_weight=w)
    model = clone(est).fit(da.from_array(X, chunks=(150, 4)), da.from_array(y, chunks=150),
                           sample_weight=da.from_array(w, chunks=150))
    assert_same_model(model, ref, rtol=1e-8)
    assert isinstance(model.intercept_, float) and model.coef_.shape == (4,)
    assert rel_dist(model, exact_refit(ref, X, y, w)) < 1e-6
    model.unlearn(X[:30], None, y[:30], sample_weight=w[:30])
    ref.unlearn(X[:30], None, y[:30], sample_weight=w[:30])
    assert rel_dist(model, ref) < 1e-8


def test_glm_chunks_with_targets_its_loss_refuses_are_refused(client, glm_data):
    """The parent validates the targets of rows in memory; a chunk's are
    validated by the loss's range and shape, and nothing is fitted."""
    X, y, _ = glm_data
    bad = y.copy()
    bad[400] = -1.0
    est = UnlearnablePoissonRegressor()
    with pytest.raises(ValueError, match="out of the valid range"):
        est.fit(da.from_array(X, chunks=(150, 4)), da.from_array(bad, chunks=150))
    assert not hasattr(est, "coef_") or not hasattr(est, "unlearning_cache_")
    with pytest.raises(ValueError, match="one target per row"):
        UnlearnablePoissonRegressor().fit(da.from_array(X, chunks=(150, 4)),
                                          da.from_array(np.c_[y, y], chunks=(150, 2)))


def test_a_refused_dask_refit_leaves_the_model_as_it_was(client, glm_data):
    """The fit by chunks sets the parameters, the feature count and names
    before its passes; a chunk refused in a pass left a fitted model with
    zero coefficients beside its old cache (its predictions changed)."""
    X, y, w = glm_data
    frame = pd.DataFrame(X, columns=list("abcd"))
    model = UnlearnablePoissonRegressor(alpha=0.1).fit(frame, y, sample_weight=w)
    before = pickle.dumps(model)
    bad = y.copy()
    bad[500] = -1.0
    with pytest.raises(ValueError, match="out of the valid range"):
        model.fit(dd.from_pandas(frame.assign(e=1.0), npartitions=3),
                  dd.from_pandas(pd.Series(bad), npartitions=3))
    assert pickle.dumps(model) == before


@pytest.mark.parametrize("est, scale", [(UnlearnablePoissonRegressor(alpha=0.1), 1e12),
                                        (UnlearnableGammaRegressor(alpha=0.1), 1e-12)])
def test_a_glm_whose_optimum_is_far_from_zero_is_fitted_by_chunks(est, scale, client,
                                                                  glm_data):
    """From zero, a log link's exp(eta) overflowed in every step towards a
    mean target of 1e10 or 1e-10: the fit stayed at zero (or near it) with
    only a warning. It starts where the parent does, at the link of the
    weighted mean target, and reaches the in-memory fit (1e-8)."""
    X, y, w = glm_data
    y = y * scale
    ref = clone(est).fit(X, y, sample_weight=w)
    model = clone(est).fit(da.from_array(X, chunks=(150, 4)), da.from_array(y, chunks=150),
                           sample_weight=da.from_array(w, chunks=150))
    assert rel_dist(model, ref) < 1e-8


def test_dask_fits_take_a_scalar_weight_and_refuse_rows_without_weight(client, glm_data):
    X, y, _ = glm_data
    Xd, yd = da.from_array(X, chunks=(150, 4)), da.from_array(y, chunks=150)
    ref = UnlearnablePoissonRegressor().fit(X, y, sample_weight=2.0)
    assert rel_dist(UnlearnablePoissonRegressor().fit(Xd, yd, sample_weight=2.0), ref) < 1e-8
    for est in (UnlearnablePoissonRegressor(), UnlearnableLogisticRegression()):
        target = yd if isinstance(est, UnlearnablePoissonRegressor) else (yd > 1).astype(int)
        with pytest.raises(ValueError, match="no weight"):
            est.fit(Xd, target, sample_weight=da.zeros(len(y), chunks=150))
    with pytest.raises(ValueError, match="no weight"):
        UnlearnablePoissonRegressor.from_fitted(PoissonRegressor().fit(X, y), X, y,
                                                sample_weight=np.zeros(len(y)))
    with pytest.raises(ValueError, match="no finite minimum"):
        UnlearnablePoissonRegressor().fit(Xd, da.zeros(len(y), chunks=150))
    with pytest.raises(ValueError, match="one value per row"):
        UnlearnablePoissonRegressor().fit(Xd, 1.0)
    with pytest.raises(ValueError, match="contains NaN"):
        UnlearnablePoissonRegressor().fit(Xd, da.from_array(np.r_[np.nan, y[1:]], chunks=150))


def test_a_dask_fit_of_float32_rows_publishes_float32_parameters(client, glm_data):
    """The parent publishes float32 parameters for float32 rows, and the
    cache's bound is about what is published; a Dask fit published float64
    (2e-8 from the in-memory fit, and a later request's estimate 2% off)."""
    X, y, w = glm_data
    X32 = X.astype(np.float32)
    for est, target in ((UnlearnableTweedieRegressor(power=1.5), y),
                        (UnlearnableLogisticRegression(), (y > 1).astype(int))):
        ref = clone(est).fit(X32, target)
        model = clone(est).fit(da.from_array(X32, chunks=(150, 4)),
                               da.from_array(target, chunks=150))
        assert model.coef_.dtype == ref.coef_.dtype == np.float32
        assert_same_model(model, ref, rtol=1e-7)


def test_gradients_of_tiny_entries_are_not_taken_for_zero(client, diabetes):
    """The iterations judged their gradient by numpy's norm, whose squares
    underflow below 1e-154: with targets scaled by 1e-200 the fit stopped
    where it started (zero coefficients, no warning), in memory and by
    chunks. The norm is the BLAS's scaled one: both reach scikit-learn's
    refit (1e-8, relative)."""
    X, y = diabetes
    X = X[:300]
    y = y[:300] * 1e-200
    ref = params_of(Ridge(solver="cholesky").fit(X, y)) * 1e200
    for rows in ((X, y), (da.from_array(X, chunks=(100, 10)), da.from_array(y, chunks=100))):
        got = params_of(UnlearnableRidge().fit(*rows)) * 1e200
        assert np.linalg.norm(got - ref) < 1e-8 * np.linalg.norm(ref)


def test_a_glm_without_intercept_whose_optimum_is_far_is_fitted_by_chunks(client):
    """Without an intercept there is no mean to start from: the Newton step
    from zero overshot by orders of magnitude, its halvings overflowed, and
    the fit stopped at zero with only a warning (a mean target of 1e11
    through a constant column). A log link's first trial now moves no
    predictor by more than 30, and the fit reaches the in-memory one."""
    rng = np.random.default_rng(5)
    X = np.c_[rng.normal(size=(400, 3)), np.ones(400)]
    w = rng.uniform(0.5, 2.0, 400)
    y = np.exp(X @ [0.3, 0.1, -0.2, 0.0]) * 1e11 * rng.uniform(0.5, 1.5, 400)
    est = UnlearnablePoissonRegressor(alpha=0.0, fit_intercept=False)
    ref = clone(est).fit(X, y, sample_weight=w)
    model = clone(est).fit(da.from_array(X, chunks=(100, 4)), da.from_array(y, chunks=100),
                           sample_weight=da.from_array(w, chunks=100))
    assert rel_dist(model, ref) < 1e-8


def test_a_graph_that_gives_other_rows_to_forget_features_is_refused():
    # forget_features computes a Dask graph once to check the rows and again
    # for them with the columns zeroed; a graph giving two rows shifted by
    # +v and -v in the kept columns on its second compute kept the count,
    # weights and target moment the check compared, and the model published
    # residual_bound_ 3.5e-11 against a true gradient of 32. The probes of
    # both computes are now of the zeroed rows, and compared.
    import dask

    rng = np.random.default_rng(0)
    X = rng.standard_normal((400, 5))
    y = (X @ rng.standard_normal(5) + 0.5 * rng.standard_normal(400) > 0).astype(int)
    i, j = np.flatnonzero(y == 1)[:2]
    other = X.copy()
    other[i] += [0.0, 0.0, 40.0, -30.0, 25.0]
    other[j] -= [0.0, 0.0, 40.0, -30.0, 25.0]
    computes = []

    def rows():
        computes.append(1)
        return X if len(computes) == 1 else other

    X_graph = da.from_delayed(dask.delayed(rows)(), shape=X.shape, dtype=float)
    model = UnlearnableLogisticRegression().fit(X, y)
    before = pickle.dumps(model.__dict__)
    # in this process: the counter of the graph's computes is this test's (a
    # client another test left as the default could run it elsewhere)
    with dask.config.set(scheduler="threads"):
        with pytest.raises(ValueError, match="other rows"):
            model.forget_features([0], X_graph, da.from_array(y, chunks=400))
        assert pickle.dumps(model.__dict__) == before
        # the same graph giving the same rows is taken
        honest = da.from_delayed(dask.delayed(lambda: X)(), shape=X.shape, dtype=float)
        model.forget_features([0], honest, da.from_array(y, chunks=400))


def test_refresh_from_dask_equals_refresh_in_memory(client, classes_data):
    X, y, w = classes_data
    model = UnlearnableLogisticRegression(C=0.5).fit(X, y, sample_weight=w)
    model.unlearn(X[:20], None, y[:20], sample_weight=w[:20])
    in_memory = model.refresh_cache(X[20:], y[20:], w[20:], copy=True)
    model.refresh_cache(da.from_array(X[20:], chunks=(100, 32)),
                        da.from_array(y[20:], chunks=100),
                        sample_weight=da.from_array(w[20:], chunks=100))
    assert_same_model(model, in_memory, rtol=1e-9)
    assert model.unlearn_history_ == []


def test_certified_removal_refuses_kept_rows_that_are_not_the_fitted_ones():
    """A CertifiedRemoval keeps its rows by reading the data once more after
    the fit: a graph that gave other rows on that read (25 labels flipped)
    was kept as the training rows with a valid certificate, and verify()
    then blamed a tampered model. The kept rows are now checked against the
    model's cache at fit, and such a fit is refused."""
    import dask

    from sklearn_unlearn.certified import CertifiedRemoval

    rng = np.random.default_rng(0)
    X = rng.standard_normal((1000, 5))
    y = (X @ rng.standard_normal(5) + rng.standard_normal(1000) > 0).astype(float)
    flipped = y.copy()
    flipped[:25] = 1.0 - flipped[:25]
    computes = {"n": 0, "from": None}

    def labels():
        computes["n"] += 1
        changed = computes["from"] is not None and computes["n"] >= computes["from"]
        return flipped if changed else y

    def fitted():
        computes["n"] = 0
        y_graph = da.from_delayed(dask.delayed(labels, pure=False)(), shape=y.shape,
                                  dtype=float)
        return CertifiedRemoval(UnlearnableLogisticRegression(), epsilon=1.0, delta=1e-4,
                                budget=0.5, random_state=0).fit(
            da.from_array(X, chunks=250), y_graph)

    with dask.config.set(scheduler="threads"):
        honest = fitted()
        assert honest.verify().true_residual <= honest.certificate_.spent
        # the same graph, flipping the labels from its last compute on: the
        # one that read the rows to keep
        computes["from"] = computes["n"]
        with pytest.raises(ValueError, match="read again to be kept, are not the rows"):
            fitted()


def test_a_noise_the_data_cannot_balance_is_refused_as_in_memory(client):
    """Certified removal draws noise for the unpenalised intercept beyond
    what the classes' weights can balance: in memory the fit is refused by
    name ('no finite minimum', with the range); on a Dask array the passes
    diverged and were refused as a Hessian that cannot be factored ('Use a
    stronger L2 penalty'). The first pass's class totals now decide it
    there too, with the same message."""
    from sklearn_unlearn.certified import CertifiedRemoval

    rng = np.random.default_rng(0)
    X = rng.standard_normal((1200, 10)) + 2.0
    X[6:9] *= 30.0
    y = ((X[:, 0] + rng.standard_normal(1200)) > 2.0).astype(int)
    w = rng.uniform(0.5, 5.0, 1200)

    def fit(*data, sample_weight):
        return CertifiedRemoval(UnlearnableLogisticRegression(), epsilon=1.0, delta=1e-5,
                                budget=1e6, random_state=0).fit(
            *data, sample_weight=sample_weight)

    messages = []
    for data, weights in (((X, y), w), ((da.from_array(X, chunks=(300, 10)),
                                         da.from_array(y, chunks=300)),
                                        da.from_array(w, chunks=300))):
        with pytest.raises(ValueError, match="no finite minimum") as info:
            fit(*data, sample_weight=weights)
        messages.append(str(info.value))
    assert messages[0] == messages[1]
