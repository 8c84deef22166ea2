"""The unlearning contract: plan, apply, unlearn, one report, and tags."""

import dataclasses
import pickle

import numpy as np
import pytest
from sklearn.datasets import make_classification, make_regression

from sklearn_unlearn import (
    CertifiedRemoval,
    UnlearnableLinearSVC,
    UnlearnableLogisticRegression,
    UnlearnableMLPClassifier,
    UnlearnableMLPRegressor,
    UnlearnableRidge,
)
from sklearn_unlearn.base import (
    MissingRowsError,
    RequestReport,
    UnlearnerMixin,
    UnlearningPlan,
    UnlearnTags,
    get_unlearn_tags,
)


def _classification():
    return make_classification(n_samples=400, n_features=5, n_informative=3,
                               random_state=0)


def _regression():
    return make_regression(n_samples=120, n_features=5, noise=1.0, random_state=0)


ESTIMATORS = [
    (UnlearnableLogisticRegression(), _classification),
    (UnlearnableLinearSVC(), _classification),
    (UnlearnableRidge(), _regression),
    (UnlearnableMLPClassifier(hidden_layer_sizes=(4,), max_iter=30, random_state=0),
     _classification),
    (UnlearnableMLPRegressor(hidden_layer_sizes=(4,), max_iter=30, random_state=0),
     _regression),
    (CertifiedRemoval(UnlearnableLogisticRegression(), budget=1.0, epsilon=1.0,
                      random_state=0),
     _classification),
    (CertifiedRemoval(UnlearnableRidge(), budget=1.0), _regression),
]
IDS = [type(e).__name__ + ("" if not isinstance(e, CertifiedRemoval)
                           else f"({type(e.estimator).__name__})") for e, _ in ESTIMATORS]


def _fitted(estimator, data):
    X, y = data()
    return estimator.fit(X, y), X, y


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize(("estimator", "data"), ESTIMATORS, ids=IDS)
def test_plan_changes_nothing_and_apply_equals_unlearn(estimator, data):
    est, X, y = _fitted(estimator, data)
    assert isinstance(est, UnlearnerMixin)
    before = pickle.dumps(est)
    plan = est.plan_unlearn(X[:4], None, y[:4])
    assert pickle.dumps(est) == before
    assert isinstance(plan, UnlearningPlan) and isinstance(plan.report, RequestReport)
    assert plan.report.n_removed == 4 and plan.report.n_added == 0
    applied = pickle.loads(before).unlearn(X[:4], None, y[:4])
    assert est.apply_unlearn(plan) is est
    # the same parameters and the same report, whichever way; the history
    # keeps the report without the figures computed from the rows
    np.testing.assert_array_equal(est.predict(X), applied.predict(X))
    assert len(est.unlearn_history_) == len(applied.unlearn_history_) == 1
    untimed = [dataclasses.replace(r, seconds=None) for r in (
        est.unlearn_history_[-1], applied.unlearn_history_[-1], plan.report.kept())]
    assert untimed[0] == untimed[1] == untimed[2]
    assert plan.report.step_norm is not None


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize(("estimator", "data"), ESTIMATORS, ids=IDS)
def test_a_stale_plan_is_refused(estimator, data):
    est, X, y = _fitted(estimator, data)
    plan = est.plan_unlearn(X[:3], None, y[:3])
    other = est.plan_unlearn(X[3:5], None, y[3:5])
    est.apply_unlearn(plan)
    state = pickle.dumps(est)
    with pytest.raises(ValueError, match="another state"):
        est.apply_unlearn(plan)           # applied already
    with pytest.raises(ValueError, match="another state"):
        est.apply_unlearn(other)          # planned before another request
    assert pickle.dumps(est) == state
    late = est.plan_unlearn(X[5:7], None, y[5:7])
    est.fit(X, y)
    with pytest.raises(ValueError, match="another state"):
        est.apply_unlearn(late)           # the model was refitted since


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize(("estimator", "data"), ESTIMATORS, ids=IDS)
def test_a_plan_made_before_a_refit_to_the_same_model_is_refused(estimator, data):
    """A state was named by its count of requests and a digest of its
    parameters, which a refit on the same rows made again: a plan made
    before the refit was applied after it, replacing the refit's state (a
    logistic regression refitted with a fingerprint key kept the
    fingerprints of the five rows the plan took out, and the same five rows
    were deleted a second time). Every fit names its state anew: the plan
    is refused and the refit's state stays."""
    est, X, y = _fitted(estimator, data)
    predictions = est.predict(X)
    plan = est.plan_unlearn(X[:5], None, y[:5])
    est.fit(X, y)
    # the refit made the same model: only its name tells the states apart
    np.testing.assert_array_equal(est.predict(X), predictions)
    state = pickle.dumps(est)
    with pytest.raises(ValueError, match="another state"):
        est.apply_unlearn(plan)
    assert pickle.dumps(est) == state


def test_a_plan_made_before_a_refit_with_a_key_leaves_the_fingerprints():
    """The case above with fingerprints: the plan (made without them) was
    applied to the refit that keeps them, which then kept the fingerprints
    of all 400 rows, the 5 deleted ones included, and accepted deleting
    them a second time. The plan is refused; the rows are deleted once."""
    X, y = _classification()
    key = b"k" * 32
    est = UnlearnableLogisticRegression().fit(X, y)
    plan = est.plan_unlearn(X[:5], None, y[:5])
    est.fit(X, y, fingerprint_key=key)
    with pytest.raises(ValueError, match="another state"):
        est.apply_unlearn(plan)
    est.unlearn(X[:5], None, y[:5], fingerprint_key=key)
    with pytest.raises(MissingRowsError):
        est.unlearn(X[:5], None, y[:5], fingerprint_key=key)


@pytest.mark.parametrize(("estimator", "data"), ESTIMATORS[:3], ids=IDS[:3])
def test_apply_to_a_copy_leaves_the_estimator(estimator, data):
    est, X, y = _fitted(estimator, data)
    before = pickle.dumps(est)
    plan = est.plan_unlearn(X[:4], None, y[:4])
    updated = est.apply_unlearn(plan, copy=True)
    assert updated is not est and pickle.dumps(est) == before
    assert len(updated.unlearn_history_) == 1


def test_apply_takes_only_a_plan():
    est, X, y = _fitted(UnlearnableRidge(), _regression)
    with pytest.raises(TypeError, match="UnlearningPlan"):
        est.apply_unlearn({"coef_": np.zeros(5)})


def test_an_owned_final_step_plans_but_does_not_apply():
    X, y = _classification()
    model = CertifiedRemoval(UnlearnableLogisticRegression(), budget=1.0, epsilon=1.0,
                             random_state=0).fit(X, y)
    final = model.estimator_
    plan = final.plan_unlearn(X[:2], None, y[:2])     # asking changes nothing
    with pytest.raises(ValueError, match="CertifiedRemoval.unlearn"):
        final.apply_unlearn(plan)
    assert len(final.unlearn_history_) == 0


def test_tags_say_what_each_estimator_can_do():
    expected = {
        "UnlearnableLogisticRegression": dict(certifiable=True, exact=False,
                                              residual_bound=True, objective_noise=True,
                                              convex=True),
        "UnlearnableRidge": dict(certifiable=True, exact=True, residual_bound=True,
                                 objective_noise=False, convex=True),
        "UnlearnableLinearSVC": dict(certifiable=False, exact=False,
                                     residual_bound=False, convex=True),
        "UnlearnableMLPClassifier": dict(certifiable=False, residual_bound=False,
                                         convex=False, keeps_data=True),
        "UnlearnableMLPRegressor": dict(certifiable=False, residual_bound=False,
                                        convex=False, keeps_data=True),
    }
    for estimator, _ in ESTIMATORS[:5]:
        tags = get_unlearn_tags(estimator)
        assert isinstance(tags, UnlearnTags)
        for name, value in expected[type(estimator).__name__].items():
            assert getattr(tags, name) == value, (type(estimator).__name__, name)
    assert not get_unlearn_tags(UnlearnableLogisticRegression(hessian="low_rank")).certifiable
    assert not get_unlearn_tags(
        UnlearnableLogisticRegression(residual_bound=False)).residual_bound
    assert not get_unlearn_tags(
        UnlearnableMLPClassifier(keep_data=False)).keeps_data
    assert get_unlearn_tags(CertifiedRemoval(UnlearnableRidge())).exact


class _UncertifiedRidge(UnlearnableRidge):
    """A ridge regression that does not claim to be certifiable."""

    def _unlearn_tags(self):
        return UnlearnTags(exact=True, residual_bound=True)


def test_certified_removal_decides_by_tags():
    X, y = _regression()
    with pytest.raises(ValueError, match="unlearning tags"):
        CertifiedRemoval(_UncertifiedRidge()).fit(X, y)
    CertifiedRemoval(UnlearnableRidge()).fit(X, y)


def test_certified_removal_history_reports_requests_and_retrains():
    X, y = _classification()
    model = CertifiedRemoval(UnlearnableLogisticRegression(), budget=1e-9,
                             on_budget_exceeded="retrain", random_state=0).fit(X, y)
    model.unlearn(X[:3], None, y[:3])
    (report,) = model.unlearn_history_
    assert report.method == "retrain" and report.n_removed == 3
    assert report.residual_bound == model.certificate_.spent
