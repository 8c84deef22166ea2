"""Per-sample losses in the linear predictor, with their derivatives."""

from ._glm import (
    BinaryLogLoss,
    HalfGammaLoss,
    HalfPoissonLoss,
    HalfSquaredError,
    HalfTweedieLoss,
    MultinomialLogLoss,
    SquaredHinge,
)

__all__ = [
    "BinaryLogLoss",
    "HalfGammaLoss",
    "HalfPoissonLoss",
    "HalfSquaredError",
    "HalfTweedieLoss",
    "MultinomialLogLoss",
    "SquaredHinge",
]
