"""The losses' derivatives and the constants the residual bound relies on."""

import numpy as np
import pytest

from sklearn_unlearn.losses import (
    BinaryLogLoss,
    HalfGammaLoss,
    HalfPoissonLoss,
    HalfSquaredError,
    HalfTweedieLoss,
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
        w = rng.random(400)
        expected = w[:, None, None] * (A @ V)
        # class-major and in place
        Z = np.ascontiguousarray(V.transpose(1, 0, 2))
        out = loss.curvature_product(None, eta, Z, w)
        assert out is Z
        np.testing.assert_allclose(Z.transpose(1, 0, 2), expected, atol=1e-12)
        # every eigenvalue of diag(p) - p p^T lies in [0, cap]
        eig = np.linalg.eigvalsh(A)
        assert eig.min() >= -1e-12 and eig.max() <= loss.curvature_cap
        # Lipschitz in the operator norm along random directions
        u = rng.normal(size=(400, K))
        t = 1e-4
        diff = loss.curvature(None, eta + t * u) - A
        ratio = np.linalg.norm(diff, ord=2, axis=(1, 2)) / (t * np.linalg.norm(u, axis=1))
        assert ratio.max() <= loss.curvature_lipschitz


# -- the log-link GLM losses ---------------------------------------------------------
GLM_LOSSES = [HalfPoissonLoss(), HalfGammaLoss()] + [
    HalfTweedieLoss(p) for p in (1.0, 1.2, 1.5, 1.8, 2.0)]
GLM_ETA = np.linspace(-4, 4, 1601)[:, None]


def _targets(loss):
    # Gamma (power 2) needs positive targets; the others take zero too
    return (0.5, 3.0) if loss.power == 2 else (0.0, 0.5, 3.0)


@pytest.mark.parametrize("loss", GLM_LOSSES, ids=lambda l: f"power={l.power}")
def test_glm_derivatives_match_finite_differences(loss):
    h = 1e-5
    for y in _targets(loss):
        Y = np.full_like(GLM_ETA, y)
        for f, df in [(loss.value, loss.gradient), (loss.gradient, loss.curvature),
                      (loss.curvature, loss.third_derivative)]:
            fd = (f(Y, GLM_ETA + h) - f(Y, GLM_ETA - h)) / (2 * h)
            np.testing.assert_allclose(df(Y, GLM_ETA), fd, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("loss", GLM_LOSSES, ids=lambda l: f"power={l.power}")
def test_glm_losses_are_scikit_learns(loss):
    # the same half deviance, with the same scaling: scikit-learn's gradient
    # and curvature in the raw prediction
    from sklearn._loss.loss import HalfTweedieLoss as Reference

    ref = Reference(power=loss.power)
    for y in _targets(loss):
        Y = np.full(len(GLM_ETA), y)
        grad, hess = ref.gradient_hessian(Y, GLM_ETA[:, 0])
        np.testing.assert_allclose(loss.gradient(Y[:, None], GLM_ETA)[:, 0], grad,
                                   rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(loss.curvature(Y[:, None], GLM_ETA)[:, 0], hess,
                                   rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("loss", GLM_LOSSES, ids=lambda l: f"power={l.power}")
def test_glm_declared_properties(loss):
    curvatures = []
    for y in _targets(loss):
        Y = np.full_like(GLM_ETA, y)
        curv = loss.curvature(Y, GLM_ETA)
        third = np.abs(loss.third_derivative(Y, GLM_ETA))
        # convex, and self-concordant: the third derivative at most the second
        assert curv.min() >= 0
        assert np.all(third <= curv * (1 + 1e-12))
        curvatures.append(curv)
    # the curvature grows without bound: no Lipschitz constant, no cap
    eta = np.full((1, 1), 200.0 if loss.power < 2 else -200.0)
    assert loss.curvature(np.full((1, 1), 3.0), eta)[0, 0] > 1e15
    assert loss.curvature_lipschitz is None and loss.curvature_max == np.inf
    depends = not all(np.array_equal(curvatures[0], c) for c in curvatures[1:])
    assert loss.curvature_depends_on_target == depends


def test_declared_target_dependence_of_the_other_losses():
    Y1, Y2 = np.ones_like(ETA), -np.ones_like(ETA)
    for loss in (HalfSquaredError(), BinaryLogLoss(), SquaredHinge()):
        differs = not np.array_equal(loss.curvature(Y1, ETA), loss.curvature(Y2, ETA))
        assert loss.curvature_depends_on_target == differs


@pytest.mark.parametrize("power", [0.0, 0.5, 2.5, 3.0])
def test_tweedie_loss_refuses_non_convex_powers(power):
    with pytest.raises(ValueError, match="not convex"):
        HalfTweedieLoss(power)
