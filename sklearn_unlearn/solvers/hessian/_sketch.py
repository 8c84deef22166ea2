"""The Nystrom sketch of a Hessian block's data part, in few passes over the
data and with no array beyond the factor it returns but a few column blocks.

The test vectors are ``Omega = [E_J, G]``: the unit vectors of the exact
columns ``J`` (the intercepts and the coordinates of largest curvature) and
vectors of random signs, zero on ``J``, each drawn when its block is taken (never
all at once). ``Y = A Omega`` is taken a block of columns at a time, each
block one pass over the data, and written into the array that becomes the
factor. With the core ``C = Omega^T Y`` (the rows ``J`` of ``Y``, and ``G^T
Y`` from each block's test vectors) and ``L L^T = C + nu I``, the factor
``W = Y L^{-T}`` (a triangular solve in place) gives

``W W^T = Y (C + nu I)^{-1} Y^T <= A Omega (Omega^T A Omega)^+ Omega^T A <= A``

in the Loewner order, exact on the columns ``J`` up to the shift ``nu``
(round-off level): the diagonal remainder ``diag(A) - diag(W W^T)`` is then
non-negative. Tropp, Yurtsever, Udell and Cevher (2017) give the
construction; the shift on the core alone keeps the order without shifting
eigenvalues back.
"""

from contextlib import contextmanager

import numpy as np
import scipy.sparse as sp
from scipy.linalg import LinAlgError, pinvh, solve_triangular
from scipy.linalg.blas import dtrmm, dtrsm

from ._factored import NotPositiveDefiniteError

try:  # NumPy >= 2
    from numpy._core.multiarray import _set_madvise_hugepage
except ImportError:
    try:
        from numpy.core.multiarray import _set_madvise_hugepage
    except ImportError:
        _set_madvise_hugepage = None

#: Passes over the data (blocks of test vectors) that one sketch takes.
PASSES = 8


def sketch(apply, p, exact_columns=(), n_random=0, seed=0, minus=None):
    """``W`` of shape ``(p, s)`` with ``0 <= W W^T <= A`` and ``W W^T`` exact
    on the columns ``exact_columns`` (see the module's docstring).

    Parameters
    ----------
    apply : callable
        ``apply(Omega, out)`` writes ``A @ Omega`` into ``out``, a view of
        the factor's columns, for ``Omega`` of shape ``(p, b)``: a CSR
        matrix for a block of unit vectors, an array for a block of random
        signs. Called at most :data:`PASSES` + 1 times
        (fewer for a small sketch), with blocks of ``s / PASSES`` columns.
    p : int
        Dimension of ``A``.
    exact_columns : sequence of int
        Coordinates whose unit vectors are test vectors.
    minus : sequence of int, default=None
        One coordinate per exact column, or -1: the test vector is then
        ``e_j - e_minus``. Where ``A`` is blind to ``e_j + e_minus`` (the
        common shift of two classes of a softmax), it still reproduces both
        columns ``j`` and ``minus`` exactly.
    n_random : int
        Number of test vectors of random signs; ``s = min(p,
        len(exact_columns) + n_random)`` in all.
    seed : int
        Seed of the random test vectors.

    Returns
    -------
    W : ndarray of shape (p, s)
    core : SketchCore or None
        What an exact update of the sketch needs (see
        :meth:`SketchCore.updated`); ``None`` for an empty sketch.
    """
    J = np.asarray(exact_columns, dtype=np.intp)
    s = min(p, len(J) + int(n_random))
    J = J[:s]
    e = len(J)
    minus = np.full(e, -1) if minus is None else np.asarray(minus, dtype=np.intp)[:e]
    Y, C = _sketch_columns(apply, p, J, minus, seed, s)
    if not s:
        return Y, None
    C[:e] = Y[J]
    paired = np.flatnonzero(minus >= 0)
    C[paired] -= Y[minus[paired]]
    C[e:, :e] = C[:e, e:].T
    # a non-finite entry of Y reaches the core (through the random rows,
    # or as a row J), checked here instead of a pass over Y, and in any case
    # the factor's squares, in the diagonal LowRankHessian checks
    if not np.all(np.isfinite(C)):
        raise NotPositiveDefiniteError(
            "The Hessian of the training objective has non-finite entries."
        )
    L, nu = _shifted_cholesky(0.5 * (C + C.T))
    # W^T = L^{-1} Y^T on the Fortran-ordered view Y^T, in place: the factor
    # takes the memory of Y
    WT = dtrsm(1.0, L, Y.T, side=0, lower=1, trans_a=0, overwrite_b=1)
    return WT.T, SketchCore(L, nu, J, minus, seed)


class SketchCore:
    """What an exact update of a sketch ``W = Y L^{-T}`` needs besides
    ``W``: the lower Cholesky factor ``L`` of its core ``Omega^T Y + nu I``,
    the shift ``nu``, and the test vectors ``Omega`` (the exact columns
    ``J``, their pairs ``minus`` and the random signs' seed), which are drawn
    again, never stored.

    A change ``A -> A + U diag(signs) U^T`` of the sketched matrix changes
    ``Y = A Omega`` by ``U diag(signs) U^T Omega`` and the core by
    ``Omega^T U diag(signs) U^T Omega``: :meth:`updated` gives the factor
    and core of the changed matrix, those a sketch of it with the same test
    vectors would give, with no trace of ``U`` (a row removed leaves ``Y``
    exactly; a projection of the change on the old factor's span would keep
    that span, which the removed rows helped shape).
    """

    def __init__(self, L, nu, J, minus, seed):
        self.L = np.asarray(L, dtype=np.float64)
        self.nu = float(nu)
        self.J = np.asarray(J, dtype=np.intp)
        self.minus = np.asarray(minus, dtype=np.intp)
        self.seed = int(seed)

    def renamed(self, old, new, rank):
        """``(core, T)``: the core with the exact coordinates ``old`` (and
        their pairs) named ``new``, the exact test vectors then taken in the
        order a fit takes them (increasing ``rank``, given for every
        coordinate), and the ``s x s`` matrix ``T`` that takes the factor to
        the new core's, ``W' = W T``.

        Both ``old`` and ``new`` must be coordinates where the sketched
        matrix is zero (no row holds them): their unit vectors give the same
        products, zero, and the random signs, zero on the exact coordinates,
        change only where the matrix is zero. Taking the test vectors in
        another order ``P`` takes ``Y`` to ``Y P`` and the shifted core to
        ``P^T L L^T P = L' L'^T``; ``T = L^T P L'^{-T}`` is orthogonal, so
        ``W' W'^T = W W^T``."""
        J, minus = self.J.copy(), self.minus.copy()
        for a, b in zip(np.asarray(old, dtype=np.intp), np.asarray(new, dtype=np.intp)):
            J[self.J == a] = b
            minus[self.minus == a] = b
        order = np.argsort(np.asarray(rank)[J], kind="stable")
        perm = np.r_[order, np.arange(len(order), len(self.L))]
        B = self.L[perm]
        L_new = np.linalg.cholesky(B @ B.T)
        T = solve_triangular(L_new, B, lower=True).T
        return SketchCore(L_new, self.nu, J[order], minus[order], self.seed), T

    def test_products(self, U, live):
        """``Omega^T U`` of shape ``(s, k)`` for ``U`` of shape ``(p, k)`` (an
        array or a CSR matrix) whose rows ``live`` hold its nonzeros: the
        unit vectors' rows of ``U``, and the random signs drawn again on
        ``live``."""
        s, e = self.L.shape[0], len(self.J)

        def rows_of(idx):
            return U[idx].toarray() if sp.issparse(U) else U[idx]

        out = np.zeros((s, U.shape[1]))
        out[:e] = rows_of(self.J)
        paired = np.flatnonzero(self.minus >= 0)
        out[paired] -= rows_of(self.minus[paired])
        if s > e:
            G = _sign_vectors(U.shape[0], self.J, self.seed, e, s, rows=live)
            out[e:] = G.T @ rows_of(live)
        return out

    def updated(self, W, U, signs, lines=None):
        """``(W', core')`` of ``A' = A + U diag(signs) U^T`` from ``W`` of ``A``:
        ``Y' = W L^T + U diag(signs) U^T Omega`` and ``W' = Y' L'^{-T}``, with
        ``L'`` the shifted Cholesky factor of the new core. ``O(p s^2)``
        (one product of ``W`` with an ``s x s`` matrix), and ``O(nnz(U) s)``
        for the rows.

        With ``lines`` (features no row holds any more), the sketch of ``P A'
        P``, ``P`` the projection off them, in the same product: with ``O``
        the rows ``lines`` of ``Omega`` and ``Y'_F`` those of ``Y'``, its core
        is ``C' - O^T Y'_F - Y'_F^T O + O^T A'_FF O`` and its ``Y'' = P (Y' -
        A'_{:F} O)``, exact but for ``A'``'s entries in the lines, taken from
        the Nystrom form ``Y' C'^+ Y'^T`` of the unshifted core (exact on the
        columns ``J``): ``A'_{:F} O = Y' M`` with ``M = C'^+ Y'_F^T O``. Then
        ``Omega^T Y'' = (C' - O^T Y'_F)(I - M)`` is the core exactly (the
        range of ``Y'_F^T O`` is ``C'``'s). The factor's form ``W' W'^T``
        would take the shift ``nu`` in: where the fold shifted the core far
        (a row leaving with more curvature than it entered with), the core
        and ``Omega^T Y''`` then differed along the lines' random signs,
        which named a multinomial model's emptied column."""
        if sp.issparse(U):
            U = sp.csr_matrix(U)
            live = np.unique(U.nonzero()[0])
        else:
            U = np.asarray(U)
            live = np.flatnonzero(np.any(U != 0, axis=1))
        # an overflow is refused just below, as a non-finite core
        with np.errstate(over="ignore", invalid="ignore"):
            OtU = self.test_products(U, live)
            core = self.L @ self.L.T - self.nu * np.eye(len(self.L))
            core = core + (OtU * signs) @ OtU.T
        if not np.all(np.isfinite(core)):
            raise NotPositiveDefiniteError(
                "The corrected Hessian has non-finite entries; retrain on the "
                "corrected data instead.")
        L_new, nu_new = _shifted_cholesky(0.5 * (core + core.T))
        # W' = W (L^T X) + U diag(signs) (Omega^T U)^T X with X = L'^{-T}, or
        # X = (I - M) L''^{-T} for the projection
        left, right = self.L.T, (OtU * signs[None, :]).T
        if lines is not None and len(lines):
            lines = np.asarray(lines, dtype=np.intp)
            units = sp.csr_matrix((np.ones(len(lines)), (lines, np.arange(len(lines)))),
                                  shape=(W.shape[0], len(lines)))
            O = self.test_products(units, lines).T
            U_F = U[lines].toarray() if sp.issparse(U) else U[lines]
            Y_F = W[lines] @ left + U_F @ right
            cross = Y_F.T @ O
            # (its eigenvalues below the round-off of the largest as zero)
            M = pinvh(0.5 * (core + core.T), check_finite=False) @ cross
            core = core - cross.T - cross + cross.T @ M
            if not np.all(np.isfinite(core)):
                raise NotPositiveDefiniteError(
                    "The corrected Hessian's sketch has non-finite entries; retrain "
                    "on the corrected data instead.")
            L_new, nu_new = _shifted_cholesky(0.5 * (core + core.T))
            keep = np.eye(len(M)) - M
            left, right = left @ keep, right @ keep
        T = solve_triangular(L_new, left.T, lower=True).T
        rows = solve_triangular(L_new, right.T, lower=True).T
        if not (np.all(np.isfinite(T)) and np.all(np.isfinite(rows))):
            # (finite small matrices give a finite factor, up to an overflow
            # that the new diagonal's check refuses)
            raise NotPositiveDefiniteError(
                "The corrected Hessian's sketch could not be factored; retrain "
                "on the corrected data instead.")
        with ordinary_pages():      # fresh memory, written once
            W_new = _times(W, T)
        if len(live):
            W_new[live] += np.asarray(U[live] @ rows)
        if lines is not None and len(lines):
            W_new[lines] = 0.0
        return W_new, SketchCore(L_new, nu_new, self.J, self.minus, self.seed)


def _times(W, T):
    """``W @ T`` as a new array. Where no projection follows, ``T = L^T
    L'^-T`` is upper triangular (``L``, ``L'`` lower; a forward substitution
    of a lower triangular right-hand side leaves exact zeros): then a copy
    of ``W`` multiplied in place by the BLAS's triangular product, half the
    flops (0.42 against 0.56 s for a 2^18 x 201 factor)."""
    if np.tril(T, -1).any() or not W.flags.c_contiguous:
        return W @ T
    W_new = W.copy()
    # W_new^T, Fortran-ordered, is multiplied from the left by T^T in place
    out = dtrmm(1.0, T, W_new.T, side=0, lower=0, trans_a=1, overwrite_b=1)
    if not np.shares_memory(out, W_new):     # a layout f2py copied
        W_new[...] = out.T
    return W_new


def nystrom(apply, p, rank, exact_columns=(), seed=0, minus=None):
    """The sketch as ``V diag(lam) V^T``: orthonormal ``V`` of shape (p, s)
    and non-negative ``lam`` (descending), from the factor of
    :func:`sketch` with ``rank`` random test vectors (a thin
    eigendecomposition through its ``s x s`` Gram matrix)."""
    W, _ = sketch(apply, p, exact_columns, rank, seed, minus)
    ev, Q = np.linalg.eigh(W.T @ W)
    keep = ev > ev.max(initial=0.0) * 1e-13
    order = np.argsort(ev[keep])[::-1]
    sigma = np.sqrt(ev[keep])[order]
    return W @ (Q[:, keep][:, order] / sigma), sigma**2


def _unit_vectors(p, J, minus, c0, c1):
    """Columns ``c0:c1`` (all below ``len(J)``) of ``Omega = [E_J, G]``: the
    unit vectors of ``J`` less those of ``minus``, as a CSR matrix."""
    units = np.arange(c0, c1)
    paired = units[minus[units] >= 0]
    rows = np.r_[J[units], minus[paired]]
    cols = np.r_[units, paired] - c0
    vals = np.r_[np.ones(len(units)), -np.ones(len(paired))]
    return sp.csr_matrix((vals, (rows, cols)), shape=(p, c1 - c0))


def _sign_vectors(p, J, seed, c0, c1, rows=None):
    """Columns ``c0:c1`` (all from ``len(J)`` on) of ``Omega = [E_J, G]``:
    vectors of random signs (Rademacher) of about unit norm, zero on ``J``,
    each drawn from its own seed (any block of them is drawn without the
    others, and the same at every draw); with ``rows``, only those rows,
    unpacked from the same bytes. Signs are drawn as bits: far cheaper than
    Gaussian draws (``RESULTS_sparse.md``), and as good a test matrix for
    the sketch."""
    n = p if rows is None else len(rows)
    bits = np.empty((c1 - c0, n), dtype=np.uint8)
    for c in range(c0, c1):
        raw = np.frombuffer(np.random.default_rng((seed, c)).bytes(-(-p // 8)),
                            dtype=np.uint8)
        if rows is None:
            bits[c - c0] = np.unpackbits(raw)[:p]
        else:
            # the bits np.unpackbits gives, big-endian within each byte
            bits[c - c0] = (raw[rows >> 3] >> (7 - (rows & 7))) & 1
    scale = 1.0 / np.sqrt(max(1, p - len(J)))
    G = np.empty((n, c1 - c0))
    np.multiply(bits.T, 2.0 * scale, out=G)
    G -= scale
    G[J if rows is None else np.isin(rows, J)] = 0.0
    return G


@contextmanager
def ordinary_pages():
    """Large arrays allocated in this context are on ordinary pages.

    NumPy asks the kernel for transparent huge pages for large arrays; where
    the kernel compacts memory to find them on first touch (THP ``defrag``
    set to ``madvise``, the default of many distributions), fresh memory
    costs several times as long to write as on ordinary pages. A sketch
    writes hundreds of MiB of fresh memory (the factor, and each block's
    products), once, then reads the factor in streams: huge pages buy it
    nothing (``RESULTS_sparse.md``). The switch is NumPy's own (the setting
    of ``NUMPY_MADVISE_HUGEPAGE``), restored on leaving; where it is missing
    nothing changes.
    """
    if _set_madvise_hugepage is None:
        yield
        return
    previous = _set_madvise_hugepage(False)
    try:
        yield
    finally:
        _set_madvise_hugepage(previous)


def _sketch_columns(apply, p, J, minus, seed, s):
    """``Y = A Omega`` of shape ``(p, s)``, block by block, and the core's
    rows of the random test vectors (``C``, the rest of it zero)."""
    e = len(J)
    # C order, as every product with a sparse matrix wants it (SciPy copies
    # a Fortran-ordered operand)
    Y = np.empty((p, s))
    # the core Omega^T Y: its random rows are taken with each block, while
    # its test vectors are at hand (G_b^T Y_a = G_b^T A G_a for the blocks
    # a <= b done so far, and their transposes); the rest are rows of Y
    C = np.zeros((s, s))
    step = max(8, -(-s // PASSES))
    # unit blocks apart from random ones: a sparse block of unit vectors
    # gathers the data's columns instead of a dense product
    starts = [*range(0, e, step), *range(e, s, step)]
    for c0, c1 in zip(starts, [*starts[1:], s]):
        if c1 <= e:
            apply(_unit_vectors(p, J, minus, c0, c1), Y[:, c0:c1])
            continue
        G = _sign_vectors(p, J, seed, c0, c1)
        apply(G, Y[:, c0:c1])
        part = G.T @ Y[:, e:c1]
        C[c0:c1, e:c1] = part
        C[e:c1, c0:c1] = part.T
        del G
    return Y, C


def _shifted_cholesky(C):
    """Lower Cholesky factor of ``C + nu I`` and ``nu``, the shift from the
    round-off of ``C``'s trace upwards until the factorisation succeeds (the
    core of a rank-deficient block, e.g. the multinomial intercepts' common
    shift, is singular).

    A core with a negative eigenvalue ``lam`` beyond round-off (a corrected
    matrix whose removed rows left with more curvature than they entered
    with) is shifted by at least ``2 |lam|``: a shift just past ``|lam|``
    would leave ``C + nu I`` nearly singular, and the factor ``Y L^{-T}``
    as large as that makes it (blocks of ``1e5`` where the data's are
    ``10``)."""
    s = C.shape[0]
    nu = np.finfo(float).eps * max(float(np.trace(C)), 1e-300)
    for attempt in range(12):
        try:
            return np.linalg.cholesky(C + nu * np.eye(s)), nu
        except LinAlgError:
            nu *= 100.0
            if not attempt and np.all(np.isfinite(C)):
                nu = max(nu, -2.0 * float(np.linalg.eigvalsh(C)[0]))
    raise NotPositiveDefiniteError(
        "The sketch of the Hessian could not be factored (its core matrix "
        "is far from positive semi-definite)."
    )
