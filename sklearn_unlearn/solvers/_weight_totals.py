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
from fractions import Fraction
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
            if not math.isfinite(head):
                # an infinite or undefined value: no finite parts to follow
                return parts + [head]
            parts.append(head)
            values.append(-head)
    except ValueError:
        # infinities of both signs: undefined
        return [math.nan]
    except OverflowError:
        # a partial sum overflowed on the way (1e308 + 1e308 - 1e308): the
        # exact sum in rationals, whatever the order
        return _parts_of(sum(map(Fraction, values[:len(values) - len(parts)]),
                             Fraction(0)))


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
    return _table(grouped_parts(weights, groups, n_groups))


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


#: Offset of a float64's binary exponent (as ``np.frexp`` gives it) in the
#: bins of :func:`grouped_parts`: exponents run from -1073 to 1024.
_EXPONENT_OFFSET = 1074
_EXPONENT_BINS = 2099
#: Values summed per pass of :func:`grouped_parts`: a bin's float64 sum of
#: that many integers below ``2**27`` stays below ``2**53``, hence exact.
_BIN_ROWS = 2**25


def grouped_parts(values, groups, n_groups):
    """The exact sum of the float ``values`` of every group (``groups``:
    integers below ``n_groups``; NaN skipped, no infinite value), as lists
    of exact parts: what :func:`exact_parts` gives group by group, without
    its passes over a Python list.

    Every float is ``m 2**(e - 53)`` with an integer ``|m| < 2**53``, split
    into halves below ``2**27`` whose sums per group and exponent are exact
    in float64; a group's exact sum is then assembled in integers.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_unlearn.solvers._weight_totals import grouped_parts
    >>> grouped_parts(np.array([1e16, 0.5, 1.0, -1e16]), np.array([0, 1, 0, 0]), 3)
    [[1.0], [0.5], []]
    """
    values = np.asarray(values, dtype=np.float64).ravel()
    groups = np.asarray(groups, dtype=np.int64).ravel()
    mantissa, exponent = np.frexp(np.where(np.isnan(values), 0.0, values))
    m = np.ldexp(mantissa, 53).astype(np.int64)
    halves = ((m >> 26).astype(np.float64), (m & (2**26 - 1)).astype(np.float64))
    # one bin per group and exponent; only the occupied ones of many groups
    key = exponent + _EXPONENT_OFFSET + _EXPONENT_BINS * groups
    if n_groups * _EXPONENT_BINS <= 2**24:
        keys, index, size = None, key, n_groups * _EXPONENT_BINS
    else:
        used = m != 0
        halves = tuple(h[used] for h in halves)
        keys, index = np.unique(key[used], return_inverse=True)
        size = len(keys)
    sums = [np.zeros(size), np.zeros(size)]
    for start in range(0, len(index), _BIN_ROWS):
        part = slice(start, start + _BIN_ROWS)
        for total, half in zip(sums, halves):
            total += np.bincount(index[part], weights=half[part], minlength=size)
    occupied = np.flatnonzero((sums[0] != 0) | (sums[1] != 0))
    group, e = np.divmod(occupied if keys is None else keys[occupied], _EXPONENT_BINS)
    # a bin's two sums are integers below 2**53 times a power of two: floats
    # exactly, unless they overflow (then that group is summed in rationals)
    with np.errstate(over="ignore"):
        bins = np.ldexp(np.stack([sums[0][occupied], sums[1][occupied]]),
                        np.stack([e - _EXPONENT_OFFSET - 27, e - _EXPONENT_OFFSET - 53]))
    starts = np.searchsorted(group, np.arange(n_groups + 1)).tolist()
    overflowed = set(group[~np.all(np.isfinite(bins), axis=0)].tolist())
    flat = bins.T.ravel().tolist()
    parts = []
    for g in range(n_groups):
        start, stop = starts[g], starts[g + 1]
        if g not in overflowed:
            parts.append(exact_parts(flat[2 * start:2 * stop]) if stop > start else [])
            continue
        exact = sum((Fraction((int(sums[0][w]) << 26) + int(sums[1][w]))
                     * Fraction(2) ** (int(b) - _EXPONENT_OFFSET - 53)
                     for w, b in zip(occupied[start:stop], e[start:stop])), Fraction(0))
        parts.append(_parts_of(exact))
    return parts


def _parts_of(value):
    """The exact parts of a rational ``value`` (see :func:`exact_parts`)."""
    parts = []
    try:
        while value:
            head = float(value)         # correctly rounded
            parts.append(head)
            value -= Fraction(head)
    except ValueError:
        # infinities of both signs: undefined
        return [math.nan]
    except OverflowError:
        raise ValueError(
            "The values are too large for float64 arithmetic: their exact sum "
            "overflows (sample weights, or the values of a scaler's or a mean "
            "imputer's column). Rescale them. Nothing was changed.") from None
    return parts
