"""The third derivatives of the training rows' loss, kept beside the cached
Hessian where the parameters are few: the cubic term of the cache's model of
the objective.

Along a step ``d`` the gradient of the rows that stay in the data moves by
``H d + 1/2 T[d, d] + O(||d||^3)``, with ``T = scale sum_i s_i l'''(eta_i)
x_i (x) x_i (x) x_i`` (``x_i`` the augmented row). A quadratic model of these
rows misses the second term, so no iteration on the request's own rows takes
the update closer to the refit than ``O(||d||^2)``; with ``T`` the model is
cubic and the error ``O(||d||^3)``. A long step of logistic regression (a
tenth of the parameters' norm) lands a hundred times closer.

``T`` is a sum over the rows, like the Hessian, and changes with it: the
rows a request removes leave it, and the rows it adds enter it, with their
third derivatives at the request's parameters (see
:class:`~sklearn_unlearn.solvers.UnlearningCache`). It holds ``p^3`` values
per Hessian block and costs ``O(n p^3)`` at fit and ``O(k p^3)`` per request
of ``k`` rows, so it is kept only for dense blocks of at most
:data:`MAX_PARAMS` parameters, of a loss whose curvature is smooth
(``loss.third_order``: binary logistic, the Tweedie family) and uncoupled.

The cubic model is trusted over a step while the change of curvature it
predicts there is at most half of the curvature in every direction
(:meth:`CubicTerm.trusted`); beyond,
the update falls back to the quadratic model. The residual bound does not
rely on ``T``: a residual estimate that includes the cubic term adds that
term's norm to the bound's increment.
"""

from dataclasses import replace

import numpy as np
import scipy.sparse as sp
from scipy.linalg import LinAlgError, cho_factor, cho_solve

from ._factored import FactoredHessian

#: ``T`` is kept for Hessian blocks of at most this many parameters: ``32**3``
#: values (0.26 MB) per block, and ``n p^3 / 2`` operations at fit.
MAX_PARAMS = 32
# rows per product: an ``(rows, p (p + 1) / 2)`` buffer of at most 2.2 MB
_BLOCK_ROWS = 512


def keeps_third(obj, exact):
    """Whether a cache of ``obj`` with exact (dense) Hessian blocks keeps ``T``."""
    return (exact and obj.loss.third_order and not obj.loss.coupled
            and obj.n_params <= MAX_PARAMS)


def _weights(obj, Y, S, eta):
    """``scale s_i l'''(eta_i)`` per row, one array per Hessian block."""
    c = obj.scale * S * obj.loss.third_derivative(Y, eta)
    return [c[:, cols[0]] for cols in obj.block_columns]


def _add_rows(out, R, weights):
    """``out[b] += sum_i w_bi r_i (x) r_i (x) r_i`` over the rows ``R``: one
    product with the pairwise products of each row's entries (``j <= l``;
    the tensor is symmetric)."""
    k, p = R.shape
    upper = np.triu_indices(p)
    sums = [np.zeros((p, len(upper[0]))) for _ in out]
    # one buffer for every block of rows, formed in place row by row of the
    # transpose: a gather of columns copies element by element, and a fresh
    # temporary of this size is mapped page by page (each ten times slower)
    buffer = np.empty((len(upper[0]), min(k, _BLOCK_ROWS)))
    for start in range(0, k, _BLOCK_ROWS):
        B = R[start:start + _BLOCK_ROWS]
        B = B.toarray() if sp.issparse(B) else np.asarray(B, dtype=np.float64)
        BT = np.ascontiguousarray(B.T)
        pairs = buffer[:, :BT.shape[1]]
        first = 0
        for j in range(p):
            np.multiply(BT[j], BT[j:], out=pairs[first:first + p - j])
            first += p - j
        for part, w in zip(sums, weights):
            part += (BT * w[start:start + _BLOCK_ROWS]) @ pairs.T
    # both halves of every block (the diagonal pairs once)
    below = upper[0] != upper[1]
    for T, part in zip(out, sums):
        T[:, upper[0], upper[1]] += part
        T[:, upper[1][below], upper[0][below]] += part[:, below]
    return out


def fit_tensors(obj, X, Y, S, eta):
    """``T`` of every block over the training rows ``X`` (not augmented) at
    their predictors ``eta``."""
    p = obj.n_params
    weights = _weights(obj, Y, S, eta)
    out = [np.zeros((p, p, p)) for _ in weights]
    for start in range(0, X.shape[0], _BLOCK_ROWS):
        rows = slice(start, start + _BLOCK_ROWS)
        _add_rows(out, obj.design.augmented_rows(X[rows]), [w[rows] for w in weights])
    return out


def changed(obj, tensors, R, Y, S, eta, sign):
    """The tensors plus ``sign`` times those of the augmented rows ``R``
    (a request's), as new arrays."""
    out = [T.copy() for T in tensors]
    if R.shape[0]:
        _add_rows(out, R, [sign * w for w in _weights(obj, Y, S, eta)])
    return out


def _pairs(obj, tensors, d):
    """``T_b[d_b, d_b]`` of every block as a ``(p, m)`` array."""
    parts = []
    for b, T in enumerate(tensors):
        v = np.ravel(obj.to_block(d, b))
        p = len(v)
        parts.append((T.reshape(p, p * p) @ np.outer(v, v).ravel())[:, None])
    return obj.from_blocks(parts)


def along(T, v):
    """``T[v]``, the change of curvature along ``v`` (a ``p x p`` matrix)."""
    p = len(v)
    return (T.reshape(p * p, p) @ v).reshape(p, p)


class CubicTerm:
    """The cubic term of a model: ``tensors`` (one per block, of the rows
    the model covers) and the Hessian blocks ``hessians`` it is judged
    against (formed densely on first use)."""

    def __init__(self, obj, tensors, hessians):
        self.obj, self.tensors, self._hessians = obj, tensors, hessians
        self._floors = None

    def value(self, d):
        """``1/6 T[d, d, d]``."""
        return float((d * _pairs(self.obj, self.tensors, d)).sum()) / 6.0

    def gradient(self, d):
        """``1/2 T[d, d]``: the cubic term's share of the gradient after ``d``."""
        return 0.5 * _pairs(self.obj, self.tensors, d)

    def trusted(self, d):
        """Whether the cubic model holds over ``d``: in every block, the change
        of curvature ``T[d]`` it predicts is at most half of the curvature
        in every direction (``H / 2 - T[d]`` and ``H / 2 + T[d]`` are
        positive definite: two Cholesky factorisations)."""
        if self._floors is None:
            self._floors = [0.5 * H.matrix for H in self._hessians]
        for b, (T, half) in enumerate(zip(self.tensors, self._floors)):
            change = along(T, np.ravel(self.obj.to_block(d, b)))
            try:
                cho_factor(half - change, lower=True)
                cho_factor(half + change, lower=True)
            except (LinAlgError, ValueError):
                return False
        return True

    def hessians_after(self, d):
        """The Hessian blocks plus ``T[d]``, factored: the model's Hessian
        after the step ``d`` (where it holds)."""
        out = []
        for b, (T, H) in enumerate(zip(self.tensors, self._hessians)):
            M = H.matrix + along(T, np.ravel(self.obj.to_block(d, b)))
            out.append(FactoredHessian(0.5 * (M + M.T), H.null_basis))
        return out

    def direction(self, blocks, d, g):
        """``-(B + T[d])^-1 g`` per block for the Hessian blocks ``blocks``
        (``None`` where one is not positive definite)."""
        obj, parts = self.obj, []
        for b, (T, B) in enumerate(zip(self.tensors, blocks)):
            v = np.ravel(obj.to_block(d, b))
            try:
                factor = cho_factor(B.matrix + along(T, v), lower=True)
            except LinAlgError:
                return None
            parts.append(-cho_solve(factor, np.ravel(obj.to_block(g, b)))[:, None])
        return obj.from_blocks(parts)


def after_request(obj, cubic, r, eta_new, hessians, step, drift, *, follow):
    """The cubic term of the corrected data (the request's new rows enter it
    at the request's parameters, their predictors ``eta_new``), its Hessian
    blocks and the drift bounds, from the cubic term of the rows that stay
    (``cubic``, or ``None``).

    With ``follow`` (the cache no longer bounds the Hessian's error after a
    change of the features) the blocks follow ``step`` on the cubic model,
    to the Hessian at the new parameters, where the model holds; a bounded
    error needs every row's curvature where it entered, so otherwise they
    stay. The rule depends on the cache, not on whether the request has a
    bound: a model fitted without the bound's Gram matrices takes the same
    steps.
    """
    if cubic is None:
        return None, hessians, drift
    third = changed(obj, cubic.tensors, r.R_new, r.Y_new, r.S_new, eta_new, 1.0)
    after = CubicTerm(obj, third, hessians)
    if not follow or not after.trusted(step):
        return third, hessians, drift
    return third, after.hessians_after(step), replace(drift, hessian_error=np.inf)


def mapped(tensors, A, block_map):
    """The tensors after every augmented row changes by ``x' = A x``
    (``block_map(A, size)`` the map on a block of ``size`` parameters)."""
    out = []
    for T in tensors:
        Ab = block_map(A, len(T))
        out.append(np.einsum("abc,ia,jb,kc->ijk", T, Ab, Ab, Ab, optimize=True))
    return out
