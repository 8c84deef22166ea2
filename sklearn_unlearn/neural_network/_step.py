"""The damped step of an MLP's request: first order, or second order by
conjugate gradients on Hessian-vector products; refused when it is not
defined."""

import numpy as np

from ..solvers._cg import conjugate_gradient


def remedy(method, tau):
    """What shortens a step of ``method``: only the settings it uses."""
    if method == "first_order" and tau != "auto":
        return "Lower tau."
    return "Raise damping."


def damped_step(objective, G, *, method, tau, damping, gauss_newton, curvature,
                 cg_tol, cg_max_iter):
    """The step ``theta - theta_new`` of ``method``, the rate used and the
    conjugate-gradient result (``None`` for a first-order step)."""
    def apply_H(v):
        return objective.hvp(v, gauss_newton=gauss_newton) + damping * v

    if method == "first_order":
        if tau != "auto":
            return float(tau) * G, float(tau), None
        along = float(G @ apply_H(G))
        if not np.isfinite(along):
            raise ValueError(
                "The Hessian-vector product along the gradient overflowed, so "
                "tau='auto' is undefined; the model is unchanged. Scale the "
                "features, or pass a numeric tau."
            )
        if not along > 0:
            raise ValueError(
                "The damped Hessian has no positive curvature along the gradient, "
                "so tau='auto' is undefined: raise damping, use "
                "curvature='gauss_newton', or pass a numeric tau."
            )
        tau_used = float(G @ G) / along
        return tau_used * G, tau_used, None
    cg = conjugate_gradient(apply_H, G, tol=cg_tol, max_iter=cg_max_iter)
    if cg.status == "non_finite":
        raise ValueError(
            f"A Hessian-vector product of the {curvature} Hessian overflowed after "
            f"{cg.n_iter} conjugate-gradient iterations; the model is unchanged. "
            "Scale the features, or raise damping."
        )
    if cg.status == "negative_curvature":
        raise ValueError(
            f"Conjugate gradients met negative curvature of the damped {curvature} "
            f"Hessian after {cg.n_iter} iterations (damping={damping:g}): the step "
            "is undefined. Raise damping or use curvature='gauss_newton'. The "
            "model is unchanged."
        )
    return cg.x, None, cg
