"""How many current rows hold each feature.

A refit on the corrected data gives a feature that no row holds any more
the weight its penalty alone asks for, and its Hessian line only the
penalty. A request leaves the cache's line of such a feature what its rows
left behind: the difference between the curvature they entered with and
the one they left with, in their own other features (a word that only an
erased document used keeps, in its Hessian column, the document's other
words). The cache counts, per feature, the current rows whose value there
is not zero, and takes a feature out exactly once its count reaches zero
(:meth:`~sklearn_unlearn.solvers.UnlearningCache.without_features`). A
count of ``-1`` is unknown (after a change of every row's features that
moves their zeros), and such a feature is never taken out.
"""

import numpy as np

from .fit._chunks import nonzero_counts


def counts_after(counts, r, n_features):
    """The counts after the request ``r``
    (:class:`~sklearn_unlearn.solvers.steps._request_rows.RequestRows`), or
    ``None`` where the cache keeps none.

    Raises a ``ValueError`` where the old rows hold a feature in more rows
    than the current data does: rows that were never trained on, or were
    erased already.
    """
    if counts is None:
        return None
    if r.edit is None:
        change = (nonzero_counts(r.R_new) - nonzero_counts(r.R_old))[:n_features]
        where = slice(None)
    else:
        cols, _ = r.edit
        where = cols[cols < n_features]
        if not len(where):
            return counts
        change = nonzero_counts(r.R_new[:, where]) - nonzero_counts(r.R_old[:, where])
    known = counts[where] >= 0
    after = counts[where] + change
    if np.any(known & (after < 0)):
        lacking = np.flatnonzero(np.atleast_1d(known & (after < 0)))
        features = (np.arange(n_features)[where])[lacking]
        raise ValueError(
            f"X_old holds values other than zero in feature(s) "
            f"{features[:10].tolist()} in more rows than the current training data "
            "does: some of its rows were never trained on, or were erased already. "
            "Nothing was changed. Pass the rows exactly as they were trained on.")
    out = counts.copy()
    out[where] = np.where(known, after, counts[where])
    return out


def gone(before, after):
    """The features whose count the change from ``before`` to ``after``
    took to zero."""
    if before is None or after is None:
        return np.zeros(0, dtype=np.intp)
    return np.flatnonzero((after == 0) & (before > 0))

