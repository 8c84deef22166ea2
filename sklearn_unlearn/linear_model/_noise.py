"""Whether a noisy logistic objective has a minimum at all.

With the linear noise term ``b^T theta`` an unpenalised intercept is curved
by the data alone, and that curvature fades far out: the objective has a
minimum exactly when no direction of the intercepts makes it decrease for
ever. Along the intercepts (the weights are held by their penalty), the
objective grows at infinity in direction ``v`` at the rate
``C u (W_tot max_k v_k - W^T v) + b_0^T v``, with ``W`` the classes' total
weights and ``u`` the intercept's column value, so the minimum exists if and
only if that rate is positive for every ``v``: for a binary model
``-C u W_0 < b_0 < C u W_1``, for a multinomial one ``b_k < C u W_k`` for
every class (its noise has no component along the common shift).
"""

import numpy as np


def intercept_noise_excess(objective, noise, totals):
    """How far the intercept noise lies outside the interval where the noisy
    objective has a minimum, or ``None`` when the minimum always exists.

    Returns ``(excess, low, high)`` for the worst class: ``excess > 0``
    means no minimum exists, ``b_0`` must lie in ``(low, high)``.
    """
    if (noise is None or not objective.design.fit_intercept
            or objective._penalized[-1] != 0):
        return None
    reach = objective.scale * objective.design.intercept_value * np.asarray(totals)
    b0 = np.asarray(noise)[-1]
    if objective.n_outputs == 1:        # binary: one logit, class 1 positive
        low, high = -reach[0], reach[1]
        return max(low - b0[0], b0[0] - high), low, high
    excess = b0 - reach
    k = int(np.argmax(excess))
    return float(excess[k]), -np.inf, float(reach[k])


def check_noisy_minimum(objective, noise, totals):
    """Refuse, before any iteration, an objective whose noise leaves it
    without a minimum (``ValueError``)."""
    decided = intercept_noise_excess(objective, noise, totals)
    if decided is None or decided[0] < 0:
        return
    _, low, high = decided
    raise ValueError(
        "The objective with this noise has no finite minimum: the noise on the "
        f"unpenalised intercept lies outside ({low:.4g}, {high:.4g}), the range the "
        "data term can balance (C times the classes' total weights), so the "
        "intercept diverges. Use more data or a larger C, less noise (a larger "
        "epsilon or a smaller budget), or a penalised intercept "
        "(solver='liblinear', see the certified removal guide)."
    )


#: The refusal of a fit whose polish did not reach the minimum that exists.
UNREACHED = (
    "The objective with this noise has a finite minimum, but the fit did not "
    "reach it (it lies far out, where a tiny change of the weights offsets a "
    "huge intercept). Centre the features with a step fitted on data that will "
    "not be removed, or penalise the intercept (solver='liblinear', see the "
    "certified removal guide), or use less noise."
)
