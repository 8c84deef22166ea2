"""The fit of the linear estimators: the parent's solver, then the cache."""

import numpy as np
import scipy.sparse as sp
from sklearn.base import _fit_context, clone
from sklearn.utils import check_array

from .._locks import fit_serialised
from .._plausibility import LossProfile
from .._request import check_training_weights
from .._warnings import warn_caller
from ..solvers import LowRankModeWarning, NotPositiveDefiniteError, UnlearningCache
from ._chunked import is_dask_collection
from ._noise import UNREACHED, check_noisy_minimum

#: ``hessian="auto"`` keeps dense Hessian blocks while their entries number
#: at most the square of this (8 * 8000**2 bytes, 512 MB, per matrix).
DENSE_HESSIAN_MAX_PARAMS = 8000


class CachedFitMixin:
    """``fit`` with the parent's solver, then the polish and the cache (mixin
    of :class:`~sklearn_unlearn.linear_model.UnlearnableLinearMixin`)."""

    @_fit_context(prefer_skip_nested_validation=True)
    @fit_serialised
    def fit(self, X, y, sample_weight=None, fingerprint_key=None):
        """Fit the model with the parent's solver and cache what unlearning needs.

        Parameters
        ----------
        X : {array-like, sparse matrix, dask array, dask DataFrame} of shape \
(n_samples, n_features)
            Training data. A Dask collection is fitted on its cluster (see
            :ref:`cluster`).
        y : array-like of shape (n_samples,) or (n_samples, n_targets)
            Target values (class labels for a classifier); a Dask array or
            Series with Dask ``X``.
        sample_weight : array-like of shape (n_samples,), default=None
            Weights of the samples.
        fingerprint_key : bytes, default=None
            A secret key: keep keyed fingerprints of the training rows
            (``row_fingerprints_``), against which requests are checked.

        Returns
        -------
        self : object
            The fitted estimator.

        Examples
        --------
        >>> from sklearn.datasets import load_iris
        >>> from sklearn_unlearn import UnlearnableLogisticRegression
        >>> X, y = load_iris(return_X_y=True)
        >>> clf = UnlearnableLogisticRegression(max_iter=1000).fit(X, y)
        >>> clf.unlearning_cache_.theta.shape     # 4 weights and the intercept, 3 classes
        (5, 3)
        """
        self._check_unlearnable()
        if is_dask_collection(X):
            return self._fit_dask(X, y, sample_weight, fingerprint_key)
        self._check_fit_arguments(X, sample_weight, fingerprint_key)
        self._fit_parent(X, y, sample_weight)
        self._fit_unlearning_cache(X, y, sample_weight)
        self._keep_row_fingerprints(X, y, sample_weight, fingerprint_key)
        return self

    def _fit_dask(self, X, y, sample_weight, fingerprint_key):
        """A fit by chunks of a Dask collection, with the rows' loss profile
        and, given a key, their fingerprints from its last pass."""
        return self._fit_by_chunks(X, y, sample_weight, fingerprint_key)

    def _fit_parent(self, X, y, sample_weight):
        """The scikit-learn parent's own fit."""
        super().fit(X, y, sample_weight=sample_weight)

    def _fit_unlearning_cache(self, X, y, sample_weight, hessians=None):
        """The cache of the training rows, and their loss profile
        (``training_loss_profile_``: the count, sum and sum of squares of
        their losses, by which a request's rows are judged plausible), from
        the same pass."""
        cache, profile = self._cache_of_rows(X, y, sample_weight, hessians=hessians)
        self.unlearning_cache_ = cache
        self.training_loss_profile_ = profile
        self._set_theta(cache.theta, cache.objective.design)
        self._new_unlearn_state()

    def _cache_of_rows(self, X, y, sample_weight, *, theta=None, hessians=None,
                       at_optimum=False, current=False):
        """The cache of the rows ``X`` (polished from ``theta``, by default
        the fitted parameters; with ``at_optimum``, its Hessian taken at the
        polished optimum, whatever the start) and their loss profile; the
        estimator is not changed. With ``current``, the rows are the model's
        current rows, weighed as its fit weighs them (else, a fit's)."""
        # the parent's fit (or the caller) has checked the values
        X = check_array(X, accept_sparse="csr", dtype=np.float64, order="C",
                        ensure_all_finite=False)
        if sp.issparse(X):
            X = X.tocsr()
        sample_weight = check_training_weights(sample_weight, X)
        encode = self._request_targets if current else self._unlearn_targets
        Y, S, row_weight, groups, n_groups = encode(y, sample_weight)
        totals = np.bincount(groups, weights=row_weight, minlength=n_groups)
        self._check_group_totals(totals)
        objective = self._unlearn_objective(X.shape[1], Y.shape[1])
        if theta is None:
            theta = self._get_theta(objective.design)
        noise = self._unlearn_noise(objective)
        check_noisy_minimum(objective, noise, totals)
        mode = self._hessian_mode(objective)
        if mode == "low_rank" and self.hessian == "auto":
            warn_caller(LowRankModeWarning.of(objective))
        try:
            cache, sums = UnlearningCache.from_fit(
                objective, X, Y, S, theta, noise=noise, groups=groups,
                n_groups=n_groups, row_weight=row_weight, mode=mode,
                bound=self._keeps_residual_bound(), hessians=hessians,
                dtype=np.asarray(self.coef_).dtype, return_sums=True,
                at_optimum=at_optimum,
            )
        except NotPositiveDefiniteError as exc:
            if noise is None:
                raise
            raise ValueError(UNREACHED) from exc
        return cache, LossProfile.from_sums(sums)

    def _cache_polished_from(self, X, y, sample_weight, theta, *, at_optimum=False):
        """:meth:`_cache_of_rows` of the model's current rows polished from
        ``theta``, or, where the curvature there cannot be factored (an
        update took the model far out, every row's curvature saturated),
        from the parent's fit on the rows, as a fit is; the estimator is not
        changed."""
        try:
            return self._cache_of_rows(X, y, sample_weight, theta=theta,
                                       at_optimum=at_optimum, current=True)
        except NotPositiveDefiniteError:
            fitted = clone(self)
            fitted._fit_parent(X, y, sample_weight)
            # polished and published as this model publishes (a float32
            # model's parameters are float32, the rows here float64)
            start = fitted._get_theta(self.unlearning_cache_.objective.design)
            return self._cache_of_rows(X, y, sample_weight, theta=start,
                                       at_optimum=at_optimum, current=True)

    def _check_group_totals(self, totals):
        """Refuse training data without weight on some class."""
        if len(totals) > 1 and np.any(totals <= 0):
            empty = np.asarray(self.classes_)[totals <= 0].tolist()
            raise ValueError(
                f"The training data has no weight on class(es) {empty}: with an "
                "unpenalised intercept the objective then has no finite optimum, "
                "so there is nothing to unlearn from. Give every class in "
                "classes_ a positive total sample weight."
            )

    def _hessian_mode(self, objective):
        """``"dense"`` or ``"low_rank"``, from the ``hessian`` parameter."""
        mode = self.hessian
        if mode != "auto":
            return mode
        entries = sum(
            (objective.n_params * (objective.n_outputs if objective.loss.coupled else 1)) ** 2
            for _ in objective.block_columns
        )
        return "dense" if entries <= DENSE_HESSIAN_MAX_PARAMS**2 else "low_rank"

    # -- unlearn ---------------------------------------------------------------
