"""The trained weight per class, kept exactly from request to request.

Each request takes its removed rows' weights out of the totals and adds its
new rows'. In floating point a heavy row inserted and deleted would leave
its rounding behind (a row of weight 1e12 moves a total of 100 by 1e-4), and
the checks that compare rows given as the current ones with the totals would
then refuse the true rows; a bound on that rounding would grow with every
request's weights and tell them. So the totals are kept exactly: each as its
rounding to the nearest float (``totals``, what everything reads) and the
roundings of what is left (``residue``, usually nothing). Both are a
function of the exact sum alone, not of the requests that led to it.
"""

import math
from typing import NamedTuple

import numpy as np


class Remaining(NamedTuple):
    """The weight and row count per group of the data after a request; the
    exact weight is ``totals + residue.sum(axis=1)`` (``residue`` ``None``
    when ``totals`` is exact)."""

    totals: np.ndarray
    counts: np.ndarray
    residue: np.ndarray | None


def exact_parts(values):
    """The exact sum of the floats ``values`` as its rounding to the nearest
    float, then the rounding of what is left, and so on to nothing (an
    empty list for zero).

    Examples
    --------
    >>> from sklearn_unlearn.solvers._weight_totals import exact_parts
    >>> exact_parts([1e16, 1.0, -1e16 + 2.0])
    [3.0]
    >>> exact_parts([1e16, 1.0])
    [1e+16, 1.0]
    """
    values = list(values)
    parts = []
    try:
        while True:
            head = math.fsum(values)      # the exact sum, rounded once
            if head == 0.0:
                return parts
            parts.append(head)
            values.append(-head)
    except OverflowError:
        raise ValueError(
            "The values are too large for float64 arithmetic: their exact sum "
            "overflows on the way (sample weights, or the values of a mean "
            "imputer's column). Rescale them. Nothing was changed.") from None


def _table(parts):
    """``(totals, residue)`` of per-group exact parts (``residue`` ``None``
    when every total is exact)."""
    width = max((len(p) for p in parts), default=0)
    table = np.zeros((len(parts), max(width, 1)))
    for g, p in enumerate(parts):
        table[g, :len(p)] = p
    return table[:, 0], (table[:, 1:] if width > 1 else None)


def stacked(totals, residue):
    """The exact values as one array: their roundings, then the roundings of
    what is left, in columns."""
    return totals[:, None] if residue is None else np.column_stack([totals, residue])


def exact_table(parts):
    """:func:`stacked` of per-row exact parts (lists of floats)."""
    return stacked(*_table(parts))


def _held(totals, residue, g):
    return [float(totals[g]), *([] if residue is None else residue[g].tolist())]


def summed(groups, weights, n_groups):
    """``(totals, residue)``: the exact weight of the rows of every group, as
    requests keep it (a sum of rows of weights far apart, 1e6 and 1e-6,
    rounds, and its rounding would stay once the heavy rows leave)."""
    if np.all(weights == 1.0):
        # unweighted rows (the default): their counts are the exact sums
        counts = np.bincount(groups, minlength=n_groups)
        return _table([[float(c)] if c else [] for c in counts])
    if n_groups == 1:
        return _table([exact_parts(weights.tolist())])
    order = np.argsort(groups, kind="stable")
    bounds = np.searchsorted(groups[order], np.arange(n_groups + 1))
    w = weights[order]
    return _table([exact_parts(w[bounds[g]:bounds[g + 1]].tolist())
                   for g in range(n_groups)])


def combined(a, b, sign=1.0):
    """The exact ``a + sign * b`` of two ``(totals, residue)`` pairs."""
    n = len(a[0])
    return _table([exact_parts(_held(*a, g) + [sign * v for v in _held(*b, g)])
                   for g in range(n)])


def remaining(totals, residue, counts, g_old, w_old, g_new, w_new):
    """The :class:`Remaining` weight and count per group once the rows of
    groups ``g_old`` and weights ``w_old`` leave and those of ``g_new``,
    ``w_new`` enter, summed exactly."""
    n = len(totals)
    parts = [exact_parts(_held(totals, residue, g) + (-w_old[g_old == g]).tolist()
                         + w_new[g_new == g].tolist()) for g in range(n)]
    counts = (counts - np.bincount(g_old, minlength=n)
              + np.bincount(g_new, minlength=n)).astype(float)
    totals, residue = _table(parts)
    return Remaining(totals, counts, residue)
