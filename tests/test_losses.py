"""The losses' derivatives and the constants the residual bound relies on."""

import numpy as np
import pytest

from sklearn_unlearn.losses import (
    BinaryLogLoss,
    HalfSquaredError,
    MultinomialLogLoss,
    SquaredHinge,
)

ETA = np.linspace(-8, 8, 3201)[:, None]


@pytest.mark.parametrize("loss", [HalfSquaredError(), BinaryLogLoss()])
@pytest.mark.parametrize("y", [-1.0, 1.0])
def test_derivatives_match_finite_differences(loss, y):
    Y, h = np.full_like(ETA, y), 1e-5
    fd_grad = (loss.value(Y, ETA + h) - loss.value(Y, ETA - h)) / (2 * h)
    fd_curv = (loss.gradient(Y, ETA + h) - loss.gradient(Y, ETA - h)) / (2 * h)
    fd_third = (loss.curvature(Y, ETA + h) - loss.curvature(Y, ETA - h)) / (2 * h)
    np.testing.assert_allclose(loss.gradient(Y, ETA), fd_grad, atol=1e-8)
    np.testing.assert_allclose(loss.curvature(Y, ETA), fd_curv, atol=1e-8)
    np.testing.assert_allclose(loss.third_derivative(Y, ETA), fd_third, atol=1e-8)


def test_binary_constants_are_tight_and_valid():
    loss, Y = BinaryLogLoss(), np.ones_like(ETA)
    third = np.abs(loss.third_derivative(Y, ETA))
    curv = loss.curvature(Y, ETA)
    # the Lipschitz constant is the largest third derivative, reached
    assert third.max() <= loss.curvature_lipschitz
    assert third.max() >= loss.curvature_lipschitz * (1 - 1e-5)
    # curvature in (0, 1/4]; self-concordance |l'''| <= l''
    assert curv.max() <= loss.curvature_cap and curv.min() > 0
    assert np.all(third <= curv)


def test_squared_hinge_curvature_jumps():
    loss, Y = SquaredHinge(), np.ones_like(ETA)
    curv = loss.curvature(Y, ETA)
    assert set(np.unique(curv)) == {0.0, 2.0}
    assert loss.curvature_lipschitz is None and curv.max() <= loss.curvature_cap


def test_multinomial_curvature_product_and_constants():
    rng = np.random.default_rng(0)
    loss = MultinomialLogLoss()
    for K in (2, 3, 5, 10):
        eta = rng.normal(scale=3.0, size=(400, K))
        V = rng.normal(size=(400, K, 3))
        A = loss.curvature(None, eta)
        np.testing.assert_allclose(loss.curvature_product(None, eta, V),
                                   A @ V, atol=1e-12)
        np.testing.assert_allclose(loss.curvature_product(None, eta, V[:, :, 0]),
                                   (A @ V)[:, :, 0], atol=1e-12)
        # every eigenvalue of diag(p) - p p^T lies in [0, cap]
        eig = np.linalg.eigvalsh(A)
        assert eig.min() >= -1e-12 and eig.max() <= loss.curvature_cap
        # Lipschitz in the operator norm along random directions
        u = rng.normal(size=(400, K))
        t = 1e-4
        diff = loss.curvature(None, eta + t * u) - A
        ratio = np.linalg.norm(diff, ord=2, axis=(1, 2)) / (t * np.linalg.norm(u, axis=1))
        assert ratio.max() <= loss.curvature_lipschitz
