"""Utilities for writers and users of unlearnable estimators."""

from .estimator_checks import check_unlearning, parametrize_with_unlearning_checks

__all__ = ["check_unlearning", "parametrize_with_unlearning_checks"]
