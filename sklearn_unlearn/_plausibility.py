"""Is a removal plausible? A test from the training losses, without the data.

A model that keeps no rows cannot tell an honest request from one that names
rows with a wrong label or rows it never saw (keyed fingerprints can: see the
user guide). What it can say: at the fitted parameters the training rows'
weighted losses ``v_i = s_i l(y_i, x_i^T theta)`` have a mean ``mu`` and a
variance ``sigma^2`` over the ``n`` rows, which three scalars keep. If the
``k`` rows of a request were drawn uniformly without replacement from the
training rows, their loss sum ``V`` has mean ``k mu`` and variance
``k sigma^2 (n - k) / (n - 1)``, so by Cantelli's inequality

    P(V - k mu >= t) <= var / (var + t^2),

which is ``ALARM_RATE`` at ``t = sqrt(var (1 - ALARM_RATE) / ALARM_RATE)``.
A request whose rows' losses pass ``k mu + t`` is flagged: on honest requests
of uniformly drawn rows this happens at most ``ALARM_RATE`` of the time,
whatever the distribution of the losses. Rows with a wrong label or target
carry a loss that a fit pulls down, and are flagged when there are enough of
them. A request that picks the worst-fitted rows on purpose (outliers) is
not drawn uniformly, and may be flagged; the warning then only says so.

A request that only inserts rows moves the scalars with them (the new rows'
losses in, at the parameters of the request). A request that removes rows
drops them: they summed the removed rows' losses at the fitted parameters,
and moved they would keep a function of those rows and of the model they
were part of; a measurement on the current rows takes them again.
"""

from dataclasses import dataclass

import numpy as np

#: The largest share of honest requests (rows drawn uniformly) flagged.
ALARM_RATE = 0.01


@dataclass(frozen=True)
class LossProfile:
    """The count, sum and sum of squares of the training rows' weighted losses.

    Parameters
    ----------
    n_rows : float
        Training rows.
    total : float
        Sum of the rows' weighted losses.
    total_sq : float
        Sum of their squares.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_unlearn._plausibility import LossProfile
    >>> profile = LossProfile.of(np.full(1000, 0.1))
    >>> profile.flags(np.full(20, 0.1)), profile.flags(np.full(20, 3.0))
    (False, True)
    """

    n_rows: float
    total: float
    total_sq: float

    @classmethod
    def from_sums(cls, sums):
        """The profile of the rows a fit's last pass summed over (the
        ``n_rows``, ``loss_total`` and ``loss_total_sq`` of its
        :class:`~sklearn_unlearn.solvers.fit._chunks.RowSums`)."""
        return cls(float(sums.n_rows), sums.loss_total, sums.loss_total_sq)

    @classmethod
    def of(cls, values):
        values = np.asarray(values, dtype=np.float64)
        return cls(float(len(values)), float(values.sum()), float(values @ values))

    def after(self, removed, added):
        """The profile with the ``removed`` rows' losses out and the ``added``
        rows' in."""
        removed = np.asarray(removed, dtype=np.float64)
        added = np.asarray(added, dtype=np.float64)
        return LossProfile(self.n_rows - len(removed) + len(added),
                           self.total - removed.sum() + added.sum(),
                           self.total_sq - removed @ removed + added @ added)

    def threshold(self, k):
        """The loss sum of ``k`` rows above which a request is flagged
        (``inf`` when the profile cannot say: too few rows, or scalars that
        drift has made inconsistent)."""
        n = self.n_rows
        if not (k >= 1 and n > max(k, 1)):
            return np.inf
        mu = self.total / n
        var_row = self.total_sq / n - mu * mu
        if -1e-12 * (self.total_sq / n) <= var_row < 0:
            var_row = 0.0       # equal losses: their variance rounded below zero
        if not (np.isfinite(mu) and np.isfinite(var_row) and mu >= 0 and var_row >= 0):
            return np.inf
        var = k * var_row * (n - k) / (n - 1)
        return k * mu + np.sqrt(var * (1.0 - ALARM_RATE) / ALARM_RATE)

    def flags(self, values):
        """Whether rows with these losses are an implausible removal."""
        values = np.asarray(values, dtype=np.float64)
        return bool(values.sum() > self.threshold(len(values)))


def row_losses(objective, Y, S, eta):
    """Each row's weighted loss under ``objective``'s pointwise loss (without
    its overall scale, which the test does not need)."""
    return (S * objective.loss.value(Y, eta)).sum(axis=1)
