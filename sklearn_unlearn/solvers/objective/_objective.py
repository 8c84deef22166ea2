"""The training objective of a linear model and the blocks of its Hessian.

``L(theta) = scale * sum_i s_i l(y_i, x_i^T theta) + 1/2 sum_j pen_j ||theta_j||^2
+ <B, theta>``

with ``x_i`` the augmented row (intercept column included), ``pen_j`` the L2
weight of parameter row ``j`` (zero for an unpenalised intercept) and ``B`` the
objective perturbation of certified removal (zero otherwise).

scikit-learn's generalised linear models minimise the weighted mean of the loss,
``(1 / W) sum_i s_i l_i + alpha / 2 ||w||^2`` with ``W = sum_i s_i``; times
``W`` that is the form above with the L2 weight ``alpha W``, which a request
that changes the total weight changes (``l2_per_weight``).
"""

import copy

import numpy as np

from ..hessian import _lowrank
from ..hessian._blockdiag import block_diagonal, feature_blocks
from ..hessian._columns import signed_squares
from ..hessian._factored import FactoredHessian
from ..hessian._lowrank import LowRankHessian
from ._operators import MatrixFreeMixin
from ..hessian._rows import RowCurvature
from ..hessian._sketch import ordinary_pages, sketch


class LinearObjective(MatrixFreeMixin):
    """Loss, penalty and design of one linear estimator.

    Parameters
    ----------
    loss : loss object from :mod:`sklearn_unlearn.losses`
    design : LinearDesign
    scale : float
        Multiplies the summed loss (``C`` for logistic and SVC, 2 for ridge).
    l2 : float
        Weight of the L2 penalty ``l2 / 2 * ||w||^2``.
    penalize_intercept : bool
        Whether the intercept row is penalised (liblinear's convention).
    n_features, n_outputs : int
        Number of features (without the intercept) and of outputs (columns of
        ``theta``).
    l2_per_weight : float, default=0.0
        L2 weight per unit of total sample weight, added to ``l2`` by
        :meth:`for_total_weight` (``alpha`` for a scikit-learn GLM).

    Examples
    --------
    The objective of a ridge regression ``sum_i (y_i - x_i^T w - w_0)^2 +
    alpha ||w||^2`` with ``alpha = 0.5``, its gradient and its Hessian:

    >>> import numpy as np
    >>> from sklearn_unlearn.losses import HalfSquaredError
    >>> from sklearn_unlearn.solvers import LinearDesign, LinearObjective
    >>> obj = LinearObjective(HalfSquaredError(), LinearDesign(True), scale=2.0,
    ...                       l2=1.0, penalize_intercept=False, n_features=1,
    ...                       n_outputs=1)
    >>> X, Y, S = np.array([[0.0], [1.0]]), np.array([[1.0], [3.0]]), np.ones((2, 1))
    >>> theta = np.zeros((2, 1))
    >>> print(obj.value(X, Y, S, theta))
    10.0
    >>> obj.gradient(X, Y, S, theta)
    array([[-6.],
           [-8.]])
    >>> hessians, _ = obj.hessian(X, Y, S, theta)
    >>> hessians[0].matrix
    array([[3., 2.],
           [2., 4.]])
    """

    #: See ``l2_per_weight`` above (a class default: objectives saved before
    #: it existed have none).
    l2_per_weight = 0.0

    def __init__(
        self, loss, design, *, scale, l2, penalize_intercept, n_features, n_outputs,
        l2_per_weight=0.0,
    ):
        self.loss = loss
        self.design = design
        self.scale = float(scale)
        self.l2 = float(l2)
        self.l2_per_weight = float(l2_per_weight)
        self.n_features = n_features
        self.n_outputs = n_outputs
        self.n_params = design.n_params(n_features)
        mask = np.ones(self.n_params)
        if design.fit_intercept and not penalize_intercept:
            mask[-1] = 0.0
        self._penalized = mask
        self.penalty = self.l2 * mask

    def for_total_weight(self, total_weight):
        """The objective of data of total sample weight ``total_weight``: its
        L2 weight is ``l2 + l2_per_weight * total_weight`` (this object when
        the penalty does not depend on the weight).

        Examples
        --------
        >>> from sklearn_unlearn.losses import HalfPoissonLoss
        >>> from sklearn_unlearn.solvers import LinearDesign, LinearObjective
        >>> obj = LinearObjective(HalfPoissonLoss(), LinearDesign(True), scale=1.0,
        ...                       l2=0.0, l2_per_weight=0.5, penalize_intercept=False,
        ...                       n_features=2, n_outputs=1)
        >>> obj.for_total_weight(10.0).penalty
        array([5., 5., 0.])
        """
        if not self.l2_per_weight:
            return self
        new = copy.copy(self)
        new.penalty = (self.l2 + self.l2_per_weight * float(total_weight)) * self._penalized
        return new

    # -- block structure -------------------------------------------------
    @property
    def block_columns(self):
        """Output columns of each independent Hessian block."""
        m = self.n_outputs
        if self.loss.coupled or self.loss.constant_curvature:
            return [np.arange(m)]
        return [np.array([j]) for j in range(m)]

    @property
    def null_basis(self):
        """The unidentifiable direction of a multinomial model's intercepts."""
        if not (self.loss.coupled and self.design.fit_intercept and self.penalty[-1] == 0):
            return None
        p, K = self.n_params, self.n_outputs
        v = np.zeros((p, K))
        v[-1] = 1.0 / np.sqrt(K)
        return v.ravel(order="F")[:, None]

    def _block_slices(self):
        """The columns of every block as slices: views, not copies, on the
        path of every request."""
        return [slice(cols[0], cols[-1] + 1) for cols in self.block_columns]

    def to_block(self, M, b):
        """The part of a ``(p, m)`` array that block ``b`` acts on."""
        if self.loss.coupled:
            return np.array(M, order="F").ravel(order="F")
        cols = self._block_slices()[b] if self.n_outputs > 1 else slice(None)
        return M[:, cols]

    def from_blocks(self, parts):
        if self.loss.coupled:
            return np.ascontiguousarray(
                parts[0].reshape((self.n_params, self.n_outputs), order="F"))
        if len(parts) == 1:
            return np.array(parts[0], dtype=np.float64).reshape(
                self.n_params, self.n_outputs)
        out = np.empty((self.n_params, self.n_outputs))
        for cols, part in zip(self._block_slices(), parts):
            out[:, cols] = part
        return out

    # -- values and gradients --------------------------------------------
    def value_and_gradient(self, X, Y, S, theta, B=None, *, return_predictor=False):
        """``(value(...), gradient(...))`` from one linear predictor (and the
        predictor, with ``return_predictor``)."""
        eta = self.design.predictor(X, theta)
        val = self.loss_sum(Y, S, eta)
        g = self.design.transpose_product(X, self.gradient_coefficients(Y, S, eta))
        val, g = self.penalized(val, g, theta, B)
        return (val, g, eta) if return_predictor else (val, g)

    def penalized(self, loss_sum, data_gradient, theta, B=None):
        """The objective's value and gradient from the data part of each (sums
        over the rows, which chunks of rows add up): the penalty and the
        noise added. ``data_gradient`` is updated in place."""
        val = loss_sum + 0.5 * (self.penalty[:, None] * theta**2).sum()
        data_gradient += self.penalty[:, None] * theta
        if B is not None:
            val += (B * theta).sum()
            data_gradient += B
        return val, data_gradient

    def value(self, X, Y, S, theta, B=None):
        val = self.loss_sum(Y, S, self.design.predictor(X, theta))
        val += 0.5 * (self.penalty[:, None] * theta**2).sum()
        if B is not None:
            val += (B * theta).sum()
        return val

    def loss_sum(self, Y, S, eta):
        """``scale * sum_i s_i l_i`` at the linear predictors ``eta``."""
        return self.scale * (S * self.loss.value(Y, eta)).sum()

    def gradient_coefficients(self, Y, S, eta):
        """``C`` with ``R.T @ C`` the gradient of :meth:`loss_sum` over the
        rows ``R`` whose predictors are ``eta``."""
        return self.scale * (S * self.loss.gradient(Y, eta))

    def gradient(self, X, Y, S, theta, B=None):
        eta = self.design.predictor(X, theta)
        g = self.design.transpose_product(X, self.gradient_coefficients(Y, S, eta))
        g += self.penalty[:, None] * theta
        if B is not None:
            g += B
        return g

    # -- Hessians ----------------------------------------------------------
    def _curvature_weights(self, Y, eta, S):
        """Per-sample weights of every Gram matrix the Hessian blocks need."""
        c = self.loss.curvature(Y, eta)
        if self.loss.coupled:
            iu = np.triu_indices(self.n_outputs)
            return self.scale * S[:, :1] * c[:, iu[0], iu[1]]
        if self.loss.constant_curvature:
            return self.scale * S[:, :1] * c[:, :1]
        return self.scale * S * c

    def assemble(self, grams):
        """Factored Hessian blocks from the data part of every Gram matrix
        they need (:meth:`data_grams`, summed over the rows): the penalty
        added."""
        p = self.n_params
        pen = np.diag(self.penalty)
        if self.loss.coupled:
            K = self.n_outputs
            H = np.zeros((K * p, K * p))
            for g, (k, l) in zip(grams, zip(*np.triu_indices(K))):
                H[k * p : (k + 1) * p, l * p : (l + 1) * p] = g
                H[l * p : (l + 1) * p, k * p : (k + 1) * p] = g
            for k in range(K):
                H[k * p : (k + 1) * p, k * p : (k + 1) * p] += pen
            return [FactoredHessian(H, self.null_basis)]
        return [FactoredHessian(g + pen) for g in grams]

    def hessian(self, X, Y, S, theta, *, gram_weights=None, mode="dense",
                rank=None, seed=0, eta=None):
        """Hessian blocks at ``theta``, and extra weighted Gram matrices.

        ``gram_weights`` of shape ``(n_samples, q)`` asks for the ``q`` matrices
        ``sum_i w_i x_i x_i^T`` from the same pass over the data (dense mode
        only).

        ``mode="low_rank"`` returns :class:`LowRankHessian` blocks: a Nystrom
        sketch of rank ``rank`` (plus the intercepts) of the data part, the
        exact remainder of its diagonal and the penalty. The intercepts and
        three quarters of the sketch's test vectors are unit vectors of the
        coordinates of largest curvature (the frequent words of text; for a
        multinomial block, differences of a feature's classes, see
        :meth:`_exact_vectors`): the sketch reproduces their columns exactly,
        with their coupling to every other coordinate. The rest are random
        signs. It costs ``O(nnz(X) r)`` in
        a few passes over ``X`` (:func:`~._sketch.sketch`), ``O(p
        r^2)`` besides, and ``O(p r)`` memory; no ``p x p`` matrix is formed.

        ``eta``, if given, is the linear predictor at ``theta`` (dense mode).
        """
        if mode == "low_rank":
            rank = _lowrank.DEFAULT_RANK if rank is None else rank
            with ordinary_pages():
                return [self._sketched_block(b, apply, diag, X, S, theta, rank, seed)
                        for b, (apply, diag) in enumerate(
                            self.data_operators(X, Y, S, theta))], None
        grams = self.data_grams(X, Y, S, theta, gram_weights=gram_weights, eta=eta)
        q = 0 if gram_weights is None else gram_weights.shape[1]
        if not q:
            return self.assemble(grams), None
        return self.assemble(grams[:-q]), grams[-q:]

    def _sketched_block(self, b, apply, diag, X, S, theta, rank, seed):
        """The low-rank Hessian of block ``b`` (see :meth:`hessian`)."""
        always = len(self._exact_columns(b))
        exact, minus = self._exact_vectors(b, diag, always + rank - rank // 4)
        W, core = sketch(apply, len(diag), exact, always + rank - len(exact),
                         seed=seed + b, minus=minus)
        signs = np.ones(W.shape[1])
        cross = None
        if self.loss.coupled and self.n_outputs > 1:
            # the factor's entries between each feature's classes, its
            # diagonal included, in one pass over it
            sketched = feature_blocks(W, signs, self.n_outputs)
            squares = block_diagonal(sketched)
            cross = self.class_cross(X, S, theta, sketched)
        else:
            squares = signed_squares(W, signs)
        remainder = np.maximum(diag - squares, 0.0)
        penalty = self._block_penalty(b)
        return LowRankHessian(remainder + penalty, W, signs,
                              self.null_basis, cross=cross, sketch_core=core,
                              squares=squares, penalty=penalty)

    def data_grams(self, X, Y, S, theta, *, gram_weights=None, eta=None,
                   curvature=True):
        """The Gram matrices of the dense Hessian blocks' data part at
        ``theta`` (without ``curvature``, none), then those of
        ``gram_weights``, from one pass over ``X``: sums over the rows, so
        chunks of rows add up to the whole (see :meth:`assemble`).

        Returns an array of shape ``(n_grams, n_params, n_params)``.
        """
        parts = []
        if curvature:
            if eta is None:
                eta = self.design.predictor(X, theta)
            parts.append(self._curvature_weights(Y, eta, S))
        if gram_weights is not None:
            parts.append(gram_weights)
        return self.design.weighted_grams(X, np.hstack(parts))

    # -- blocks and rows ---------------------------------------------------------
    def _block_penalty(self, b):
        if self.loss.coupled:
            return np.tile(self.penalty, self.n_outputs)
        return self.penalty

    def row_curvature(self, R, Y, weights, theta, eta=None, curvature=None):
        """Hessian change ``sum_i w_i curvature_i`` of a few rows, per block.

        Parameters
        ----------
        R : {ndarray, sparse matrix} of shape (k, p)
            Augmented rows, shared by the returned terms (not copied).
        Y : ndarray of shape (k, m)
        weights : ndarray of shape (k, 1) or (k, m)
            Signed sample weights (negative for rows leaving the data).
        theta : ndarray of shape (p, m)
            Where the curvature is evaluated.
        eta : ndarray of shape (k, m), default=None
            ``R @ theta``, if already computed.
        curvature : ndarray of shape (k, m), default=None
            The rows' curvature, when not the one at ``theta`` (rows leaving
            with the curvature they entered with).

        Returns
        -------
        list of RowCurvature, one per block.
        """
        w = self.scale * weights
        c = curvature
        if c is None:
            c = self.loss.curvature(Y, np.asarray(R @ theta) if eta is None else eta)
        if self.loss.coupled:
            return [RowCurvature(R, w[:, 0, None, None] * c)]
        return [RowCurvature(R, w[:, min(cols[0], w.shape[1] - 1)] * c[:, cols[0]])
                for cols in self.block_columns]
