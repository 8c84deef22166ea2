"""Ridge regression that unlearns exactly."""

import numpy as np
import scipy.sparse as sp
from sklearn.base import _fit_context
from sklearn.linear_model import Ridge
from sklearn.utils._param_validation import StrOptions
from sklearn.utils.validation import validate_data

from .._locks import fit_serialised, held_read
from .._request import UNLEARN_METHODS, check_training_weights
from ..base import UnlearnTags
from ..losses import HalfSquaredError
from ..solvers import LinearDesign, LinearObjective
from ._base import UnlearnableLinearMixin
from ._chunked import is_dask_collection


#: Largest :func:`_offset_ratio` at which the cache's factor solves the fit
#: (its matrix then at most about a hundred times worse conditioned than
#: the parent's centred one).
MAX_OFFSET_RATIO = 100.0


def _offset_ratio(H):
    """``sum_j m_j^2 / v_j`` over the feature columns of the data, ``m_j`` the
    weighted mean and ``v_j`` the weighted variance plus the penalty, read
    off the uncentred Hessian (intercept last): ``c_j^2 / (h_jj h - c_j^2)``
    with ``c`` the intercept's column and ``h`` its diagonal entry.
    ``inf`` for a column constant and unpenalised."""
    c, h = H[:-1, -1], H[-1, -1]
    spread = np.diag(H)[:-1] * h - c**2
    if np.any(spread <= 0):
        return np.inf
    return float(np.sum(c**2 / spread))


class UnlearnableRidge(UnlearnableLinearMixin, Ridge):
    """Ridge regression with exact closed-form unlearning.

    A drop-in :class:`~sklearn.linear_model.Ridge` whose objective
    ``sum_i s_i (y_i - x_i^T w - w_0)^2 + alpha ||w||^2`` is quadratic, so the
    second-order update of :meth:`unlearn` equals refitting on the corrected
    data up to round-off. Single and multi-target, dense or CSR input.

    Parameters
    ----------
    alpha, fit_intercept, copy_X, max_iter, tol, solver, random_state
        As in :class:`~sklearn.linear_model.Ridge`. ``alpha`` must be a single
        number.
    positive : bool, default=False
        Must be False: a constrained optimum has no closed-form update.
    hessian : {"auto", "dense", "low_rank"}, default="auto"
        How the cache keeps the Hessian: one factored ``p x p`` matrix shared
        by all targets (``"dense"``: exact updates), or a Nystrom sketch in
        ``O(p)`` memory for very wide data (``"low_rank"``: approximate updates,
        ``residual_bound_`` is ``inf``). ``"auto"`` is dense while the matrix
        holds at most ``8000**2`` entries; see :ref:`low-rank`.

    Attributes
    ----------
    coef_, intercept_, n_features_in_, feature_names_in_, n_iter_, solver_
        As in :class:`~sklearn.linear_model.Ridge`.
    unlearning_cache_ : :class:`~sklearn_unlearn.solvers.UnlearningCache`
        The factored Hessian ``2 (X^T S X + alpha I)`` (intercept row
        unpenalised) and the residual gradient. The data is not kept.

    See Also
    --------
    sklearn.linear_model.Ridge : The parent estimator.

    Notes
    -----
    ``n_iter_`` is ``None`` for the direct solvers, as in the parent, which
    scikit-learn's ``check_estimator`` exempts from
    ``check_non_transformer_estimators_n_iter`` by its name. Run the checks
    on this class with that one expected to fail:
    ``check_estimator(UnlearnableRidge(), expected_failed_checks={
    "check_non_transformer_estimators_n_iter": "n_iter_ is None"})``.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.datasets import load_diabetes
    >>> from sklearn.linear_model import Ridge
    >>> from sklearn_unlearn import UnlearnableRidge
    >>> X, y = load_diabetes(return_X_y=True)
    >>> reg = UnlearnableRidge(alpha=0.1).fit(X, y)
    >>> reg = reg.unlearn(X[:10], None, y[:10])   # delete ten rows
    >>> refit = Ridge(alpha=0.1).fit(X[10:], y[10:])
    >>> bool(np.allclose(reg.coef_, refit.coef_))
    True
    """

    # predict reads coef_ and intercept_ through it
    _decision_function = held_read(Ridge._decision_function)

    _parameter_constraints: dict = {
        **Ridge._parameter_constraints,
        "hessian": [StrOptions({"auto", "dense", "low_rank"})],
    }

    def __init__(
        self,
        *,
        alpha=1.0,
        fit_intercept=True,
        copy_X=True,
        max_iter=None,
        tol=1e-4,
        solver="auto",
        positive=False,
        random_state=None,
        hessian="auto",
    ):
        super().__init__(
            alpha=alpha,
            fit_intercept=fit_intercept,
            copy_X=copy_X,
            max_iter=max_iter,
            tol=tol,
            solver=solver,
            positive=positive,
            random_state=random_state,
        )
        self.hessian = hessian

    def _check_unlearnable(self):
        if self.positive:
            raise ValueError(
                "UnlearnableRidge does not support positive=True: the constrained "
                "optimum has no closed-form update."
            )
        if np.ndim(self.alpha) > 0 and np.size(self.alpha) > 1:
            raise ValueError(
                "UnlearnableRidge needs a single alpha for all targets; fit one "
                "model per target to use different penalties."
            )

    @_fit_context(prefer_skip_nested_validation=True)
    @fit_serialised
    def fit(self, X, y, sample_weight=None, fingerprint_key=None):
        """Fit the model and cache what unlearning needs.

        With ``solver="auto"`` or ``"cholesky"``, dense ``X`` and a dense
        Hessian, the parent would form and factor ``X^T S X + alpha I``, which
        the cache forms and factors anyway: the parameters are solved with
        the cache's factor instead, with the parent's checks and attributes
        (``solver_="cholesky"``, ``n_iter_=None``), unless the columns sit so
        far from their means that the uncentred matrix would lose digits the
        parent's centred solve keeps. Otherwise the parent's solver fits and
        the cache is made after it.

        Parameters
        ----------
        X : {array-like, sparse matrix, dask array, dask DataFrame} of shape \
(n_samples, n_features)
            Training data. A Dask collection is fitted on its cluster by
            Newton's method (see :ref:`cluster`).
        y : array-like of shape (n_samples,) or (n_samples, n_targets)
            Target values; a Dask array or Series with Dask ``X``.
        sample_weight : float or array-like of shape (n_samples,), default=None
            Weights of the samples.
        fingerprint_key : bytes, default=None
            A secret key: keep keyed fingerprints of the training rows
            (``row_fingerprints_``), against which requests are checked.

        Returns
        -------
        self : object
            The fitted estimator.
        """
        self._check_unlearnable()
        if is_dask_collection(X):
            return self._fit_dask(X, y, sample_weight, fingerprint_key)
        self._check_fit_arguments(X, sample_weight, fingerprint_key)
        if self.solver in ("auto", "cholesky") and not sp.issparse(X):
            # the parent's checks, as in Ridge.fit
            X, y = validate_data(self, X, y, dtype=[np.float64, np.float32],
                                 force_writeable=True, multi_output=True,
                                 y_numeric=True)
            if sample_weight is not None:
                # float64 even for float32 rows (Ridge rounds them to float32):
                # requests take weights as given, so a row leaves with the
                # weight it entered with, and the bound is about those weights
                sample_weight = check_training_weights(sample_weight, X)
            n_outputs = 1 if y.ndim == 1 else y.shape[1]
            objective = self._unlearn_objective(X.shape[1], n_outputs)
            if self._hessian_mode(objective) == "dense":
                self._fit_by_factor(X, y, sample_weight)
                self._keep_row_fingerprints(X, y, sample_weight, fingerprint_key)
                return self
        self._fit_parent(X, y, sample_weight)
        self._fit_unlearning_cache(X, y, sample_weight)
        self._keep_row_fingerprints(X, y, sample_weight, fingerprint_key)
        return self

    def _fit_by_factor(self, X, y, sample_weight):
        """The direct solve of ``solver="cholesky"``, by the cache's factor:
        the parameters start at zero coefficients and the targets' weighted
        mean as intercept, and the cache's polish solves for them (one step
        with the exact factor, then refinement to round-off, which it judges
        against the residuals at the start: those of the centred targets,
        as the parent's centred solve sees them).

        The parent solves on centred columns. The cache's matrix is not
        centred: columns far from their mean make it worse conditioned than
        the centred one by about ``1 + offset_ratio`` (see
        :func:`_offset_ratio`), and past ``MAX_OFFSET_RATIO`` the parent's
        solve is taken instead, with the cache's Hessian kept."""
        # the parent's shapes: one target (even as a column) has 1-d coef_
        one = y.ndim == 1 or y.shape[1] == 1
        self.coef_ = np.zeros(X.shape[1] if one else (y.shape[1], X.shape[1]),
                              dtype=X.dtype)
        if not self.fit_intercept:
            self.intercept_ = 0.0
        else:
            mean = np.average(y, axis=0, weights=sample_weight).astype(X.dtype)
            self.intercept_ = X.dtype.type(mean) if y.ndim == 1 else mean
        self._fit_unlearning_cache(X, y, sample_weight)
        hessians = self.unlearning_cache_.hessians
        if self.fit_intercept and _offset_ratio(hessians[0].matrix) > MAX_OFFSET_RATIO:
            self._fit_parent(X, y, sample_weight)
            self._fit_unlearning_cache(X, y, sample_weight, hessians=hessians)
            return
        self.n_iter_ = None
        self.solver_ = "cholesky"

    _adopted_class = Ridge

    def _unlearn_n_outputs(self, y_shape):
        return 1 if len(y_shape) == 1 else y_shape[1]

    def _init_fitted_attributes(self, n_features, y_shape):
        # the parent's shapes: one target (even as a column) has 1-d coef_
        one = len(y_shape) == 1 or y_shape[1] == 1
        self.coef_ = np.zeros(n_features if one else (y_shape[1], n_features))
        if not self.fit_intercept:
            self.intercept_ = 0.0
        else:
            self.intercept_ = np.float64(0.0) if len(y_shape) == 1 else np.zeros(y_shape[1])
        # the normal equations, solved with their Cholesky factor
        self.solver_ = "cholesky"

    def _chunked_n_iter(self, n_iter):
        return None             # as the parent's direct solvers

    def _unlearn_n_targets(self):
        return None if np.ndim(self.coef_) == 1 else np.shape(self.coef_)[0]

    def _unlearn_tags(self):
        dense = self.hessian != "low_rank"
        return UnlearnTags(certifiable=dense, exact=dense, residual_bound=dense,
                           methods=UNLEARN_METHODS, measures_residual=True,
                           feature_changes=dense)

    def _unlearn_objective(self, n_features, n_outputs):
        return LinearObjective(
            HalfSquaredError(), LinearDesign(self.fit_intercept),
            scale=2.0, l2=2.0 * float(np.ravel(self.alpha)[0]),
            penalize_intercept=False, n_features=n_features, n_outputs=n_outputs,
        )

    def _unlearn_targets(self, y, sample_weight):
        Y = np.asarray(y, dtype=np.float64)
        Y = Y.reshape(len(Y), -1)
        n = len(Y)
        return Y, sample_weight[:, None], sample_weight, np.zeros(n, dtype=int), 1
