"""Unlearnable linear estimators: drop-in subclasses of scikit-learn's."""

from ._base import UnlearnableLinearMixin
from ._logistic import UnlearnableLogisticRegression
from ._ridge import UnlearnableRidge
from ._svc import UnlearnableLinearSVC

__all__ = [
    "UnlearnableLinearMixin",
    "UnlearnableLinearSVC",
    "UnlearnableLogisticRegression",
    "UnlearnableRidge",
]
