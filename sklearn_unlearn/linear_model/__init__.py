"""Unlearnable linear estimators: drop-in subclasses of scikit-learn's."""

from ._base import UnlearnableLinearMixin
from ._glm import (
    UnlearnableGammaRegressor,
    UnlearnableGLMMixin,
    UnlearnablePoissonRegressor,
    UnlearnableTweedieRegressor,
)
from ._logistic import UnlearnableLogisticRegression
from ._ridge import UnlearnableRidge
from ._svc import UnlearnableLinearSVC

__all__ = [
    "UnlearnableGLMMixin",
    "UnlearnableGammaRegressor",
    "UnlearnableLinearMixin",
    "UnlearnableLinearSVC",
    "UnlearnableLogisticRegression",
    "UnlearnablePoissonRegressor",
    "UnlearnableRidge",
    "UnlearnableTweedieRegressor",
]
