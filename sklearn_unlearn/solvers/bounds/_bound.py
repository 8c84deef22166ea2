"""The residual bound of a request: how far the true gradient residual can
be from the cache's estimate after a step, and what the rounding of every
quantity the estimate is computed from can hide (see the user guide's
residual bound).

Functions of the :class:`~sklearn_unlearn.solvers.UnlearningCache` the
request is planned on; :func:`increment` gathers them.
"""

from dataclasses import replace

import numpy as np

from . import _roundoff
from ..steps._request_change import removed_gram as _removed_gram


def increment(cache, r, parts, hessians, hessian_error, change, after, cubic_norm):
    """The drift bounds after a request's step and its bound's increment:
    the step's own term (:func:`bound_step`) and what rounding can hide
    (``inf`` where no bound holds). ``parts``: the request's gradients
    (``eta_old``, ``eta_new``, ``coef_old``, ``coef_new``, ``grad_old``,
    ``G_rest``, ``G``, ``shift_theta``, ``rest``); ``after``: the step and
    what follows it; ``cubic_norm``: the norm of the cubic term the
    estimate took."""
    p, a = parts, after
    drift, out = bound_step(cache, r, hessians, hessian_error, a.step, a.H_rest_step,
                            p.eta_new, a.eta_new_after)
    if np.isfinite(out):
        out += (
            request_roundoff(cache, r, cache.theta, a.theta_new, p.eta_old, p.eta_new,
                             a.eta_new_after, p.coef_old, p.coef_new, a.coef_after)
            + product_error(cache.objective, p.rest, hessians, change, a.delta,
                            a.rounding, a.step, a.res, p.G)
            + _roundoff.sum_error(np.linalg.norm(cache.residual),
                                  np.linalg.norm(p.grad_old), np.linalg.norm(p.G_rest),
                                  np.linalg.norm(a.H_rest_step),
                                  np.linalg.norm(a.grad_new_after),
                                  0.0 if p.shift_theta is None
                                  else np.linalg.norm(p.shift_theta),
                                  cubic_norm)
            + (1.0 + _roundoff.gamma(2)) * cubic_norm
            # theta_new is the rounding of theta + delta: the Hessian times it
            + 2.0 * _roundoff.UNIT * np.linalg.norm(a.theta_new)
            * max(H.norm_bound() for H in hessians)
        )
    return drift, (out if np.isfinite(out) else np.inf)


def request_roundoff(cache, r, theta, theta_new, eta_old, eta_new, eta_new_after,
                     coef_old, coef_new, coef_after):
    """Bound on the rounding of the request rows' gradients: those of the
    old and new rows at ``theta`` and of the new rows at ``theta_new``."""
    obj = cache.objective
    out = 0.0
    # counted from the targets: the new rows of an edit are formed only if
    # something reads them
    if len(r.Y_old):
        out += _roundoff.data_gradient_error(
            obj, r.Y_old, r.S_old, eta_old, r.abs_predictor("old", theta),
            r.norms_old, coef_old)
    if len(r.Y_new):
        out += _roundoff.data_gradient_error(
            obj, r.Y_new, r.S_new, eta_new, r.abs_predictor("new", theta),
            r.norms_new, coef_new)
        out += _roundoff.data_gradient_error(
            obj, r.Y_new, r.S_new, eta_new_after, r.abs_predictor("new", theta_new),
            r.norms_new, coef_after)
    return out


def hessian_error_after(cache, r, eta_old):
    """The bound on the cached Hessian's error once the request's rows
    have left and entered it with their curvature at ``theta`` (``eta_old``:
    the removed rows' predictors there).

    A removed row leaves behind its curvature where it entered minus the
    one at ``theta``: at most ``gamma sum_j s_j ||x_j||^2 |v_j| <= gamma
    sqrt(tr K_R(Z) Q)`` in operator norm, or row by row
    (:func:`left_behind`) with ``|v_j| <= ||x_j|| D``; every row's
    curvature weight carries its rounding.
    """
    obj = cache.objective
    gam = obj.loss.curvature_lipschitz
    if gam is None or not cache.exact_hessian:
        return np.inf
    p = obj.n_params
    old = cache.drift
    error = old.hessian_error
    for part, S, norms in (("old", r.S_old, r.norms_old), ("new", r.S_new, r.norms_new)):
        if not len(norms):
            continue
        norms = _roundoff.upper_norms(norms, p)
        error += float(_roundoff.curvature_weight_error(
            obj, S, r.abs_predictor(part, cache.theta)) @ norms**2)
    if gam and len(r.norms_old):
        error += left_behind(cache, r, eta_old)
    return error


def left_behind(cache, r, eta_old):
    """Bound on the operator norm of what the removed rows leave in the
    cached Hessian: ``c s_j ||x_j||^2`` times a bound on ``|A_j(x_j^T
    theta_j) - A_j(x_j^T theta)|``, the curvature row ``j`` entered with
    (where ``||theta - theta_j|| <= D``) minus the one it leaves with.

    The smallest of: ``gamma sqrt(tr K_R(Z) Q)`` (Cauchy-Schwarz over the
    removed rows, ``Q`` the drift bound of all rows), ``cap sum_j s_j
    ||x_j||^2``, and the sum of :func:`rows_left_behind`.
    """
    obj = cache.objective
    loss = obj.loss
    norms = _roundoff.upper_norms(r.norms_old, obj.n_params)
    s_old = np.abs(r.S_old).max(axis=1)
    # overflowing or undefined products (a zero norm times an infinite
    # drift) give no bound: nan is read as infinite below
    with np.errstate(invalid="ignore", over="ignore"):
        spread = loss.curvature_lipschitz * _roundoff.sqrt_product(
            float(s_old @ norms**3), cache.drift.form)
        capped = loss.curvature_cap * float(s_old @ norms**2)
        forms = (obj.scale * spread, obj.scale * capped,
                 float(np.sum(rows_left_behind(cache, r, eta_old))))
    forms = [f if f == f else np.inf for f in forms]
    # the products above round down by a few units at most
    return (1.0 + 16.0 * _roundoff.UNIT) * min(forms)


def rows_left_behind(cache, r, eta_old):
    """Bound on what each removed row leaves in the cached Hessian along
    itself: ``c s_j ||x_j||^2`` times the smallest of ``gamma ||x_j|| D``
    (``|v_j| <= ||x_j|| D``), ``cap`` and, for a self-concordant
    curvature, ``(a_j + e_j) expm1(||x_j|| D)`` (the curvature changes by at
    most a factor ``exp(|v_j|)``; ``a_j`` its computed value at ``theta``,
    ``e_j`` that value's rounding). ``nan`` where a product is undefined."""
    obj = cache.objective
    loss = obj.loss
    norms = _roundoff.upper_norms(r.norms_old, obj.n_params)
    s_old = np.abs(r.S_old).max(axis=1)
    with np.errstate(invalid="ignore", over="ignore"):
        # >= |v_j| (a row of norm zero does not drift, whatever D is)
        reach = np.where(norms > 0, norms * cache.drift.norm, 0.0)
        per_row = obj.scale * s_old * np.fmin(loss.curvature_lipschitz * reach,
                                              loss.curvature_cap)
        if loss.self_concordant and not loss.coupled:
            weight = obj.scale * np.abs(r.S_old) * loss.curvature(r.Y_old, eta_old)
            weight = weight.max(axis=1) + _roundoff.curvature_weight_error(
                obj, r.S_old, r.abs_predictor("old", cache.theta))
            # the weights hold c s_j already
            per_row = np.fmin(per_row, weight * np.expm1(np.minimum(reach, 700.0)))
        return per_row * norms**2


def bound_step(cache, r, hessians, hessian_error, step, H_rest_step, eta_new,
                eta_new_after):
    """The drift bounds after the step, and how far the step can move the
    true residual from its estimate.

    The estimate treats the remaining rows with their cached curvature
    ``a_i``, evaluated where each row entered the cache. With ``u_i =
    x_i^T step`` and ``v_i = x_i^T (theta - theta_i)`` (the drift of row
    ``i`` since its curvature entered), the error is ``||sum_i s_i (c_i -
    a_i) x_i u_i||`` over the remaining rows (``c_i`` the curvature
    averaged along the step), plus the cached Hessian's own error
    ``e`` times ``||step||``. The smallest of these bounds is used:

    - Lipschitz curvature: ``|c_i - a_i| <= gamma (|v_i| + |u_i| / 2)``
      and Cauchy-Schwarz with weights ``s_i ||x_i||`` give ``gamma
      (sqrt(q_R(step) Q) + q_R(step) / 2)``, ``Q`` the kept bound on
      ``sum_i s_i ||x_i|| v_i^2``;
    - bounded curvature, ``|c_i - a_i| <= cap``: ``cap sqrt(q(step) tr K)``;
    - self-concordant curvature (binary logistic, whose third derivative
      is at most its second): ``|c_i - a_i| <= a_i (|v_i| + |u_i| / 2)
      exp(m_v + m_u)`` with ``m_u = R ||step|| >= |u_i|`` and ``m_v = R
      D``, ``D`` the kept bound on ``||theta - theta_i||``, which gives
      ``exp(m_v + m_u) R (sqrt(h(step) h_D) + h(step) / 2)`` with ``h``
      the quadratic form of the cached loss Hessian of the remaining rows
      and ``h_D`` the kept bound on ``sum_i a_i v_i^2``,

    with ``q`` and ``q_R`` the quadratic forms of ``K`` and ``K_R`` over
    the remaining rows, raised by what their rounding can hide (for
    several outputs, ``u_i`` is a vector and the same holds with its
    norm and the operator norm of the curvature).

    The rows the request removes leave the Hessian with their curvature
    at ``theta``, not where they entered: what they leave behind
    (:func:`left_behind`) joins ``e``.
    """
    obj = cache.objective
    loss = obj.loss
    gam = loss.curvature_lipschitz
    old = cache.drift
    # an upper bound, so that the drift's norm is one (no square underflows)
    step_norm = _roundoff.norm_up(step)
    if not np.isfinite(hessian_error):
        # no Lipschitz curvature, or an approximate Hessian whose error
        # times the step the cache does not bound
        return old, np.inf
    e = hessian_error
    total_e = e + max(H.error + H.damping for H in hessians)
    if gam == 0:
        return replace(old, hessian_error=e), total_e * step_norm
    if cache.gram is None:
        # fitted without the bound's Gram matrices
        return old, np.inf
    p = obj.n_params
    cap = loss.curvature_cap
    norms_new = _roundoff.upper_norms(r.norms_new, p)
    s_new = np.abs(r.S_new).max(axis=1, initial=0.0)
    abs_new = r.abs_predictor("new", cache.theta) if len(norms_new) else None
    gram_out = _removed_gram(r, 0)
    norm_out = _removed_gram(r, 1)
    qr = cache.norm_gram.quadratic_form_bound(step, norm_out)
    q = cache.gram.quadratic_form_bound(step, gram_out)
    trace = cache.gram.trace_bound(gram_out)
    lipschitz = gam * (_roundoff.sqrt_product(qr, old.form) + 0.5 * qr)
    best = obj.scale * min(lipschitz, cap * _roundoff.sqrt_product(q, trace))
    # the new rows' predictors move by u along the step: their share
    # of the drift (their curvature entered at theta)
    U_new = np.abs(eta_new_after - eta_new) + _roundoff.gamma(p + 1) * (
        abs_new + r.abs_predictor("new", cache.theta + step)
        if abs_new is not None else 0.0)
    u_new_sq = (U_new**2).sum(axis=1) if abs_new is not None else np.zeros(0)
    qr_all = qr + float((s_new * norms_new) @ u_new_sq)
    h_all = old.curvature
    if loss.self_concordant:
        pen = obj.penalty[:, None]
        # the products with the step may underflow
        h_step = max(float((step * H_rest_step).sum() - (pen * step**2).sum())
                     + total_e * step_norm**2
                     + _roundoff.product_underflow(p, step.size) * (step_norm + 1.0),
                     0.0)
        R_max = cache.max_row_norm
        exponent = R_max * (step_norm + old.norm)
        if exponent < 50:
            concordant = np.exp(exponent) * R_max * (
                _roundoff.sqrt_product(h_step, old.curvature) + 0.5 * h_step)
            best = min(best, concordant)
        a_new = (obj.scale * s_new * loss.curvature(r.Y_new, eta_new)[:, 0]
                 if abs_new is not None else np.zeros(0))
        h_all = (np.sqrt(old.curvature) + np.sqrt(h_step + float(a_new @ u_new_sq)))**2
    growth = 1.0 + 8.0 * _roundoff.UNIT
    drift = type(old)(
        form=growth * (np.sqrt(old.form) + np.sqrt(qr_all))**2,
        norm=growth * (old.norm + step_norm),
        curvature=growth * h_all,
        hessian_error=e,
    )
    return drift, float(best + total_e * step_norm)


def gradient_roundoff(objective, theta, gradient, sums, noise):
    """Bound on the rounding of a gradient summed over rows (``sums``), the
    penalty and the noise: the bound then covers the exact gradient of the
    exact objective at ``theta``."""
    pen_theta = np.linalg.norm(objective.penalty[:, None] * theta)
    noise_norm = np.linalg.norm(noise) if noise is not None else 0.0
    total = (sums.data_gradient_error(objective.n_params)
             + _roundoff.sum_error(np.linalg.norm(gradient), pen_theta, noise_norm)
             # the penalty's products may underflow
             + _roundoff.product_underflow(1, theta.size))
    return float(total) if np.isfinite(total) else np.inf


def _mass(terms):
    return sum(t.abs_mass() for t in terms)


def product_error(obj, old_hessians, hessians, change, delta, rounding, step, res, G):
    """Bound on the rounding of the remaining rows' Hessian times the step:
    from the solve's residual (the corrected blocks, the added rows' product,
    the sum) or from a product with the old blocks and the removed rows."""
    if res is None:
        return rest_product_error(old_hessians, change.removed, step)
    dnorm = _roundoff.norm_up(delta)
    out = (sum(H.rounding_scale() for H in hessians) * dnorm
           + len(hessians) * _roundoff.product_underflow(obj.n_params, delta.size)
           + _roundoff.gamma(obj.n_params + change.added[0].n_rows + 2)
           * _mass(change.added) * dnorm
           + _roundoff.sum_error(np.linalg.norm(res), np.linalg.norm(G)))
    if rounding.any():
        out += rest_product_error(old_hessians, change.removed, rounding)
    return out


def rest_product_error(hessians, removed, v):
    """Bound on the rounding of the Hessian blocks plus ``removed`` times
    ``v``."""
    p = hessians[0].shape[0]
    size = _roundoff.norm_up(v)
    return float(sum(H.rounding_scale(t) for H, t in zip(hessians, removed)) * size
                 + sum(_roundoff.product_underflow(p, v.size)
                       + _roundoff.fold_underflow(p, t.n_rows, t.abs_mass()) * (size + 1.0)
                       for t in removed if t is not None))
