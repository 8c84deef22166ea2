"""The measurement behind :meth:`CertifiedRemoval.verify`: the true residual
on the kept rows, and a refit to compare with."""

import numpy as np
from sklearn.base import clone, is_classifier

from ._certificate import Verification
from ._structure import handed_over

#: Default relative tolerance under which :meth:`CertifiedRemoval.verify`
#: counts two regressors' predictions of a row as the same.
PREDICTION_RTOL = 1e-6


def measure(final, rows, cert, rtol):
    """The :class:`Verification` of the fitted final step ``final`` against the
    kept ``rows`` and the certificate ``cert``.

    Raises ``RuntimeError`` when the true gradient residual exceeds the
    certified bound: the bound would under-report.
    """
    cache = final.unlearning_cache_
    # the gradient over the kept rows in chunks, read in place: the final
    # step's own measurement (on a copy; its residual is that gradient)
    measured = final._rebased_on_kept_rows(rows.chunks())
    true = float(np.linalg.norm(measured.unlearning_cache_.residual))
    if true > cert.spent:
        raise RuntimeError(
            f"The true gradient residual {true:.6g} exceeds the certified bound "
            f"{cert.spent:.6g}: the bound under-reports, which is "
            "a defect of this library. Please report it."
        )
    refit = clone(final).fit(handed_over(final, rows.X), rows.y,
                             sample_weight=rows.sample_weight)
    theta_refit = refit.unlearning_cache_.theta
    distance = float(np.linalg.norm(cache.theta - theta_refit)
                     / np.linalg.norm(theta_refit))
    chunks = [handed_over(final, X) for X, _, _ in rows.chunks()]
    ours = np.concatenate([final.predict(X) for X in chunks])
    theirs = np.concatenate([refit.predict(X) for X in chunks])
    if is_classifier(final):
        same = ours == theirs
    else:
        ours = np.reshape(ours, (len(ours), -1))
        theirs = np.reshape(theirs, (len(theirs), -1))
        rms = float(np.sqrt(np.mean(np.square(theirs)))) if theirs.size else 0.0
        same = np.all(np.abs(ours - theirs) <= rtol * (np.abs(theirs) + rms), axis=1)
    agreement = float(np.mean(same))
    return Verification(true, cert.spent, distance, agreement)
