"""Exact updates of fitted statistics that are sums over rows: the means and
variances of a StandardScaler, the column means of a SimpleImputer."""

import copy
from fractions import Fraction

import numpy as np
import scipy.sparse as sp
from sklearn.utils import check_array

from ..solvers._weight_totals import exact_parts, exact_table

_EPS = np.finfo(np.float64).eps
#: Largest estimated relative error of a scaler's variance after rows leave,
#: and of its mean against its scale: beyond it the subtraction has cancelled
#: the digits the remaining rows' statistics need, and the request is refused.
DOWNDATE_RTOL = 1e-8


class CancelledStatisticsError(ValueError):
    """Rows that leave a fitted statistic dominate it (an outlier erased),
    so that what remains cannot be computed from it in float64 arithmetic.

    Attributes
    ----------
    columns : ndarray of int
        The columns whose statistics lost their precision.
    error : float
        The largest estimated relative error among them.
    """

    def __init__(self, columns, error):
        self.columns, self.error = columns, error
        super().__init__(columns, error)


def dense_rows(X):
    """Rows as a 2-d float array, missing values (``pd.NA`` of a nullable
    column too) as NaN."""
    if X is None:
        return None
    if sp.issparse(X):
        X = X.toarray()
    X = check_array(X, dtype=np.float64, ensure_all_finite=False, ensure_2d=False,
                    ensure_min_samples=0)
    return X if X.ndim == 2 else X.reshape(len(X), -1)


def without_unchanged_pairs(old, new):
    """Drop the edited rows whose input to a step did not change: they leave
    and enter its sums alike, so only round-off would move them."""
    if old is None or new is None or old.shape != new.shape:
        return old, new
    same = ((old == new) | (np.isnan(old) & np.isnan(new))).all(axis=1)
    return old[~same], new[~same]


def _moments(X):
    """Per-column count, mean and sum of squared deviations, NaN ignored."""
    observed = ~np.isnan(X)
    n = observed.sum(axis=0).astype(np.float64)
    total = np.where(observed, X, 0.0).sum(axis=0)
    mean = np.divide(total, n, out=np.zeros_like(total), where=n > 0)
    dev = np.where(observed, X - mean, 0.0)
    return n, mean, (dev**2).sum(axis=0)


def updated_moments(n, mean, m2, removed, added, *, errors=None):
    """``(n, mean, m2, errors)`` after rows leave and enter (Chan's pairwise
    formulas, run backwards for the rows that leave). With ``errors``, the
    estimated absolute errors ``(of mean, of m2)`` that earlier requests
    left in them: rows whose removal cancels the digits of what remains are
    refused (:class:`CancelledStatisticsError`), and the errors after the
    request are returned (``None`` without)."""
    n, mean = np.asarray(n, dtype=np.float64), np.asarray(mean, dtype=np.float64)
    m2 = np.asarray(m2, dtype=np.float64)
    if removed is not None and len(removed):
        n_b, mean_b, m2_b = _moments(removed)
        n_a = n - n_b
        if np.any(n_a < 0) or np.any((n_a == 0) & (n > 0)):
            raise ValueError(
                "The request removes every value a fitted statistic was computed "
                "from (or more rows than were trained on): retrain the pipeline."
            )
        mean_a = np.divide(n * mean - n_b * mean_b, n_a, out=np.zeros_like(mean),
                           where=n_a > 0)
        # a constant column that rows of its value leave stays as it was
        # (its mean rounded again would make a spread of rounding)
        constant = _same_constant(m2, m2_b, mean, mean_b, n)
        mean_a = np.where(constant, mean, mean_a)
        delta = np.where(constant, 0.0, mean_b - mean_a)
        between = np.divide(delta**2 * n_a * n_b, n, out=np.zeros_like(m2), where=n > 0)
        m2_a = m2 - m2_b - between
        if errors is not None:
            errors = _checked_downdate(errors, n, mean, m2, n_b, mean_b, m2_b, n_a,
                                       mean_a, m2_a, between, constant)
        n, mean, m2 = n_a, mean_a, np.maximum(m2_a, 0.0)
    if added is not None and len(added):
        n_c, mean_c, m2_c = _moments(added)
        total = n + n_c
        delta = mean_c - mean
        new_mean = np.divide(n * mean + n_c * mean_c, total, out=np.zeros_like(mean),
                             where=total > 0)
        constant = _same_constant(m2, m2_c, mean, mean_c, n)
        new_mean = np.where(constant, mean, new_mean)
        delta = np.where(constant, 0.0, delta)
        between = np.divide(delta**2 * n * n_c, total, out=np.zeros_like(m2),
                            where=total > 0)
        if errors is not None:
            # rows of a constant column's value leave its errors as they were
            errors = tuple(np.where(constant, before, after) for before, after in zip(
                errors, _update_errors(errors, n, mean, m2, n_c, mean_c, m2_c, total,
                                       between)))
        m2 = m2 + m2_c + between
        n, mean = total, new_mean
        if errors is not None:
            # what earlier requests left can pass the tolerance as rows come in
            _check_errors(*errors, n, mean, m2)
    return n, mean, m2, errors


def _same_constant(m2, m2_rows, mean, mean_rows, n):
    """Whether a column the statistics hold as constant meets rows of that
    same value (within the rounding of the fitted mean, whose sum of a
    value like 0.1 does not give it back exactly)."""
    return ((m2 == 0) & (m2_rows == 0)
            & (np.abs(mean_rows - mean) <= _rounding_units(n) * np.abs(mean)))


def _rounding_units(n):
    """Units of round-off of a fitted sum over ``n`` rows (pairwise, up to
    about ``log2 n``) and of the few operations of an update after it."""
    return (8.0 + 2.0 * np.log2(n + 1.0)) * _EPS


def _rms(mean, m2, n):
    """Root mean square of values of ``mean`` and sum of squared deviations
    ``m2``: their magnitudes sum to at most ``n`` times it (Cauchy-Schwarz)."""
    return np.sqrt(np.maximum(mean**2 + np.divide(m2, n, out=np.zeros_like(m2),
                                                  where=n > 0), 0.0))


def _update_errors(errors, n, mean, m2, n_c, mean_c, m2_c, total, between):
    """The errors ``(of mean, of m2)`` after rows are added: the earlier
    ones, weighed as the rows that carry them, and this update's rounding
    (adding cancels nothing)."""
    mean_error, m2_error = errors
    units = _rounding_units(total)
    weight = np.divide(n * n_c, total, out=np.zeros_like(m2), where=total > 0)
    new_mean_error = (np.divide(n * mean_error, total, out=np.zeros_like(m2), where=total > 0)
                      + units * _rms(mean, m2, n) + units * _rms(mean_c, m2_c, n_c))
    new_m2_error = (m2_error + units * (m2 + m2_c + between)
                    + 2.0 * np.abs(mean_c - mean) * weight * (mean_error + units * np.abs(mean_c)))
    return new_mean_error, new_m2_error


def _checked_downdate(errors, n, mean, m2, n_b, mean_b, m2_b, n_a, mean_a, m2_a,
                      between, constant):
    """The errors ``(of mean, of m2)`` after rows are removed, refused
    (:class:`CancelledStatisticsError`) where they pass ``DOWNDATE_RTOL`` of
    the variance, or of the scale for the mean. They are estimated from the
    sizes of the terms that cancel, the rounding of the fitted sums and of
    the downdate, and the errors earlier requests left (an erased outlier
    leaves one of the size of its square's last digit, which a later
    removal can make large against what remains; ``constant``: the columns
    held constant that rows of their value leave, which stay as they were)."""
    carried_mean, carried_m2 = errors
    units = _rounding_units(n)
    mean_error = (units * np.divide(n * _rms(mean, m2, n) + n_b * _rms(mean_b, m2_b, n_b),
                                    n_a, out=np.zeros_like(m2), where=n_a > 0)
                  + np.divide(n * carried_mean, n_a, out=np.zeros_like(m2), where=n_a > 0))
    # the term between the two parts squares the means' difference, and
    # carries twice its relative error: an uncentred column's mean (1e6)
    # rounds far more than its variance (1)
    weight = np.divide(n_a * n_b, n, out=np.zeros_like(m2), where=n > 0)
    delta_error = mean_error + units * np.abs(mean_b)
    m2_error = (carried_m2 + units * (m2 + m2_b + between)
                + 2.0 * np.abs(mean_b - mean_a) * weight * delta_error)
    # a constant column left by rows of its value stays as it was
    mean_error = np.where(constant, carried_mean, mean_error)
    m2_error = np.where(constant, carried_m2, m2_error)
    _check_errors(mean_error, m2_error, n_a, mean_a, m2_a)
    return mean_error, m2_error


def _check_errors(mean_error, m2_error, n, mean, m2):
    """Refuse statistics whose estimated errors pass ``DOWNDATE_RTOL`` of the
    variance, or of the scale for the mean."""
    var = np.divide(np.maximum(m2, 0.0), n, out=np.zeros_like(m2), where=n > 0)
    scale = _scale_of(var, mean, n)
    with np.errstate(divide="ignore", invalid="ignore"):
        error = np.maximum(np.where(m2_error > 0, m2_error / np.maximum(m2, 0.0), 0.0),
                           mean_error / scale)
    lost = np.flatnonzero(~(error <= DOWNDATE_RTOL))
    if len(lost):
        raise CancelledStatisticsError(lost, float(np.max(error[lost])))


def _scale_of(var, mean, n):
    """StandardScaler's scale: the standard deviation, 1 for a feature that is
    constant up to round-off (scikit-learn's rule)."""
    constant = var <= n * _EPS * var + (n * mean * _EPS) ** 2
    scale = np.sqrt(var)
    scale[constant | (scale < 10 * _EPS)] = 1.0
    return scale


def unlearned_scaler(scaler, removed, added, errors):
    """A copy of a fitted StandardScaler with the rows' inputs moved out and in,
    the change ``(scale, shift)`` of every other row's output (``None``
    when there is none), and the estimated errors ``(of mean_, of the sum
    of squared deviations)`` after the request, given those before
    (``errors``; zeros after a fit)."""
    d = scaler.n_features_in_
    removed, added = without_unchanged_pairs(removed, added)
    if (removed is None or not len(removed)) and (added is None or not len(added)):
        return scaler, None, errors
    n = np.broadcast_to(np.asarray(scaler.n_samples_seen_, dtype=np.float64), (d,))
    if scaler.mean_ is None:          # with_mean=False and with_std=False
        n_new = n - observed_counts(removed, d) + observed_counts(added, d)
        new = copy.copy(scaler)
        new.n_samples_seen_ = as_seen(n_new, scaler.n_samples_seen_)
        return new, None, errors
    var = scaler.var_ if scaler.var_ is not None else np.zeros(d)
    # without a variance (with_std=False) there is no scale to judge by
    n_new, mean, m2, after = updated_moments(
        n, scaler.mean_, var * n, removed, added,
        errors=errors if scaler.var_ is not None else None)
    errors = errors if after is None else after
    new = copy.copy(scaler)
    state = {"n_samples_seen_": as_seen(n_new, scaler.n_samples_seen_),
             "mean_": mean}
    old_scale, new_scale = np.ones(d), np.ones(d)
    if scaler.var_ is not None:
        var_new = np.divide(m2, n_new, out=np.zeros_like(m2), where=n_new > 0)
        state["var_"] = var_new
        state["scale_"] = _scale_of(var_new, mean, n_new) if scaler.with_std else None
        if scaler.with_std:
            old_scale, new_scale = scaler.scale_, state["scale_"]
    new.__dict__.update(state)
    shift = ((scaler.mean_ - mean) / new_scale if scaler.with_mean else np.zeros(d))
    return new, (old_scale / new_scale, shift), errors


def observed_counts(X, d):
    """The values of every column of ``X`` (dense or sparse; ``None``: no
    rows) that are not NaN, as floats."""
    if X is None:
        return np.zeros(d)
    if sp.issparse(X):
        data = X.tocoo()
        missing = np.bincount(data.col[np.isnan(data.data)], minlength=d)
        return (X.shape[0] - missing).astype(np.float64)
    return (~np.isnan(dense_rows(X))).sum(axis=0).astype(np.float64)


def as_seen(n, old):
    """``n_samples_seen_`` in the form of the fitted ``old``: one number when
    every column counts the same rows, of the type scikit-learn gave."""
    dtype = np.asarray(old).dtype
    if np.ndim(old) == 0 and np.all(n == n[0]):
        return type(old)(n[0]) if isinstance(old, (int, np.generic)) else dtype.type(n[0])
    return np.asarray(n).astype(dtype)


def column_sums(X):
    """The exact sum of the observed (not NaN) values of every column of
    ``X``, as a table of exact parts (see ``solvers._weight_totals``)."""
    return exact_table([exact_parts(col[~np.isnan(col)].tolist()) for col in X.T])


def _change_of_sums(removed, added, d):
    """The exact change of every column's sum as rows leave and enter, as
    lists of parts (empty where the sum does not change)."""
    changes = []
    for j in range(d):
        values = []
        for X, sign in ((removed, -1.0), (added, 1.0)):
            if X is not None and len(X):
                col = X[:, j]
                values += (sign * col[~np.isnan(col)]).tolist()
        if not np.all(np.isfinite(values)):
            raise ValueError(
                "The request's rows hold infinite values in a column of a mean "
                "SimpleImputer, which a refit refuses. Nothing was changed.")
        changes.append(exact_parts(values))
    return changes


def unlearned_imputer(imputer, observed, removed, added, sums):
    """A copy of a fitted mean SimpleImputer with the rows moved out and in,
    its new counts of observed values, the columns whose statistic changed,
    and the new exact column ``sums`` (given those of its current rows).
    Edited rows whose input did not change are left out (they would move a
    mean by round-off alone); a column that had no observed value at fit
    (dropped, or filled with 0) keeps its statistic.

    The mean is the rounding of the exact sum over the count, whatever the
    rows taken out: a subtraction of an erased outlier (1e17 in a column of
    mean 5) cancelled the digits of what remained (5% off), and its error
    was a function of the erased value."""
    removed, added = without_unchanged_pairs(removed, added)
    observed = np.asarray(observed, dtype=np.float64)
    empty = observed == 0
    stats = np.asarray(imputer.statistics_, dtype=np.float64)
    d = len(stats)
    entering = observed_counts(added, d) - observed_counts(removed, d)
    n = observed + entering
    if np.any(n < 0):
        raise ValueError(
            "The request removes more values from a column of a SimpleImputer "
            "than it was fitted on: they are not the training rows. Nothing "
            "was changed.")
    changes = _change_of_sums(removed, added, d)
    sums = exact_table([exact_parts(held.tolist() + change)
                        for held, change in zip(sums, changes)])
    # the exact mean, rounded once (a float's Fraction is exact)
    exact = np.array([float(sum(map(Fraction, row)) / int(k)) if k > 0 else 0.0
                      for row, k in zip(sums.tolist(), n)])
    # a column whose count and sum the request leaves as they were keeps the
    # fit's statistic (its own rounding of the same mean)
    touched = (entering != 0) | np.array([bool(change) for change in changes])
    mean = np.where(touched, exact, stats)
    if np.any((n == 0) & ~empty):
        raise ValueError(
            "The request leaves a column of a SimpleImputer without any observed "
            "value; a refit would drop the column: retrain the pipeline."
        )
    if np.any((n > 0) & empty):
        raise ValueError(
            "The request gives a value to a column in which a SimpleImputer had "
            "no observed value at fit (it drops the column, or fills it with 0); a "
            "refit would impute it: retrain the pipeline."
        )
    mean = np.where(empty, stats, mean)
    new = copy.copy(imputer)
    new.statistics_ = mean
    return new, n, ~empty & (mean != stats), sums
