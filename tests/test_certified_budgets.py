"""Budgets that fit: whether the noisy objective has a minimum is decided
exactly, and a penalised intercept certifies with large noise on raw data."""

import warnings

import numpy as np
import pytest
from scipy.special import expit
from sklearn.datasets import load_breast_cancer, load_iris
from sklearn.utils import check_random_state

from sklearn_unlearn import UnlearnableLogisticRegression
from sklearn_unlearn.certified import CertifiedRemoval, noise_scale

EPSILON, DELTA = 1.0, 1e-5


@pytest.fixture(scope="module")
def raw_cancer():
    return load_breast_cancer(return_X_y=True)


def _intercept_noise(random_state, budget, n_params):
    # the seed CertifiedRemoval draws, then the final step's noise draw
    seed = int(check_random_state(random_state).randint(np.iinfo(np.int32).max))
    sigma = noise_scale(EPSILON, DELTA, budget)
    return sigma * check_random_state(seed).standard_normal((n_params, 1))[-1, 0]


def _model(budget, random_state, **kw):
    return CertifiedRemoval(UnlearnableLogisticRegression(**kw), epsilon=EPSILON,
                            delta=DELTA, budget=budget, random_state=random_state)


# (budget, random_state): intercept noise b0 = 89.8, 449.0, -12.1, -60.6;
# the minimum exists for all but the second
DRAWS = [(10, 0), (50, 0), (10, 1), (50, 1)]


@pytest.mark.parametrize("centred", [False, True])
def test_existence_of_the_noisy_minimum_is_decided_exactly(raw_cancer, centred):
    # The minimum exists iff the intercept noise b0 lies in (-C W0, C W1):
    # (-212, 357) for breast cancer with C = 1. A refusal says "no finite
    # minimum" exactly when b0 is outside; inside, the fit succeeds (for
    # these draws on standardised features) or, on raw ones, says that the
    # minimum exists but was not reached.
    X, y = raw_cancer
    if centred:
        X = (X - X.mean(axis=0)) / X.std(axis=0)
    low, high = -np.sum(y == 0), np.sum(y == 1)
    for budget, rs in DRAWS:
        b0 = _intercept_noise(rs, budget, X.shape[1] + 1)
        exists = low < b0 < high
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                model = _model(budget, rs).fit(X, y)
            except ValueError as exc:
                assert ("no finite minimum" in str(exc)) == (not exists), (rs, b0)
                assert not (centred and exists), (rs, b0)
                continue
        assert exists, (rs, b0)
        check = model.verify()
        assert check.true_residual <= check.bound <= model.certificate_.budget


def _theoretical_gradient(X, y, coef, intercept, b, scaling):
    # the noisy liblinear-type objective's gradient at the published model,
    # written independently: C sum (p - t) [x, s] + [w, c / s] + b
    p = expit(X @ coef + intercept)
    A = np.c_[X, np.full(len(y), scaling)]
    return A.T @ (p - y) + np.r_[coef, intercept / scaling] + b


@pytest.mark.parametrize("centred", [False, True])
@pytest.mark.parametrize("budget", [10, 50])
def test_a_penalised_intercept_fits_any_noise(raw_cancer, budget, centred):
    # With the intercept penalised the noisy objective is strongly convex in
    # every parameter and has a minimum for every draw: it fits on the raw
    # data (features of scale 1e3) as on centred ones, and stays certified
    # through requests, verify() holding after each.
    X, y = raw_cancer
    if centred:
        X = X - X.mean(axis=0)
    for rs in range(2):
        model = _model(budget, rs, solver="liblinear").fit(X, y)
        cert = model.certificate_
        assert cert.valid and cert.spent <= cert.budget
        final = model.estimator_
        seed = model.noise_seed_
        b = cert.sigma * check_random_state(seed).standard_normal(X.shape[1] + 1)
        grad = _theoretical_gradient(X, y, final.coef_[0], final.intercept_[0], b, 1.0)
        # the polished optimum: the gradient vanishes to round-off of sums of
        # terms up to |x| |w| ~ 1e5 over 569 rows
        assert np.linalg.norm(grad) <= 1e-6 * (1 + np.abs(X).max() * len(y))
        for rows in (slice(0, 1), slice(10, 15), slice(100, 120)):
            model.unlearn(X[rows], None, y[rows])
            check = model.verify()
            assert check.true_residual <= check.bound
            assert model.certificate_.spent <= model.certificate_.budget
        assert model.certificate_.valid


def test_multinomial_existence_follows_the_class_totals():
    # multinomial: a minimum iff b_k < C W_k for every class k (the noise has
    # no component along the common shift); iris has 50 rows per class
    X, y = load_iris(return_X_y=True)
    X = (X - X.mean(axis=0)) / X.std(axis=0)
    decided = []
    for rs in range(6):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                _model(12, rs, max_iter=500).fit(X, y)
                decided.append("fitted")
            except ValueError as exc:
                assert "no finite minimum" in str(exc) or "did not reach" in str(exc)
                decided.append("none" if "no finite minimum" in str(exc) else "far")
        # the criterion, independently: the draw projected off the common shift
        seed = int(check_random_state(rs).randint(np.iinfo(np.int32).max))
        B = noise_scale(EPSILON, DELTA, 12) * check_random_state(seed).standard_normal(
            (X.shape[1] + 1, 3))
        b0 = B[-1] - B[-1].mean()
        exists = bool(np.all(b0 < 50))
        assert (decided[-1] == "none") == (not exists), (rs, b0)
    assert "fitted" in decided and "none" in decided


def test_the_refit_of_a_large_noise_reaches_its_far_minimum(raw_cancer):
    # 400 raw rows, budget 50 (sigma = 244): verify()'s refit on the
    # corrected rows starts from the noise-free optimum, far from the noisy
    # one; the polish must still reach it (it took more than 100 Newton
    # steps, some accepted by the slope test where the objective's rounding
    # hides its decrease)
    from sklearn.model_selection import train_test_split

    X, _, y, _ = train_test_split(*raw_cancer, train_size=400, stratify=raw_cancer[1],
                                  random_state=0)
    model = _model(50, 7, solver="liblinear").fit(X, y)
    for j in range(3):
        model.unlearn(X[j:j + 1], None, y[j:j + 1])
        check = model.verify()
        assert check.true_residual <= check.bound
        assert check.parameter_distance < 1e-6
