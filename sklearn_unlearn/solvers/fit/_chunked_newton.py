"""Newton's method over training rows read chunk by chunk (a Dask array, an
iterable of chunks): one pass over the chunks per iteration, and the cache
made from the sums of the last pass.

The caller gives ``reduce(theta, **wanted)``, which reads every chunk once
and returns the added :class:`~sklearn_unlearn.solvers.fit._chunks.RowSums` at
``theta`` (:func:`~sklearn_unlearn.solvers.fit._chunks.row_sums` with the
options ``wanted``): the data part
of the objective and its gradient, and, when asked, the Gram matrices of the
Hessian blocks and of the residual bound. The Hessian taken at one point
serves as long as its steps cut the gradient twentyfold (chord steps, which
need only the gradient); otherwise the next pass computes it again.
"""

import numpy as np

from .._cache import UnlearningCache, logger
from ._chunks import published_theta
from ..hessian import _third
from ..hessian._entry_sides import new_key
from ..hessian._factored import NotPositiveDefiniteError
from .._norms import scaled_norm
from ._polish import unconverged_polish

_EPS = np.finfo(float).eps
#: Largest move of a predictor the first trial of a step may make, for a
#: loss whose curvature grows without bound (exp(30) is 1e13).
_MAX_MOVE = 30.0


def _newton_step(objective, hessians, g):
    return -objective.from_blocks([H.solve(objective.to_block(g, b))
                                   for b, H in enumerate(hessians)])


def _line_search(objective, reduce, theta, f, g, step, noise, floor, hessian,
                 max_norm):
    """One accepted step from ``theta`` (Armijo; at round-off level a
    smaller gradient), one pass per trial. Returns the new point, its value,
    gradient and sums, or ``None`` if no step is accepted. A pass expected
    to be the last takes the allowances, and with the Hessian the third
    derivatives where the cache keeps them. A loss whose curvature grows
    without bound (a log link's exp) first tries no longer a step than moves
    a predictor (of a row of norm at most ``max_norm``) by ``_MAX_MOVE``:
    its Newton step from far away overshoots by orders of magnitude, and the
    halvings down to it overflow."""
    gnorm = scaled_norm(g)
    slope = float((g * step).sum())
    t = 1.0
    loss = objective.loss
    if loss.curvature_lipschitz is None and not loss.curvature_jumps:
        t = min(1.0, _MAX_MOVE / (max_norm * scaled_norm(step) or 1.0))
    smallest = 1e-10 * t
    while t >= smallest:
        cand = theta + t * step
        # the round-off allowances where the iterations may end: near the
        # optimum with the Hessian taken there, or after a Newton step of a
        # quadratic objective (exact: it lands at the optimum); otherwise the
        # last pass adds them
        final = hessian or objective.loss.constant_curvature
        last = bool(final and gnorm <= 1e6 * floor)
        sums = reduce(cand, hessian=hessian, allowances=last,
                      third=last and hessian and _third.keeps_third(objective, True))
        f_c, g_c = objective.penalized(sums.value, sums.gradient, cand, noise)
        if f_c <= f + 1e-4 * t * slope or (
                gnorm <= 1e6 * floor and scaled_norm(g_c) < gnorm):
            return cand, f_c, g_c, sums
        if gnorm <= 1e3 * floor:
            return None     # round-off level: no step resolves it further
        t *= 0.5
    return None


def check_weighted(total):
    """``total``, the rows' total sample weight, as a float; refused when it
    is not positive (no rows, or every weight zero)."""
    total = float(total)
    if not total > 0:
        raise ValueError("The rows given have no weight (no rows, or every sample "
                         "weight zero): there is nothing to fit.")
    return total


def newton_by_chunks(objective, reduce, theta, *, noise=None, max_newton=100,
                     bound=True, check=None):
    """Newton iterations from ``theta`` to the optimum, one pass per
    iteration, stopping at the round-off of the gradient's sums.

    ``check(sums)`` sees the sums of the first pass (the class weights)
    before any step. Returns the objective of the rows (whose penalty may
    grow with their total weight, known from the first pass), the
    parameters, the gradient there, the sums of the last pass at them, the
    Hessian blocks and where they were taken, the bound's Gram matrices, the
    number of iterations and whether the gradient reached round-off.
    """
    gamma = objective.loss.curvature_lipschitz
    grams_wanted = bool(bound and gamma is not None and gamma > 0)
    # a quadratic objective's start is often its optimum already (a parent
    # that solves it directly): its first pass takes the allowances, and is
    # then the last
    sums = reduce(theta, hessian=True, bound_grams=grams_wanted,
                  allowances=bool(objective.loss.constant_curvature))
    if check is not None:
        check(sums)
    total = check_weighted(sums.weight_totals.sum())
    objective = objective.for_total_weight(total)
    grams = sums.bound_grams
    hessians, anchor = objective.assemble(sums.hessian_grams), theta
    f, g = objective.penalized(sums.value, sums.gradient, theta, noise)
    newton = False
    for it in range(max_newton):
        gnorm = scaled_norm(g)
        floor = 1e3 * _EPS * (sums.abs_coef
                              + scaled_norm(objective.penalty[:, None] * theta))
        logger.info("Newton iteration %d: gradient norm %.6g (round-off level %.3g)",
                    it, gnorm, floor)
        if gnorm <= floor:
            return objective, theta, g, sums, hessians, anchor, grams, it, True
        step = _newton_step(objective, hessians, g)
        found = _line_search(objective, reduce, theta, f, g, step, noise, floor, newton,
                             sums.max_norm)
        if found is None:
            return (objective, theta, g, sums, hessians, anchor, grams, it,
                    gnorm <= 1e3 * floor)
        theta, f, g_new, sums = found
        ratio = scaled_norm(g_new) / gnorm
        g = g_new
        if newton:
            hessians, anchor = objective.assemble(sums.hessian_grams), theta
        if gnorm <= 1e3 * floor and ratio > 0.5:
            return objective, theta, g, sums, hessians, anchor, grams, it + 1, True
        # the Hessian in hand no longer cuts the gradient twentyfold: the
        # next pass takes it again (a pass with the Hessian costs less than
        # the several passes of slow chord steps). Or the next step should
        # reach round-off: its pass takes the Hessian and the allowances
        # there, the work of a last pass at the optimum, which it saves
        newton = not objective.loss.constant_curvature and (
            ratio > 0.05 or ratio * scaled_norm(g) <= floor)
    floor = 1e3 * _EPS * (sums.abs_coef + scaled_norm(objective.penalty[:, None] * theta))
    return (objective, theta, g, sums, hessians, anchor, grams, max_newton,
            scaled_norm(g) <= 1e6 * floor)


def cache_by_chunks(objective, reduce, theta, *, noise=None, bound=True,
                    dtype=np.float64, max_newton=100, check=None, last=None):
    """The polished parameters' :class:`~sklearn_unlearn.solvers.UnlearningCache`
    from passes over the chunks (see :func:`newton_by_chunks`), dense
    Hessian blocks taken at the optimum; and the number of iterations.

    The cache equals the in-memory one of the same rows up to the rounding
    of their sums (the in-memory fit adds the same per-row terms). Returns
    the cache, the number of iterations and the sums of the last pass (at
    the cache's parameters; ``last``: what that pass also takes, e.g. the
    rows' fingerprints).
    """
    objective, theta, g, sums, hessians, anchor, grams, n_iter, converged = newton_by_chunks(
        objective, reduce, theta, noise=noise, max_newton=max_newton, bound=bound,
        check=check)
    if not converged:
        unconverged_polish(g, noise)
    published = published_theta(objective, theta, dtype)
    rehessian = not objective.loss.constant_curvature and (
        anchor is not theta or published is not theta)
    if objective.loss.constant_curvature and not rehessian:
        anchor = published
    # the last pass (at the Hessian's anchor) also takes the side each row
    # entered on, for a loss whose curvature jumps, the third derivatives
    # where the cache keeps them, and what ``last`` asks
    sides = {"sides_key": new_key()} if objective.loss.curvature_jumps else {}
    sides.update(last or {})
    third = _third.keeps_third(objective, True)
    if (published is not theta or rehessian or sums.coef_error is None or sides
            or (third and sums.third is None)):
        # the cache is about the published parameters, its curvature taken there
        theta = published
        sums = reduce(theta, hessian=rehessian, third=third, **sides)
        _, g = objective.penalized(sums.value, sums.gradient, theta, noise)
        if rehessian:
            try:
                hessians, anchor = objective.assemble(sums.hessian_grams), theta
            except NotPositiveDefiniteError:
                # no curvature left at the optimum: keep the Hessian where it
                # was taken, and the drift from there
                sums = reduce(theta, anchor=anchor, third=third, **sides)
    cache = UnlearningCache.from_sums(
        objective, theta, g, sums, hessians=hessians, grams=grams, noise=noise,
        anchor=anchor, exact=True, bound=bound, dtype=dtype,
        third=None if sums.third is None else list(sums.third))
    return cache, n_iter, sums
