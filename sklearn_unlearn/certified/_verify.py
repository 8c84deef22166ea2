"""The measurement behind :meth:`CertifiedRemoval.verify`: the true residual
on the kept rows, and a refit to compare with."""

import numpy as np
from sklearn.base import clone, is_classifier

from ._certificate import Verification


def _gradient(final, cache, rows):
    """The gradient of the training objective over the kept rows, summed
    block by block (the rows are read in place, not copied)."""
    objective, theta = cache.objective, cache.theta
    blocks = []
    for X, y, w in rows.chunks():
        Y, S, *_ = final._unlearn_targets(y, w)
        blocks.append(objective.gradient(X, Y, S, theta))
        if len(blocks) == 1:
            # the penalty's term, which every block's gradient carries once
            penalty = objective.gradient(X[:0], Y[:0], S[:0], theta)
        else:
            blocks[-1] -= penalty
    total = sum(blocks[1:], blocks[0])
    return total if cache.noise is None else total + cache.noise


def measure(final, rows, cert, rtol):
    """The :class:`Verification` of the fitted final step ``final`` against the
    kept ``rows`` and the certificate ``cert``.

    Raises ``RuntimeError`` when the true gradient residual exceeds the
    certified bound: the bound would under-report.
    """
    cache = final.unlearning_cache_
    true = float(np.linalg.norm(_gradient(final, cache, rows)))
    if true > cert.spent:
        raise RuntimeError(
            f"The true gradient residual {true:.6g} exceeds the certified bound "
            f"{cert.spent:.6g}: the bound under-reports, which is "
            "a defect of this library. Please report it."
        )
    refit = clone(final).fit(rows.X, rows.y, sample_weight=rows.sample_weight)
    theta_refit = refit.unlearning_cache_.theta
    distance = float(np.linalg.norm(cache.theta - theta_refit)
                     / np.linalg.norm(theta_refit))
    ours = np.concatenate([final.predict(X) for X, _, _ in rows.chunks()])
    theirs = np.concatenate([refit.predict(X) for X, _, _ in rows.chunks()])
    if is_classifier(final):
        same = ours == theirs
    else:
        ours = np.reshape(ours, (len(ours), -1))
        theirs = np.reshape(theirs, (len(theirs), -1))
        rms = float(np.sqrt(np.mean(np.square(theirs)))) if theirs.size else 0.0
        same = np.all(np.abs(ours - theirs) <= rtol * (np.abs(theirs) + rms), axis=1)
    agreement = float(np.mean(same))
    return Verification(true, cert.spent, distance, agreement)
