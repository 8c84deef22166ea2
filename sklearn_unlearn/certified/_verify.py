"""The measurement behind :meth:`CertifiedRemoval.verify`: the true residual
on the kept rows, and a refit to compare with."""

import numpy as np
from sklearn.base import clone, is_classifier

from ._certificate import Verification
from ._ledger import LedgerIntegrityError
from ._structure import handed_over

#: Default relative tolerance under which :meth:`CertifiedRemoval.verify`
#: counts two regressors' predictions of a row as the same.
PREDICTION_RTOL = 1e-6


def measure(final, rows, cert, rtol):
    """The :class:`Verification` of the fitted final step ``final`` against the
    kept ``rows`` and the certificate ``cert``.

    Raises ``RuntimeError`` when the true gradient residual exceeds the
    certified bound: the bound would under-report; and
    :class:`LedgerIntegrityError` when the kept rows fail the cache's checks
    of the current rows (they are those rows by construction: the cache was
    changed).
    """
    cache = final.unlearning_cache_
    # the gradient over the kept rows in chunks, read in place: the final
    # step's own measurement (on a copy; its residual is that gradient)
    try:
        measured = final._rebased_on_kept_rows(rows.chunks())
    except ValueError as exc:
        # the rows are the model's by construction: its refusal of them
        # (worded for rows a caller passes, kept as the cause) says the
        # cache is not theirs
        raise LedgerIntegrityError(
            "The training rows this CertifiedRemoval keeps do not match its "
            "model's cache, so the true residual cannot be measured on them: the "
            "model or its cache was changed other than by sklearn_unlearn (an "
            "attribute of the cache set, or a saved file edited), or, if neither, "
            "the cache's error bounds under-report, a defect of this library "
            "(please report it; the cause below says which check failed). Its "
            "certificate cannot be trusted; nothing was done. Fit again to open "
            "a new ledger.") from exc
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
