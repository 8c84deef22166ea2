"""The certified-removal meta-estimator."""

from numbers import Real

import numpy as np
from sklearn.base import (
    BaseEstimator,
    MetaEstimatorMixin,
    _fit_context,
    clone,
)
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import HasMethods, Interval, StrOptions
from sklearn.utils.validation import _num_samples, check_is_fitted

from .._locks import serialised
from .._params import canonical
from .._request import check_method
from .._training_rows import KeptRowsMixin
from ..base import UnlearnerMixin, UnlearnTags, get_unlearn_tags
from ._certificate import noise_scale
from ._delegation import DelegatingMixin
from ._ledger import check_ledger, opened
from ._requests import requested
from ._structure import (check_bounded, check_policy, check_structure, fit_final,
                         kept_rows, split)
from ._verify import PREDICTION_RTOL, measure


class CertifiedRemoval(KeptRowsMixin, UnlearnerMixin, DelegatingMixin, MetaEstimatorMixin,
                       BaseEstimator):
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
    noise (Guo et al., 2020). Ridge is exact: no noise, and only round-off
    spent (checked against the budget like any other bound).

    The meta-estimator owns its fitted model: requests go through
    :meth:`unlearn`, which keeps the ledger (``estimator_.unlearn``, or that of
    a pipeline's final step, is refused), and a model changed behind the
    ledger (``coef_`` set, ``estimator_`` refitted or replaced) is detected at
    the next request or :meth:`verify`, which then raise
    :class:`LedgerIntegrityError`. Each fit, request and retraining builds the
    new model, certificate and the edit of the kept rows first and swaps them
    in with one assignment, then writes the edit into the rows (an edit cut
    short is written again by the next use of the rows): after any
    exception, a ``KeyboardInterrupt`` included, the meta-estimator is
    exactly as before or exactly as after. Requests from several threads on
    one meta-estimator run one at a time.

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
        When a request would spend more than the budget (a bound that is not
        finite, or an update with non-finite parameters, counts as over any
        budget): retrain on the corrected data with fresh noise and a fresh
        budget; refuse the request and leave everything as it was; or apply
        it, warn, and mark the certificate void (an update with non-finite
        parameters is refused instead). Read at every request; ``"retrain"``
        needs the kept rows, and is refused without them by ``fit``, by
        ``set_params`` on a fitted model, and by every request.
    keep_data : bool, default=True
        Keep a copy of the (transformed) training rows. Needed to check that
        requests name rows that were trained on, to retrain, and to
        :meth:`verify`.
    measure_residual : {"over_budget", "always", "never"}, default="over_budget"
        With the rows kept, when to measure the released model's residual on
        the corrected rows (one pass over them, in chunks, with a bound on
        its rounding) and spend the measurement instead of the accumulated
        bound (``spent`` starts again from it: a ``"measured"`` ledger
        entry). ``"over_budget"``: only when the accumulated bound would pass
        the budget, so that requests within it never pay for the pass, and
        retraining is needed only when the measurement too is over.
        ``"always"``: at every request, so that ``spent`` is the measured
        residual (a pass over the kept rows per request: ``O(n d)``).
        ``"never"``: the accumulated bounds alone.
    allow_stateful_steps : bool, default=False
        Accept steps fitted on the data anyway; they are listed in the
        certificate as not covered and it is not ``valid``.
    random_state : int, RandomState instance or None, default=None
        Draws the seeds of the objective noise (at fit and every retraining).

    Attributes
    ----------
    estimator_ : estimator or Pipeline
        The fitted model. Every request replaces it with a new object (the
        preprocessing steps are shared); its final step is owned by this
        meta-estimator and refuses requests of its own.
    certificate_ : Certificate
        Noise, budget, spent, requests, retrains, and whether it holds: an
        immutable record, replaced by every fit, request and retraining.
    training_rows_ : TrainingRows or None
        A copy of the training rows after the preprocessing steps (read
        through read-only views), which every request edits in place in
        O(k d) time: erased rows are overwritten, new rows appended.
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
        "measure_residual": [StrOptions({"over_budget", "always", "never"})],
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
        measure_residual="over_budget",
        allow_stateful_steps=False,
        random_state=None,
    ):
        self.estimator = estimator
        self.epsilon = epsilon
        self.delta = delta
        self.budget = budget
        self.on_budget_exceeded = on_budget_exceeded
        self.keep_data = keep_data
        self.measure_residual = measure_residual
        self.allow_stateful_steps = allow_stateful_steps
        self.random_state = random_state

    # -- consistency --------------------------------------------------------------------
    def set_params(self, **params):
        """Set the parameters of this estimator.

        On a fitted meta-estimator, refuses a combination that contradicts
        it: ``on_budget_exceeded="retrain"`` needs the kept rows, so it is
        refused with ``keep_data=False`` or when the model was fitted without
        them (``on_budget_exceeded`` is read by every request). Nothing is
        changed when a ``ValueError`` is raised. Before ``fit``, values are
        checked by ``fit``, as scikit-learn's estimators do.

        Parameters
        ----------
        **params : dict
            Estimator parameters, nested ones as ``estimator__<name>``.

        Returns
        -------
        self : CertifiedRemoval
            This estimator.
        """
        if hasattr(self, "certificate_"):
            check_policy(
                params.get("keep_data", self.keep_data),
                params.get("on_budget_exceeded", self.on_budget_exceeded),
                rows_kept=self.training_rows_ is not None)
        return super().set_params(**params)

    def _check_ledger(self):
        """Refuse to act on a model changed behind the ledger."""
        check_ledger(self.estimator_, self.certificate_, type(self).__name__)

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
            The fitted meta-estimator (its whole fitted state is replaced at
            once, at the end).
        """
        check_policy(self.keep_data, self.on_budget_exceeded)
        est = clone(self.estimator)
        uncovered = check_structure(est, self.allow_stateful_steps)
        _, final, _ = split(est)
        exact = get_unlearn_tags(final).exact
        sigma = 0.0 if exact else noise_scale(self.epsilon, self.delta, self.budget)
        rng = check_random_state(self.random_state)
        seed = int(rng.randint(np.iinfo(np.int32).max))
        est = fit_final(est, X, y, sample_weight, seed, sigma, type(self).__name__)
        pre, final, _ = split(est)
        check_bounded(final)
        rows = kept_rows(pre, final, X, y, sample_weight) if self.keep_data else None
        certificate = opened(est, final, epsilon=self.epsilon, delta=self.delta,
                             sigma=sigma, budget=self.budget, exact=exact,
                             uncovered=uncovered, n_rows=_num_samples(X))
        state = {"sigma_": sigma, "noise_rng_": rng, "noise_seed_": seed,
                 "estimator_": est, "training_rows_": rows,
                 "certificate_": certificate, "unlearn_history_": []}
        state["_unlearn_token"] = self._fitted_state_name(state)
        state["_fitted_params"] = self._fitted_params_text()
        # one C call: all or nothing (serialised: an interrupt at the lock's
        # exit releases it)
        serialised(self, lambda: self.__dict__.update(state))
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
            ledger and kept data exactly as they were; so does any exception
            (a ``KeyboardInterrupt`` included) raised before the request is
            applied, and one raised after leaves them exactly as after it.

        Raises
        ------
        BudgetExceededError
            With ``on_budget_exceeded="raise"``, when the request's bound would
            exceed the budget or is not finite.
        LedgerIntegrityError
            When the model was changed other than by this meta-estimator.
        ValueError
            When the request names rows that were not trained on, produces
            non-finite parameters, or the configuration is inconsistent
            (``on_budget_exceeded="retrain"`` without kept rows).

        Notes
        -----
        Concurrent calls from several threads on one meta-estimator run one
        at a time (each holds the meta-estimator's request lock, and the final
        step's own lock while its update is computed), so no request is
        lost; their order is the order in which they take the lock.

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
        return super().unlearn(X_old, X_new, y_old, y_new, sample_weight=sample_weight,
                               method=method)

    # -- the unlearning contract ---------------------------------------------------------
    #: Read by every request (the policy, whether to measure) or by the next
    #: fit only; epsilon, delta, the budget and the wrapped estimator's
    #: parameters define the certificate and the model it vouches for.
    _unlearn_free_params = frozenset(
        {"on_budget_exceeded", "keep_data", "measure_residual", "allow_stateful_steps",
         "random_state"})

    def _fitted_params_text(self):
        # the wrapped estimator's parameters too (estimator__C): its fitted
        # copy, estimator_, was made with them (but for those of how it runs)
        free = UnlearnerMixin._unlearn_free_params
        nested = {name: value for name, value in self.estimator.get_params(deep=True).items()
                  if name.rpartition("__")[2] not in free}
        return super()._fitted_params_text() + canonical(nested)

    def _plan_settings(self, attributes):
        # a request over the budget was retrained or voided by the policy
        # it was planned under; within the budget, the policy plays no part
        cert = attributes.get("certificate_", self.certificate_)
        if (cert.n_retrains > self.certificate_.n_retrains
                or not cert.spent <= cert.budget):
            return {"on_budget_exceeded": self.on_budget_exceeded}
        return {}

    def _unlearn_options(self, method="second_order"):
        check_method(self, method, self._unlearn_tags().methods)
        return {"method": method}

    def _unlearn_request(self, X_old, X_new, y_old, y_new, sample_weight, options):
        self._validate_params()
        check_policy(self.keep_data, self.on_budget_exceeded,
                     rows_kept=self.training_rows_ is not None)
        self._check_ledger()
        return X_old, X_new, y_old, y_new, sample_weight

    def _unlearned_state(self, request, *, method):
        return requested(self, *request, method)

    def _published_parameters(self, attributes):
        # the digest of the model the ledger vouches for
        return [np.frombuffer(bytes.fromhex(attributes["certificate_"].model_digest),
                              dtype=np.uint8)]

    def _unlearn_tags(self):
        final = split(self.estimator)[1]
        tags = get_unlearn_tags(final)
        return UnlearnTags(
            certifiable=True, exact=tags is not None and tags.exact,
            residual_bound=True, keeps_data=bool(self.keep_data),
            methods=() if tags is None else tags.methods,
        )

    # -- verification ----------------------------------------------------------------
    def verify(self, *, rtol=PREDICTION_RTOL):
        """Measure the current model against the kept data.

        Computes the true gradient residual on the corrected data (it must
        not exceed the certificate's bound: if it does, that is a defect and
        a ``RuntimeError`` is raised), the distance to a model refit on the
        corrected data with the same noise, and the agreement of their
        predictions.

        Parameters
        ----------
        rtol : float, default=1e-6
            For a regressor, two predictions of a row agree when they differ by
            at most ``rtol * (|refit prediction| + rms)``, with ``rms`` the root
            mean square of the refit's predictions over the kept rows (every
            output, for several). Classifiers agree when they predict the
            same class.

        Returns
        -------
        verification : Verification

        Raises
        ------
        LedgerIntegrityError
            When the model was changed other than by this meta-estimator: its
            parameters, or its cache (the kept rows then fail the cache's
            checks of the current rows; a saved file edited, say).
        RuntimeError
            When the true residual exceeds the certified bound (a defect).
        """
        check_is_fitted(self)
        if not (isinstance(rtol, Real) and np.isfinite(rtol) and rtol >= 0):
            raise ValueError(f"rtol must be a non-negative number, got {rtol!r}.")
        def measured():
            # requests edit the kept rows in place: measure before the next one
            rows = self.training_rows_
            if rows is None:
                raise ValueError(
                    "verify() needs the training data: fit with keep_data=True.")
            self._check_ledger()
            return measure(split(self.estimator_)[1], rows,
                           self.certificate_, rtol)

        return serialised(self, measured)
