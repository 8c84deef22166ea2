"""The fit-time polish: Newton iterations from the parent's solution to the
optimum of the objective (with its noise), to the round-off of the
gradient's sum, and the conjugate gradients they solve with."""

import logging

import numpy as np
from scipy.linalg import blas
from sklearn.exceptions import ConvergenceWarning

from ..._warnings import warn_caller
from .._cg import conjugate_gradient
from .._norms import scaled_norm
from ..hessian._factored import FactoredHessian, NotPositiveDefiniteError
from ..objective._blocks import solve

_EPS = np.finfo(float).eps

logger = logging.getLogger("sklearn_unlearn")


def unconverged_polish(g, noise):
    """Refuse a perturbed objective whose polish did not converge (with a
    linear noise term it may have no minimum), warn otherwise."""
    if noise is not None:
        raise NotPositiveDefiniteError(
            "The polish did not reach the optimum of the perturbed "
            f"objective (gradient norm {scaled_norm(g):.3g})."
        )
    warn_caller(
        "The Newton polish did not reach the optimum to round-off "
        f"(gradient norm {scaled_norm(g):.3g}); unlearning starts from "
        "this residual, which the bound includes.",
        ConvergenceWarning,
    )


def polish(objective, X, Y, S, theta, noise, hessians, *, max_newton, row_norms,
            start=None, cg_tol=1e-4, cg_max_iter=100):
    """Newton iterations to the optimum, stopping at the round-off of the
    gradient's sum.

    While the cached Hessian is exact and its steps (chord steps: one solve
    and one pass over the data each) reduce the gradient fourfold, they are
    taken as they are. Otherwise each step solves the Newton system with exact
    Hessian-vector products (one pass over the data each), preconditioned by
    the cached Hessian, and takes an Armijo line search: the iteration
    converges from any start of a strongly convex objective, however far (a
    large objective noise). ``start`` is ``(value, gradient, predictor)`` at
    ``theta`` if already computed. Returns the polished parameters, the
    gradient and the predictor there, whether some step made slow progress
    (the start was too far for its Hessian to stand for the optimum's), and
    whether the gradient reached round-off.
    """
    if start is None:
        start = objective.value_and_gradient(X, Y, S, theta, noise,
                                             return_predictor=True)
    f, g, eta = start
    floor = 1e3 * _EPS * (
        np.abs(objective.gradient_coefficients(Y, S, eta)).sum(axis=1) @ row_norms
        + scaled_norm(objective.penalty[:, None] * theta)
    )
    chord = all(isinstance(H, FactoredHessian) for H in hessians)
    far = False
    near = 0
    for it in range(max_newton):
        gnorm = scaled_norm(g)
        logger.info("Newton iteration %d: gradient norm %.6g (round-off level %.3g)",
                    it, gnorm, floor)
        if gnorm <= floor:
            return theta, g, eta, far, True
        if chord:
            step = -solve(objective, hessians, g)
            cand = theta + step
            f_c, g_c, eta_c = objective.value_and_gradient(X, Y, S, cand, noise,
                                                           return_predictor=True)
            ratio = scaled_norm(g_c) / gnorm
            if ratio <= 0.25 and (
                    f_c <= f + 1e-4 * float((g * step).sum()) or gnorm <= 1e6 * floor):
                theta, g, f, eta = cand, g_c, f_c, eta_c
                continue
            if gnorm <= 1e3 * floor:
                # round-off level: no step resolves the gradient any further
                if ratio < 1:
                    theta, g, f, eta = cand, g_c, f_c, eta_c
                return theta, g, eta, far, True
            # too far from the start for its Hessian: exact Newton steps
            chord = False
            far = far or ratio > 0.5
        # the system is solved only as far as the next gradient needs: close
        # to round-off, half the way down to it (a solve to cg_tol there
        # took as many iterations as a step from far)
        tol = max(cg_tol, min(0.5, 0.5 * floor / gnorm))
        step = _newton_step(objective, X, Y, S, theta, g, hessians, tol, cg_max_iter)
        found = _line_search(objective, X, Y, S, theta, f, g, step, noise,
                             gnorm <= 1e6 * floor)
        if found is None:
            break
        cand, f_c, g_c, eta_c = found
        if scaled_norm(g_c) > 0.5 * gnorm:
            far = True
            if noise is not None:
                # slow: the preconditioner is the curvature of a far point (a
                # large noise moves the optimum far from the noise-free
                # start); take the exact Hessian at the new point
                hessians = _refreshed(objective, X, Y, S, cand, eta_c, hessians)
        theta, g, f, eta = cand, g_c, f_c, eta_c
        if scaled_norm(g) <= 1e3 * floor:
            near += 1
            if near >= 3:
                return theta, g, eta, far, True
    return theta, g, eta, far, scaled_norm(g) <= 1e6 * floor


def _newton_step(objective, X, Y, S, theta, g, hessians, cg_tol, cg_max_iter):
    """The Newton step at ``theta``, solved with exact Hessian-vector products
    preconditioned by the cached blocks."""
    hvps = objective.hessian_products(X, Y, S, theta)
    return -objective.from_blocks([
        H._project(_solve_columns(hvp, H, objective.to_block(g, b), cg_tol, cg_max_iter))
        for b, (hvp, H) in enumerate(zip(hvps, hessians))
    ])


def _solve_columns(hvp, H, g, tol, max_iter):
    """``hvp^-1 g`` column by column by conjugate gradients preconditioned
    with the cached block ``H``, from its solution; the iterate of smallest
    residual of each (near round-off the recurrence stops making
    progress)."""
    def precondition(v):
        return H.solve(v[:, None])[:, 0]

    columns = g if g.ndim == 2 else g[:, None]
    out = np.zeros_like(columns)
    for j in range(columns.shape[1]):
        col = columns[:, j]
        if not scaled_norm(col):
            continue
        out[:, j] = conjugate_gradient(
            hvp, col, tol=tol, max_iter=max_iter, precondition=precondition,
            x0=precondition(col), stall=(3, 1.0), keep_best=True).x
    return out if g.ndim == 2 else out[:, 0]


def _line_search(objective, X, Y, S, theta, f, g, step, noise, near_roundoff):
    """``(theta, value, gradient, predictor)`` at the accepted point along
    ``step``, or ``None`` when no step length is accepted."""
    gnorm = scaled_norm(g)
    slope = float((g * step).sum())
    t = 1.0
    while t >= 1e-10:
        cand = theta + t * step
        f_c, g_c, eta_c = objective.value_and_gradient(X, Y, S, cand, noise,
                                                       return_predictor=True)
        # Armijo; close to round-off the objective no longer resolves
        # differences, and a smaller gradient is accepted instead. The
        # objective being convex, a slope along the step still below
        # 1e-4 times the first implies Armijo's decrease (the slope only
        # grows along the way): a test that a large objective's rounding
        # cannot hide.
        if f_c <= f + 1e-4 * t * slope or (
            near_roundoff and scaled_norm(g_c) < gnorm
        ) or float((g_c * step).sum()) <= 1e-4 * slope:
            return cand, f_c, g_c, eta_c
        t *= 0.5
    return None


def _refreshed(objective, X, Y, S, theta, eta, hessians):
    """The dense Hessian blocks at ``theta``, to precondition the next steps
    (``hessians`` for a low-rank sketch, or where no factor can be made:
    far out an unpenalised intercept has almost no curvature left)."""
    if not all(isinstance(H, FactoredHessian) for H in hessians):
        return hessians
    try:
        return objective.hessian(X, Y, S, theta, eta=eta)[0]
    except NotPositiveDefiniteError:
        return hessians


def anchored(objective, X, Y, S, theta, eta, held, anchor, eta_anchor, *, far,
              exact, noisy, mode, rank):
    """The fit's Hessian blocks (taken from the list ``held``) and where they
    were taken (``anchor``, its predictors ``eta_anchor``), taken again at
    the polished ``theta`` when the polish moved far from where they were."""
    gamma = objective.loss.curvature_lipschitz
    hessians = held.pop()
    moved = scaled_norm(theta - anchor) > 1e-9 * scaled_norm(theta)
    if objective.loss.constant_curvature:
        # the same Hessian at every theta: no drift to carry
        anchor, eta_anchor = theta, eta
    elif far or (moved and (exact or (noisy and gamma))):
        # The start was too far from the optimum for its curvature to
        # describe the optimum, or the rows would carry the drift from it
        # into every request (removed rows leave with their curvature at
        # theta, and the cache cannot keep the start, so what they leave
        # behind grows with that drift): anchor the cache there. A
        # low-rank sketch, which has no bound, is taken again only when
        # the start was far.
        if not exact:
            hessians = None     # release the first sketch before the second
        try:
            # the polish's last predictor is at theta: no pass of its own
            hessians, _ = objective.hessian(X, Y, S, theta, mode=mode, rank=rank,
                                            eta=eta if exact else None)
            anchor, eta_anchor = theta, eta
        except NotPositiveDefiniteError:
            if not exact:
                raise
            # no curvature left at the optimum (e.g. one class carries
            # all the weight): keep the Hessian where it was computed
    return hessians, anchor, eta_anchor
