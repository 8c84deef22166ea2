"""Fit-time caching and closed-form unlearning shared by the linear estimators."""

import warnings

import numpy as np
import scipy.sparse as sp
from sklearn.base import _fit_context, is_classifier
from sklearn.utils import check_array, column_or_1d
from sklearn.utils.class_weight import compute_class_weight
from sklearn.utils.validation import check_is_fitted

from .._locks import serialised
from .._plausibility import ALARM_RATE, LossProfile, row_losses
from .._request import UNLEARN_METHODS, check_method, check_tau
from ..base import UnlearnerMixin
from ..solvers import (
    LowRankModeWarning,
    NotPositiveDefiniteError,
    UnlearningCache,
    UnlearningWarning,
)
from ..solvers._coordinates import changed_coordinates
from ..solvers._request_rows import RequestRows, find_edit
from ._adopt import ChunkedFitMixin
from ._chunked import ChunkPass, is_dask_collection, row_chunks, unpack_chunk
from ._feature_change import check_feature_change, feature_positions, forgotten_state
from ._noise import UNREACHED, check_noisy_minimum

#: ``hessian="auto"`` keeps dense Hessian blocks while their entries number
#: at most the square of this (8 * 8000**2 bytes, 512 MB, per matrix).
DENSE_HESSIAN_MAX_PARAMS = 8000


class UnlearnableLinearMixin(ChunkedFitMixin, UnlearnerMixin):
    """Closed-form unlearning for a scikit-learn linear estimator (mixin).

    The estimator it is mixed into fits with its parent's solver; this mixin
    then polishes the solution to the exact optimum with Newton steps and
    caches what :meth:`unlearn` needs (see
    :class:`~sklearn_unlearn.solvers.UnlearningCache`). Subclasses say which
    objective their parent minimises and how targets and weights are encoded.

    Examples
    --------
    Every estimator of the package is built on it:

    >>> from sklearn_unlearn import UnlearnableRidge
    >>> from sklearn_unlearn.linear_model import UnlearnableLinearMixin
    >>> issubclass(UnlearnableRidge, UnlearnableLinearMixin)
    True
    """

    # -- hooks for subclasses ---------------------------------------------------
    def _unlearn_objective(self, n_features, n_outputs):  # pragma: no cover
        raise NotImplementedError

    def _unlearn_targets(self, y, sample_weight):  # pragma: no cover
        """Return ``Y`` (n, m), weights ``S`` (n, 1 or m), row weights (n,),
        groups (n,) and the number of groups."""
        raise NotImplementedError

    def _unlearn_check_request(self, request):
        """Refuse requests the cache cannot handle exactly."""

    def _unlearn_noise(self, objective):
        return None

    def _keeps_residual_bound(self):
        """Whether the cache keeps what the residual bound needs."""
        return True

    def _get_theta(self, design):
        coef = np.atleast_2d(np.asarray(self.coef_, dtype=np.float64))
        d = coef.shape[1]
        theta = np.zeros((design.n_params(d), coef.shape[0]))
        theta[:d] = coef.T
        if design.fit_intercept:
            theta[d] = np.ravel(self.intercept_) / design.intercept_value
        return theta

    def _theta_attributes(self, theta, design):
        """``coef_`` and ``intercept_`` of ``theta``, in the fitted dtypes and
        shapes, without setting them."""
        d = theta.shape[0] - int(design.fit_intercept)
        coef_dtype = np.asarray(self.coef_).dtype
        coef = theta[:d].T.astype(coef_dtype, copy=True)
        attrs = {"coef_": coef.reshape(np.shape(self.coef_))}
        if design.fit_intercept:
            icpt = (design.intercept_value * theta[d]).astype(coef_dtype)
            if np.ndim(self.intercept_) == 0:
                attrs["intercept_"] = (float(icpt[0]) if isinstance(self.intercept_, float)
                                       else icpt[0])
            else:
                attrs["intercept_"] = icpt.reshape(np.shape(self.intercept_))
        return attrs

    def _published_parameters(self, attributes):
        return [attributes["coef_"], attributes.get("intercept_", 0.0)]

    def _set_theta(self, theta, design):
        self.__dict__.update(self._theta_attributes(theta, design))

    # -- fit -------------------------------------------------------------------
    def _check_unlearnable(self):
        """Refuse parameters whose objective cannot be unlearned."""

    @_fit_context(prefer_skip_nested_validation=True)
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
        self._fit_parent(X, y, sample_weight)
        self._fit_unlearning_cache(X, y, sample_weight)
        self._fit_loss_profile(X, y, sample_weight)
        self._keep_row_fingerprints(X, y, sample_weight, fingerprint_key)
        return self

    def _fit_dask(self, X, y, sample_weight, fingerprint_key):
        """A fit by chunks of a Dask collection, with the rows' loss profile
        and, given a key, their fingerprints from its last pass."""
        return self._fit_by_chunks(X, y, sample_weight, fingerprint_key)

    def _fit_loss_profile(self, X, y, sample_weight):
        """``training_loss_profile_``: the count, sum and sum of squares of
        the training rows' losses at the fitted parameters, by which a
        request's rows are judged plausible (``sklearn_unlearn._plausibility``)."""
        X = check_array(X, accept_sparse="csr", dtype=np.float64)
        n = X.shape[0]
        sw = np.ones(n) if sample_weight is None else np.broadcast_to(
            np.asarray(sample_weight, dtype=np.float64).ravel(), (n,))
        Y, S = self._unlearn_targets(y, sw)[:2]
        cache = self.unlearning_cache_
        eta = cache.objective.design.predictor(X, cache.theta)
        self.training_loss_profile_ = LossProfile.of(
            row_losses(cache.objective, Y, S, eta))

    def _fit_parent(self, X, y, sample_weight):
        """The scikit-learn parent's own fit."""
        super().fit(X, y, sample_weight=sample_weight)

    def _fit_unlearning_cache(self, X, y, sample_weight, hessians=None):
        # the parent's fit has checked the values (finite, the right shape)
        X = check_array(X, accept_sparse="csr", dtype=np.float64, order="C",
                        ensure_all_finite=False)
        if sp.issparse(X):
            X = X.tocsr()
        if sample_weight is None:
            sample_weight = np.ones(X.shape[0])
        else:
            sample_weight = np.asarray(sample_weight, dtype=np.float64).ravel()
            if sample_weight.shape[0] != X.shape[0]:
                sample_weight = np.broadcast_to(sample_weight, X.shape[0]).copy()
        Y, S, row_weight, groups, n_groups = self._unlearn_targets(y, sample_weight)
        totals = np.bincount(groups, weights=row_weight, minlength=n_groups)
        self._check_class_totals(totals)
        objective = self._unlearn_objective(X.shape[1], Y.shape[1])
        theta = self._get_theta(objective.design)
        noise = self._unlearn_noise(objective)
        check_noisy_minimum(objective, noise, totals)
        mode = self._hessian_mode(objective)
        if mode == "low_rank" and self.hessian == "auto":
            warnings.warn(LowRankModeWarning.of(objective), stacklevel=4)
        try:
            cache = UnlearningCache.from_fit(
                objective, X, Y, S, theta, noise=noise, groups=groups,
                n_groups=n_groups, row_weight=row_weight, mode=mode,
                bound=self._keeps_residual_bound(), hessians=hessians,
                dtype=np.asarray(self.coef_).dtype,
            )
        except NotPositiveDefiniteError as exc:
            if noise is None:
                raise
            raise ValueError(UNREACHED) from exc
        self.unlearning_cache_ = cache
        self._set_theta(cache.theta, objective.design)
        self._new_unlearn_state()

    def _check_class_totals(self, totals):
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
    def unlearn(self, X_old, X_new, y_old=None, y_new=None, *, sample_weight=None,
                fingerprint_key=None, method="auto", tau="auto", max_iter=10,
                feature_change=None):
        """Move the model to where retraining on the corrected data would put it.

        The training data set ``D`` becomes ``(D minus the rows X_old) plus the
        rows X_new``, and the parameters take a closed-form step computed from
        the cache made at fit time and from the affected rows alone.

        Parameters
        ----------
        X_old : {array-like, sparse matrix} of shape (k, n_features) or None
            The affected rows as they were trained on. ``None`` inserts
            ``X_new`` as new rows.
        X_new : {array-like, sparse matrix} of shape (k, n_features) or None
            The same rows as they should be (row ``i`` corrects row ``i`` of
            ``X_old``). ``None`` deletes the rows of ``X_old``.
        y_old : array-like of shape (k,) or (k, n_targets), default=None
            Targets of ``X_old`` as trained on. Required unless inserting.
        y_new : array-like of shape (k,) or (k, n_targets), default=None
            Corrected targets; ``None`` keeps ``y_old``.
        sample_weight : array-like of shape (k,), default=None
            Training weights of the affected rows (a corrected row keeps its
            weight). ``None`` means weight 1.
        fingerprint_key : bytes, default=None
            The key the model was fitted with, if any: the rows of ``X_old``
            must then be training rows (:class:`~sklearn_unlearn.base.MissingRowsError`).
        method : {"auto", "second_order", "first_order", "refined"}, default="auto"
            ``"second_order"``: one Newton step with the Hessian of the
            corrected data. ``"first_order"``: a gradient step of rate
            ``tau``. ``"refined"``: Newton iterations on the exact loss of the
            new rows plus the cached quadratic model of the others; its first
            iteration is the second-order step. ``"auto"``: the second-order
            step, followed by refined iterations when the gradient the
            request's new rows give after it says one step is poor (see
            :ref:`auto_method`); the report's ``method`` says which was taken.
            Ridge's step is exact: ``"auto"`` is its second-order step.
        tau : float or "auto", default="auto"
            Rate of the first-order step. ``"auto"`` takes the step that
            minimises the cached quadratic model along the gradient,
            ``tau = G^T G / G^T H G``, which never moves away from the
            corrected optimum of that model.
        max_iter : int, default=10
            Iterations of ``method="refined"``.
        feature_change : tuple (scale, shift) of arrays of shape (n_features,), \
default=None
            Every row's features (trained on, requested, future) change by
            ``z' = scale * z + shift`` before the request, as when a scaler in
            front of the model is unlearned: the model first moves to the
            refit on the changed features (one Newton step for the changed
            penalty, exact for ridge), then takes the request, whose rows are
            given in the new features. ``residual_bound_`` is then ``inf``.
            Only where the tags say ``feature_changes``.

        Returns
        -------
        self : object
            The updated estimator. On any error it is left exactly as it was.
            An estimator that is the final step of a
            :class:`~sklearn_unlearn.certified.CertifiedRemoval` refuses the
            request (``ValueError``): requests go through the meta-estimator.

        Examples
        --------
        The four kinds of request, on a ridge regression (which unlearns
        exactly):

        >>> import numpy as np
        >>> from sklearn.datasets import load_diabetes
        >>> from sklearn_unlearn import UnlearnableRidge, zero_features
        >>> X, y = load_diabetes(return_X_y=True)
        >>> reg = UnlearnableRidge(alpha=0.1).fit(X, y)
        >>> reg = reg.unlearn(X[:10], zero_features(X[:10], [2]), y[:10])  # features
        >>> reg = reg.unlearn(X[10:20], X[10:20], y[10:20], y[10:20] + 1)  # targets
        >>> reg = reg.unlearn(X[20:30], None, y[20:30])                    # deletion
        >>> reg = reg.unlearn(None, X[20:25], y_new=y[20:25])              # insertion
        >>> len(reg.unlearn_history_)
        4

        The result equals a refit on the corrected data:

        >>> from sklearn.linear_model import Ridge
        >>> X_fixed, y_fixed = X.copy(), y.copy()
        >>> X_fixed[:10, 2] = 0
        >>> y_fixed[10:20] += 1
        >>> keep = np.r_[0:20, 30:len(y), 20:25]
        >>> refit = Ridge(alpha=0.1).fit(X_fixed[keep], y_fixed[keep])
        >>> bool(np.allclose(reg.coef_, refit.coef_))
        True
        """
        return super().unlearn(X_old, X_new, y_old, y_new, sample_weight=sample_weight,
                               fingerprint_key=fingerprint_key, method=method, tau=tau,
                               max_iter=max_iter, feature_change=feature_change)

    def _unlearn_options(self, method="auto", tau="auto", max_iter=10,
                         feature_change=None):
        check_method(self, method, UNLEARN_METHODS)
        check_tau(tau)
        if not (isinstance(max_iter, (int, np.integer)) and max_iter >= 1):
            raise ValueError(f"max_iter must be a positive integer, got {max_iter!r}.")
        options = {"method": method, "tau": tau, "max_iter": max_iter}
        if feature_change is not None:
            if self.__dict__.get("row_fingerprints_") is not None:
                raise ValueError(
                    "This model keeps fingerprints of its training rows as they "
                    "were before the change of features: after it no row would "
                    "match them, and they would keep the rows' old values. Fit "
                    "without fingerprint_key to unlearn a step before this model. "
                    "Nothing was changed."
                )
            options["feature_change"] = check_feature_change(self, feature_change)
        return options

    def _encode_request(self, request):
        cache = self.unlearning_cache_
        design = cache.objective.design
        p, m = cache.theta.shape
        # Sparse rows stay sparse with low-rank Hessian blocks, whose updates
        # then cost O(nnz) instead of O(p) per row; dense blocks take dense
        # rows.
        sparse = not cache.exact_hessian and any(
            sp.issparse(X) for X in (request.X_old, request.X_new))

        def targets(X, y, sw):
            if X is None:
                return (np.zeros((0, m)), np.zeros((0, 1)), np.zeros(0),
                        np.zeros(0, dtype=int))
            return self._unlearn_targets(y, sw)[:4]

        sw = request.sample_weight
        old = targets(request.X_old, request.y_old, sw)
        new = targets(request.X_new, request.y_new, sw)
        edit = None if sparse else find_edit(request.X_old, request.X_new, p)
        if edit is not None:
            # the new rows are the old ones plus the edit: not stored
            values = request.X_new[:, edit[0]]
            values = values.toarray() if sp.issparse(values) else np.asarray(values, float)
            return RequestRows(design.augmented_rows(request.X_old), len(old[0]),
                               *old, *new, edit=edit, edit_values=values)
        blocks = [X for X in (request.X_old, request.X_new) if X is not None]
        return RequestRows(design.augmented_rows(blocks, sparse=sparse), len(old[0]),
                           *old, *new)

    def _unlearned_state(self, request, *, method, tau, max_iter, feature_change=None):
        """The attributes after a validated request and its report, computed
        without changing the estimator: the new cache and parameters."""
        self._unlearn_check_request(request)
        cache = self.unlearning_cache_
        if feature_change is not None:
            cache, _ = changed_coordinates(cache, *feature_change)
        rows = self._encode_request(request)
        remaining = cache.remaining(rows)
        self._check_remaining_data(*remaining)
        plan = cache.plan(rows, method=method, tau=tau, max_iter=max_iter,
                          remaining=remaining)
        new_cache = cache.committed(plan)
        attrs = self._theta_attributes(new_cache.theta, new_cache.objective.design)
        attrs["unlearning_cache_"] = new_cache
        profile = self.__dict__.get("training_loss_profile_")
        if profile is not None:
            attrs["training_loss_profile_"] = self._judged_profile(profile, cache, rows)
        return attrs, plan.report

    def _judged_profile(self, profile, cache, rows):
        """Warn when the removed rows' losses are implausible for training
        rows; return the profile with the request's rows moved."""
        eta_old, eta_new = rows.predictors(cache.theta)
        v_old = row_losses(cache.objective, rows.Y_old, rows.S_old, eta_old)
        v_new = row_losses(cache.objective, rows.Y_new, rows.S_new, eta_new)
        if profile.flags(v_old):
            warnings.warn(UnlearningWarning(
                f"The {len(v_old)} rows of X_old have a summed loss of "
                f"{v_old.sum():.3g} at the model's parameters, where as many "
                "training rows drawn at random exceed "
                f"{profile.threshold(len(v_old)):.3g} less than "
                f"{ALARM_RATE:.0%} of the time: check y_old and sample_weight "
                "(a wrong label or target, a missing weight) and that the rows were "
                "trained on. Fit with fingerprint_key to have every row checked."
            ), stacklevel=4)
        return profile.after(v_old, v_new)

    def _check_remaining_data(self, totals, counts):
        cache = self.unlearning_cache_
        tol = 1e-9 * max(cache.weight_totals.sum(), 1.0)
        names = getattr(self, "classes_", None)
        for g in range(len(totals)):
            what = f"class {names[g].tolist()!r}" if names is not None else "the training data"
            if totals[g] < -tol or counts[g] < 0:
                raise ValueError(
                    f"The request removes more weight from {what} than the model "
                    f"was trained on ({cache.weight_totals[g]:.6g}). Check that the "
                    "rows, labels and sample_weight are those of the training data."
                )
            if counts[g] == 0 and cache.counts[g] > 0:
                raise ValueError(
                    f"The request removes every training row of {what}; the "
                    "model cannot represent that without retraining."
                )

    def rebase_residual_bound(self, X, y=None, sample_weight=None, *, copy=False):
        """Measure the gradient residual on the current training data and
        start ``residual_bound_`` again from it.

        The bound of a model that has unlearned requests adds up each
        request's bound. With the training data at hand it can instead be
        measured: ``g``, the gradient of the corrected objective at the
        current parameters, computed in one pass over ``X`` in chunks, and
        ``a``, a bound on the rounding of that computation (the one the fit
        uses). The bound becomes ``||g|| + a``, and later requests add to
        that. The parameters do not change.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features) or iterable
            The model's current training data: the fit's rows after every
            request. The bound is only as true as these rows are; their count
            and total weight per class are checked against the cache's. With
            ``y=None``, an iterable of ``(X, y)`` or ``(X, y, sample_weight)``
            chunks of them (read once).
        y : array-like of shape (n_samples,) or (n_samples, n_targets), default=None
            Their targets (``None`` with chunks).
        sample_weight : array-like of shape (n_samples,), default=None
            Their weights.
        copy : bool, default=False
            Measure into a shallow copy and return it, leaving this estimator
            as it is.

        Returns
        -------
        self or a copy : object

        Examples
        --------
        >>> from sklearn.datasets import load_breast_cancer
        >>> from sklearn.preprocessing import scale
        >>> from sklearn_unlearn import UnlearnableLogisticRegression
        >>> X, y = load_breast_cancer(return_X_y=True)
        >>> X = scale(X)
        >>> clf = UnlearnableLogisticRegression().fit(X, y)
        >>> for i in range(0, 100, 10):
        ...     clf = clf.unlearn(X[i:i + 10], None, y[i:i + 10])
        >>> accumulated = clf.residual_bound_
        >>> clf = clf.rebase_residual_bound(X[100:], y[100:])
        >>> bool(clf.residual_bound_ < accumulated)
        True
        """
        check_is_fitted(self, "unlearning_cache_")
        if not copy:
            self._check_not_owned()
        return serialised(self, lambda: self._rebased(X, y, sample_weight, copy))

    def _rebased(self, X, y, sample_weight, copy):
        cache = self.unlearning_cache_
        chunk_pass = ChunkPass(self, cache.objective, self.n_features_in_,
                               len(cache.counts),
                               self.classes_ if is_classifier(self) else None)
        chunks = (X if y is None else row_chunks(X, y, sample_weight))
        sums = None
        for chunk in chunks:
            part = chunk_pass(*unpack_chunk(chunk), cache.theta, {})
            sums = part if sums is None else sums + part
        if (sums is None or not np.array_equal(sums.counts, cache.counts)
                or not np.allclose(sums.weight_totals, cache.weight_totals,
                                   rtol=1e-9, atol=0.0)):
            given = (0, 0.0) if sums is None else (int(sums.counts.sum()),
                                                   float(sums.weight_totals.sum()))
            raise ValueError(
                f"The rows given are {given[0]} of total weight {given[1]:.6g}, but "
                f"the model's current training data has {int(cache.counts.sum())} "
                f"rows of total weight {float(cache.weight_totals.sum()):.6g} (by "
                "class: counts and weights must match too): pass the fit's rows "
                "after every request. Nothing was changed."
            )
        measured = cache.measured(sums)
        if not np.isfinite(measured.residual_bound):
            raise ValueError(
                "The measured residual has no finite rounding bound (the rows "
                "overflow the arithmetic, or the loss's curvature is unbounded); "
                "nothing was changed."
            )
        return self._with_state({"unlearning_cache_": measured}, copy)

    def forget_features(self, features):
        """Retrain, in closed form, as if ``features`` were zero in every row.

        No data is needed: the weights of the features are set to zero on the
        cached quadratic model of the objective, their rows and columns of the
        cached Hessian keep only the penalty (nothing of what the training
        rows held in these columns is left), and one Newton step takes the
        other parameters to the optimum without them: exactly for ridge, to
        second order otherwise. ``residual_bound_`` is then ``inf``.

        Parameters
        ----------
        features : int, str or sequence of them
            Positions, or names of ``feature_names_in_``.

        Returns
        -------
        self : object
            On any error it is left exactly as it was.

        Examples
        --------
        >>> import numpy as np
        >>> from sklearn.datasets import load_diabetes
        >>> from sklearn.linear_model import Ridge
        >>> from sklearn_unlearn import UnlearnableRidge, zero_features
        >>> X, y = load_diabetes(return_X_y=True)
        >>> reg = UnlearnableRidge(alpha=0.1).fit(X, y).forget_features([2, 8])
        >>> refit = Ridge(alpha=0.1).fit(zero_features(X, [2, 8]), y)
        >>> bool(np.allclose(reg.coef_, refit.coef_)), reg.coef_[2]
        (True, np.float64(0.0))
        """
        self._check_not_owned()
        self._checked_options({})
        positions = feature_positions(self, features)

        if self.__dict__.get("row_fingerprints_") is not None:
            raise ValueError(
                "This model keeps fingerprints of its training rows, digests of "
                "rows that hold the values of these features: forgetting the "
                "features without the rows would leave the digests. Refit on the "
                "rows with the features zeroed (with a new fingerprint_key). "
                "Nothing was changed."
            )

        def work():
            attrs, _ = forgotten_state(self, positions)
            # the losses of the rows were taken with the forgotten values
            attrs["training_loss_profile_"] = None
            return self._with_state(attrs)

        return serialised(self, work)

    @property
    def residual_bound_(self):
        """Upper bound on the gradient residual of the current model.

        ``||grad L(theta; D)||`` for the corrected training data ``D``,
        computed from the cache alone (``inf`` when the loss admits no bound,
        as the squared hinge). Zero residual means ``theta`` is exactly what
        retraining would give.
        """
        return self.unlearning_cache_.residual_bound

    @property
    def unlearn_history_(self):
        """The :class:`~sklearn_unlearn.base.RequestReport` of every request."""
        return self.unlearning_cache_.history


class UnlearnableClassifierMixin(UnlearnableLinearMixin):
    """Target encoding of linear classifiers: binary, multinomial or one-vs-rest."""

    # "multinomial" (coupled softmax) or "ovr" (one binary problem per class)
    _multiclass_scheme = "multinomial"
    _chunked_classifier = True

    def _chunk_classes(self):
        if isinstance(self.class_weight, str):
            raise ValueError(
                "class_weight='balanced' depends on the class counts of the whole "
                "data, which a fit by chunks does not see at once: fix the weights "
                "with a dict (see sklearn.utils.class_weight.compute_class_weight).")
        return self.classes_

    def _unlearn_n_outputs(self, y_shape):
        return 1 if len(self.classes_) == 2 else len(self.classes_)

    def _class_weights(self, y_index):
        if self.class_weight is None:
            return np.ones(len(self.classes_))
        if isinstance(self.class_weight, str):
            # "balanced": the weights of the fitted model, kept fixed.
            return compute_class_weight(
                self.class_weight, classes=np.arange(len(self.classes_)), y=y_index
            )
        return np.array([self.class_weight.get(c, 1.0) for c in self.classes_])

    def _unlearn_targets(self, y, sample_weight):
        if not (isinstance(y, np.ndarray) and y.ndim == 1):     # validated already
            y = column_or_1d(y, warn=False)
        idx = np.searchsorted(self.classes_, y)
        cw = self._class_weights(idx)
        n, K = len(y), len(self.classes_)
        row_weight = sample_weight * cw[idx]
        if K == 2:
            Y = np.where(idx == 1, 1.0, -1.0)[:, None]
            S = row_weight[:, None]
        elif self._multiclass_scheme == "multinomial":
            Y = np.zeros((n, K))
            Y[np.arange(n), idx] = 1.0
            S = row_weight[:, None]
        else:
            Y = np.where(idx[:, None] == np.arange(K), 1.0, -1.0)
            # liblinear weighs the positive class of each binary problem only.
            S = sample_weight[:, None] * np.where(Y > 0, cw[None, :], 1.0)
        return Y, S, row_weight, idx, K

    def _unlearn_check_request(self, request):
        if isinstance(self.class_weight, str) and self.class_weight == "balanced":
            raise ValueError(
                "class_weight='balanced' makes every sample's weight depend on the "
                "class counts, so any deletion or label change reweights the whole "
                "training set and cannot be undone from the cache. Fit with the "
                "weights fixed instead, e.g. class_weight=dict(zip(classes, "
                "compute_class_weight('balanced', classes=classes, y=y))), or retrain."
            )
