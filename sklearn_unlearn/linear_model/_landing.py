"""How far a linear model's request may land from the refit: the estimate
its plan reports (``change_error``), and the warnings and refusals that
follow from it and from the reach of the cache's model of the loss."""

import numpy as np

from .._warnings import warn_caller
from ..solvers import UnlearningWarning
from ..solvers.hessian._factored import FactoredHessian, LostCurvatureError
from ..solvers.steps._coordinates import (_CUBIC_REACH, bounded_step_error,
                                          newton_lengths, step_error, within_reach)
from ._feature_change import CHANGE_RTOL, warn_inaccurate_change


def judged_landing(cache, plan, change, *, warn):
    """The estimated distance from the plan's model to the optimum of the
    corrected data's objective (``None`` where the cache gives none): the
    step's (:func:`_judged_step`), plus, with ``change`` (the step's norm
    and estimated error of a change of every row's features, taken first),
    the change's, plus what the Hessian's rounding can move the step by
    where no bound covers it (:func:`_precision_error`, which refuses a
    step that rounding leaves anywhere). With ``warn``, a request whose
    estimate passes :data:`CHANGE_RTOL` of the parameters' norm is warned
    about; the figures are not in the messages (they are the request rows',
    see the plan's report)."""
    # refused first: a refused request warns of nothing
    precision = _precision_error(cache, plan, plan.report.step_norm or 0.0)
    error = _judged_step(cache, plan, warn, changed=change is not None)
    if change is not None:
        change_error = change[1]
        if warn and (change_error is None or error is None):
            # the change's own estimate (or, without one, its step) is
            # judged alone where the whole has none: a 3-class model's
            # change estimated at 8 times the parameters' norm was dropped
            # with the step's missing one, and the request served 39% off
            warn_inaccurate_change(change_error, change[0], plan.theta,
                                   "The feature_change of this request")
        # the estimates of the change and of the step add up; either
        # without one leaves the whole without one (a step after a change
        # has no bound to estimate from: counted as 0, a multinomial model's
        # deletion through an unlearned scaler reported 1e-8 and landed 2e-2
        # off, unwarned)
        error = (None if change_error is None or error is None
                 else change_error + error)
    if error is None:
        return None
    error += precision
    if warn and error > CHANGE_RTOL * float(np.linalg.norm(plan.theta)):
        _warn_step("may land far from the refit: the estimate of its distance "
                   "(the plan's report.change_error) passes "
                   f"{CHANGE_RTOL:g} of the parameters' norm, as the cache's "
                   "model of the remaining rows' loss may not hold over its "
                   "step or its Hessian carries too much rounding (a feature "
                   "edit of a tenth of the rows left a logistic model 9% off).")
    return error


#: A request of a loss without a bound (a log link) warns when it moves the
#: parameters by more than this share of their norm: no estimate says how
#: far from the refit such a step lands.
ROW_STEP_RTOL = 1e-2


def _judged_step(cache, plan, warn=True, changed=False):
    """The estimated distance from the plan's model to the corrected data's
    optimum for a loss of bounded curvature: from the cubic term where the
    cache keeps it (:func:`~sklearn_unlearn.solvers.steps._coordinates.step_error`),
    otherwise from the request's bound (:func:`~sklearn_unlearn.solvers.steps.
    _coordinates.bounded_step_error`); ``None`` without either. A
    first-order step adds how far it stopped from the model's own optimum
    (:func:`_stopped_short`), which is the whole distance for a quadratic
    loss (ridge). A warning where no estimate exists and the step may land
    far from it.

    Without the term, a step that no bound covers is flagged where it moves
    the training rows' predictors beyond the reach of the cache's model of
    their loss: by more than ``_CUBIC_REACH`` in root mean square where the
    request's bound is infinite (a model that keeps none, as in the low-rank
    mode, or a change of every row's features, as a pipeline's scaler
    makes). A loss of unbounded curvature (a log link)
    has no bound on the remaining rows' curvature along a step, and its
    cubic model is no guide: a long step (past ``ROW_STEP_RTOL`` of the
    parameters' norm) is flagged too, and so is one of a loss whose
    curvature jumps (the squared hinge, where a row crosses the margin): its
    model holds only while no remaining row crosses, which nothing the cache
    keeps tells, and a step after a change of every row's features
    (``changed``), which no bound covers. The figures are not in the
    messages: they are the request rows' (see the plan's report)."""
    loss = cache.objective.loss
    if loss.constant_curvature:
        # the model is the objective: only a first-order step stops short
        return _stopped_short(cache, plan) if plan.report.method == "first_order" else None
    move = plan.theta - cache.theta
    jumps = loss.curvature_jumps
    unbounded = jumps or loss.curvature_lipschitz is None
    if not unbounded:
        error = step_error(cache, plan.hessians, plan.third, move, plan.residual)
        if error is None:
            error = bounded_step_error(plan.report, move, plan.step_curvature,
                                       _stopped_short(cache, plan))
        if error is not None or np.isfinite(plan.report.residual_bound):
            return error
    far = not within_reach(cache, move)
    if unbounded or changed:
        far = far or (float(np.linalg.norm(move))
                      > ROW_STEP_RTOL * float(np.linalg.norm(plan.theta)))
    if not far or not warn:
        return None
    if changed and not unbounded:
        why = (f"moves the model by more than {ROW_STEP_RTOL:g} of the parameters' "
               "norm, or the training rows' predictors by more than "
               f"{_CUBIC_REACH:g} in root mean square (weighted by their curvature), "
               "after a change of every row's features (an unlearned scaler of a "
               "pipeline): no bound covers a step from there, and no estimate says "
               "how far from the refit the model lands (erasing 10% of the rows "
               "through a scaler left a 3-class logistic model 2% off).")
    elif jumps:
        why = (f"moves the model by more than {ROW_STEP_RTOL:g} of the parameters' "
               "norm, or the training rows' predictors by more than "
               f"{_CUBIC_REACH:g} in root mean square (weighted by their curvature): "
               "this loss's curvature jumps where a row crosses the margin, so the "
               "cache's model of the remaining rows' loss holds only while none "
               "crosses, and no bound or estimate says how far from the refit the "
               "model lands (one label flipped left a linear SVC 50% off).")
    elif unbounded:
        why = (f"moves the model by more than {ROW_STEP_RTOL:g} of the parameters' "
               "norm, or the training rows' predictors by more than "
               f"{_CUBIC_REACH:g} in root mean square (weighted by their curvature): "
               "this loss's curvature is unbounded, so the cache's model of the "
               "remaining rows' loss may not hold that far and no bound or estimate "
               "says how far from the refit the model lands (deleting 3 outlying "
               "rows of 306 left a Poisson model 9% off).")
    else:
        why = ("moves the training rows' predictors by more than "
               f"{_CUBIC_REACH:g} in root mean square (weighted by their curvature), "
               "and no bound covers it (report.residual_bound is inf: the model "
               "keeps none, as in hessian='low_rank' or with residual_bound=False, "
               "or the request changes every row's features, as an unlearned "
               "scaler of a pipeline does): the cache's model of the remaining "
               "rows' loss may not hold that far (erasing an outlier of 30 through "
               "a scaler left a logistic model 25% off, erasing all but one row of "
               "a class a low-rank one 58% off).")
    _warn_step(why)
    return None


def _stopped_short(cache, plan):
    """How far a first-order step stopped from the cache's model's own
    optimum: the Newton step its gradient after the step calls for (zero
    for a step that solved the model)."""
    if plan.report.method != "first_order":
        return 0.0
    return newton_lengths(cache.objective, plan.hessians, plan.residual)


def _precision_error(cache, plan, step):
    """Where the cache keeps no bound (after a change of every row's features,
    or for a model that keeps none) and none covers the plan, an
    estimate of how far the rounding its Hessian blocks carry can move a
    step of length ``step``: ``r step / (1 - r)``, ``r`` the blocks'
    :meth:`~sklearn_unlearn.solvers.FactoredHessian.precision_ratio` of
    their error bounds (see
    :func:`~sklearn_unlearn.solvers.steps._coordinates._mapped_blocks`).
    A rounding that may be as large as the curvature in some direction
    (``r >= 1``) leaves the step anywhere: refused."""
    if (np.isfinite(cache.residual_bound) or np.isfinite(plan.report.residual_bound)
            or not all(isinstance(H, FactoredHessian) for H in plan.hessians)):
        # a bound that holds, or one the request made infinite (it grows: a
        # certified removal takes it as over any budget)
        return 0.0
    # what the cache bounds the blocks' data part to miss, beside their own
    # rounding: after a change of every row's features it is inf (the
    # change carried its finite part into the blocks' own error bounds, see
    # _mapped_blocks), and an estimate counts none
    drift = plan.drift.hessian_error
    carried = drift if np.isfinite(drift) else 0.0
    # refused for the rounding alone: the drift's bound (what removed rows
    # left) assumes every row's worst alignment, and refused the second
    # deletion of 10 ordinary rows after a refresh of a multinomial model
    # (17 times its allowance); it weighs in the estimate
    ratio = max(H.precision_ratio(H.error) for H in plan.hessians)
    if ratio < 1.0 and carried:
        ratio = max(H.precision_ratio(H.error + carried) for H in plan.hessians)
        return ratio / (1.0 - ratio) * step if ratio < 1.0 else np.inf
    if not ratio < 1.0:
        raise LostCurvatureError(
            "The request's update has lost its precision: the rounding its Hessian "
            "carries may be as large as the curvature left in some direction (a row "
            "that dominated the training data was erased, or a scaler's change "
            "magnified what rows that left behind), so its step could land "
            "anywhere. Nothing was changed. Refit on the corrected data.")
    return ratio / (1.0 - ratio) * step


def _warn_step(why):
    warn_caller(UnlearningWarning(
        f"The request {why} Refit, or refresh_cache with the current rows, for an "
        "exact model."))
