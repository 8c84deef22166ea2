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


def check_in_range(objective, G):
    """Refuse a request whose corrected objective, or the squared norm of its
    gradient ``G``, overflows float64 at the current parameters.

    A step of the method's own length needs both: conjugate gradients and
    ``tau="auto"`` start from ``G . G``, and the line search compares
    values of the objective. A target or a feature far beyond the scale of
    the training data (a target of ``1e160``: its squared error and the
    square of the gradient's norm are about ``1e320``) overflows them
    whatever the damping, which only adds to the products.
    """
    with np.errstate(over="ignore", invalid="ignore"):
        value = objective.value()
        square = float(G @ G)
    if np.isfinite(value) and np.isfinite(square):
        return
    top = float(np.max(np.abs(G)))
    what = [name for name, finite in (
        ("its value", np.isfinite(value)),
        (f"the squared norm of its gradient (largest entry {top:.3g})",
         np.isfinite(square))) if not finite]
    raise ValueError(
        "The corrected objective is too large for float64 at the current "
        f"parameters: {' and '.join(what)} overflow{'s' if len(what) == 1 else ''}. "
        "A target or a feature of the rows (the request's, most likely) is far "
        "beyond the scale of the training data, and no damping or step length "
        "changes that. Check the request's values, or scale the data and refit. "
        "The model is unchanged."
    )


def damped_step(objective, G, *, method, tau, damping, gauss_newton, curvature,
                 cg_tol, cg_max_iter):
    """The step ``theta - theta_new`` of ``method``, the rate used and the
    conjugate-gradient result (``None`` for a first-order step)."""
    def apply_H(v):
        return objective.hvp(v, gauss_newton=gauss_newton) + damping * v

    if method == "first_order" and tau != "auto":
        return float(tau) * G, float(tau), None
    check_in_range(objective, G)
    if method == "first_order":
        along = float(G @ apply_H(G))
        if not np.isfinite(along):
            # G . G is finite: the curvature along G is what overflows
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
        # the first product is the damped Hessian's along G itself, which a
        # larger damping only makes larger
        fix = "Scale the features." if cg.n_iter == 0 else (
            "Scale the features, or raise damping.")
        raise ValueError(
            f"A Hessian-vector product of the {curvature} Hessian overflowed after "
            f"{cg.n_iter} conjugate-gradient iterations; the model is unchanged. {fix}"
        )
    if cg.status == "negative_curvature":
        raise ValueError(
            f"Conjugate gradients met negative curvature of the damped {curvature} "
            f"Hessian after {cg.n_iter} iterations (damping={damping:g}): the step "
            "is undefined. Raise damping or use curvature='gauss_newton'. The "
            "model is unchanged."
        )
    return cg.x, None, cg
