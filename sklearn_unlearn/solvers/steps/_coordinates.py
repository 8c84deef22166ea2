"""A change of every row's features by a known affine map, taken by the cache.

When a fitted scaler in front of a linear model is unlearned, every training
row's features change: ``z' = D z + c`` (``D`` diagonal, ``c`` a shift). A
refit puts the model at the minimum of the loss of the new features plus the
penalty ``||w'||^2``. In the parameters ``theta' = A^{-T} theta`` (``A`` the
map on augmented rows ``[z, 1]``) every predictor is unchanged, the data
term's gradient and Hessian are congruent to the cached ones, and only the
penalty differs from the old objective. One Newton step with the congruent
Hessian takes the model to the new optimum: exactly for a quadratic loss
(ridge), to second order otherwise.

The cache's bound on the gradient residual is not carried through the change
(its Gram matrices and drift are about the old rows' norms): the new cache has
``residual_bound = inf``.
"""

from dataclasses import replace

import numpy as np
from scipy.linalg import solve_triangular

from ..bounds._bound import bound_step
from ..bounds._roundoff import gamma
from ..fit._chunks import published_theta
from ..hessian import _third
from ..hessian._factored import FactoredHessian
from ..objective._blocks import matvec, solve
from ._continuation import zeroed_on_cubic
from ._request_rows import RequestRows

#: Newton iterations on the cubic model (where the cache keeps its term).
_CUBIC_ITER = 20


def _augmented_map(obj, scale, shift):
    """``A`` with ``[z', v] = A [z, v]`` for the augmented rows (``v`` the
    intercept column's value)."""
    d, p = obj.n_features, obj.n_params
    A = np.eye(p)
    A[np.arange(d), np.arange(d)] = scale
    if np.any(shift != 0):
        if not obj.design.fit_intercept:
            raise ValueError(
                "The features change by a shift that only an intercept can absorb, "
                "and the final step has fit_intercept=False: its model cannot be "
                "moved to the refit. Use fit_intercept=True or a scaler with "
                "with_mean=False."
            )
        A[:d, d] = shift / obj.design.intercept_value
    return A


def _block_map(obj, A, size):
    """The map on a Hessian block of ``size`` rows: ``A`` per output."""
    p = obj.n_params
    return A if size == p else np.kron(np.eye(size // p), A)


def changed_coordinates(cache, scale, shift):
    """The cache of the model refitted after ``z' = scale * z + shift``.

    Parameters
    ----------
    cache : UnlearningCache
        With dense Hessian blocks and no objective noise.
    scale, shift : ndarray of shape (n_features,)
        The change of every row's features (past, present and future).

    Returns
    -------
    cache : UnlearningCache
        A new cache (this one is unchanged) in the new coordinates, at the
        new optimum, with an infinite residual bound.
    step_norm : float
        The norm of the Newton step for the changed penalty.
    error : float or None
        An estimate of the distance from the new parameters to the
        changed objective's optimum (:func:`change_error`).

    A zero scale forgets a feature in every row: its weight is set to zero on
    the cached quadratic model of the objective (which keeps every
    prediction), its row and column of the Hessian keep only the penalty,
    and the Newton step takes the other weights to the optimum without it
    (exact for ridge).
    """
    obj = cache.objective
    scale, shift = _checked_change(cache, scale, shift)
    zeroed = scale == 0
    A = _augmented_map(obj, scale, shift)
    theta, residual, blocks = cache.theta, cache.residual, cache.hessians
    if zeroed.any():
        # a zeroed feature's weight no longer acts: set it to zero first, on
        # the cached model, so that every prediction is kept
        theta = theta.copy()
        theta[np.flatnonzero(zeroed)] = 0.0
        residual, blocks = _moved(obj, cache, theta - cache.theta)
    # theta = A^T theta': A^T is lower triangular (a zeroed row stays zero)
    A_solve = A.copy()
    A_solve[np.flatnonzero(zeroed), np.flatnonzero(zeroed)] = 1.0
    theta_moved = solve_triangular(A_solve.T, theta, lower=True)
    pen = obj.penalty[:, None]
    # the gradient of the data term, mapped, plus the new penalty's
    G = A @ (residual - pen * theta) + pen * theta_moved
    carried = np.inf if cache.drift is None else cache.drift.hessian_error
    hessians = _mapped_blocks(obj, blocks, A, carried if np.isfinite(carried) else 0.0)
    third = (None if cache.third is None
             else _third.mapped(cache.third, A, lambda A, size: _block_map(obj, A, size)))
    delta = -solve(obj, hessians, G)
    cubic = None if third is None else _third.CubicTerm(obj, third, hessians)
    if cubic is not None:
        delta, cubic = _cubic_newton(obj, cubic, hessians, G, delta)
    theta_new = published_theta(obj, theta_moved + delta, cache.dtype)
    residual = G + matvec(obj, hessians, theta_new - theta_moved)
    if cubic is not None:
        # the model's gradient and Hessian at the new optimum
        residual = residual + cubic.gradient(theta_new - theta_moved)
        hessians = cubic.hessians_after(theta_new - theta_moved)
    new, step, error = _changed_cache(cache, A, zeroed, theta_new, theta_moved, residual,
                                      hessians, third)
    if cache.zero_features:
        # a feature shifted is zero in no row
        new = replace(new, zero_features=tuple(
            j for j in cache.zero_features if shift[j] == 0))
    return new, step, error


def forgotten_coordinates(cache, zeroed):
    """The cache of the model refitted with the ``zeroed`` features zero in
    every row, the step's norm, its estimated error (:func:`change_error`)
    and the Newton iterations: by continuation on
    the cubic model where the cache keeps it and the continuation holds
    (:mod:`~sklearn_unlearn.solvers.steps._continuation`), otherwise as
    :func:`changed_coordinates` with zero scales."""
    scale = np.where(zeroed, 0.0, 1.0)
    if cache.third is not None:
        _checked_change(cache, scale, np.zeros_like(scale))
        found = zeroed_on_cubic(cache, zeroed)
        if found is not None:
            theta, residual, hessians, third, n_iter = found
            theta = published_theta(cache.objective, theta, cache.dtype)
            A = _augmented_map(cache.objective, scale, np.zeros_like(scale))
            return (*_changed_cache(cache, A, zeroed, theta, cache.theta, residual,
                                    hessians, third), n_iter)
    return (*changed_coordinates(cache, scale, np.zeros_like(scale)), 1)


def change_error(cache, A, theta_start, theta_new, hessians):
    """An estimate of the distance from ``theta_new`` to the optimum of
    the objective after the change ``A`` of every row's features, or
    ``None`` where the cache gives none (``hessians``: that objective's
    blocks, factored). Not a bound: the tests measured it from 2.1 times
    below the true distance (a multinomial model, a Tweedie one of little
    penalty) to 35 times above.

    Every row's predictor moves by ``x_i^T m`` with ``m = A^T theta_new -
    theta`` (old coordinates). The gradient at ``theta_new`` is the cache's
    quadratic model's, ``g_q``, plus what the curvature's change along
    ``m`` adds. Where the cache keeps the cubic term, it holds over ``m``
    and the predictors move by at most :data:`_CUBIC_REACH` in root mean
    square, the distance is estimated as the Newton steps that the term's
    size along ``m`` (what the quadratic model misses: more than what the
    cubic one, which the step follows, misses) and the cubic model's own
    residual call for. Otherwise the gradient is bounded: at most ``||A||``
    times the bound of a step ``m`` that no row enters or leaves
    (:func:`~sklearn_unlearn.solvers.bounds._bound.bound_step`: the
    Lipschitz curvature and the Gram matrices of the residual bound; far
    above the truth where the curvature changes little), and the distance
    is that over the gradient at ``theta_start`` times the step's length, as
    ``method="auto"`` estimates it. ``inf`` where the cubic term does not
    hold and there is no bound; ``None`` for a loss of unbounded curvature
    (a log link), whose cubic model is no guide. A loss of constant
    curvature takes its exact step (0).
    """
    obj = cache.objective
    if obj.loss.constant_curvature:
        return 0.0
    if obj.loss.curvature_lipschitz is None:
        # an unbounded curvature (a log link): its cubic model missed the
        # truth by a factor of 1e8 where the model moved 17% (Gamma, a
        # scaler's change through a pipeline), and no bound holds
        return None
    pen = obj.penalty[:, None]

    def model_gradient(theta_prime):
        move = A.T @ theta_prime - cache.theta
        H_move = matvec(obj, cache.hessians, move)
        data = cache.residual + H_move - pen * (cache.theta + move)
        return A @ data + pen * theta_prime, move, H_move

    g_start, _, _ = model_gradient(theta_start)
    g_end, move, H_move = model_gradient(theta_new)
    start_norm = float(np.linalg.norm(g_start))
    if start_norm == 0.0:
        return 0.0
    m = cache.theta.shape[1]
    if cache.third is not None:
        cubic_term = _third.CubicTerm(obj, cache.third, cache.hessians)
        if cubic_term.trusted(move) and within_reach(cache, move):
            # the size of the cubic term along the step (what the quadratic
            # model misses, more than what the cubic one does) and what the
            # cubic model still leaves, as the Newton steps they call for
            cubic = with_tail(obj, cache.hessians, cubic_term.gradient(move), move)
            if cubic is None:
                return np.inf
            cubic = A @ cubic
            return newton_lengths(obj, hessians, cubic, g_end + cubic)
    _, curving = bound_step(
        cache, RequestRows.none(obj.n_params, m), cache.hessians,
        cache.drift.hessian_error, move, H_move, np.zeros((0, m)), np.zeros((0, m)))
    if np.isfinite(curving):
        # ||A|| <= sqrt(||A||_1 ||A||_inf): no factorisation of A
        a_norm = float(np.sqrt(np.abs(A).sum(axis=0).max() * np.abs(A).sum(axis=1).max()))
        return _estimate(float(np.linalg.norm(g_end)) + a_norm * curving, start_norm,
                         theta_new - theta_start)
    # the cubic model does not hold over the step, or there is none
    return np.inf if cache.third is not None else None


#: The root mean square move of the rows' predictors (weighted) beyond which
#: the cubic term does not estimate what a step misses: over a unit move a
#: logistic or log-link curvature changes by up to a factor e.
_CUBIC_REACH = 1.0


def within_reach(cache, move):
    """Whether the rows' predictors move by at most :data:`_CUBIC_REACH` in
    root mean square along ``move``: ``sqrt(move^T K move / sum_i s_i)``
    with the Gram matrix of the residual bound, otherwise weighted by the
    rows' curvature, ``sqrt(move^T H move / sum_i s_i a_i)`` with the data
    part of the first Hessian block (whose intercept entry is ``sum_i s_i
    a_i`` times the intercept's value squared; ``True`` without an
    intercept). The block's products with the step and with the
    intercept's unit vector give both (a low-rank block's entry is exact:
    the sketch keeps the intercept's column), from one pass over the block
    (:meth:`forms`); never a dense copy of it."""
    if cache.gram is not None:
        total = float(cache.weight_totals.sum())
        return total > 0 and cache.gram.quadratic_form(move) <= _CUBIC_REACH**2 * total
    obj = cache.objective
    if not obj.design.fit_intercept:
        return True
    H, pen = cache.hessians[0], obj._block_penalty(0)
    step = np.ravel(obj.to_block(move, 0))
    last = obj.n_params - 1
    V = np.zeros((len(step), 2))
    V[:, 0], V[last, 1] = step, 1.0
    forms = H.forms(V)
    total = float(forms[1, 1] - pen[last]) / obj.design.intercept_value**2
    form = float(forms[0, 0]) - float(pen @ step**2)
    return total > 0 and form <= _CUBIC_REACH**2 * total


def step_error(cache, hessians, third, move, residual):
    """An estimate (not a bound) of the distance from the parameters after a
    request's step ``move`` to the optimum of the corrected data's
    objective, where the cache keeps the cubic term; ``None`` where it
    does not.

    The update follows the cache's model of the rows' loss; the estimate is
    the Newton steps that the cubic term ``third`` along the step calls for
    (what a quadratic model misses, and more than what the cubic one misses
    while the loss's Taylor series converges fast over the step; the terms
    beyond it as a geometric tail, :func:`with_tail`) and that the model's
    own ``residual`` calls for: on the request's factored ``hessians`` or on
    the model's Hessian where the step ends, the longer. ``inf`` where the
    cubic model does not hold over the step or the predictors move by more
    than :data:`_CUBIC_REACH` in root mean square. In the tests it was 1.8
    to 200 times the true distance; long steps among uncentred columns,
    where the data flattens along the intercept's direction, can still
    land up to about twice as far (one inserted row far out: 1.9e-2 from
    the refit, estimated 8.3e-3), and tiny requests (one row of 30 relabelled,
    2e-5 from the refit) up to 4.8 times as far.
    """
    if third is None:
        return None
    obj = cache.objective
    cubic = _third.CubicTerm(obj, third, hessians)
    if not (cubic.trusted(move) and within_reach(cache, move)):
        return np.inf
    term = with_tail(obj, hessians, cubic.gradient(move), move)
    if term is None:
        return np.inf
    # the Newton steps on the Hessian where the step starts and on the
    # model's where it ends, the longer: a long step among uncentred columns
    # flattens the data along the intercept's direction (a Newton step 2
    # times as long at the end, and 5 times on the true Hessian)
    return max(newton_lengths(obj, hessians, term, residual),
               newton_lengths(obj, cubic.hessians_after(move), term, residual))


def with_tail(obj, hessians, cubic, move):
    """The cubic term's gradient ``cubic`` along ``move`` with the terms of
    the loss's Taylor series beyond it counted as a geometric tail: ``cubic
    / (1 - rho)``, ``rho`` its size against the quadratic term's (the data
    part of ``hessians`` times ``move``). ``None`` where ``rho >= 1``: the
    series is no guide over the step. Where the cubic term is a sizable part
    of the quadratic one, so are the terms beyond it (a row inserted far out
    among uncentred columns: cubic term 0.75 of the quadratic one, the
    terms beyond a quarter of the cubic one, the estimate 4.8 times below
    the distance without the tail)."""
    quadratic = matvec(obj, hessians, move) - obj.penalty[:, None] * move
    size, against = float(np.linalg.norm(cubic)), float(np.linalg.norm(quadratic))
    if size == 0.0:
        return cubic
    # (no data curvature along the step: no series to follow)
    rho = size / against if against > 0.0 else np.inf
    if not rho < 1.0:
        return None
    return cubic / (1.0 - rho)


def bounded_step_error(report, move, curvature, left=0.0):
    """An estimate (not a bound) of a request's distance to the corrected
    data's optimum where the cache keeps no cubic term but bounds the
    request (a multinomial model, more than 32 parameters): the next Newton
    step's length, with the gradient after the step taken as the residual
    estimate plus the request's bound increment, over the smaller of two
    curvatures: the first-order ratio ``||G|| / ||move||``
    (:func:`_estimate`), and ``curvature``, that of the cache's model of
    the remaining rows' objective along ``move`` (``step^T H_rest step /
    ||step||^2``, from the product the step computed).

    That gradient is mostly what the model of the remaining rows misses,
    and the next step is the new Hessian's inverse times it. The ratio
    ``||G|| / ||move||`` measures the curvature along ``G``: where new rows
    of a large value or weight dominate ``G``, it is their own curvature,
    which the update models exactly, and far above what holds the
    remaining rows' error back (an estimate 1,700 times below the distance
    of two rows inserted, one with a value of 1e4). The remaining rows'
    curvature along the step does not see theirs; it is the smaller of the
    two wherever the step solves the model in one Newton step. Still an
    estimate: below the truth where the error lies along a flatter
    direction than the step (an unpenalised intercept among uncentred
    columns), far above it where the bound is loose (a median 60 times in
    the benchmark, none below it there beyond the reference's own
    precision). ``left`` is added: the length of the Newton step that the
    model's own gradient after the step calls for, where the step did not
    solve the model (a first-order step leaves its gradient along flatter
    directions than ``G``: a multinomial model on iris 1-2% from the
    refit, estimated 3 to 7 times below without it). ``None`` without a
    finite bound or a gradient to scale by (a request that changes
    nothing)."""
    g, start = report.residual_estimate, report.gradient_norm
    if not start or g is None or not np.isfinite(report.bound_increment):
        return None
    # the steps that would follow shrink the gradient as this one did, by
    # g / ||G|| each: their lengths add up to 1 / (1 - g / ||G||) of the
    # next one's (infinite where the step did not shrink it: a stalled or
    # first-order step)
    shrink = g / start
    if not shrink < 1.0 or not float(np.linalg.norm(move)) > 0.0:
        # (a step of zero, a first-order rate of zero along a direction
        # without curvature, measures nothing of the distance its gradient
        # calls for)
        return np.inf
    error = g + report.bound_increment
    first_order = _estimate(error, start, move)
    if curvature is None:
        # no step: nothing to measure the curvature along
        return first_order / (1.0 - shrink) + left
    # a model flat along the step (rounding) says nothing of how far it goes
    along = error / curvature if curvature > 0.0 else np.inf
    return max(first_order, along) / (1.0 - shrink) + left


def newton_lengths(obj, hessians, *gradients):
    """The summed lengths of the Newton steps the ``gradients`` call for."""
    return float(sum(np.linalg.norm(solve(obj, hessians, g)) for g in gradients))


def _estimate(g, start_norm, step):
    """The next Newton step's length to first order, ``g / ||G|| ||step||``."""
    estimate = g / start_norm * float(np.linalg.norm(step))
    return estimate if np.isfinite(estimate) else np.inf


def _changed_cache(cache, A, zeroed, theta_new, theta_moved, residual, hessians, third):
    """The new cache at ``theta_new`` (``theta_moved``: the old parameters in
    the new coordinates), the step's norm and its estimated error."""
    if not (np.all(np.isfinite(theta_new)) and np.all(np.isfinite(residual))):
        raise ValueError("The change of the features gives non-finite parameters.")
    # how far theta is from where the rows' curvature entered, in the new
    # coordinates (unbounded once a feature is zeroed)
    norm = (np.inf if zeroed.any() else
            np.linalg.norm(np.linalg.inv(A), 2) * cache.drift.norm
            + float(np.linalg.norm(theta_new - theta_moved)))
    drift = replace(cache.drift, hessian_error=np.inf, norm=norm)
    moment = cache.target_moment
    if moment is not None:
        # features zeroed leave every other entry of the targets' moment
        # exact; other changes are rounded in every row as it is changed,
        # which the moment does not follow
        kept = np.diag(A)
        zeroing = np.array_equal(A, np.diag(kept)) and np.all((kept == 0) | (kept == 1))
        moment = kept[:, None] * moment if zeroing else None
    new = replace(
        cache, theta=theta_new, hessians=hessians, residual=residual,
        residual_error=np.inf, gram=None, norm_gram=None,
        # every row changed: their norms are unknown, and nothing bounds the
        # residual from here (the Gram matrices are gone); a bound from the
        # old norms would keep the size of the values forgotten
        max_row_norm=np.inf,
        drift=drift, third=third, target_moment=moment,
        target_moment_error=None if moment is None else cache.target_moment_error,
        feature_counts=_counts_after_change(cache, A, zeroed),
    )
    return (new, float(np.linalg.norm(theta_new - theta_moved)),
            change_error(cache, A, theta_moved, theta_new, hessians))


def _counts_after_change(cache, A, zeroed):
    """The count of rows holding each feature after the change ``A``: zero
    for a zeroed feature, unknown (``-1``) for a shifted one, whose zeros
    move; a feature only scaled keeps its count."""
    counts = cache.feature_counts
    if counts is None:
        return None
    counts = np.where(zeroed, 0, counts)
    d = cache.objective.n_features
    if cache.objective.design.fit_intercept:
        counts = np.where(A[:d, d] != 0, -1, counts)
    return counts.astype(np.int64)


def _checked_change(cache, scale, shift):
    """``scale`` and ``shift`` as float arrays; a cache or a change the
    update cannot take is refused."""
    if cache.noise is not None or not cache.exact_hessian:
        raise ValueError(
            "A change of the features needs a dense Hessian and no objective "
            "noise (hessian='dense', objective_noise=0)."
        )
    if cache.objective.loss.curvature_jumps:
        raise ValueError(
            "A change of the features needs a loss whose curvature is continuous "
            "(the squared hinge's jumps at the margin). Refit with the columns "
            "zeroed instead."
        )
    scale = np.asarray(scale, dtype=np.float64)
    shift = np.asarray(shift, dtype=np.float64)
    zeroed = scale == 0
    if not (np.all(np.isfinite(scale)) and np.all(scale >= 0)
            and np.all(np.isfinite(shift)) and np.all(shift[zeroed] == 0)):
        raise ValueError("The change of the features needs finite, non-negative "
                         "scales and finite shifts (none on a zeroed feature).")
    return scale, shift


def _mapped_blocks(obj, blocks, A, carried=0.0):
    """The Hessian blocks' data part in the new coordinates (``A H A^T``),
    under the same penalty, factored, with the error bound of each block
    (its own, and ``carried``, what the cache bounds the blocks' data part
    to miss) taken through the map (``||A||^2`` times it) and the map's own
    rounding added: an erased row that dominated a block leaves that
    block's rounding behind, which a scaler's change can magnify far past
    the curvature the other rows keep."""
    hessians = []
    for b, H in enumerate(blocks):
        M = H.matrix
        pen_b = obj._block_penalty(b)
        Ab = _block_map(obj, A, len(M))
        data = M - np.diag(pen_b)
        M = Ab @ data @ Ab.T + np.diag(pen_b)
        # ||Ab||_1 ||Ab||_inf bounds ||Ab||_2^2 (and |Ab|'s), near 1 for a
        # map near the identity; each entry of the products sums at most
        # 2p + 6 rounded terms
        absolute = np.abs(Ab)
        a2 = float(absolute.sum(axis=0).max() * absolute.sum(axis=1).max())
        pen = float(np.linalg.norm(pen_b))
        error = (a2 * (H.error + carried) + gamma(2 * len(M) + 6)
                 * (a2 * (float(np.linalg.norm(data)) + pen) + pen))
        hessians.append(FactoredHessian(0.5 * (M + M.T), H.null_basis, error=error))
    return hessians


def _moved(obj, cache, move):
    """The residual and Hessian blocks after ``theta += move`` on the cache's
    model (cubic where it keeps the term and the term holds over ``move``)."""
    residual = cache.residual + matvec(obj, cache.hessians, move)
    if cache.third is None:
        return residual, cache.hessians
    cubic = _third.CubicTerm(obj, cache.third, cache.hessians)
    if not cubic.trusted(move):
        return residual, cache.hessians
    return residual + cubic.gradient(move), cubic.hessians_after(move)


def _cubic_newton(obj, cubic, hessians, G, delta):
    """Newton iterations from the quadratic model's minimum ``delta`` to the
    cubic model's, ``G + H d + 1/2 T[d, d] = 0``; the quadratic ``delta`` and
    no cubic term where the cubic model does not hold over the steps."""
    start, scale = delta, float(np.linalg.norm(G))
    for _ in range(_CUBIC_ITER):
        g = G + matvec(obj, hessians, delta) + cubic.gradient(delta)
        if not np.linalg.norm(g) > 1e-13 * scale:
            break
        step = cubic.direction(hessians, delta, g)
        if step is None:
            return start, None
        delta = delta + step
    if not (np.all(np.isfinite(delta)) and cubic.trusted(delta)):
        return start, None
    return delta, cubic
