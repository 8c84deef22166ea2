"""Closed-form unlearning shared by the linear estimators: the mixin that
gathers their verbs, and the requests."""

from dataclasses import replace

import numpy as np
import scipy.sparse as sp

from .._plausibility import ALARM_RATE, row_losses
from .._request import UNLEARN_METHODS, check_method, check_tau, plain
from .._warnings import warn_caller
from ..base import UnlearnerMixin
from ..solvers import NotPositiveDefiniteError, UnlearningWarning
from ..solvers.fit._chunks import column_mass
from ..solvers.hessian._factored import LostCurvatureError
from ..solvers.steps._coordinates import changed_coordinates
from ..solvers.steps._request_rows import RequestRows, find_edit
from ._adopt import ChunkedFitMixin
from ._feature_change import check_feature_change
from ._fit import CachedFitMixin
from ._forget import ForgetFeaturesMixin
from ._landing import judged_landing
from ._measured import MeasuredResidualMixin

class UnlearnableLinearMixin(CachedFitMixin, ChunkedFitMixin, MeasuredResidualMixin,
                             ForgetFeaturesMixin, UnlearnerMixin):
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

    def _request_targets(self, y, sample_weight):
        """:meth:`_unlearn_targets` of a request's rows, weighed as the fit
        weighed them (a classifier's "balanced" weights read the fit's labels,
        not the request's)."""
        return self._unlearn_targets(y, sample_weight)

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

    def _moved_attributes(self, theta, design):
        """:meth:`_theta_attributes`, with ``n_iter_`` of no iteration: the
        parameters a request or a refresh sets are not the parent solver's,
        whose count of iterations, taken with rows a request erased, would
        tell such rows apart."""
        return {**self._theta_attributes(theta, design),
                "n_iter_": self._chunked_n_iter(0)}

    def _published_parameters(self, attributes):
        return [attributes["coef_"], attributes.get("intercept_", 0.0)]

    def _set_theta(self, theta, design):
        self.__dict__.update(self._theta_attributes(theta, design))

    # -- fit -------------------------------------------------------------------
    def _check_unlearnable(self):
        """Refuse parameters whose objective cannot be unlearned."""

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
            ``tau``; no erasure: the residual it leaves, which the cache
            keeps, gives the removed rows back (see :ref:`persistence`).
            ``"refined"``: Newton iterations on the exact loss of the
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
            return self._request_targets(y, sw)[:4]

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
        change = None
        if feature_change is not None:
            # the rows are in the changed coordinates, where a feature shifted
            # is zero in no row
            cache, *change = changed_coordinates(cache, *feature_change)
        held = held_features(cache.zero_features, request.X_old)
        if held:
            # rows as they were before the features were forgotten: taking
            # them out would take out curvature and values no row has now
            raise ValueError(
                f"X_old holds values in the feature(s) at {list(held)}, which the "
                "model forgot (forget_features): every training row is zero there "
                "now. Give the rows as they are now (sklearn_unlearn.zero_features). "
                "Nothing was changed.")
        rows = self._encode_request(request)
        remaining = cache.remaining(rows)
        self._check_remaining_data(remaining.totals, remaining.counts)
        try:
            plan = cache.plan(rows, method=method, tau=tau, max_iter=max_iter,
                              remaining=remaining)
        except LostCurvatureError as exc:
            if rows.R_old.shape[0] and self.__dict__.get("row_fingerprints_") is None:
                raise
            if rows.R_old.shape[0]:
                # the rows matched the fit's fingerprints: the message's
                # first cause is ruled out
                raise LostCurvatureError(
                    "The corrected Hessian is not positive definite, and the rows "
                    "of X_old are training rows (their fingerprints match): the "
                    "model has moved so far since their curvature entered the "
                    "cache that taking it out where the model stands removes more "
                    "than the other rows hold (a Poisson row inserted and then "
                    "deleted, its predictor moved from -0.07 to 1.32). Nothing was "
                    "changed. Refit on the corrected data, or call refresh_cache "
                    "with the current rows first.") from exc
            # the message of a fold blames removed rows; this request has none
            raise NotPositiveDefiniteError(
                "The request adds rows only, but its step leaves the cache's model "
                "of the objective without positive curvature: the rows (their "
                "weights, values or targets, large against the training data's) "
                "move the model so far that the cached Hessian no longer "
                "describes the objective there. Nothing was changed. Refit on "
                "the corrected data.") from exc
        if change is not None:
            # the change of every row's features is part of the request's step
            plan.report = replace(plan.report,
                                  step_norm=plan.report.step_norm + change[0])
        # a certified removal accounts for the step with its bound, and
        # measures or retrains as that asks
        plan.report = replace(plan.report, change_error=judged_landing(
            cache, plan, change, warn=self._unlearn_owner is None))
        new_cache = cache.committed(plan)
        if cache.zero_features:
            held = held_features(cache.zero_features, request.X_new)
            new_cache = replace(new_cache, zero_features=tuple(
                j for j in cache.zero_features if j not in held))
        attrs = self._moved_attributes(new_cache.theta, new_cache.objective.design)
        attrs["unlearning_cache_"] = new_cache
        profile = self.__dict__.get("training_loss_profile_")
        if profile is not None:
            attrs["training_loss_profile_"] = self._judged_profile(profile, cache, rows)
        return attrs, plan.report

    def _judged_profile(self, profile, cache, rows):
        """Warn when the removed rows' losses are implausible for training
        rows; return the profile with the added rows in (``None`` once rows
        are removed)."""
        eta_old, eta_new = rows.predictors(cache.theta)
        v_old = row_losses(cache.objective, rows.Y_old, rows.S_old, eta_old)
        v_new = row_losses(cache.objective, rows.Y_new, rows.S_new, eta_new)
        if profile.flags(v_old):
            # the rows' own figures stay out of the message, which logs and
            # the warnings registry keep after the rows are gone
            warn_caller(UnlearningWarning(
                f"The {len(v_old)} rows of X_old have a summed loss above "
                f"{profile.threshold(len(v_old)):.3g} at the model's parameters, "
                "which as many training rows drawn at random exceed less than "
                f"{ALARM_RATE:.0%} of the time: check y_old and sample_weight "
                "(a wrong label or target, a missing weight) and that the rows were "
                "trained on. Fit with fingerprint_key to have every row checked."))
        if len(v_old):
            # the profile summed the removed rows' losses at the fitted
            # parameters; moved, it would keep a function of them and of the
            # model they were part of (rebase_residual_bound takes it again)
            return None
        return profile.after(v_old, v_new)

    def _group_name(self, g):
        """What group ``g`` of the cache's weight totals is, for messages."""
        names = getattr(self, "classes_", None)
        if names is None:
            return "the training data"
        return f"class {plain(names[g])!r}"

    def _check_removed_weight(self, totals, counts):
        """Refuse a request that takes from a group more than it holds."""
        cache = self.unlearning_cache_
        # exact sums: no slack, which a heavy class would lend a light one
        for g in range(len(totals)):
            if totals[g] < 0 or counts[g] < 0:
                what = self._group_name(g)
                raise ValueError(
                    f"The request removes more weight from {what} than the model "
                    f"was trained on ({cache.weight_totals[g]:.6g}). Check that the "
                    "rows, labels and sample_weight are those of the training data."
                )

    def _check_remaining_data(self, totals, counts):
        self._check_removed_weight(totals, counts)
        cache = self.unlearning_cache_
        for g in range(len(totals)):
            if counts[g] == 0 and cache.counts[g] > 0:
                raise ValueError(
                    f"The request removes every training row of {self._group_name(g)}; "
                    "the model cannot represent that without retraining."
                )
            if not totals[g] > 0:
                # the totals are exact: no rounding leaves a zero here
                raise ValueError(
                    f"The request leaves {self._group_name(g)} without weight (every row left "
                    "has sample_weight 0), which a fit on the corrected data "
                    "refuses. Nothing was changed."
                )

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


def held_features(features, X):
    """The ``features`` (positions) in which some row of ``X`` (dense or
    sparse, or ``None``) is not zero."""
    if X is None or not X.shape[0] or not features:
        return ()
    mass = column_mass(X[:, list(features)])
    return tuple(j for j, m in zip(features, mass) if m != 0)
