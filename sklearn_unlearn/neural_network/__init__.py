"""Unlearnable multilayer perceptrons: approximate, uncertified unlearning."""

from ._base import UnlearnableMLPMixin
from ._multilayer_perceptron import UnlearnableMLPClassifier, UnlearnableMLPRegressor

__all__ = [
    "UnlearnableMLPClassifier",
    "UnlearnableMLPMixin",
    "UnlearnableMLPRegressor",
]
