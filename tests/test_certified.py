"""Certified removal: noise, budget, ledger, refusal, retraining, verification."""

from functools import partial
import pickle
import warnings

import joblib
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.base import clone
from sklearn.frozen import FrozenEstimator
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler

from sklearn_unlearn import (
    UnlearnableLinearSVC,
    UnlearnableLogisticRegression,
    UnlearnableMLPClassifier,
    UnlearnableRidge,
    zero_features,
)
from sklearn_unlearn.pipeline import make_unlearning_pipeline
from sklearn_unlearn.solvers import UnlearningWarning
from sklearn_unlearn.certified import (
    BudgetExceededError,
    CertifiedRemoval,
    noise_constant,
    noise_scale,
)

from .conftest import exact_refit, params_of


def _state(model):
    return pickle.dumps(model.__dict__)


@pytest.fixture
def frozen_scaler(breast_cancer):
    X, _ = breast_cancer
    # fitted on rows that are never removed, then frozen
    return FrozenEstimator(StandardScaler().fit(X[-100:]))


@pytest.fixture(scope="module")
def large_binary():
    from sklearn.datasets import make_classification

    X, y = make_classification(n_samples=10_000, n_features=20, n_informative=8,
                               random_state=0)
    return StandardScaler().fit_transform(X), y


def _large_model(**kw):
    # n = 10,000: the noise (sigma = 8.8) is small against the data term
    params = dict(epsilon=1.0, delta=1e-4, budget=2.0, random_state=0)
    params.update(kw)
    return CertifiedRemoval(UnlearnableLogisticRegression(C=1.0), **params)


def _model(scaler, **kw):
    # sigma = 0.44: the noise is small against the data term (C * n)
    params = dict(epsilon=1.0, delta=1e-4, budget=0.1, random_state=0)
    params.update(kw)
    return CertifiedRemoval(make_pipeline(scaler, UnlearnableLogisticRegression(C=1.0)),
                            **params)


def test_noise_is_calibrated_and_covers_intercepts(breast_cancer, digits):
    X, y = breast_cancer
    model = CertifiedRemoval(UnlearnableLogisticRegression(), epsilon=0.5, delta=1e-5,
                             budget=0.3, random_state=1).fit(X, y)
    sigma = 0.3 * np.sqrt(2 * np.log(1.5 / 1e-5)) / 0.5
    assert model.certificate_.sigma == pytest.approx(sigma)
    assert noise_scale(0.5, 1e-5, 0.3) == pytest.approx(sigma)
    assert noise_constant(1e-5) == pytest.approx(np.sqrt(2 * np.log(1.5e5)))
    B = model.estimator_.unlearning_cache_.noise
    assert B.shape == (X.shape[1] + 1, 1)  # weights and intercept
    assert B[-1, 0] != 0
    assert np.std(B) == pytest.approx(sigma, rel=0.35)
    # multinomial: the noise has no component along the common intercept shift
    Xd, yd = digits
    multi = CertifiedRemoval(UnlearnableLogisticRegression(C=0.1), budget=0.1,
                             random_state=0).fit(Xd, yd)
    Bm = multi.estimator_.unlearning_cache_.noise
    assert abs(Bm[-1].sum()) <= 1e-12 * np.abs(Bm[-1]).sum()
    assert np.all(Bm[-1] != 0)


def test_objective_noise_is_in_the_optimum(breast_cancer):
    """The fitted model minimises the perturbed objective to round-off."""
    X, y = breast_cancer
    est = UnlearnableLogisticRegression(objective_noise=2.0, random_state=3).fit(X, y)
    cache = est.unlearning_cache_
    Y, S, *_ = est._unlearn_targets(y, np.ones(len(y)))
    grad = cache.objective.gradient(X, Y, S, cache.theta, cache.noise)
    assert np.linalg.norm(grad) <= 1e-9
    plain = UnlearnableLogisticRegression().fit(X, y)
    assert np.linalg.norm(est.coef_ - plain.coef_) > 1e-3


def test_budget_is_spent_request_by_request(large_binary):
    X, y = large_binary
    model = _large_model().fit(X, y)
    spent = [model.certificate_.spent]
    for i in range(4):
        rows = slice(5 * i, 5 * i + 5)
        model.unlearn(X[rows], None, y[rows])
        spent.append(model.certificate_.spent)
    cert = model.certificate_           # each request makes a new certificate
    assert cert.n_requests == 4 and cert.n_retrains == 0
    assert [e.kind for e in cert.ledger] == ["fit"] + ["request"] * 4
    assert np.all(np.diff(spent) > 0)
    assert cert.remaining == pytest.approx(cert.budget - cert.spent)
    assert cert.valid
    report = model.verify()
    print(f"spent {cert.spent:.3g}, true residual {report.true_residual:.3g}, "
          f"distance {report.parameter_distance:.2e}, agreement {report.prediction_agreement}")
    assert report.true_residual <= cert.spent
    assert report.parameter_distance <= 1e-2
    assert report.prediction_agreement >= 0.99
    assert model.training_rows_.n_rows == len(y) - 20


def test_epsilon_above_one_is_refused(breast_cancer):
    X, y = breast_cancer
    with pytest.raises(ValueError, match="epsilon"):
        CertifiedRemoval(UnlearnableLogisticRegression(), epsilon=2.0).fit(X, y)


@pytest.mark.parametrize("kind", ["features", "labels", "insert"])
def test_features_labels_and_insertions_are_certified(large_binary, kind):
    X, y = large_binary
    X, y = X[:5000], y[:5000]
    model = _large_model().fit(X[:4990], y[:4990])
    if kind == "features":
        X_new = X[:8].copy()
        X_new[:, 2] = 0.0
        model.unlearn(X[:8], X_new, y[:8])
    elif kind == "labels":
        model.unlearn(X[:4], X[:4], y[:4], 1 - y[:4])
    else:
        model.unlearn(None, X[4990:5000], y_new=y[4990:5000])
    report = model.verify()
    assert report.true_residual <= model.certificate_.spent
    assert report.parameter_distance <= 5e-2


def test_retrain_when_the_budget_is_spent(breast_cancer, frozen_scaler):
    X, y = breast_cancer
    model = _model(frozen_scaler).fit(X, y)
    seed = model.noise_seed_
    for i in range(6):
        rows = slice(20 * i, 20 * i + 10)
        model.unlearn(X[rows], None, y[rows])
        assert model.certificate_.spent <= model.certificate_.budget
    cert = model.certificate_
    assert cert.n_retrains >= 1 and cert.n_requests == 6
    assert "retrain" in [e.kind for e in cert.ledger]
    assert model.noise_seed_ != seed
    assert model.training_rows_.n_rows == len(y) - 60
    assert model.verify().parameter_distance <= 1e-2


def test_a_measured_residual_replaces_the_accumulated_bound(breast_cancer, frozen_scaler):
    # Single-row erasures at a budget the accumulated bounds pass quickly:
    # with the rows kept, the released model's residual is measured instead,
    # spent starts again from it, and far fewer retrainings are needed.
    X, y = breast_cancer
    measured = _model(frozen_scaler, budget=0.5).fit(X, y)
    accumulated = _model(frozen_scaler, budget=0.5, measure_residual="never").fit(X, y)
    rows = np.random.default_rng(0).permutation(len(y) - 100)[:40]
    for i, j in enumerate(rows):
        for model in (measured, accumulated):
            model.unlearn(X[j:j + 1], None, y[j:j + 1])
        if i % 10 == 9:
            check = measured.verify()       # raises if the truth passed spent
            assert check.true_residual <= measured.certificate_.spent
    cert = measured.certificate_
    entries = [e for e in cert.ledger if e.kind == "measured"]
    assert entries and all(e.spent == e.bound <= cert.budget for e in entries)
    assert cert.valid and cert.spent <= cert.budget
    assert cert.n_retrains < accumulated.certificate_.n_retrains
    print(f"retrains: {cert.n_retrains} measured, "
          f"{accumulated.certificate_.n_retrains} accumulated; "
          f"{len(entries)} measurements in {len(rows)} requests")


def test_always_measuring_spends_the_true_residual(breast_cancer, frozen_scaler):
    X, y = breast_cancer
    model = _model(frozen_scaler, budget=0.5, measure_residual="always").fit(X, y)
    for j in range(0, 50, 10):
        model.unlearn(X[j:j + 1], None, y[j:j + 1])
        check = model.verify()
        # spent is the measurement: the true residual plus its rounding
        # allowance (about 1e-10 here, against a budget of 0.5)
        assert check.true_residual <= model.certificate_.spent
        assert model.certificate_.spent <= check.true_residual + 1e-8
    assert [e.kind for e in model.certificate_.ledger][1:] == ["measured"] * 5


def test_a_measurement_over_the_budget_still_raises(breast_cancer, frozen_scaler):
    X, y = breast_cancer
    model = _model(frozen_scaler, budget=1e-3, on_budget_exceeded="raise").fit(X, y)
    before = _state(model)
    with pytest.raises(BudgetExceededError, match="nothing was changed"):
        model.unlearn(X[:100], None, y[:100])
    assert _state(model) == before


def test_raise_leaves_everything_unchanged(breast_cancer, frozen_scaler):
    X, y = breast_cancer
    model = _model(frozen_scaler, on_budget_exceeded="raise").fit(X, y)
    for i in range(20):
        before = _state(model)
        try:
            model.unlearn(X[20 * i: 20 * i + 10], None, y[20 * i: 20 * i + 10])
        except BudgetExceededError as exc:
            assert "nothing was changed" in str(exc)
            assert _state(model) == before
            break
    else:
        pytest.fail("the budget was never exceeded")
    assert model.certificate_.n_retrains == 0


def test_warn_applies_and_voids(breast_cancer, frozen_scaler):
    X, y = breast_cancer
    model = _model(frozen_scaler, on_budget_exceeded="warn").fit(X, y)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for i in range(10):
            model.unlearn(X[20 * i: 20 * i + 10], None, y[20 * i: 20 * i + 10])
    assert any("void" in str(w.message) for w in caught)
    cert = model.certificate_
    assert cert.void and not cert.valid and "over the budget" in cert.void_reason
    assert cert.n_requests == 10 and cert.spent > cert.budget


def test_rows_not_trained_on_are_refused(monkeypatch, breast_cancer, frozen_scaler):
    X, y = breast_cancer
    # the refit below is compared with the first fit whole: every fit draws
    # a random name for its states, here the same one
    monkeypatch.setattr("sklearn_unlearn.base._new_lineage", lambda: "0" * 32)
    model = _model(frozen_scaler).fit(X[:300], y[:300])
    before = _state(model)
    with pytest.raises(ValueError, match="not among the training rows"):
        model.unlearn(X[300:302], None, y[300:302])
    with pytest.raises(ValueError, match="not among the training rows"):
        model.unlearn(X[:2], None, 1 - y[:2])   # wrong labels
    model.unlearn(X[:2], None, y[:2])
    with pytest.raises(ValueError, match="not among the training rows"):
        model.unlearn(X[:2], None, y[:2])       # already deleted
    model = _model(frozen_scaler).fit(X[:300], y[:300])
    assert _state(model) == before


def test_fitted_scaler_is_refused_frozen_is_accepted(breast_cancer):
    X, y = breast_cancer
    leaky = CertifiedRemoval(make_pipeline(StandardScaler(), UnlearnableLogisticRegression()))
    with pytest.raises(ValueError, match="'standardscaler'.*fitted statistics"):
        leaky.fit(X, y)
    frozen = CertifiedRemoval(make_pipeline(
        FrozenEstimator(StandardScaler().fit(X)), UnlearnableLogisticRegression()),
        random_state=0)
    assert frozen.fit(X, y).certificate_.valid
    stateless = CertifiedRemoval(make_pipeline(FunctionTransformer(np.tanh),
                                               UnlearnableLogisticRegression()))
    assert stateless.fit(X, y).certificate_.valid
    opted = CertifiedRemoval(make_pipeline(StandardScaler(), UnlearnableLogisticRegression()),
                             allow_stateful_steps=True).fit(X, y)
    assert opted.certificate_.uncovered_steps == ["standardscaler"]
    assert not opted.certificate_.valid


@pytest.mark.parametrize("make", [make_pipeline, make_unlearning_pipeline])
def test_a_pipeline_of_the_final_step_alone(breast_cancer, make):
    """No preprocessing: the kept rows are the rows as given."""
    X, y = breast_cancer
    X = StandardScaler().fit_transform(X)
    model = CertifiedRemoval(make(UnlearnableLogisticRegression()), budget=1.0,
                             random_state=0).fit(X, y)
    model.unlearn(X[:3], None, y[:3])
    assert model.certificate_.valid and model.training_rows_.n_rows == len(X) - 3


@pytest.mark.parametrize("final, match", [
    (UnlearnableLinearSVC(), "squared hinge"),
    (UnlearnableMLPClassifier(max_iter=5), "non-convex"),
])
def test_uncertifiable_models_are_refused(breast_cancer, final, match):
    X, y = breast_cancer
    with pytest.raises(ValueError, match=match):
        CertifiedRemoval(final).fit(X, y)


def test_ridge_is_exact_and_spends_nothing(diabetes):
    X, y = diabetes
    model = CertifiedRemoval(UnlearnableRidge(alpha=0.1), budget=1e-6).fit(X, y)
    cert = model.certificate_
    assert cert.exact and cert.sigma == 0.0
    for i in range(5):
        model.unlearn(X[10 * i: 10 * i + 10], None, y[10 * i: 10 * i + 10])
    cert = model.certificate_
    assert cert.n_retrains == 0 and cert.spent <= 1e-6
    report = model.verify()
    assert report.parameter_distance <= 1e-10


def test_grid_search_clone_and_joblib(breast_cancer, frozen_scaler, tmp_path):
    X, y = breast_cancer
    search = GridSearchCV(_model(frozen_scaler), {"epsilon": [0.5, 1.0]}, cv=3).fit(X, y)
    best = search.best_estimator_
    assert clone(best).get_params()["epsilon"] == best.epsilon
    best.unlearn(X[:5], None, y[:5])
    joblib.dump(best, tmp_path / "m.joblib")
    loaded = joblib.load(tmp_path / "m.joblib")
    assert loaded.certificate_ == best.certificate_
    assert loaded.training_rows_.n_rows == best.training_rows_.n_rows
    for m in (best, loaded):
        m.unlearn(X[5:9], None, y[5:9])
    np.testing.assert_array_equal(loaded.predict_proba(X), best.predict_proba(X))
    assert loaded.certificate_ == best.certificate_
    assert loaded.score(X, y) == best.score(X, y)
    np.testing.assert_array_equal(loaded.classes_, [0, 1])


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 2**32 - 1))
def test_verify_never_finds_the_bound_below_the_residual(seed):
    """Random streams of deletions, label fixes and insertions through the
    meta-estimator: verify() recomputes the true residual from the kept rows
    and raises if the certificate ever under-reports it."""
    rng = np.random.default_rng(seed)
    n, d = int(rng.integers(200, 400)), int(rng.integers(2, 6))
    X = rng.normal(size=(n, d))
    y = (X @ rng.normal(size=d) + rng.normal(size=n) > 0).astype(int)
    model = CertifiedRemoval(
        UnlearnableLogisticRegression(C=float(rng.choice([0.1, 1.0]))),
        epsilon=1.0, budget=float(rng.choice([0.05, 0.5])), random_state=seed % 1000,
    ).fit(X, y)
    for _ in range(4):
        rows = model.training_rows_
        idx = rng.choice(rows.n_rows, size=int(rng.integers(1, 6)), replace=False)
        kind = rng.choice(["delete", "labels", "insert"])
        if kind == "delete":
            model.unlearn(rows.X[idx], None, rows.y[idx])
        elif kind == "labels":
            model.unlearn(rows.X[idx], rows.X[idx], rows.y[idx], 1 - rows.y[idx])
        else:
            model.unlearn(None, rng.normal(size=(len(idx), d)), y_new=rows.y[idx])
        report = model.verify()
        assert report.true_residual <= report.bound


def test_low_rank_hessian_is_refused(breast_cancer):
    X, y = breast_cancer
    model = CertifiedRemoval(UnlearnableLogisticRegression(hessian="low_rank"))
    with pytest.raises(ValueError, match="hessian='dense'"):
        model.fit(X, y)


def test_a_request_after_a_step_function_changed_is_refused():
    # a function was known by its type alone: one partial for another of
    # other arguments went unnoticed, while estimator__C was refused
    rng = np.random.default_rng(0)
    X = rng.standard_normal((300, 3))
    y = (X[:, 0] + rng.logistic(size=300) > 0).astype(int)
    model = CertifiedRemoval(make_pipeline(FunctionTransformer(partial(np.multiply, 1.0)),
                                           UnlearnableLogisticRegression()),
                             budget=5.0, random_state=0).fit(X, y)
    model.set_params(estimator__functiontransformer__func=partial(np.multiply, 1.3))
    before = pickle.dumps(model)
    with pytest.raises(ValueError, match="changed since it was fitted"):
        model.unlearn(X[:1], None, y[:1])
    assert pickle.dumps(model) == before
    model.set_params(estimator__functiontransformer__func=partial(np.multiply, 1.0))
    model.unlearn(X[:1], None, y[:1])
    assert model.certificate_.n_requests == 1


@pytest.mark.parametrize("change", [{"epsilon": 0.5}, {"delta": 1e-9}, {"budget": 100.0},
                                    {"estimator__C": 100.0}])
def test_a_request_after_a_change_of_the_certified_parameters_is_refused(change):
    # The noise was drawn for the fitted epsilon, delta and budget, and the
    # certificate vouches for a model of the fitted estimator: a request
    # after set_params was served under the fitted values while the
    # estimator reported the new ones (a plan made before, likewise).
    rng = np.random.default_rng(0)
    X = rng.standard_normal((300, 3))
    y = (X[:, 0] + rng.logistic(size=300) > 0).astype(int)
    model = CertifiedRemoval(UnlearnableLogisticRegression(), budget=1.0,
                             random_state=0).fit(X, y)
    plan = model.plan_unlearn(X[:1], None, y[:1])
    fitted = {name: model.get_params()[name] for name in change}
    model.set_params(**change)
    before = pickle.dumps(model)
    with pytest.raises(ValueError, match="changed since it was fitted"):
        model.unlearn(X[:1], None, y[:1])
    with pytest.raises(ValueError, match="changed since it was fitted"):
        model.apply_unlearn(plan)
    assert pickle.dumps(model) == before
    # set back, or a change of how requests run: served
    model.set_params(**fitted, on_budget_exceeded="warn", measure_residual="never")
    model.apply_unlearn(plan)
    assert model.certificate_.n_requests == 1
    # the same values written otherwise (1 for 1.0) are the same parameters
    model.set_params(epsilon=1, budget=1, estimator__C=1)
    model.unlearn(X[1:2], None, y[1:2])


def _to_float32(X):
    return np.asarray(X, dtype=np.float32)


def test_a_retrain_fits_float32_rows_as_float32(diabetes):
    # The kept rows are the rows as the final step was fitted on them: a
    # retrain of a model fitted on float32 rows fits float32 rows, as a refit
    # of the corrected rows does (it came back float64, 1.6e-3 away).
    X, y = diabetes
    X32 = X.astype(np.float32)
    model = CertifiedRemoval(UnlearnableRidge(alpha=0.1), budget=1e-300).fit(X32, y)
    model.unlearn(X32[:10], None, y[:10])
    assert model.certificate_.ledger[-1].kind == "retrain"
    assert model.training_rows_.X.dtype == np.float32
    refit = exact_refit(model.estimator_, X32[10:], y[10:])
    assert model.estimator_.coef_.dtype == refit.coef_.dtype == np.float32
    # float32 arithmetic: both are within its round-off of the optimum
    np.testing.assert_allclose(params_of(model.estimator_), params_of(refit),
                               rtol=1e-4, atol=1e-4 * np.abs(refit.coef_).max())
    # rows kept as float32 are found by requests given in float64
    model.unlearn(X32[10:12].astype(np.float64), None, y[10:12])
    assert model.training_rows_.n_rows == len(y) - 12


def test_a_retrain_fits_the_rows_as_the_steps_hand_them_over(breast_cancer, frozen_scaler):
    # A stateless cast to float32 before the final step: every retrain,
    # after deletions and insertions, fits float32 rows with the fresh
    # noise, as the final step fitted on the corrected rows does.
    X, y = breast_cancer
    model = CertifiedRemoval(
        make_unlearning_pipeline(frozen_scaler, FunctionTransformer(_to_float32),
                                 UnlearnableLogisticRegression()),
        budget=1e-6, random_state=0).fit(X, y)
    assert model.estimator_[-1].coef_.dtype == np.float32
    model.unlearn(X[:5], None, y[:5])
    model.unlearn(None, X[5:8], y_new=1 - y[5:8])
    model.unlearn(X[8:10], X[8:10], y[8:10], 1 - y[8:10])
    assert [e.kind for e in model.certificate_.ledger].count("retrain") == 3
    rows = model.training_rows_
    assert rows.X.dtype == np.float32 and rows.n_rows == len(y) - 2
    final = model.estimator_[-1]
    X_c = np.r_[X[5:], X[5:8]]
    y_c = np.r_[y[5:8], 1 - y[8:10], y[10:], 1 - y[5:8]]
    X_c = model.estimator_[:-1].transform(X_c)
    refit = clone(final).set_params(random_state=model.noise_seed_).fit(X_c, y_c)
    assert final.coef_.dtype == np.float32
    np.testing.assert_allclose(params_of(final), params_of(refit), rtol=1e-6, atol=1e-7)
    assert model.verify().parameter_distance <= 1e-6


def _framed(breast_cancer):
    pd = pytest.importorskip("pandas")
    X, y = breast_cancer
    X = pd.DataFrame(X, columns=[f"f{i}" for i in range(X.shape[1])])
    scaler = FrozenEstimator(StandardScaler().set_output(transform="pandas")
                             .fit(X.iloc[-100:]))
    return X, y, scaler


@pytest.mark.parametrize("budget, measure, kind", [(0.5, "always", "measured"),
                                                   (1e-9, "never", "retrain")])
def test_a_final_step_keeps_its_feature_names(breast_cancer, budget, measure, kind):
    # set_output(transform="pandas"): the final step is fitted on a data
    # frame. Measured requests and retrains keep its feature names, and
    # nothing warns about names (every request warned, and a retrain
    # dropped them: every later prediction warned).
    pd = pytest.importorskip("pandas")
    X, y, scaler = _framed(breast_cancer)
    model = CertifiedRemoval(
        make_unlearning_pipeline(scaler, UnlearnableLogisticRegression()),
        budget=budget, measure_residual=measure, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model.fit(X, y)
        for i in range(3):
            model.unlearn(X.iloc[2 * i:2 * i + 2], None, y[2 * i:2 * i + 2])
            assert model.certificate_.ledger[-1].kind == kind
        model.unlearn(None, X.iloc[6:8], y_new=1 - y[6:8])    # over any budget
        assert model.certificate_.ledger[-1].kind == "retrain"
        model.predict(X)
        verification = model.verify()
    final = model.estimator_[-1]
    np.testing.assert_array_equal(final.feature_names_in_,
                                  scaler.get_feature_names_out())
    # the fit of the final step on the corrected rows as handed over
    X_c = scaler.transform(pd.concat([X.iloc[6:], X.iloc[6:8]]))
    y_c = np.r_[y[6:], 1 - y[6:8]]
    refit = clone(final).set_params(random_state=model.noise_seed_).fit(X_c, y_c)
    np.testing.assert_array_equal(refit.feature_names_in_, final.feature_names_in_)
    np.testing.assert_allclose(params_of(final), params_of(refit), rtol=1e-8, atol=1e-10)
    assert verification.parameter_distance <= 1e-8



@pytest.mark.filterwarnings("ignore:.*fitted statistics:UserWarning")
def test_requests_that_bypass_the_ledger_are_refused_as_such(breast_cancer):
    # An owned pipeline's own verbs are refused with the ownership message,
    # before anything changes: a plan that needs the scaler's change (it
    # named feature_changes and advised freezing the scaler), forgetting
    # features (which did not exist for a noisy final step).
    X, y = breast_cancer
    model = CertifiedRemoval(make_unlearning_pipeline(StandardScaler(),
                                                      UnlearnableLogisticRegression()),
                             allow_stateful_steps=True, random_state=0).fit(X, y)
    pipe = model.estimator_
    before = pickle.dumps(model)
    for call in (lambda: pipe.plan_unlearn(X[:2], None, y[:2]),
                 lambda: pipe.forget_features([0]),
                 lambda: pipe.forget_features([0], X, y),
                 lambda: pipe.plan_forget_features([0])):
        with pytest.raises(ValueError, match="final step of a CertifiedRemoval"):
            call()
        assert pickle.dumps(model) == before
    model.unlearn(X[:2], None, y[:2])
    assert model.training_rows_.n_rows == len(y) - 2


def test_the_kept_rows_are_measured_where_the_cache_cannot_check_rows():
    """Rows given to rebase_residual_bound are refused where the cache's K
    lost its precision (an erased row that dominated it); the rows a
    certified removal keeps are the current ones by construction, and its
    measurement of them goes on: a request erasing a row of norm 1e8 was
    refused by that check."""
    rng = np.random.default_rng(0)
    X = rng.standard_normal((300, 5))
    y = X @ rng.standard_normal(5) + rng.standard_normal(300)
    far = 1e8 * rng.standard_normal((1, 5)) / np.sqrt(5)
    model = CertifiedRemoval(UnlearnableRidge(), budget=1e6, measure_residual="always",
                             random_state=0).fit(np.vstack([X, far]), np.append(y, 0.0))
    model.unlearn(far, None, [0.0])
    assert model.certificate_.ledger[-1].kind == "measured"
    model.verify()
    with pytest.raises(ValueError, match="no longer holds"):
        model.estimator_.rebase_residual_bound(X, y, copy=True)


def test_verify_on_an_edited_cache_names_the_cache_not_the_caller():
    """A loaded model whose cache was edited (its Hessian doubled in the
    file, outside the digest), after a request, made verify() raise the final step's
    ValueError for rows a caller passes ("The rows given are not the
    model's current training rows ... Pass the fit's rows after every
    request"), though verify() takes no rows. The kept rows are the
    current ones by construction: verify() now raises
    LedgerIntegrityError (a RuntimeError, as documented), saying the kept
    rows do not match the model's cache, and changes nothing."""
    from sklearn_unlearn.certified import LedgerIntegrityError

    rng = np.random.default_rng(0)
    X = rng.standard_normal((3000, 4))
    y = (X[:, 0] + rng.logistic(size=3000) > 0).astype(int)
    model = CertifiedRemoval(UnlearnableLogisticRegression(), budget=100.0,
                             random_state=0, measure_residual="never").fit(X, y)
    model = pickle.loads(pickle.dumps(model))
    for block in vars(model.estimator_.unlearning_cache_.hessians[0]).values():
        if isinstance(block, np.ndarray) and block.ndim == 2:
            block *= 2.0
    big = np.argsort(-np.linalg.norm(X, axis=1))[:10]
    model.unlearn(X[big], None, y[big])      # taken: the cache vouches for it
    before = _state(model)
    with pytest.raises(LedgerIntegrityError,
                       match="kept rows|keeps do not match its model's cache") as info:
        model.verify()
    assert "Pass the fit's rows" not in str(info.value)
    assert _state(model) == before


def test_kept_rows_of_balanced_class_weights_are_measured_whole(breast_cancer):
    """The kept rows are measured in chunks, and balanced class weights read
    every label at once: verify() on such a model raised
    LedgerIntegrityError (blaming a tampered model), and the check of the
    kept rows at fit refused them. They are now measured as one block."""
    X, y = breast_cancer
    cr = CertifiedRemoval(UnlearnableLogisticRegression(class_weight="balanced"),
                          epsilon=1.0, delta=1e-5, budget=0.5, random_state=0).fit(X, y)
    report = cr.verify()
    assert report.true_residual <= report.bound


def test_balanced_class_weights_certify_feature_edits_and_refuse_deletions(breast_cancer):
    """An edit of features leaves the balanced weights as the fit set them:
    served and accounted for (the true residual measured on the kept rows
    within the bound); a deletion reweighs every row: refused, unchanged."""
    X, y = breast_cancer
    cr = CertifiedRemoval(UnlearnableLogisticRegression(class_weight="balanced"),
                          epsilon=1.0, delta=1e-5, budget=0.5, random_state=0,
                          on_budget_exceeded="retrain").fit(X, y)
    cr.unlearn(X[:20], zero_features(X[:20], [3]), y[:20])
    assert cr.certificate_.valid and cr.certificate_.spent > 0
    report = cr.verify()
    assert report.true_residual <= report.bound
    before = pickle.dumps(cr)
    with pytest.raises(ValueError, match="only edits of features"):
        cr.unlearn(X[30:32], None, y[30:32])
    assert pickle.dumps(cr) == before


@pytest.mark.parametrize("measure", ["always", "over_budget"])
def test_balanced_weighted_rows_are_measured_after_edits(measure, breast_cancer):
    """With sample weights, the kept rows' balanced weights were computed
    again from the rows, which an edit had reordered: their sums rounded
    otherwise and the library's own rows were refused as not the model's
    (at the first edit, or at the first measurement over the budget). They
    are weighed with the fit's weights: every edit is measured or served."""
    X, y = breast_cancer
    w = np.random.default_rng(2).uniform(0.5, 2.0, len(y))
    cr = CertifiedRemoval(UnlearnableLogisticRegression(class_weight="balanced"),
                          epsilon=1.0, delta=1e-5, budget=0.5, random_state=0,
                          measure_residual=measure, on_budget_exceeded="retrain")
    cr.fit(X, y, sample_weight=w)
    for i in range(8):
        rows = slice(10 * i, 10 * i + 10)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UnlearningWarning)
            cr.unlearn(X[rows], zero_features(X[rows], [i]), y[rows], sample_weight=w[rows])
    assert cr.certificate_.valid
    report = cr.verify()
    assert report.true_residual <= report.bound


@pytest.mark.parametrize("planned", ["warn", "retrain"])
def test_a_plan_over_the_budget_is_applied_only_under_its_policy(planned):
    # A plan made under "warn" (or "retrain") and applied after a switch to
    # "raise" went in over the budget: voided (or retrained) where the
    # policy now says the request changes nothing.
    rng = np.random.default_rng(21)
    X = rng.normal(size=(150, 4))
    y = (X[:, 0] + rng.normal(size=150) > 0).astype(int)
    model = CertifiedRemoval(UnlearnableLogisticRegression(), budget=0.05,
                             measure_residual="never", on_budget_exceeded=planned,
                             random_state=0).fit(X, y)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        plan = model.plan_unlearn(X[:20], None, y[:20])
    model.set_params(on_budget_exceeded="raise")
    before = pickle.dumps(model)
    with pytest.raises(ValueError, match=f"on_budget_exceeded='{planned}' "
                                         r"\(now 'raise'\).*plan the request again"):
        model.apply_unlearn(plan)
    assert pickle.dumps(model) == before
    with pytest.raises(BudgetExceededError):
        model.unlearn(X[:20], None, y[:20])
    # under its own policy again, the plan goes in
    model.set_params(on_budget_exceeded=planned)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        model.apply_unlearn(plan)
    cert = model.certificate_
    assert cert.void if planned == "warn" else cert.n_retrains == 1
