"""Validation of the ``feature_change`` option of a linear model's request."""

import numpy as np

from ..base import get_unlearn_tags


def check_feature_change(estimator, feature_change):
    """``(scale, shift)`` as float arrays of the fitted width, or a clear error."""
    tags = get_unlearn_tags(estimator)
    if tags is None or not tags.feature_changes:
        raise ValueError(
            f"{type(estimator).__name__} with these parameters cannot take a change "
            "of its features (feature_change): it needs a dense Hessian, no "
            "objective noise and a loss with continuous curvature."
        )
    try:
        scale, shift = feature_change
    except (TypeError, ValueError):
        raise ValueError("feature_change must be a pair (scale, shift) of arrays.") from None
    d = estimator.n_features_in_
    scale = np.asarray(scale, dtype=np.float64)
    shift = np.asarray(shift, dtype=np.float64)
    if scale.shape != (d,) or shift.shape != (d,):
        raise ValueError(
            f"feature_change needs scale and shift of shape ({d},), got "
            f"{scale.shape} and {shift.shape}."
        )
    if not (np.all(np.isfinite(scale)) and np.all(scale > 0) and np.all(np.isfinite(shift))):
        raise ValueError("feature_change needs finite positive scales and finite shifts.")
    return scale, shift
