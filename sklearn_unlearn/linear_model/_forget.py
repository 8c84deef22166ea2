"""Whole features forgotten in every row, from the cache alone."""

import functools
from dataclasses import replace

import numpy as np
from sklearn.utils.validation import validate_data

from .._fingerprints import fingerprints_replaced
from .._plausibility import LossProfile
from .._report import RequestReport
from .._request import check_sparse_structure
from ..edits import zero_features
from ._chunked import check_zeroed_view, is_dask_collection
from ._feature_change import (feature_positions, forgotten_state, recorded_state,
                              warn_inaccurate_change)
from ._measured import (bound_kept_if_verified, check_current_rows, measured_current,
                        rows_verified)


class ForgetFeaturesMixin:
    """:meth:`forget_features`, for the linear estimators (mixin of
    :class:`~sklearn_unlearn.linear_model.UnlearnableLinearMixin`)."""

    def forget_features(self, features, X=None, y=None, sample_weight=None, *,
                        fingerprint_key=None):
        """Retrain as if ``features`` were zero in every row.

        No data is needed: the weights of the features are set to zero on the
        cached model of the objective, their rows and columns of the cached
        Hessian keep only the penalty (nothing of what the training rows held
        in these columns is left), and Newton steps take the other parameters
        to the optimum of the model without them: exactly for ridge;
        otherwise as close as the model holds over the step (cubic where the
        cache keeps its third derivatives, quadratic beyond).
        ``residual_bound_`` is then ``inf``.

        With the current training rows ``X``, ``y`` (the fit's rows after
        every request), the model is moved to the exact optimum: Newton
        steps on the rows with the features zeroed, from the update above,
        and the cache is made again from them, as a fit on them would make
        it (``residual_bound_`` then measured on them, as
        :meth:`rebase_residual_bound` measures it). Their count and total
        weight per class are checked against the cache's, their second
        moments against its Gram matrices, the moment of their targets
        against its own, and their gradient at the model's
        parameters against the cached residual (within its error bound, when
        that is finite: rows with other targets are refused), as
        :meth:`rebase_residual_bound` checks them; nothing of the rows is
        kept. Rows that do not
        fit in memory are read chunk by chunk, from a Dask array (reduced on
        its cluster) or an iterable of chunks: one pass for the check, then
        one per Newton step.

        Parameters
        ----------
        features : int, str or sequence of them
            Positions, or names of ``feature_names_in_``.
        X : {array-like, sparse matrix, dask array, dask DataFrame} or \
iterable, default=None
            The current training rows, with the features' values (they are
            zeroed here), of shape ``(n_samples, n_features)``, or a
            re-iterable (e.g. a list) of chunks ``(X_chunk, y_chunk)`` or
            ``(X_chunk, y_chunk, sample_weight_chunk)`` whose rows together
            are those rows; ``None`` forgets from the cache alone. The
            rows are checked as :meth:`refresh_cache` checks them, and the
            bound measured on them likewise only where the model's
            fingerprints verify them, ``inf`` otherwise.
        y : array-like of shape (n_samples,) or (n_samples, n_targets), \
default=None
            Their targets (needed with ``X`` unless it is an iterable of
            chunks).
        sample_weight : array-like of shape (n_samples,), default=None
            Their weights.
        fingerprint_key : bytes, default=None
            The key of a model fitted with ``fingerprint_key``: its
            fingerprints are digests of rows that hold the features' values,
            so it forgets them only with its training rows in memory, which
            must be exactly the fingerprinted ones, and which are
            fingerprinted again with the features zeroed (nothing of the old
            digests stays).

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

        Logistic regression reaches the refit with the training rows:

        >>> from sklearn.linear_model import LogisticRegression
        >>> from sklearn_unlearn import UnlearnableLogisticRegression
        >>> high = y > np.median(y)
        >>> clf = UnlearnableLogisticRegression().fit(X, high)
        >>> clf = clf.forget_features([2, 8], X, high)
        >>> refit = LogisticRegression(tol=1e-10).fit(zero_features(X, [2, 8]), high)
        >>> bool(np.allclose(clf.coef_, refit.coef_, atol=1e-6))
        True
        """
        self._check_forget(X, y, sample_weight, fingerprint_key)
        positions = feature_positions(self, features)
        return self._serialised(lambda: self._apply(self._plan_forget(
            positions, X, y, sample_weight, fingerprint_key), False))

    def plan_forget_features(self, features, X=None, y=None, sample_weight=None, *,
                             fingerprint_key=None):
        """The plan of :meth:`forget_features`, computed without changing
        anything (parameters as there).

        Its report has every figure of the request; the history keeps fewer
        (:meth:`~sklearn_unlearn.base.RequestReport.kept`). Apply it with
        :meth:`apply_unlearn`, on the state it was planned on.

        Returns
        -------
        plan : UnlearningPlan

        Examples
        --------
        >>> from sklearn.datasets import load_breast_cancer
        >>> from sklearn.preprocessing import scale
        >>> from sklearn_unlearn import UnlearnableLogisticRegression
        >>> X, y = load_breast_cancer(return_X_y=True)
        >>> clf = UnlearnableLogisticRegression().fit(scale(X), y)
        >>> plan = clf.plan_forget_features(0)
        >>> round(plan.report.step_norm, 2), plan.report.change_error < 1e-3
        (0.4, True)
        >>> clf.apply_unlearn(plan).unlearn_history_[-1].change_error is None
        True
        """
        self._check_forget(X, y, sample_weight, fingerprint_key)
        positions = feature_positions(self, features)
        return self._serialised(lambda: self._plan_forget(
            positions, X, y, sample_weight, fingerprint_key))

    def _check_forget(self, X, y, sample_weight, fingerprint_key=None):
        """Refuse a :meth:`forget_features` this model cannot take: made on
        a model another one owns, after its parameters changed, or with rows
        in a form it cannot read."""
        self._check_not_owned()
        self._checked_options({})
        chunked = X is not None and (is_dask_collection(X) or y is None)
        if (X is None and (y is not None or sample_weight is not None)) or (
                chunked and hasattr(X, "shape") and (y is None or not is_dask_collection(X))):
            raise ValueError("Give both the training rows X and their targets y (or X "
                             "as an iterable of (X, y) chunks), or neither. Nothing "
                             "was changed.")
        fingerprinted = self.__dict__.get("row_fingerprints_") is not None
        if (fingerprinted or fingerprint_key is not None) and (X is None or chunked):
            raise ValueError(
                "This model keeps fingerprints of its training rows, digests of "
                "rows that hold the values of these features: forgetting the "
                "features without the rows would leave the digests. Pass the "
                "training rows in memory with the fingerprint_key, to have them "
                "fingerprinted again with the features zeroed. Nothing was changed."
            )

    def _plan_forget(self, positions, X=None, y=None, sample_weight=None,
                     fingerprint_key=None):
        """The plan of :meth:`forget_features` (rows checked by
        :meth:`_check_forget`), which it applies at once and a pipeline
        applies to its final step as it commits its own state."""
        attrs, report = self._forgotten_attributes(positions, X, y, sample_weight,
                                                   fingerprint_key)
        # rows given as the current ones later must be zero there
        zero = sorted({*self.unlearning_cache_.zero_features, *map(int, positions)})
        attrs["unlearning_cache_"] = replace(attrs["unlearning_cache_"],
                                             zero_features=tuple(zero))
        return self._state_plan(attrs, report)

    def _forgotten_attributes(self, positions, X, y, sample_weight, fingerprint_key):
        chunked = X is not None and (is_dask_collection(X) or y is None)
        zero = functools.partial(zero_features, columns=positions)
        if chunked:
            # checked before any pass: readable again, weights in the chunks
            source = self._chunk_source(X, y, sample_weight, zero)
        like = None
        if X is not None:
            # the rows as they are, before their columns are zeroed, at the
            # parameters the cache holds: the model's rows, or refused
            old = self.unlearning_cache_
            if chunked:
                # chunks are read again by the update: its passes must read
                # the rows checked here (compared with their sums zeroed,
                # taken in the same pass, or computed again from a Dask graph)
                sums, like = self._current_sums(X, y, sample_weight, zero)
                check_zeroed_view(sums, like, positions)
            else:
                sums = self._current_sums(X, y, sample_weight)
            fingerprinted = not chunked and (
                self.__dict__.get("row_fingerprints_") is not None)
            measured_current(old, sums, verified=fingerprinted)
            verified = rows_verified(old, fingerprinted)
        try:
            attrs, report = forgotten_state(self, positions)
        except ValueError:
            if X is None:
                raise
            # the cache cannot take the step without the rows (its curvature
            # is not positive definite); the rows polish from the current
            # parameters with the features' weights at zero
            attrs, report = self._unstepped_forget(positions)
        if X is None:
            warn_inaccurate_change(report.change_error, report.step_norm,
                                   attrs["unlearning_cache_"].theta,
                                   "Forgetting the features from the cache alone")
            # the losses of the rows were taken with the forgotten values
            attrs["training_loss_profile_"] = None
            return attrs, report
        theta = attrs["unlearning_cache_"].theta
        if chunked:
            cache, _, last = self._chunked_cache(*source, theta, like=like)
            return self._polished_state(report, bound_kept_if_verified(cache, verified),
                                        LossProfile.from_sums(last))
        check_sparse_structure(X, "X")
        rows = validate_data(self, X, accept_sparse="csr", reset=False, dtype=np.float64)
        zeroed = zero_features(rows, positions)
        cache, profile = self._cache_polished_from(zeroed, y, sample_weight, theta)
        attrs, report = self._polished_state(
            report, bound_kept_if_verified(cache, verified), profile)
        if self.__dict__.get("row_fingerprints_") is not None or fingerprint_key is not None:
            attrs["row_fingerprints_"] = fingerprints_replaced(
                self, rows, zeroed, y, sample_weight, fingerprint_key)
        return attrs, report

    def _unstepped_forget(self, positions):
        """The attributes and report of forgetting ``positions`` before the
        rows polish it: the current parameters with the features' weights at
        zero, no step from the cache."""
        cache = self.unlearning_cache_
        theta = cache.theta.copy()
        theta[np.asarray(positions, dtype=int)] = 0.0
        report = RequestReport(
            method="forget_features", n_removed=0, n_added=0, tau=None, n_iter=0,
            step_norm=None, gradient_norm=None, residual_estimate=None,
            bound_increment=np.inf, residual_bound=np.inf, change_error=None)
        return {"unlearning_cache_": replace(cache, theta=theta)}, report

    def _polished_state(self, report, cache, profile):
        """The attributes of the model polished to the exact optimum on the
        training rows with the features zeroed (``cache``, made from them,
        and their loss ``profile``), from the update without data whose
        ``report`` it completes, and the completed report."""
        old = self.unlearning_cache_
        check_current_rows(old, cache)
        report = replace(
            report, step_norm=float(np.linalg.norm(cache.theta - old.theta)),
            residual_estimate=float(np.linalg.norm(cache.residual)),
            bound_increment=cache.residual_error, residual_bound=cache.residual_bound,
            # polished on the rows: what is left is measured, not estimated
            change_error=None)
        # made from the rows as a fit makes it: nothing of the earlier
        # requests stays, their reports included (as after refresh_cache)
        attrs = recorded_state(self, None, cache, report)
        attrs["training_loss_profile_"] = profile
        return attrs, report
