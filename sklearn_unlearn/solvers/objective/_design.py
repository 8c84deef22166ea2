"""The design of a linear model: features plus an optional intercept column.

Parameters are stored as ``theta`` of shape ``(n_features + fit_intercept,
n_outputs)``: one column per output, the last row the intercept weight. The
intercept column is never materialised, so sparse input stays sparse and
dense input is never copied.
"""

import numpy as np
import scipy.sparse as sp
from joblib import Parallel, delayed, effective_n_jobs

# Rows per block when a pass over the data forms dense temporaries: bounds
# the extra memory to about this many float64 values.
_BLOCK_VALUES = 2**22


# Values per block of a sparse product's result written into a given array:
# results of a few MiB come from memory the allocator reuses, while a whole
# ``p x s`` result is fresh memory each time, slower to map than to compute
# (``RESULTS_sparse.md``).
_OUT_BLOCK_VALUES = 2**19


def _row_blocks(n_samples, n_columns):
    step = max(1, _BLOCK_VALUES // max(1, n_columns))
    for start in range(0, n_samples, step):
        yield slice(start, min(n_samples, start + step))


class LinearDesign:
    """Features ``X`` with an implicit intercept column of value ``intercept_value``.

    Parameters
    ----------
    fit_intercept : bool
        Whether the model has an intercept column.
    intercept_value : float
        Value of the intercept column (``intercept_scaling`` for liblinear).

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_unlearn.solvers import LinearDesign
    >>> design = LinearDesign(fit_intercept=True)
    >>> X = np.array([[1.0, 2.0], [3.0, 4.0]])
    >>> theta = np.array([[1.0], [0.5], [-1.0]])    # two weights, then intercept
    >>> design.predictor(X, theta)
    array([[1.],
           [4.]])
    >>> design.augmented_rows(X)
    array([[1., 2., 1.],
           [3., 4., 1.]])
    """

    def __init__(self, fit_intercept, intercept_value=1.0):
        self.fit_intercept = bool(fit_intercept)
        self.intercept_value = float(intercept_value)

    def n_params(self, n_features):
        return n_features + int(self.fit_intercept)

    def predictor(self, X, theta):
        """Linear predictor ``X_aug @ theta``, shape ``(n_samples, n_outputs)``.

        ``theta`` may be a sparse matrix (a sketch's unit test vectors): the
        product then gathers ``X``'s columns in one pass, and is dense.
        """
        d = X.shape[1]
        if sp.issparse(theta):
            theta = sp.csr_matrix(theta)
            eta = X @ theta[:d]
            eta = eta.toarray() if sp.issparse(eta) else np.array(eta)
            if self.fit_intercept:
                eta += self.intercept_value * theta[d].toarray()
            return eta
        eta = np.asarray(X @ theta[:d])
        if self.fit_intercept:
            eta = eta + self.intercept_value * theta[d]
        return eta

    def transpose_product(self, X, R):
        """``X_aug.T @ R`` for ``R`` of shape ``(n_samples, n_outputs)``."""
        d = X.shape[1]
        if not self.fit_intercept:
            return np.asarray(X.T @ R)
        out = np.empty((d + 1,) + R.shape[1:])
        out[:d] = X.T @ R
        out[d] = self.intercept_value * R.sum(axis=0)
        return out

    def transposed(self, X):
        """A function ``(R, out=None) -> X_aug.T @ R`` for many products with
        one ``X``, written into ``out`` if given.

        A CSR ``X`` is transposed once, with its intercept row, into CSR
        form (12 bytes per stored value): its products gather the rows of
        ``R`` in order, faster than the scattered products of ``X.T`` (a CSC
        view), and are written into ``out`` by blocks of its rows (views of
        the transposed matrix, no copy). Dense ``X`` needs no copy.
        """
        if not sp.issparse(X):
            def dense_product(R, out=None):
                product = self.transpose_product(X, R)
                if out is None:
                    return product
                out[...] = product
                return out

            return dense_product
        XT = sp.csr_matrix(X.T)
        if self.fit_intercept:
            row = sp.csr_matrix(np.full((1, X.shape[0]), self.intercept_value))
            XT = sp.vstack([XT, row], format="csr")

        def sparse_product(R, out=None):
            # contiguous once: each block's product would copy it otherwise
            R = np.ascontiguousarray(R)
            if out is None:
                out = np.empty((XT.shape[0],) + R.shape[1:])
            step = max(1, _OUT_BLOCK_VALUES // max(1, R[0].size))
            for start in range(0, XT.shape[0], step):
                stop = min(XT.shape[0], start + step)
                lo, hi = XT.indptr[start], XT.indptr[stop]
                block = sp.csr_matrix(
                    (XT.data[lo:hi], XT.indices[lo:hi], XT.indptr[start:stop + 1] - lo),
                    shape=(stop - start, XT.shape[1]))
                out[start:stop] = block @ R
            return out

        return sparse_product

    def augmented_rows(self, X, sparse=False):
        """``X_aug`` of a few rows (a request), shape ``(k, n_params)``.

        ``X`` is a matrix, or a list of matrices whose rows are stacked into
        one array (a request's rows as they were and as they should be, in
        one allocation). Dense by default. With ``sparse=True`` a CSR matrix,
        the intercept column appended as ``k`` stored values: a sparse ``X``
        is never densified.
        """
        blocks = list(X) if isinstance(X, (list, tuple)) else [X]
        if sparse:
            Xs = sp.vstack([sp.csr_matrix(B, dtype=np.float64) for B in blocks],
                           format="csr")
            if self.fit_intercept:
                col = sp.csr_matrix(np.full((Xs.shape[0], 1), self.intercept_value))
                Xs = sp.hstack([Xs, col], format="csr")
            return Xs
        d = blocks[0].shape[1]
        out = np.empty((sum(B.shape[0] for B in blocks), self.n_params(d)))
        start = 0
        for B in blocks:
            stop = start + B.shape[0]
            out[start:stop, :d] = B.toarray() if sp.issparse(B) else B
            start = stop
        if self.fit_intercept:
            out[:, d] = self.intercept_value
        return out

    def row_norms(self, X):
        """Euclidean norm of every augmented row."""
        if sp.issparse(X):
            sq = np.asarray(X.multiply(X).sum(axis=1)).ravel()
        else:
            sq = np.einsum("ij,ij->i", X, X)
        if self.fit_intercept:
            sq = sq + self.intercept_value**2
        return np.sqrt(sq)

    def weighted_squares(self, X, weights):
        """Diagonals of ``X_aug.T @ diag(w) @ X_aug`` for every column ``w``.

        Returns an array of shape ``(n_params, n_weights)``; ``O(nnz(X))``,
        in row blocks (a sparse ``X`` is never densified).
        """
        n, d = X.shape
        out = np.zeros((self.n_params(d), weights.shape[1]))
        for rows in _row_blocks(n, d if not sp.issparse(X) else 1):
            Xb = X[rows]
            sq = Xb.multiply(Xb) if sp.issparse(Xb) else Xb * Xb
            out[:d] += np.asarray(sq.T @ weights[rows])
        if self.fit_intercept:
            out[d] = self.intercept_value**2 * weights.sum(axis=0)
        return out

    def weighted_grams(self, X, weights):
        """``X_aug.T @ diag(w) @ X_aug`` for every column ``w`` of ``weights``.

        One pass over ``X`` in blocks of bounded memory; the products are
        BLAS (dense) or sparse matrix products, never Python loops over rows.

        Parameters
        ----------
        X : ndarray or CSR matrix of shape (n_samples, n_features)
        weights : ndarray of shape (n_samples, n_weights)

        Returns
        -------
        grams : ndarray of shape (n_weights, n_params, n_params)
        """
        n, d = X.shape
        q = weights.shape[1]
        p = self.n_params(d)
        if not sp.issparse(X):
            return self._dense_grams(X, weights)
        grams = np.zeros((q, p, p))
        for rows in _row_blocks(n, d):
            Xb = X[rows]
            Wb = weights[rows]
            for j in range(q):
                w = Wb[:, j]
                XtW = (Xb.T.multiply(w)).tocsr()
                grams[j, :d, :d] += (XtW @ Xb).toarray()
                XtWv = np.asarray(XtW.sum(axis=1)).ravel()
                if self.fit_intercept:
                    c = self.intercept_value
                    grams[j, :d, d] += c * XtWv
                    grams[j, d, :d] += c * XtWv
                    grams[j, d, d] += c * c * w.sum()
        return grams

    def _dense_grams(self, X, weights):
        """:meth:`weighted_grams` of dense rows: symmetric rank-k updates of
        ``sqrt(|w|) X_aug`` (the intercept column included), the rows scaled
        into one reused buffer. NumPy's ``A.T @ A`` is such an update (half
        the flops of a general product) and, unlike SciPy's BLAS wrapper,
        releases the interpreter's lock. A weight column of mixed signs takes
        one update per sign.

        The rows are split between the jobs of the active joblib
        configuration (one job unless the caller sets ``n_jobs`` with
        :func:`joblib.parallel_config`), in threads.
        """
        n, d = X.shape
        q = weights.shape[1]
        p = self.n_params(d)
        parts = []
        for j in range(q):
            w = weights[:, j]
            if np.all(w >= 0):
                parts.append([(1.0, w)])
            elif np.all(w <= 0):
                parts.append([(-1.0, -w)])
            else:
                parts.append([(1.0, np.maximum(w, 0.0)), (-1.0, np.maximum(-w, 0.0))])
        n_jobs = max(1, min(effective_n_jobs(None), n // max(1, 2**20 // p)))
        bounds = np.linspace(0, n, n_jobs + 1).astype(int)
        chunks = [(self, X, parts, p, a, b) for a, b in zip(bounds[:-1], bounds[1:])]
        if n_jobs == 1:
            return _chunk_grams(*chunks[0])
        return sum(Parallel(n_jobs=n_jobs, prefer="threads")(
            delayed(_chunk_grams)(*c) for c in chunks))


def _chunk_grams(design, X, parts, p, first, last):
    """The weighted Gram matrices of rows ``first:last``."""
    d = X.shape[1]
    grams = np.zeros((len(parts), p, p))
    # a buffer of 8 MB: scaled, then read by the update while in cache
    step = max(1, 2**20 // p)
    buffer = np.empty((min(last - first, step), p))
    for start in range(first, last, step):
        rows = slice(start, min(last, start + step))
        Xb = X[rows]
        A = buffer[: Xb.shape[0]]
        for j, signed in enumerate(parts):
            for alpha, w in signed:
                root = np.sqrt(w[rows])
                # rows of zero weight (those of the other sign, a change
                # that leaves a row's weight as it was) take no part
                used = np.flatnonzero(root)
                if not len(used):
                    continue
                Xu, ru = (Xb, root) if len(used) == len(root) else (Xb[used], root[used])
                As = A[: len(ru)]
                np.multiply(Xu, ru[:, None], out=As[:, :d])
                if design.fit_intercept:
                    As[:, d] = design.intercept_value * ru
                if alpha > 0:
                    grams[j] += As.T @ As
                else:
                    grams[j] -= As.T @ As
    return grams
