"""Shared data and the reference refits every correctness test compares with."""

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.datasets import (
    load_breast_cancer,
    load_diabetes,
    load_digits,
    make_classification,
    make_regression,
)
from sklearn.linear_model import (
    GammaRegressor,
    LogisticRegression,
    PoissonRegressor,
    Ridge,
    TweedieRegressor,
)
from sklearn.preprocessing import StandardScaler
from sklearn.svm import LinearSVC

# Tolerances of the reference refits: tight enough that their own distance to
# the optimum is far below every tolerance asserted against them.
EXACT = {
    LogisticRegression: dict(tol=1e-12, max_iter=100_000),
    LinearSVC: dict(tol=1e-12, max_iter=1_000_000),
    Ridge: dict(solver="cholesky"),
    PoissonRegressor: dict(solver="newton-cholesky", tol=1e-12, max_iter=1000),
    GammaRegressor: dict(solver="newton-cholesky", tol=1e-12, max_iter=1000),
    TweedieRegressor: dict(solver="newton-cholesky", tol=1e-12, max_iter=1000),
}


def parent_of(est):
    for parent in EXACT:
        if isinstance(est, parent):
            return parent
    raise TypeError(type(est))


def exact_refit(est, X, y, sample_weight=None):
    """scikit-learn's own parent estimator refit on ``X, y`` to its optimum."""
    parent = parent_of(est)
    params = {
        k: v for k, v in est.get_params().items() if k in parent().get_params()
    }
    params.update(EXACT[parent])
    if parent is LogisticRegression and params["solver"] != "liblinear":
        # The same optimum, reached to round-off in a few Newton iterations.
        params["solver"] = "newton-cholesky"
    return parent(**params).fit(X, y, sample_weight=sample_weight)


def params_of(model):
    """All parameters (coefficients and intercepts) as one vector."""
    return np.r_[np.ravel(model.coef_), np.ravel(model.intercept_)]


def identified_params(model):
    """:func:`params_of`, with a multinomial model's intercepts less their
    mean: nothing penalises their common shift, which the data does not
    identify (a fit may land anywhere along it)."""
    intercept = np.ravel(model.intercept_)
    if len(getattr(model, "classes_", ())) > 2:
        intercept = intercept - intercept.mean()
    return np.r_[np.ravel(model.coef_), intercept]


def rel_dist(a, b):
    return np.linalg.norm(params_of(a) - params_of(b)) / np.linalg.norm(params_of(b))


def snapshot(est):
    """Every fitted array of an estimator and its cache, copied."""
    import copy

    return copy.deepcopy(est.__dict__)


def assert_same_state(est, before):
    import pickle

    assert pickle.dumps(est.__dict__) == pickle.dumps(before)


@pytest.fixture(scope="session")
def breast_cancer():
    X, y = load_breast_cancer(return_X_y=True)
    return StandardScaler().fit_transform(X), y


@pytest.fixture(scope="session")
def digits():
    X, y = load_digits(return_X_y=True)
    return X / 16.0, y


@pytest.fixture(scope="session")
def diabetes():
    return load_diabetes(return_X_y=True)


@pytest.fixture(scope="session")
def synthetic_binary():
    return make_classification(
        n_samples=600, n_features=20, n_informative=10, random_state=0
    )


@pytest.fixture(scope="session")
def synthetic_regression():
    X, y = make_regression(n_samples=300, n_features=15, n_targets=3, noise=5.0,
                           random_state=0)
    return X, y


__all__ = ["clone", "exact_refit", "identified_params", "params_of", "rel_dist"]
