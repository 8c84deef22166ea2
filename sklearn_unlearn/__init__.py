"""sklearn-unlearn: scikit-learn estimators that can forget.

Drop-in subclasses of scikit-learn estimators that cache the Hessian at fit
time and add ``unlearn(X_old, X_new, y_old, y_new)``: a closed-form update
that moves the model to where retraining on the corrected data would put it.
"""

from .certified import CertifiedRemoval
from .edits import replace_features, zero_features
from .linear_model import (
    UnlearnableGammaRegressor,
    UnlearnableLinearSVC,
    UnlearnableLogisticRegression,
    UnlearnablePoissonRegressor,
    UnlearnableRidge,
    UnlearnableTweedieRegressor,
)
from .neural_network import UnlearnableMLPClassifier, UnlearnableMLPRegressor

__version__ = "0.1.0"

__all__ = [
    "CertifiedRemoval",
    "UnlearnableGammaRegressor",
    "UnlearnableLinearSVC",
    "UnlearnableLogisticRegression",
    "UnlearnableMLPClassifier",
    "UnlearnableMLPRegressor",
    "UnlearnablePoissonRegressor",
    "UnlearnableRidge",
    "UnlearnableTweedieRegressor",
    "replace_features",
    "zero_features",
]
