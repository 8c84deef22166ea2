"""Validation of the ``feature_change`` option of a linear model's request."""

from dataclasses import replace

import numpy as np

from .._report import RequestReport
from .._warnings import warn_caller
from ..base import get_unlearn_tags
from ..solvers import UnlearningWarning
from ..solvers.steps._coordinates import forgotten_coordinates


#: A change of every row's features whose estimated error
#: (``RequestReport.change_error``) passes this fraction of ``||theta||``
#: is warned about. The estimate is mostly several times the true distance
#: where the step is accurate, hence a fraction above the 1e-3 the updates
#: are held to.
CHANGE_RTOL = 1e-2

#: Without an estimate, a change whose step passes this fraction of
#: ``||theta||`` is warned about (the step is not a bound on its error
#: either: a Poisson step of 0.9% landed 1.6% away).
STEP_RTOL = 1e-3


def warn_inaccurate_change(error, step, theta, what):
    """Warn when the estimated distance from the model after a change of
    every row's features to the changed objective's optimum is more than
    :data:`CHANGE_RTOL` of the parameters' norm; where the cache gives no
    estimate (``error`` is ``None``), when the change's ``step`` is more
    than :data:`STEP_RTOL` of it."""
    scale = float(np.linalg.norm(theta))
    if error is None:
        if not step > STEP_RTOL * scale:
            return
        message = (
            f"{what} changes every training row's features and moves the model by "
            f"{step:.3g} ({step / scale if scale else np.inf:.3g} of the parameters' "
            "norm), and the cache cannot estimate how far from the changed "
            "objective's optimum that lands (it keeps no third derivatives beyond "
            "32 parameters, and no bound for this loss): report.change_error is "
            "None.")
    elif error > CHANGE_RTOL * scale:
        message = (
            f"{what} changes every training row's features, and the model can land "
            f"up to an estimated {error:.3g} from the optimum of the changed "
            f"objective ({error / scale if scale else np.inf:.3g} of the parameters' "
            "norm; report.change_error, an estimate): the cache's model of "
            "the objective may not hold this far from the fitted model.")
    else:
        return
    warn_caller(UnlearningWarning(
        message + " Refit on the corrected data for an exact model."))


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


def feature_positions(estimator, features):
    """Positions of ``features`` (names of ``feature_names_in_`` or positions)."""
    d = estimator.n_features_in_
    items = np.atleast_1d(np.asarray(features, dtype=object))
    if items.ndim != 1 or not all(
            isinstance(f, (str, int, np.integer)) and not isinstance(f, (bool, np.bool_))
            for f in items):
        raise ValueError(
            "features must be a feature's position (an integer) or name, or a "
            f"list of them; got {features!r}. Nothing was changed.")
    if any(isinstance(f, str) for f in items):
        names = getattr(estimator, "feature_names_in_", None)
        if names is None:
            raise ValueError("Features given by name need a model fitted on a DataFrame; "
                             "pass positions.")
        known = list(names)
        unknown = [str(f) for f in items if f not in known]
        if unknown:
            raise ValueError(f"Unknown features {unknown}; the model has {known}.")
        return np.array([known.index(f) for f in items])
    positions = items.astype(int)
    if positions.size == 0 or np.any((positions < -d) | (positions >= d)):
        raise ValueError(f"Feature positions {positions.tolist()} out of range for "
                         f"{d} features (give at least one).")
    return positions % d


def forgotten_state(estimator, positions):
    """The attributes of ``estimator`` retrained with the features at
    ``positions`` zero in every row, and the report, computed from the cache
    (nothing is changed)."""
    cache = estimator.unlearning_cache_
    zeroed = np.zeros(estimator.n_features_in_, dtype=bool)
    zeroed[positions] = True
    try:
        new_cache, step, error, n_iter = forgotten_coordinates(cache, zeroed)
    except ValueError as exc:
        raise ValueError(f"{type(estimator).__name__} cannot forget features: {exc}") from None
    report = RequestReport(
        method="forget_features", n_removed=0, n_added=0, tau=None, n_iter=n_iter,
        step_norm=step, gradient_norm=None,
        residual_estimate=float(np.linalg.norm(new_cache.residual)),
        bound_increment=np.inf, residual_bound=np.inf, change_error=error)
    return recorded_state(estimator, cache, new_cache, report), report


def recorded_state(estimator, old, cache, report):
    """The attributes of ``estimator`` at ``cache``, with ``report`` added
    to the history of ``old`` (the cache it replaces; ``None`` for a cache
    made from the current rows as a fit makes it, whose history starts with
    ``report``: the earlier reports' bounds are functions of their rows)."""
    history = [] if old is None else old.history
    cache = replace(cache, n_requests=len(history) + 1 if old is None else old.n_requests + 1,
                    history=[*history, report.kept()])
    attrs = estimator._moved_attributes(cache.theta, cache.objective.design)
    attrs["unlearning_cache_"] = cache
    return attrs
