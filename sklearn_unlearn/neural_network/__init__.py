"""Unlearnable multilayer perceptrons: approximate, uncertified unlearning."""

from ._base import MLPRequestReport, UnlearnableMLPMixin
from ._multilayer_perceptron import UnlearnableMLPClassifier, UnlearnableMLPRegressor

__all__ = [
    "MLPRequestReport",
    "UnlearnableMLPClassifier",
    "UnlearnableMLPMixin",
    "UnlearnableMLPRegressor",
]
