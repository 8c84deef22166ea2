"""The choice of ``method="auto"``: one second-order step where the request's
own rows say it is accurate, refined iterations where they say it is not."""

import numpy as np

#: ``method="auto"`` refines a second-order step whose estimated distance to
#: the optimum of the cache's model exceeds this fraction of ``||theta||``.
AUTO_RTOL = 1e-6


def auto_method(obj, G, g, delta, theta_new, cubic):
    """``"second_order"`` or ``"refined"`` after the second-order step
    ``delta`` to ``theta_new``, and the estimated length of the step still
    to go.

    ``G`` is the gradient of the corrected objective before the step, ``g``
    that of the cache's quadratic model after it, ``G_rest + H_rest delta +
    grad_new(theta + delta)`` with the request's new rows at their exact
    loss: the solve's residual plus how far the new rows' gradient has moved
    from its linear model, so the request's own rows say how curved the
    objective is along the step. ``cubic`` (a
    :class:`~sklearn_unlearn.solvers.hessian._third.CubicTerm` of the other rows,
    or ``None``) adds their share. The next Newton step has length ``||g|| /
    ||G|| ||delta||`` to first order; beyond ``AUTO_RTOL ||theta_new||``
    refined iterations follow. A loss of constant curvature (ridge) takes
    its exact step.
    """
    gnorm = float(np.linalg.norm(G))
    if obj.loss.constant_curvature or gnorm == 0.0:
        return "second_order", 0.0
    if cubic is not None:
        g = g + cubic.gradient(delta)
    estimate = float(np.linalg.norm(g)) / gnorm * float(np.linalg.norm(delta))
    if not estimate <= AUTO_RTOL * float(np.linalg.norm(theta_new)):
        return "refined", estimate
    return "second_order", estimate
