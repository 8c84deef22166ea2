"""Scalar bounds on how far the cached Hessian's rows have drifted since their
curvature entered it (see :class:`Drift`)."""

from dataclasses import dataclass

import numpy as np

from . import _roundoff


@dataclass(frozen=True)
class Drift:
    """Scalar bounds that let the cached Hessian serve away from where its
    rows' curvature was evaluated, without keeping where that was.

    Row ``i`` entered the cached Hessian with its curvature ``a_i`` at some
    ``theta_i`` (the fit's anchor, or the parameters of the request that
    inserted it); ``v_i = x_i^T (theta - theta_i)`` is its drift since.

    Attributes
    ----------
    form : float
        Bound on ``sum_i s_i ||x_i|| ||v_i||^2`` over the current rows.
    norm : float
        Bound on ``max_i ||theta - theta_i||``.
    curvature : float
        Bound on ``sum_i a_i ||v_i||^2`` (used by a self-concordant loss).
    hessian_error : float
        Bound on the operator norm of the cached Hessian minus the sum of the
        current rows' cached curvature terms and the penalty: what removed
        rows left behind (they leave with their curvature at the request's
        ``theta``) and the rounding of the curvature weights.
    """

    form: float = 0.0
    norm: float = 0.0
    curvature: float = 0.0
    hessian_error: float = 0.0

    @classmethod
    def from_sums(cls, obj, sums, theta, anchor, exact):
        """The bounds of a cache fitted at ``theta`` with its curvature taken
        at ``anchor``, from the sums over the training rows
        (:class:`~sklearn_unlearn.solvers.fit._chunks.RowSums`)."""
        n = sums.n_rows
        kappa = obj.loss.curvature_max
        if not np.isfinite(kappa):
            # an unbounded curvature (a log link): no bound on the rounding of
            # its sums, nor on any drift the bound would need
            return cls(hessian_error=np.inf)
        coupled_factor = np.sqrt(obj.n_outputs) if obj.loss.coupled else 1.0
        # the rounding of the Hessian's sums and of its curvature weights
        error = float(_roundoff.gamma(n + 2) * obj.scale * kappa * coupled_factor
                      * sums.weight_norm2 + sums.weight_error_norm2
                      + coupled_factor * _roundoff.fold_underflow(
                          obj.n_params, n, obj.scale * kappa * sums.weight_norm2))
        error += _roundoff.gamma(2) * float(np.max(obj.penalty, initial=0.0))
        if anchor is theta or not exact:
            return cls(hessian_error=error)
        growth = 1.0 + _roundoff.gamma(n + 2)
        return cls(form=growth * sums.drift_form,
                   norm=growth * float(_roundoff.norm_up(theta - anchor)),
                   curvature=growth * sums.drift_curvature, hessian_error=error)
