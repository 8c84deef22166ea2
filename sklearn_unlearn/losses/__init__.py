"""Per-sample losses in the linear predictor, with their derivatives."""

from ._glm import BinaryLogLoss, HalfSquaredError, MultinomialLogLoss, SquaredHinge

__all__ = ["BinaryLogLoss", "HalfSquaredError", "MultinomialLogLoss", "SquaredHinge"]
