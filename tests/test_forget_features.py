"""forget_features: a column forgotten in every row, from the cache alone,
against scikit-learn's refit with the column zeroed."""

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_breast_cancer, load_diabetes
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.preprocessing import scale

from sklearn_unlearn import (
    UnlearnableLinearSVC,
    UnlearnableLogisticRegression,
    UnlearnableRidge,
    zero_features,
)


def _theta(model):
    return np.r_[np.ravel(model.coef_), np.ravel(model.intercept_)]


def _distance(a, b):
    return np.linalg.norm(_theta(a) - _theta(b)) / np.linalg.norm(_theta(b))


def test_ridge_forgets_exactly_and_keeps_nothing_of_the_column():
    X, y = load_diabetes(return_X_y=True)
    model = UnlearnableRidge(alpha=0.5).fit(X, y).forget_features([0, 3])
    refit = Ridge(alpha=0.5).fit(zero_features(X, [0, 3]), y)
    assert _distance(model, refit) < 1e-8
    assert model.coef_[0] == 0.0 and model.coef_[3] == 0.0
    # the cached Hessian keeps only the penalty in the forgotten rows/columns
    H = model.unlearning_cache_.hessians[0].matrix
    expected = np.zeros(H.shape[0])
    expected[0] = 2 * 0.5
    np.testing.assert_allclose(H[0], expected, atol=1e-12)
    report = model.unlearn_history_[-1]
    assert report.method == "forget_features" and report.residual_bound == np.inf
    # requests go on from the new state, and stay exact
    model.unlearn(zero_features(X[:10], [0, 3]), None, y[:10])
    refit = Ridge(alpha=0.5).fit(zero_features(X[10:], [0, 3]), y[10:])
    assert _distance(model, refit) < 1e-8


def test_logistic_forgets_a_column_to_second_order():
    X, y = load_breast_cancer(return_X_y=True)
    X = scale(X)
    model = UnlearnableLogisticRegression(C=0.1).fit(X, y)
    before = UnlearnableLogisticRegression(C=0.1).fit(X, y)
    model.forget_features(0)
    refit = LogisticRegression(C=0.1, tol=1e-12, max_iter=10_000).fit(
        zero_features(X, [0]), y)
    # measured: 6.7e-4, against 0.20 without an update
    assert _distance(model, refit) < 1e-3
    assert _distance(before, refit) > 100 * _distance(model, refit)
    # three columns move the optimum a third of its norm: 3.3e-3 against 0.33
    model = UnlearnableLogisticRegression(C=0.1).fit(X, y).forget_features([0, 5, 10])
    refit = LogisticRegression(C=0.1, tol=1e-12, max_iter=10_000).fit(
        zero_features(X, [0, 5, 10]), y)
    assert _distance(model, refit) < 1e-2


def test_names_errors_and_all_or_nothing():
    data = load_diabetes(as_frame=True)
    X, y = data.data, data.target
    model = UnlearnableRidge().fit(X, y).forget_features(["bmi"])
    refit = Ridge().fit(X.assign(bmi=0.0), y)
    assert _distance(model, refit) < 1e-8
    coef = model.coef_.copy()
    with pytest.raises(ValueError, match="Unknown features"):
        model.forget_features(["nope"])
    with pytest.raises(ValueError, match="out of range"):
        model.forget_features([99])
    svc = UnlearnableLinearSVC().fit(X.to_numpy(), y > y.median())
    with pytest.raises(ValueError, match="cannot forget features"):
        svc.forget_features([0])
    np.testing.assert_array_equal(model.coef_, coef)
    assert isinstance(X, pd.DataFrame)


def test_a_pipeline_forgets_raw_columns_through_its_steps():
    from sklearn.compose import make_column_transformer
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    from sklearn_unlearn.pipeline import make_unlearning_pipeline

    from .test_pipeline import CAT, NUM, T, X

    def columns(categories="auto"):
        return make_column_transformer(
            (StandardScaler(), NUM),
            (OneHotEncoder(handle_unknown="ignore", categories=categories), CAT))

    pipe = make_unlearning_pipeline(columns(), UnlearnableRidge()).fit(X, T)
    cats = list(pipe[0].named_transformers_["onehotencoder"].categories_)
    pipe.forget_features(["bmi", "sex"])
    X_zero = X.assign(bmi=0.0, sex=None)
    refit = make_pipeline(columns(cats), Ridge()).fit(X_zero, T)
    assert _distance(pipe[-1], refit[-1]) < 1e-8
    scaler = pipe[0].named_transformers_["standardscaler"]
    ref_scaler = refit[0].named_transformers_["standardscaler"]
    np.testing.assert_allclose(scaler.mean_, ref_scaler.mean_, atol=1e-12)
    np.testing.assert_allclose(scaler.scale_, ref_scaler.scale_, rtol=1e-12)
    report = pipe.unlearn_history_[-1]
    assert report.method == "forget_features"
    assert report.categories_kept == ("columntransformer__onehotencoder",)
    np.testing.assert_allclose(pipe.predict(X), refit.predict(X_zero), rtol=1e-9)
