"""Matrix-free products with the Hessian blocks of a linear objective: one
pass over the data per block of vectors, for the low-rank sketch and the
polish's Newton steps."""

import numpy as np
from scipy.special import softmax


class MatrixFreeMixin:
    """Exact products with the data part of every Hessian block, and the
    coordinates a sketch takes exactly (mixin of
    :class:`~sklearn_unlearn.solvers.LinearObjective`)."""

    @staticmethod
    def _heaviest_columns(diag, always, count):
        """``always`` plus the coordinates of largest positive ``diag``,
        ``count`` in all (fewer if fewer are positive)."""
        always = list(always)
        weight = diag.astype(float, copy=True)
        weight[always] = 0.0
        n_more = max(0, min(count - len(always), int(np.count_nonzero(weight > 0))))
        if not n_more:
            return always
        top = np.argpartition(weight, len(weight) - n_more)[len(weight) - n_more:]
        return always + np.sort(top).tolist()

    def _exact_vectors(self, b, diag, count):
        """About ``count`` test vectors of block ``b``'s sketch that make it
        exact on the intercepts' columns and those of largest curvature
        ``diag``: coordinates, and ``minus`` (see
        :func:`~._sketch.sketch`).

        A multinomial block's curvature is blind to a shift of one feature's
        weights common to all classes (the softmax is): the ``K`` unit
        vectors of a feature's classes span a ``K - 1`` dimensional image,
        so ``K - 1`` differences reproduce its ``K`` columns, and the same
        count of vectors covers ``K / (K - 1)`` times as many features.
        """
        if not self.loss.coupled or self.n_outputs < 2:
            return self._heaviest_columns(diag, self._exact_columns(b), count), None
        K, p = self.n_outputs, self.n_params
        always = [p - 1] if self.design.fit_intercept else []
        features = self._heaviest_columns(diag.reshape(K, p).sum(axis=0), always,
                                          max(1, count // (K - 1)))
        plus = [k * p + j for j in features for k in range(K - 1)]
        minus = [(K - 1) * p + j for j in features for k in range(K - 1)]
        return plus, minus

    def _exact_columns(self, b):
        if not self.design.fit_intercept:
            return []
        p = self.n_params
        if self.loss.coupled:
            return [k * p + p - 1 for k in range(self.n_outputs)]
        return [p - 1]

    def data_operators(self, X, Y, S, theta, *, with_diag=True):
        """Exact products with the data part of every Hessian block.

        Returns a list, one ``(apply, diag)`` per block: ``apply(V, out=None)``
        is the data part of the block times ``V`` of shape ``(p_b, s)`` (one
        pass over ``X``, ``O(nnz(X) s)``), written into ``out`` if given,
        ``diag`` its diagonal (``None`` unless ``with_diag``).
        """
        design = self.design
        eta = design.predictor(X, theta)
        transposed = design.transposed(X)
        if self.loss.coupled:
            w = self.scale * S[:, 0]
            K, p = self.n_outputs, self.n_params

            work = []

            def apply(V, out=None):
                # one pass over X for all s columns (the caller bounds s),
                # class by class on contiguous row blocks of V, into a
                # class-major array: no transposed copy of a (K p) x s array
                # and none of Z; each class's product written where it goes
                # (a sketch's factor). Z's memory is the largest block's,
                # reused (fresh memory is slow to map)
                s = V.shape[1]
                size = K * X.shape[0] * s
                if not work or work[0].size < size:
                    work[:] = [np.empty(size)]
                Z = work[0][:size].reshape(K, X.shape[0], s)
                for k in range(K):
                    Z[k] = design.predictor(X, V[k * p : (k + 1) * p])
                self.loss.curvature_product(None, eta, Z, w)
                if out is None:
                    out = np.empty((K * p, s))
                for k in range(K):
                    transposed(Z[k], out=out[k * p : (k + 1) * p])
                return out

            if not with_diag:
                return [(apply, None)]
            P = softmax(eta, axis=1)
            diag = design.weighted_squares(X, w[:, None] * P * (1.0 - P))
            return [(apply, diag.T.ravel())]

        W = self._curvature_weights(Y, eta, S)
        diags = design.weighted_squares(X, W) if with_diag else np.zeros((0, W.shape[1]))
        ops = []
        for b in range(W.shape[1]):
            wb = W[:, b]

            def apply(V, out=None, wb=wb):
                return transposed(wb[:, None] * design.predictor(X, V), out=out)

            ops.append((apply, diags[:, b] if with_diag else None))
        return ops

    def class_cross(self, X, S, theta, sketched):
        """The entries between the classes of each feature of a multinomial
        block's data part, less the sketch's (``sketched``, its per-feature
        ``K x K`` blocks), shape ``(q, K, K)`` (zero diagonal): what a
        diagonal remainder beside the sketch misses. Zero for an unpenalised
        intercept, which the sketch holds exactly (its block is singular
        along the classes' common shift; the diagonal shift of
        :class:`LowRankHessian` stands in for it)."""
        K = self.n_outputs
        P = softmax(self.design.predictor(X, theta), axis=1)
        w = self.scale * S[:, 0]
        pairs = [(k, l) for k in range(K) for l in range(k + 1, K)]
        data = self.design.weighted_squares(
            X, np.column_stack([-w * P[:, k] * P[:, l] for k, l in pairs]))
        cross = np.zeros_like(sketched)
        for c, (k, l) in enumerate(pairs):
            cross[:, k, l] = cross[:, l, k] = data[:, c] - sketched[:, k, l]
        cross[self.penalty == 0] = 0.0
        return cross

    def hessian_products(self, X, Y, S, theta):
        """Exact Hessian-vector products of every block at ``theta``."""
        out = []
        ops = self.data_operators(X, Y, S, theta, with_diag=False)
        for b, (apply, _) in enumerate(ops):
            pen = self._block_penalty(b)

            def hvp(v, apply=apply, pen=pen):
                V = v[:, None] if v.ndim == 1 else v
                r = apply(V) + pen[:, None] * V
                return r[:, 0] if v.ndim == 1 else r

            out.append(hvp)
        return out
