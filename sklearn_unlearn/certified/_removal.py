"""The certified-removal meta-estimator."""

import copy
import warnings
from numbers import Real

import numpy as np
from sklearn.base import BaseEstimator, MetaEstimatorMixin, _fit_context, clone
from sklearn.frozen import FrozenEstimator
from sklearn.pipeline import Pipeline
from sklearn.utils import check_array, check_random_state, get_tags
from sklearn.utils._param_validation import HasMethods, Interval, StrOptions
from sklearn.utils.metaestimators import available_if
from sklearn.utils.validation import _check_sample_weight, check_is_fitted

from .._request import validate_request
from .._training_rows import TrainingRows
from ..linear_model import UnlearnableLogisticRegression, UnlearnableRidge
from ._certificate import Certificate, LedgerEntry, Verification, noise_scale


class BudgetExceededError(ValueError):
    """A request would push the spent budget past the certified budget.

    Raised by :meth:`CertifiedRemoval.unlearn` with
    ``on_budget_exceeded="raise"``; the model, its ledger and its kept rows
    are left exactly as they were.

    Examples
    --------
    >>> from sklearn.datasets import load_breast_cancer
    >>> from sklearn.preprocessing import scale
    >>> from sklearn_unlearn import UnlearnableLogisticRegression
    >>> from sklearn_unlearn.certified import BudgetExceededError, CertifiedRemoval
    >>> X, y = load_breast_cancer(return_X_y=True)
    >>> X = scale(X)
    >>> model = CertifiedRemoval(UnlearnableLogisticRegression(), budget=0.01,
    ...                          on_budget_exceeded="raise",
    ...                          random_state=0).fit(X, y)
    >>> try:
    ...     model.unlearn(X[:50], None, y[:50])
    ... except BudgetExceededError as exc:
    ...     print(str(exc)[:49])
    The request would raise the bound on the gradient
    >>> model.certificate_.n_requests
    0
    """


def _final_has(attr):
    def check(self):
        est = self.estimator_ if hasattr(self, "estimator_") else self.estimator
        final = est[-1] if isinstance(est, Pipeline) else est
        return hasattr(final, attr)

    return check


class CertifiedRemoval(MetaEstimatorMixin, BaseEstimator):
    """Certified removal of rows, features and labels from a linear model.

    Wraps a :class:`~sklearn.pipeline.Pipeline` (or a bare estimator) whose
    final step is :class:`~sklearn_unlearn.UnlearnableLogisticRegression` or
    :class:`~sklearn_unlearn.UnlearnableRidge`. ``fit`` trains it with the
    objective perturbation ``b^T theta``, ``b ~ N(0, sigma^2 I)``, where
    ``sigma = budget * sqrt(2 ln(1.5 / delta)) / epsilon`` (it sets the
    final step's ``objective_noise``, ``random_state`` and, for logistic
    regression, ``residual_bound=True``). Every
    :meth:`unlearn` spends its bound on the gradient residual; while the spent
    total stays within ``budget``, the model is ``(epsilon, delta)``-
    indistinguishable from one retrained on the corrected data with fresh
    noise (Guo et al., 2020). Ridge is exact: no noise, nothing spent.

    Parameters
    ----------
    estimator : estimator or Pipeline
        The model to certify. Steps before the final one must be stateless
        (``requires_fit=False``, e.g. ``HashingVectorizer``,
        ``FunctionTransformer``) or frozen (:class:`~sklearn.frozen.FrozenEstimator`):
        a step fitted on the data (a scaler's mean, a
        vocabulary) keeps statistics of the rows to remove, which no update of
        the final step can take back.
    epsilon : float, default=1.0
        Privacy parameter in (0, 1]; smaller is stronger and needs more noise.
        The calibration ``sigma = budget * c / epsilon`` is the Gaussian
        mechanism's, proven for ``epsilon <= 1``.
    delta : float, default=1e-4
        Probability with which the guarantee may fail.
    budget : float, default=1.0
        The largest total bound on the gradient residual the noise covers.
    on_budget_exceeded : {"retrain", "raise", "warn"}, default="retrain"
        When a request would spend more than the budget: retrain on the
        corrected data with fresh noise and a fresh budget; refuse the
        request and leave everything as it was; or apply it, warn, and mark
        the certificate void.
    keep_data : bool, default=True
        Keep the (transformed) training rows. Needed to check that requests
        name rows that were trained on, to retrain, and to :meth:`verify`.
    allow_stateful_steps : bool, default=False
        Accept steps fitted on the data anyway; they are listed in the
        certificate as not covered and it is not ``valid``.
    random_state : int, RandomState instance or None, default=None
        Draws the seeds of the objective noise (at fit and every retraining).

    Attributes
    ----------
    estimator_ : estimator or Pipeline
        The fitted model, updated by every request.
    certificate_ : Certificate
        Noise, budget, spent, requests, retrains, and whether it holds.
    training_rows_ : TrainingRows or None
        The kept training rows after the preprocessing steps, corrected by
        every request.
    classes_ : ndarray
        Class labels, for classifiers.
    n_features_in_ : int
        Number of features seen during fit.

    See Also
    --------
    sklearn_unlearn.UnlearnableLogisticRegression : The certifiable classifier.

    Examples
    --------
    >>> from sklearn.datasets import load_breast_cancer
    >>> from sklearn.frozen import FrozenEstimator
    >>> from sklearn.pipeline import make_pipeline
    >>> from sklearn.preprocessing import StandardScaler
    >>> from sklearn_unlearn import UnlearnableLogisticRegression
    >>> from sklearn_unlearn.certified import CertifiedRemoval
    >>> X, y = load_breast_cancer(return_X_y=True)
    >>> scaler = FrozenEstimator(StandardScaler().fit(X[:100]))  # public data
    >>> model = CertifiedRemoval(
    ...     make_pipeline(scaler, UnlearnableLogisticRegression()),
    ...     epsilon=1.0, delta=1e-4, budget=0.5, random_state=0,
    ... ).fit(X, y)
    >>> model = model.unlearn(X[:3], None, y[:3])   # erase three rows
    >>> cert = model.certificate_
    >>> cert.n_requests, cert.spent <= cert.budget, cert.valid
    (1, True, True)
    """

    _parameter_constraints: dict = {
        "estimator": [HasMethods(["fit"])],
        # the Gaussian certified-removal theorem is stated for epsilon <= 1
        "epsilon": [Interval(Real, 0, 1, closed="right")],
        "delta": [Interval(Real, 0, 1, closed="neither")],
        "budget": [Interval(Real, 0, None, closed="neither")],
        "on_budget_exceeded": [StrOptions({"retrain", "raise", "warn"})],
        "keep_data": ["boolean"],
        "allow_stateful_steps": ["boolean"],
        "random_state": ["random_state"],
    }

    def __init__(
        self,
        estimator,
        *,
        epsilon=1.0,
        delta=1e-4,
        budget=1.0,
        on_budget_exceeded="retrain",
        keep_data=True,
        allow_stateful_steps=False,
        random_state=None,
    ):
        self.estimator = estimator
        self.epsilon = epsilon
        self.delta = delta
        self.budget = budget
        self.on_budget_exceeded = on_budget_exceeded
        self.keep_data = keep_data
        self.allow_stateful_steps = allow_stateful_steps
        self.random_state = random_state

    # -- structure -----------------------------------------------------------------
    @staticmethod
    def _split(est):
        if isinstance(est, Pipeline):
            return est[:-1], est[-1], est.steps[-1][0]
        return None, est, None

    def _check_structure(self, est):
        pre, final, _ = self._split(est)
        if not isinstance(final, (UnlearnableLogisticRegression, UnlearnableRidge)):
            what = type(final).__name__
            raise ValueError(
                f"The final step {what} cannot be certified. Certified removal "
                "needs a strongly convex loss whose curvature is Lipschitz, so "
                "that every update's gradient residual can be bounded: use "
                "UnlearnableLogisticRegression or UnlearnableRidge. (The squared "
                "hinge of LinearSVC jumps at the margin; MLPs are non-convex: "
                "both unlearn approximately, without a certificate.)"
            )
        uncovered = []
        if pre is not None:
            for name, step in pre.steps:
                if step is None or step == "passthrough":
                    continue
                if isinstance(step, FrozenEstimator):
                    continue
                if not get_tags(step).requires_fit:
                    continue
                if not self.allow_stateful_steps:
                    raise ValueError(
                        f"Pipeline step {name!r} ({type(step).__name__}) is fitted "
                        "on the training data: its fitted statistics (a mean, a "
                        "scale, a vocabulary) depend on the rows to be removed and "
                        "would keep them after unlearning, so the certificate "
                        "cannot cover it. Fit it on data that is not to be "
                        "removed and wrap it in sklearn.frozen.FrozenEstimator, "
                        "use a stateless transformer, or pass "
                        "allow_stateful_steps=True to accept the leak (it is "
                        "recorded in the certificate)."
                    )
                uncovered.append(name)
        return uncovered

    def _fit_model(self, est, X, y, sample_weight, seed):
        pre, final, last = self._split(est)
        if isinstance(final, UnlearnableLogisticRegression):
            final.set_params(objective_noise=self.sigma_, random_state=seed,
                             residual_bound=True)
        params = {}
        if sample_weight is not None:
            params[f"{last}__sample_weight" if last else "sample_weight"] = sample_weight
        est.fit(X, y, **params)
        return est

    # -- fit ---------------------------------------------------------------------------
    @_fit_context(prefer_skip_nested_validation=False)
    def fit(self, X, y, sample_weight=None):
        """Train with calibrated objective noise and open the ledger.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training data, as the wrapped estimator takes it.
        y : array-like of shape (n_samples,)
            Targets.
        sample_weight : array-like of shape (n_samples,), default=None
            Passed to the final step.

        Returns
        -------
        self : object
            The fitted meta-estimator.
        """
        if not self.keep_data and self.on_budget_exceeded == "retrain":
            raise ValueError(
                "on_budget_exceeded='retrain' needs the training data: set "
                "keep_data=True, or choose 'raise' or 'warn'."
            )
        est = clone(self.estimator)
        uncovered = self._check_structure(est)
        _, final, _ = self._split(est)
        exact = isinstance(final, UnlearnableRidge)
        self.sigma_ = 0.0 if exact else noise_scale(self.epsilon, self.delta, self.budget)
        self.noise_rng_ = check_random_state(self.random_state)
        self.noise_seed_ = int(self.noise_rng_.randint(np.iinfo(np.int32).max))
        self.estimator_ = self._fit_model(est, X, y, sample_weight, self.noise_seed_)
        pre, final, _ = self._split(self.estimator_)
        if not final.unlearning_cache_.exact_hessian:
            raise ValueError(
                f"{type(final).__name__} keeps a low-rank approximation of its "
                f"Hessian ({final.unlearning_cache_.objective.n_params} parameters "
                "per output), whose error no bound covers, so its removals cannot "
                "be certified. Set hessian='dense' on it (memory grows as the "
                "square of the number of parameters) or reduce the features."
            )
        if self.keep_data:
            Xt = pre.transform(X) if pre is not None else X
            Xt = check_array(Xt, accept_sparse="csr", dtype=np.float64)
            sw = _check_sample_weight(sample_weight, Xt)
            self.training_rows_ = TrainingRows(Xt, np.asarray(y), sw)
        else:
            self.training_rows_ = None
        bound = final.residual_bound_
        self.certificate_ = Certificate(
            epsilon=self.epsilon, delta=self.delta, sigma=self.sigma_,
            budget=self.budget, spent=bound, exact=exact, uncovered_steps=uncovered,
            ledger=[LedgerEntry("fit", 0, Xt.shape[0] if self.keep_data else 0,
                                bound, bound)],
        )
        if bound > self.budget:
            self.certificate_.void = True
            self.certificate_.void_reason = (
                f"the fitted model's own residual bound {bound:.3g} exceeds the "
                "budget: increase the budget or the solver's accuracy"
            )
        return self

    # -- unlearn -----------------------------------------------------------------------
    def unlearn(self, X_old, X_new, y_old=None, y_new=None, *, sample_weight=None,
                method="second_order"):
        """Remove or correct training rows and spend the request's bound.

        Parameters
        ----------
        X_old : array-like of shape (k, n_features) or None
            The affected rows as trained on (before preprocessing). ``None``
            inserts ``X_new``.
        X_new : array-like of shape (k, n_features) or None
            The rows as they should be; ``None`` deletes ``X_old``.
        y_old, y_new : array-like of shape (k,), default=None
            Targets as trained on, and corrected (``None`` keeps ``y_old``).
        sample_weight : array-like of shape (k,), default=None
            Training weights of the affected rows.
        method : {"second_order", "first_order", "refined"}, default="second_order"
            The update of the final step.

        Returns
        -------
        self : object
            The updated meta-estimator. A refused request leaves model,
            ledger and kept data exactly as they were.

        Examples
        --------
        >>> from sklearn.datasets import load_breast_cancer
        >>> from sklearn.preprocessing import scale
        >>> from sklearn_unlearn import UnlearnableLogisticRegression
        >>> from sklearn_unlearn.certified import CertifiedRemoval
        >>> X, y = load_breast_cancer(return_X_y=True)
        >>> X = scale(X)
        >>> model = CertifiedRemoval(UnlearnableLogisticRegression(), budget=1.0,
        ...                          random_state=0).fit(X, y)
        >>> model = model.unlearn(X[100:105], None, y[100:105])   # erase rows
        >>> model = model.unlearn(X[300:302], X[300:302], y[300:302],
        ...                       1 - y[300:302])                  # flip labels
        >>> [entry.kind for entry in model.certificate_.ledger]
        ['fit', 'request', 'retrain']
        >>> cert = model.certificate_
        >>> cert.n_requests, cert.n_retrains, cert.spent <= cert.budget
        (2, 1, True)
        """
        check_is_fitted(self)
        pre, final, last = self._split(self.estimator_)
        Xt_old = self._transform(pre, X_old)
        Xt_new = self._transform(pre, X_new)
        request = validate_request(final, Xt_old, Xt_new, y_old, y_new, sample_weight,
                                   method)
        drop = None
        if self.training_rows_ is not None and request.X_old is not None:
            drop = self.training_rows_.locate(request.X_old, request.y_old,
                                              request.sample_weight)
        plan = final._plan_unlearn(request, method=method)
        bound = plan.report.residual_bound
        cert = self.certificate_
        n_removed = 0 if request.X_old is None else request.X_old.shape[0]
        n_added = 0 if request.X_new is None else request.X_new.shape[0]
        over = bound > cert.budget and not cert.exact
        if over and self.on_budget_exceeded == "raise":
            raise BudgetExceededError(
                f"The request would raise the bound on the gradient residual "
                f"to {bound:.4g}, over the budget {cert.budget:.4g} (spent "
                f"{cert.spent:.4g}); nothing was changed. Retrain, raise the "
                "budget, or use on_budget_exceeded='retrain'."
            )
        rows = None
        if self.training_rows_ is not None:
            rows = self.training_rows_.corrected(
                np.array([], dtype=int) if drop is None else drop,
                request.X_new, request.y_new, request.sample_weight,
            )
        if over:
            if self.on_budget_exceeded == "retrain":
                self._retrain(rows, n_removed, n_added)
                return self
            warnings.warn(
                f"The request raises the residual bound to {bound:.4g}, over the "
                f"budget {cert.budget:.4g}: the certificate is void.",
                UserWarning,
            )
            cert.void = True
            cert.void_reason = (
                f"request {cert.n_requests + 1} raised the residual bound to "
                f"{bound:.4g}, over the budget {cert.budget:.4g}"
            )
        final._commit_unlearn(plan)
        if rows is not None:
            self.training_rows_ = rows
        cert.ledger.append(LedgerEntry("request", n_removed, n_added, bound,
                                       bound - cert.spent))
        cert.spent = bound
        cert.n_requests += 1
        return self

    @staticmethod
    def _transform(pre, X):
        if X is None or pre is None:
            return X
        return pre.transform(X)

    def _set_final(self, final):
        if isinstance(self.estimator_, Pipeline):
            name = self.estimator_.steps[-1][0]
            self.estimator_.steps[-1] = (name, final)
        else:
            self.estimator_ = final

    def _retrain(self, rows, n_removed, n_added):
        """Refit the final step on the corrected rows with fresh noise."""
        _, final, _ = self._split(self.estimator_)
        state = self.noise_rng_.get_state()
        seed = int(self.noise_rng_.randint(np.iinfo(np.int32).max))
        try:
            fresh = self._fit_model(clone(final), rows.X, rows.y, rows.sample_weight,
                                    seed)
        except Exception:
            self.noise_rng_.set_state(state)  # a failed retrain changes nothing
            raise
        self._set_final(fresh)
        self.noise_seed_ = seed
        self.training_rows_ = rows
        cert = self.certificate_
        bound = fresh.residual_bound_
        cert.ledger.append(LedgerEntry("retrain", n_removed, n_added, bound, bound))
        cert.spent = bound
        cert.n_requests += 1
        cert.n_retrains += 1
        if bound > cert.budget:
            cert.void = True
            cert.void_reason = (
                f"the retrained model's own residual bound {bound:.3g} exceeds the "
                "budget"
            )

    # -- verification ----------------------------------------------------------------
    def verify(self):
        """Measure the current model against the kept data.

        Computes the true gradient residual on the corrected data (it must
        not exceed the certificate's bound: if it does, that is a defect and
        a ``RuntimeError`` is raised), the distance to a model refit on the
        corrected data with the same noise, and the agreement of their
        predictions.

        Returns
        -------
        verification : Verification
        """
        check_is_fitted(self)
        if self.training_rows_ is None:
            raise ValueError("verify() needs the training data: fit with keep_data=True.")
        _, final, _ = self._split(self.estimator_)
        rows = self.training_rows_
        cache = final.unlearning_cache_
        Y, S, *_ = final._unlearn_targets(rows.y, rows.sample_weight)
        true = float(np.linalg.norm(
            cache.objective.gradient(rows.X, Y, S, cache.theta, cache.noise)))
        if true > self.certificate_.spent:
            raise RuntimeError(
                f"The true gradient residual {true:.6g} exceeds the certified bound "
                f"{self.certificate_.spent:.6g}: the bound under-reports, which is "
                "a defect of this library. Please report it."
            )
        refit = clone(final).fit(rows.X, rows.y, sample_weight=rows.sample_weight)
        theta_refit = refit.unlearning_cache_.theta
        distance = float(np.linalg.norm(cache.theta - theta_refit)
                         / np.linalg.norm(theta_refit))
        agreement = float(np.mean(final.predict(rows.X) == refit.predict(rows.X)))
        return Verification(true, self.certificate_.spent, distance, agreement)

    # -- delegation ------------------------------------------------------------------
    @available_if(_final_has("predict"))
    def predict(self, X):
        """Predict with the certified model.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        y_pred : ndarray of shape (n_samples,)
        """
        check_is_fitted(self)
        return self.estimator_.predict(X)

    @available_if(_final_has("predict_proba"))
    def predict_proba(self, X):
        """Class probabilities of the certified model.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        proba : ndarray of shape (n_samples, n_classes)
        """
        check_is_fitted(self)
        return self.estimator_.predict_proba(X)

    @available_if(_final_has("predict_log_proba"))
    def predict_log_proba(self, X):
        """Log class probabilities of the certified model.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        log_proba : ndarray of shape (n_samples, n_classes)
        """
        check_is_fitted(self)
        return self.estimator_.predict_log_proba(X)

    @available_if(_final_has("decision_function"))
    def decision_function(self, X):
        """Decision function of the certified model.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        scores : ndarray of shape (n_samples,) or (n_samples, n_classes)
        """
        check_is_fitted(self)
        return self.estimator_.decision_function(X)

    @available_if(_final_has("score"))
    def score(self, X, y, sample_weight=None):
        """Score of the certified model (accuracy or R^2).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,)
        sample_weight : array-like of shape (n_samples,), default=None

        Returns
        -------
        score : float
        """
        check_is_fitted(self)
        return self.estimator_.score(X, y, sample_weight=sample_weight)

    @property
    def classes_(self):
        """Class labels of the final step."""
        return self._split(self.estimator_)[1].classes_

    @property
    def n_features_in_(self):
        """Number of features seen during fit."""
        return self.estimator_.n_features_in_

    @property
    def feature_names_in_(self):
        """Feature names seen during fit, when they were strings."""
        return self.estimator_.feature_names_in_

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        sub = get_tags(self.estimator)
        tags.estimator_type = sub.estimator_type
        tags.classifier_tags = copy.deepcopy(sub.classifier_tags)
        tags.regressor_tags = copy.deepcopy(sub.regressor_tags)
        tags.input_tags.sparse = sub.input_tags.sparse
        tags.target_tags.required = True
        tags.target_tags.multi_output = sub.target_tags.multi_output
        tags.target_tags.single_output = sub.target_tags.single_output
        return tags
