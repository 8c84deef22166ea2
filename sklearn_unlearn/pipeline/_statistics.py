"""Exact updates of fitted statistics that are sums over rows: the means and
variances of a StandardScaler, the column means of a SimpleImputer.

The pipeline keeps, per column, the exact sum of the observed values (and,
for a scaler, of their squares) as tables of exact parts (see
``solvers._weight_totals``). A request takes its rows' values out and puts
them in exactly, and a statistic is the exact mean (or variance) of the
current values rounded once: a function of the current values alone,
whatever rows left. (A subtraction in floating point cancels the digits of
what remains when an erased outlier dominates a column, and leaves a
rounding that is a function of it.)
"""

import copy
from fractions import Fraction

import numpy as np
import scipy.sparse as sp
from sklearn.utils import check_array

from ..solvers._weight_totals import exact_parts, exact_table, grouped_parts

_EPS = np.finfo(np.float64).eps
_UNDERFLOW = float(np.finfo(np.float64).smallest_subnormal)
#: Veltkamp's splitting constant, ``2**27 + 1``: it splits a float into two
#: halves of 26 bits whose products are exact.
_SPLIT = 134217729.0


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
    and enter its sums alike."""
    if old is None or new is None or old.shape != new.shape:
        return old, new
    same = ((old == new) | (np.isnan(old) & np.isnan(new))).all(axis=1)
    return old[~same], new[~same]


def square_parts(X):
    """``(hi, lo)`` whose sum is the exact square of every entry of ``X``
    (Dekker's product): ``hi`` the rounded square, ``lo`` what it lost. Exact
    unless the square underflows (below about ``1e-290``, where ``lo`` is
    rounded, by a function of the entry alone); ``hi`` is infinite where the
    square overflows."""
    X = np.asarray(X, dtype=np.float64)
    with np.errstate(over="ignore", invalid="ignore"):
        hi = X * X
        c = _SPLIT * X
        big = c - (c - X)
        small = X - big
        lo = ((big * big - hi) + 2.0 * big * small) + small * small
    return hi, lo


def _checked_values(X, what):
    """Refuse infinite values in ``X`` (a refit refuses them; NaN are
    missing values), naming the statistic ``what``."""
    finite = np.isfinite(X) | np.isnan(X)
    if not finite.all():
        raise ValueError(
            f"The rows hold infinite values in a column of {what}, which a refit "
            "refuses. Nothing was changed.")


def squares_overflow(what):
    """Why rows are refused whose squares overflow in a column of ``what``."""
    return (f"The rows hold values whose squares overflow float64 (above 1.3e154 in "
            f"magnitude) in a column of {what}: its variance is not finite. Rescale "
            "the column. Nothing was changed.")


def _exact_columns(values, columns, d, squared, what):
    """Per column (``columns``: the column of every value, below ``d``),
    the exact sum of the observed ``values`` (``squared``: of their
    squares), as lists of exact parts."""
    _checked_values(values, what)
    if squared:
        hi, lo = square_parts(values)
        if not (np.isfinite(hi) | np.isnan(hi)).all():
            raise ValueError(squares_overflow(what))
        values, columns = np.concatenate([hi, lo]), np.concatenate([columns, columns])
    return grouped_parts(values, columns, d)


def _dense_columns(X, squared, what):
    """:func:`_exact_columns` of the columns of the 2-d ``X``."""
    n, d = X.shape
    return _exact_columns(X.ravel(), np.tile(np.arange(d), n), d, squared, what)


def column_sums(X, squared=False, what="a SimpleImputer"):
    """The exact sum of the observed (not NaN) values of every column of
    ``X`` (``squared``: of their squares), as a table of exact parts (see
    ``solvers._weight_totals``). A sparse ``X`` is read by its stored
    entries (the others are zeros, which add nothing)."""
    if sp.issparse(X):
        X = sp.csc_array(X)
        d = X.shape[1]
        columns = np.repeat(np.arange(d), np.diff(X.indptr))
        return exact_table(_exact_columns(np.asarray(X.data, dtype=np.float64), columns,
                                          d, squared, what))
    return exact_table(_dense_columns(dense_rows(X), squared, what))


def _moved(held, removed, added, squared, what):
    """The exact column sums ``held`` (a table of exact parts) with the rows
    ``removed`` taken out and ``added`` put in, and which columns changed."""
    d = len(held)
    rows = [[] for _ in range(d)]
    for X, sign in ((removed, -1.0), (added, 1.0)):
        if X is not None and len(X):
            for j, parts in enumerate(_dense_columns(X, squared, what)):
                rows[j] += [sign * v for v in parts]
    changed = np.array([bool(exact_parts(r)) for r in rows])
    table = exact_table([exact_parts(h.tolist() + r) if c else h[h != 0].tolist()
                         for h, r, c in zip(held, rows, changed)])
    return table, changed


def _exact(parts):
    """The exact value of a row of exact parts."""
    return sum(map(Fraction, parts.tolist()), Fraction(0))


def _scale_of(var, mean, n):
    """StandardScaler's scale: the standard deviation, 1 for a feature that is
    constant up to round-off (scikit-learn's rule)."""
    constant = var <= n * _EPS * var + (n * mean * _EPS) ** 2
    scale = np.sqrt(var)
    scale[constant] = 1.0
    return scale


def unlearned_scaler(scaler, removed, added, sums, squares):
    """A copy of a fitted StandardScaler with the rows' inputs moved out and
    in, the change ``(scale, shift)`` of every other row's output (``None``
    when there is none), and the exact sums of every column's values and of
    their squares after the request, given those before (``squares``
    ``None`` for a scaler without a variance).

    A column the request changes takes the exact mean and variance of its
    current values, rounded once; the others keep theirs."""
    d = scaler.n_features_in_
    removed, added = without_unchanged_pairs(removed, added)
    if (removed is None or not len(removed)) and (added is None or not len(added)):
        return scaler, None, sums, squares
    n = np.broadcast_to(np.asarray(scaler.n_samples_seen_, dtype=np.float64), (d,))
    n_new = n - observed_counts(removed, d) + observed_counts(added, d)
    if np.any(n_new < 0) or np.any((n_new == 0) & (n > 0)):
        raise ValueError(
            "The request removes every value a fitted statistic was computed "
            "from (or more rows than were trained on): retrain the pipeline.")
    new = copy.copy(scaler)
    new.n_samples_seen_ = as_seen(n_new, scaler.n_samples_seen_)
    if scaler.mean_ is None:          # with_mean=False and with_std=False
        return new, None, sums, squares
    what = "a StandardScaler"
    sums, touched = _moved(sums, removed, added, False, what)
    if squares is not None:
        squares, squared = _moved(squares, removed, added, True, what)
        touched |= squared
    touched |= n_new != n
    mean, var = scaler.mean_.copy(), None if scaler.var_ is None else scaler.var_.copy()
    for j in np.flatnonzero(touched):
        count = int(n_new[j])
        exact_mean = _exact(sums[j]) / count
        mean[j] = float(exact_mean)
        if var is not None:
            exact_var = _exact(squares[j]) / count - exact_mean * exact_mean
            # only a square that underflowed (its low part rounded, by at
            # most the smallest subnormal) can make it negative
            if exact_var * count < -_UNDERFLOW * (n[j] + count):
                raise ValueError(
                    f"The rows of X_old are not among the current rows: without them "
                    f"the StandardScaler's column {j} would have a negative sum of "
                    "squared deviations (rows that were never trained on, deleted "
                    "already, or given with values the model forgot: pass the rows "
                    "as they are now, sklearn_unlearn.zero_features for columns "
                    "forgotten). Nothing was changed.")
            var[j] = max(float(exact_var), 0.0)
    state = {"mean_": mean}
    old_scale, new_scale = np.ones(d), np.ones(d)
    if var is not None:
        state["var_"] = var
        if scaler.with_std:
            state["scale_"] = new_scale = _scale_of(var, mean, n_new)
            old_scale = scaler.scale_
    new.__dict__.update(state)
    shift = (scaler.mean_ - mean) / new_scale if scaler.with_mean else np.zeros(d)
    return new, (old_scale / new_scale, shift), sums, squares


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
    """``n_samples_seen_`` counting ``n`` rows per column, in scikit-learn's
    form: one number when every column counts the same rows (no value
    missing), else one per column; of the dtype of the fitted ``old`` (which
    a scaler's parameters decide, not its missing values)."""
    n = np.asarray(n).astype(np.asarray(old).dtype)
    if not np.all(n == n[0]):
        return n
    return type(old)(n[0]) if isinstance(old, (int, float)) else n[0]


def without_columns(table, columns):
    """The table of exact parts ``table`` (per column; see
    :func:`column_sums`) with the sums of ``columns`` zero, as wide as a fit
    on such a column leaves it: as the other columns' parts need."""
    zero = set(np.asarray(columns, dtype=int).tolist())
    return exact_table([[] if j in zero else row[row != 0].tolist()
                        for j, row in enumerate(table)])


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
    sums, summed = _moved(sums, removed, added, False, "a SimpleImputer")
    # a column whose count and sum the request leaves as they were keeps the
    # fit's statistic (its own rounding of the same mean)
    touched = (entering != 0) | summed
    # the exact mean, rounded once
    exact = np.array([float(_exact(row) / int(k)) if t and k > 0 else 0.0
                      for row, k, t in zip(sums, n, touched)])
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
