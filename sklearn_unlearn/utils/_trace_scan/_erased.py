"""What a trace scan looks for: the erased rows and values, and what it finds."""

from dataclasses import dataclass, field

import numpy as np

#: ``|cos|`` above which two vectors count as parallel.
PARALLEL = 1 - 1e-9
#: Singular-value ratio that counts as a gap in the spectrum of a difference.
GAP = 1e6
#: Largest number of classes (blocks) a long vector is split into.
MAX_BLOCKS = 10
#: Largest side of a matrix whose differences are decomposed.
MAX_SVD = 400
#: Largest side of a ``A A^T`` formed from a thin array.
MAX_DERIVED = 128
#: Largest number of columns of an array whose columns count as parameters.
MAX_OUTPUTS = 10
#: Largest number of values per erased row searched for in bytes and text
#: (evenly spread; every value is searched for in the arrays and floats).
MAX_BYTE_VALUES = 48


# -- what was erased --------------------------------------------------------------
@dataclass
class Erased:
    """The erased rows and values a scan looks for.

    Parameters
    ----------
    d : int
        Number of features of the rows as the final estimator sees them.
    float32 : bool
        Whether the estimator was fit on float32 data (then float32 byte
        patterns are searched too).
    """

    d: int
    float32: bool = False
    rows: list = field(default_factory=list)        # (label, row, group)
    values: list = field(default_factory=list)      # (label, value)
    new_rows: list = field(default_factory=list)    # (label, row, group)
    _memo: dict = field(default_factory=dict, repr=False, compare=False)

    def add_row(self, row, label, group):
        row = np.asarray(row, dtype=np.float64).ravel()
        assert row.shape == (self.d,) and np.all(np.isfinite(row))
        self.rows.append((label, row, group))
        self._memo.clear()

    def add_new_row(self, row, label, group):
        """The new version of a row edited by request ``group``: legitimate
        data, but a vector in the span of old and new versions, and not of
        the new ones alone, holds information on the old values."""
        row = np.asarray(row, dtype=np.float64).ravel()
        assert row.shape == (self.d,) and np.all(np.isfinite(row))
        self.new_rows.append((label, row, group))
        self._memo.clear()

    def add_values(self, values, labels):
        for v, lab in zip(np.ravel(values), labels, strict=True):
            v = float(v)
            assert v != 0.0 and np.isfinite(v)
            self.values.append((lab, v))
        self._memo.clear()

    def memo(self, key, compute):
        """``compute()``, once per state of the erased rows and values."""
        if key not in self._memo:
            self._memo[key] = compute()
        return self._memo[key]

    # views used by the checks
    def _row_matrix(self, augmented):
        R = np.array([r for _, r, _ in self.rows]).reshape(-1, self.d)
        if augmented:
            R = np.hstack([R, np.ones((len(R), 1))])
        return R

    def unit_rows(self, augmented=False):
        return self.memo(("unit", augmented), lambda: self._unit_rows(augmented))

    def _unit_rows(self, augmented):
        R = self._row_matrix(augmented)
        return R / np.linalg.norm(R, axis=1, keepdims=True)

    def groups(self, augmented=False, max_size=None):
        """Orthonormal bases of the spans of the rows erased by one request
        (for groups of 2 to ``max_size`` rows)."""
        return self.memo(("groups", augmented, max_size),
                         lambda: self._groups(augmented, max_size))

    def edit_groups(self, augmented=False, max_size=None):
        """``[(group, old row indices, Q_all, Q_new, E)]``: orthonormal bases
        of the spans of the old and new versions of the rows one request
        edited, and of the new versions alone (for at most ``max_size`` rows),
        and the unit vectors of the edited columns."""
        return self.memo(("edits", augmented, max_size),
                         lambda: self._edit_groups(augmented, max_size))

    def _edit_groups(self, augmented, max_size):
        R = self._row_matrix(augmented)
        out = []
        for g in sorted({g for _, _, g in self.new_rows}):
            idx = [i for i, (_, _, gi) in enumerate(self.rows) if gi == g]
            N = np.array([r for _, r, gi in self.new_rows if gi == g])
            if augmented:
                N = np.hstack([N, np.ones((len(N), 1))])
            if idx and len(idx) == len(N) and 2 * len(N) <= max_size:
                Q_all, _ = np.linalg.qr(np.vstack([R[idx], N]).T)
                Q_new, _ = np.linalg.qr(N.T)
                E = np.eye(R.shape[1])[:, np.any(R[idx] != N, axis=0)]
                out.append((g, idx, Q_all, Q_new, E))
        return out

    def _groups(self, augmented, max_size):
        R = self._row_matrix(augmented)
        out = []
        for g in sorted({g for _, _, g in self.rows}):
            idx = [i for i, (_, _, gi) in enumerate(self.rows) if gi == g]
            if 2 <= len(idx) <= max_size:
                Q, _ = np.linalg.qr(R[idx].T)
                out.append((g, idx, Q))
        return out

    def value_array(self):
        return np.array([v for _, v in self.values])


@dataclass(frozen=True)
class Finding:
    """One trace: which check found it, where, and of which erased datum."""

    check: str
    where: str
    erased: str
    detail: str = ""

    def __str__(self):
        detail = f" ({self.detail})" if self.detail else ""
        return f"[{self.check}] {self.where}: {self.erased}{detail}"
