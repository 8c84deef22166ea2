"""A dense symmetric matrix plus the row changes of recent requests.

A request changes a ``p x p`` matrix of the cache (a Hessian block, a Gram
matrix of the bound) by a few weighted rows. Adding them to the dense matrix
costs ``O(m p^2)`` flops per request (and a new factorisation for a Hessian);
keeping them as rows costs ``O(m p)`` every time the matrix is used. The
changes are kept as rows and folded into the dense matrix once what their use
has cost since the last fold reaches what folding would cost (the
rent-or-buy rule, which never spends more than twice the cheapest schedule in
hindsight). The cost is modelled from flop counts, not timed, so the schedule,
and with it every result, is reproducible.
"""

import numpy as np
from scipy.linalg.blas import dsymm, dsymv

from ._rows import RowCurvature
from ..bounds._roundoff import (TINY, UNIT, fold_underflow, gamma, norm_up,
                                product_underflow)

#: Cost of a flop of a memory-bound matrix-vector product, in flops of a
#: dense matrix product (measured 4-8 on a single core).
BLAS2_COST = 6.0
#: Fixed cost of one product with one pending chunk (the interpreter's share,
#: about 10 microseconds), in flops of a dense matrix product.
CALL_COST = 5e5


def symmetric_product(A, v):
    """``A @ v`` for a symmetric float64 ``A`` of which only the lower
    triangle (row >= column) is read: a fold updates that triangle alone.
    One vector reads one triangle (a fifth less time than the general
    product from memory)."""
    if v.ndim == 2 and v.shape[1] == 1:
        return symmetric_product(A, v[:, 0])[:, None]
    v = np.asarray(v, dtype=np.float64)
    if A.flags.f_contiguous:
        if v.ndim == 1:
            return dsymv(1.0, A, v, lower=1)
        return dsymm(1.0, A, v, side=0, lower=1)
    # a C-ordered matrix: its transpose is the same matrix in the BLAS's
    # column order, whose upper triangle is this one's lower triangle
    if v.ndim == 1:
        return dsymv(1.0, A.T, v, lower=0)
    return dsymm(1.0, A.T, v, side=0, lower=0)


def full_symmetric(A):
    """The full symmetric matrix of which ``A``'s lower triangle is given."""
    if not A.flags.f_contiguous:
        return A
    out = np.tril(A)
    out += np.tril(A, -1).T
    return out


def lower_triangle(A):
    """A new Fortran-ordered array holding the lower triangle (row >= column,
    diagonal included) of the square ``A``, zeros above."""
    p = A.shape[0]
    out = np.zeros((p, p), order="F")
    np.copyto(out, A, where=_lower_mask(p, bool))
    return out


def _lower_mask(p, dtype=float):
    """The Fortran-ordered 0/1 mask of the lower triangle (diagonal
    included) of a ``p x p`` matrix, made once per size and type."""
    mask = _LOWER_MASKS.get((p, dtype))
    if mask is None:
        mask = _LOWER_MASKS[p, dtype] = np.asfortranarray(np.tri(p, dtype=dtype))
    return mask


#: Masks of :func:`_lower_mask` by size (no data: zeros and ones only).
_LOWER_MASKS = {}


def _column_sums(A, groups):
    """Sums of ``A`` over its rows and over ``groups`` equal blocks of columns."""
    return A.sum(axis=0).reshape(groups, -1).sum(axis=1)


class PendingMatrix:
    """``matrix = base + sum of pending RowCurvature terms``.

    Parameters
    ----------
    matrix : ndarray of shape (p, p)
        The symmetric base matrix. Its lower triangle is copied (to a
        Fortran-ordered array, zeros above): every product reads that
        triangle only.

    Attributes
    ----------
    pending_rank : int
        Number of pending rows.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_unlearn.solvers import PendingMatrix, RowCurvature
    >>> K = PendingMatrix(np.eye(2))
    >>> K2 = K.corrected(RowCurvature(np.array([[1.0, 1.0]]), np.array([2.0])))
    >>> K2.matrix
    array([[3., 2.],
           [2., 3.]])
    >>> K2.quadratic_form(np.array([1.0, 0.0])), K2.pending_rank, K.pending_rank
    (3.0, 1, 0)
    """

    #: Modelled uses of the matrix per request (quadratic forms or products):
    #: the bound multiplies ``K_R`` by the step once, and reads ``K``'s trace
    #: (kept as a sum) and, rarely, one quadratic form.
    uses_per_request = 1

    #: Whether a request's chunk of rows merges into the ones before it (see
    #: :meth:`corrected`). Merging copies rows to save the fixed cost of a
    #: product per chunk: worth it for a Hessian, used in every iteration of
    #: a solve; a Gram matrix of the bound, used once a request, keeps a
    #: chunk per request (the rent charges each chunk's call) and copies no
    #: row until it folds.
    merges_chunks = False

    #: Whether the trace of the pending rows is kept (the bound reads the
    #: trace of its Gram matrix at every request; a Hessian's is not read).
    keeps_trace = True

    #: Whether the base's strict upper triangle is known to hold zeros (every
    #: base this version makes: a fold then copies it plainly). A base loaded
    #: from a file saved before may hold the whole matrix: its first fold
    #: clears the upper triangle, so no copy keeps what left it.
    _zero_upper = False

    def __init__(self, matrix, error=0.0):
        # Every base is kept as its lower triangle in Fortran order, zeros
        # above (the layout a fold writes): a fold then copies and clears it
        # in one contiguous pass.
        self._base = lower_triangle(matrix)
        self._zero_upper = True
        # the diagonal of a matrix not in cache costs a miss per entry
        self._trace = float(np.trace(matrix))
        self._pending = []
        self._pending_trace = 0.0 if self.keeps_trace else None
        self._rent = 0.0
        #: Bound on the Frobenius norm of the difference between this matrix
        #: and the exact sum it stands for (the rounding of every sum that
        #: formed it; what the caller passes for the matrix it gives).
        self.error = float(error)
        self._abs_norm = float(norm_up(matrix))
        self._pending_mass = 0.0

    @property
    def shape(self):
        return self._base.shape

    @property
    def pending_rank(self):
        return int(sum(t.n_rows for t in self._pending))

    @property
    def nbytes(self):
        """Bytes held: the base matrix (and factor) and the pending rows."""
        arrays = [v for v in self.__dict__.values() if isinstance(v, np.ndarray)]
        total = sum(a.nbytes for a in arrays)
        for t in self._pending:
            total += t.weights.nbytes + getattr(t.rows, "nbytes", 0)
            if t.edit is not None:
                total += sum(a.nbytes for a in t.edit)
        return int(total)

    @property
    def matrix(self):
        """The matrix, formed on demand (base plus pending rows)."""
        base = full_symmetric(self._base)
        if not self._pending:
            return base
        # all pending rows in one product (chunk by chunk, each would take
        # a small product and a p x p temporary)
        return base + RowCurvature.concat(self._pending).dense()

    def _apply_pending(self, v):
        out = None
        for t in self._pending:
            out = t.apply(v) if out is None else out + t.apply(v)
        return np.zeros_like(v) if out is None else out

    def matvec(self, v, terms=None):
        """``(matrix + terms) @ v``; ``terms`` a RowCurvature or ``None``."""
        out = symmetric_product(self._base, v)
        if self._pending:
            out = out + self._apply_pending(v)
        if terms is not None:
            out = out + terms.apply(v)
        return out

    def forms(self, V):
        """``V^T matrix V`` for ``V`` of shape (p, c): one product with the
        matrix."""
        return V.T @ self.matvec(V)

    def quadratic_form(self, V, terms=None):
        """``sum_j V_j^T (matrix + terms) V_j`` over the columns of ``V``."""
        return float(self.quadratic_forms([V], terms)[0])

    def quadratic_forms(self, Vs, terms=None):
        """:meth:`quadratic_form` of every array in ``Vs`` (all of one shape),
        from one product with the matrix."""
        S = np.column_stack([V.reshape(len(V), -1) for V in Vs])
        vals = _column_sums(S * symmetric_product(self._base, S), len(Vs))
        for t in self._pending + ([terms] if terms is not None else []):
            vals += t.quadratic_forms(S, len(Vs))
        return vals

    def base_diagonal(self):
        """The diagonal of the base (the pending rows left out)."""
        return np.diagonal(self._base)

    def trace(self, terms=None):
        """Trace of ``matrix + terms``."""
        kept = getattr(self, "_pending_trace", None)
        if kept is None:
            kept = sum(t.trace() for t in self._pending)
        return self._trace + kept + (0.0 if terms is None else terms.trace())

    def rounding_scale(self, terms=None):
        """``gamma(2 (p + m + 2))`` times a bound on the Frobenius norm of the
        absolute values of the matrix (and of ``terms``): what a product
        with it, a quadratic form or a fold can lose to rounding, per unit
        norm of the vectors."""
        mass = self._abs_norm + self._pending_mass
        m = self.pending_rank
        if terms is not None:
            mass += terms.abs_mass()
            m += terms.n_rows
        # twice the length of the sums: the row-norm weights of K_R carry a
        # rounding of their own of the same size
        return gamma(2 * (self.shape[0] + m + 2)) * mass

    def norm_bound(self):
        """A bound on the operator norm of the exact matrix."""
        return self._abs_norm + self._pending_mass + self.error

    @property
    def finite(self):
        """Whether the matrix's kept summaries are finite. Every entry is at
        most :meth:`norm_bound` in magnitude, and an entry, a row or a sum
        that overflowed makes that bound or the trace infinite or NaN."""
        return bool(np.isfinite(self.norm_bound() + self._trace))

    def quadratic_form_bound(self, V, terms=None):
        """An upper bound on the exact ``sum_j V_j^T (matrix + terms) V_j`` of
        a positive semidefinite matrix: the computed form plus what the
        matrix's own error and the form's rounding can hide (never less than
        zero; ``inf`` when the computed form is further below zero than
        rounding explains, which only lost precision can cause)."""
        value = self.quadratic_form(V, terms)
        allowance = self.quadratic_form_allowance(V, terms)
        if not np.isfinite(value) or value < -2.0 * allowance:
            return np.inf
        return max(value + allowance, 0.0)

    def quadratic_form_allowance(self, V, terms=None):
        """A bound on the difference, either way, between the computed
        :meth:`quadratic_form` of ``V`` and the exact form of the exact sum
        the matrix stands for: the matrix's :attr:`error` and the form's
        rounding, per unit of ``V``'s squared norm, and what underflow loses."""
        size = norm_up(V)
        # (V * V).sum() may underflow; the form's products lose up to TINY
        # each, and those of the matrix with V meet V's entries
        cols = V.reshape(len(V), -1).shape[1]
        rows, mass = self.pending_rank, self._pending_mass
        if terms is not None:
            rows, mass = rows + terms.n_rows, mass + terms.abs_mass()
        return float((self.error + self.rounding_scale(terms)) * (size * size + TINY)
                     + (product_underflow(self.shape[0], self.shape[0] * cols)
                        + fold_underflow(self.shape[0], rows, mass)) * (size + 1.0))

    def trace_bound(self, terms=None):
        """An upper bound on the exact trace of ``matrix + terms``."""
        value = self.trace(terms)
        p = self.shape[0]
        allowance = (np.sqrt(p) * self.error
                     + gamma(p + self.pending_rank + 2) * (abs(self._trace)
                                                          + self._pending_mass))
        if terms is not None:
            allowance += gamma(p + terms.n_rows + 2) * terms.abs_mass()
        value += allowance
        return float(value) if np.isfinite(value) else np.inf

    # -- the schedule --------------------------------------------------------
    def _fold_price(self):
        return sum(t.form_flops() for t in self._pending)

    def _use_cost(self):
        """Modelled cost of the pending rows in one use of the matrix."""
        return sum(BLAS2_COST * t.apply_flops() + CALL_COST for t in self._pending)

    def _copy(self):
        new = object.__new__(type(self))
        new.__dict__.update(self.__dict__)
        new._pending = list(self._pending)
        return new

    def _fold(self, lines=None):
        """Add the pending rows to the base (a new array: the old base may be
        shared with the matrix this one was corrected from), with the
        rounding of the sums that form it added to :attr:`error`; with
        ``lines`` (``(index, diagonal)``), then set the rows and columns
        ``index`` to zero but for ``diagonal`` on the diagonal: the lines of
        features that no current row holds, set to what the rows' sum has
        there (see ``solvers._feature_counts``). The entries set are exact,
        so the difference from the exact sum the matrix stands for loses
        those lines: :attr:`error` still bounds it."""
        folding = bool(self._pending)
        if folding:
            self.error += self.rounding_scale() + fold_underflow(
                self.shape[0], self.pending_rank, self._pending_mass)
            # one copy of the base (the old one may be shared with the matrix
            # this one was corrected from), updated in place in its lower
            # triangle: no other p x p temporary, whose fresh memory is slow
            # to map. The copy clears the upper triangle as it goes (every
            # base is Fortran-ordered, see __init__: one contiguous pass), so
            # no copy keeps rows that left there.
            p = self._base.shape[0]
            mask = _lower_mask(p)
            lower = all(t.lower_only for t in self._pending)
            if lower and self._zero_upper:
                # zeros above stay zeros: a plain copy, one read fewer
                base = np.array(self._base, order="F")
            else:
                base = (np.multiply(self._base, mask, out=np.empty((p, p), order="F"))
                        if lower else np.array(self._base, order="F"))
            for t in self._pending:
                t.add_lower_to(base)
            if not lower:
                # a change added whole: cleared above once it is in
                np.multiply(base, mask, out=base)
            self._base = base
            self._zero_upper = True
        self._trace = float(np.trace(self._base))
        # the triangle inequality bounds the new norm without a pass over it
        self._abs_norm = (self._abs_norm + self._pending_mass) * (1.0 + 4.0 * UNIT)
        self._pending = []
        self._pending_trace = 0.0 if self.keeps_trace else None
        self._pending_mass = 0.0
        self._rent = 0.0
        if lines is not None:
            if not folding:
                # the base may be shared with the matrix this one came from
                self._base = np.array(self._base, order="F")
            self._set_lines(*lines)

    def _set_lines(self, index, diagonal):
        """The lines of :meth:`_fold`, on this object's own base."""
        index = np.asarray(index, dtype=np.intp)
        diagonal = np.broadcast_to(np.asarray(diagonal, dtype=np.float64), index.shape)
        base = self._base
        # a base from an older file may hold the whole matrix: both halves
        base[index, :] = 0.0
        base[:, index] = 0.0
        base[index, index] = diagonal
        self._trace = float(np.trace(base))
        self._abs_norm = ((self._abs_norm + float(np.linalg.norm(diagonal)))
                          * (1.0 + 4.0 * UNIT))

    def corrected(self, terms=None, fold=False, lines=None):
        """The matrix plus ``terms`` (a RowCurvature), as a new object.

        This one is unchanged; the base is shared. The pending rows are
        folded first when their use has cost as much as folding them. With
        ``fold``, every row, pending or new, is folded into a new base
        before returning: the result holds no row of ``terms`` (rows that
        leave the data must not stay beside the matrix they left), and
        ``lines`` are set in it (see :meth:`_fold`).
        """
        new = self._copy()
        if new._pending and new._rent >= new._fold_price() and not fold:
            new._fold()
        if terms is not None and terms.n_rows:
            if getattr(new, "_pending_trace", None) is not None:
                new._pending_trace += terms.trace()
            new._pending_mass += terms.abs_mass()
            pending = new._pending + [terms]
            # Chunks (one a request) of a merging matrix merge like the
            # digits of a binary counter: the newest into the one before
            # while it is as large, so there are O(log m) chunks and a row
            # is copied O(log m) times (merging all of them at every request
            # copies O(m) rows each time).
            while (self.merges_chunks and len(pending) > 1 and not fold
                   and pending[-1].n_rows >= pending[-2].n_rows):
                pending[-2:] = [RowCurvature.concat(pending[-2:])]
            new._pending = pending
        if fold and (new._pending or lines is not None):
            new._fold(lines)
        elif not fold:
            new._charge_request()
        return new

    def _charge_request(self):
        self._rent += self.uses_per_request * self._use_cost()
