"""The certified-removal meta-estimator."""

import copy
import warnings
from dataclasses import replace
from numbers import Real

import numpy as np
from sklearn.base import (
    BaseEstimator,
    MetaEstimatorMixin,
    _fit_context,
    clone,
)
from sklearn.frozen import FrozenEstimator
from sklearn.pipeline import Pipeline
from sklearn.utils import check_array, check_random_state, get_tags
from sklearn.utils._param_validation import HasMethods, Interval, StrOptions
from sklearn.utils.metaestimators import available_if
from sklearn.utils.validation import _check_sample_weight, _num_samples, check_is_fitted

from .._locks import request_lock
from .._request import check_method, validate_request
from .._training_rows import TrainingRows, committed
from .._report import RequestReport
from ..base import UnlearnerMixin, UnlearnTags, get_unlearn_tags
from ._certificate import Certificate, LedgerEntry, as_bound, noise_scale
from ._ledger import LedgerIntegrityError, describe_bound, model_digest, released_finite
from ._verify import measure

#: The attribute by which a fitted final step is marked as owned by the
#: meta-estimator whose ledger accounts for it: the public ``unlearn`` of the
#: linear estimators refuses an estimator that carries it. It lives in the
#: instance's ``__dict__``, so it is pickled and copied with the estimator,
#: but it is no parameter: ``get_params`` and ``clone`` do not see it.
OWNER_ATTRIBUTE = "_unlearn_owner"

#: Default relative tolerance under which :meth:`CertifiedRemoval.verify`
#: counts two regressors' predictions of a row as the same.
PREDICTION_RTOL = 1e-6


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


class CertifiedRemoval(UnlearnerMixin, MetaEstimatorMixin, BaseEstimator):
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

    # -- structure -----------------------------------------------------------------
    @staticmethod
    def _split(est):
        if isinstance(est, Pipeline):
            return est[:-1], est[-1], est.steps[-1][0]
        return None, est, None

    def _check_structure(self, est):
        pre, final, _ = self._split(est)
        tags = get_unlearn_tags(final)
        if tags is None or not tags.certifiable or not (tags.exact or tags.objective_noise):
            what = type(final).__name__
            raise ValueError(
                f"The final step {what} cannot be certified (its unlearning tags "
                "do not say certifiable). Certified removal needs a strongly "
                "convex loss whose curvature is Lipschitz, so that every update's "
                "gradient residual can be bounded, and a model that trains with "
                "objective noise unless its updates are exact: use "
                "UnlearnableLogisticRegression or UnlearnableRidge with a dense "
                "Hessian (hessian='dense'). (The squared hinge of LinearSVC jumps at the margin; "
                "MLPs are non-convex: both unlearn approximately, without a "
                "certificate.)"
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

    def _fit_model(self, est, X, y, sample_weight, seed, sigma):
        """Fit ``est`` (a fresh clone) with the noise, and mark its final step
        as owned by this meta-estimator."""
        pre, final, last = self._split(est)
        if not get_unlearn_tags(final).exact:
            final.set_params(objective_noise=sigma, random_state=seed,
                             residual_bound=True)
        params = {}
        if sample_weight is not None:
            params[f"{last}__sample_weight" if last else "sample_weight"] = sample_weight
        est.fit(X, y, **params)
        # a new object (the clone) fitted here: nothing else holds it yet
        vars(self._split(est)[1])[OWNER_ATTRIBUTE] = type(self).__name__
        return est

    # -- consistency --------------------------------------------------------------------
    @staticmethod
    def _check_policy(keep_data, on_budget_exceeded, rows_kept=True):
        if not (isinstance(on_budget_exceeded, str) and on_budget_exceeded == "retrain"):
            return
        if keep_data and rows_kept:
            return
        why = ("keep_data=False" if not keep_data else
               "the model was fitted with keep_data=False and keeps no rows")
        raise ValueError(
            f"on_budget_exceeded='retrain' needs the training data, but {why}. "
            "Choose on_budget_exceeded='raise' or 'warn', or fit with "
            "keep_data=True."
        )

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
            self._check_policy(
                params.get("keep_data", self.keep_data),
                params.get("on_budget_exceeded", self.on_budget_exceeded),
                rows_kept=self.training_rows_ is not None)
        return super().set_params(**params)

    def _check_ledger(self):
        """Refuse to act on a model changed behind the ledger."""
        if model_digest(self.estimator_) != self.certificate_.model_digest:
            raise LedgerIntegrityError(
                "The model no longer matches its certificate: its parameters, "
                "hyper-parameters or request count were changed other than by "
                f"{type(self).__name__} (coef_ set or edited, estimator_ refitted "
                "or replaced, a hyper-parameter of the final step set), so the "
                "ledger cannot account for it; nothing was done. Restore the "
                "model the certificate describes, or fit again to open a new "
                "ledger."
            )

    def _certified(self, cert, estimator, entry, **changes):
        """A new certificate: ``cert`` with ``entry`` on its ledger and the
        digest of ``estimator``."""
        return replace(cert, ledger=(*cert.ledger, entry),
                       model_digest=model_digest(estimator), **changes)

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
        self._check_policy(self.keep_data, self.on_budget_exceeded)
        est = clone(self.estimator)
        uncovered = self._check_structure(est)
        _, final, _ = self._split(est)
        exact = get_unlearn_tags(final).exact
        sigma = 0.0 if exact else noise_scale(self.epsilon, self.delta, self.budget)
        rng = check_random_state(self.random_state)
        seed = int(rng.randint(np.iinfo(np.int32).max))
        est = self._fit_model(est, X, y, sample_weight, seed, sigma)
        pre, final, _ = self._split(est)
        if not get_unlearn_tags(final).residual_bound or (
                final.residual_bound_ == np.inf):
            raise ValueError(
                f"{type(final).__name__} was fitted without a residual bound (with "
                "hessian='auto' on wide data it keeps a low-rank approximation of "
                "its Hessian, whose error no bound covers), so its removals cannot "
                "be certified. Set hessian='dense' on it (memory grows as the "
                "square of the number of parameters) or reduce the features."
            )
        rows = None
        if self.keep_data:
            Xt = pre.transform(X) if pre is not None else X
            Xt = check_array(Xt, accept_sparse="csr", dtype=np.float64)
            sw = _check_sample_weight(sample_weight, Xt)
            rows = TrainingRows(Xt, np.asarray(y), sw)      # copies
        bound = as_bound(final.residual_bound_)
        void_reason = ""
        if not released_finite(final):
            void_reason = "the fitted model's parameters are not finite"
        elif bound > self.budget:
            void_reason = (
                f"the fitted model's own residual bound {describe_bound(bound)} exceeds "
                "the budget: increase the budget or the solver's accuracy"
            )
        certificate = Certificate(
            epsilon=self.epsilon, delta=self.delta, sigma=sigma,
            budget=self.budget, spent=bound, exact=exact, uncovered_steps=uncovered,
            void=bool(void_reason), void_reason=void_reason,
            ledger=(LedgerEntry("fit", 0, _num_samples(X), bound, bound),),
            model_digest=model_digest(est),
        )
        state = {"sigma_": sigma, "noise_rng_": rng, "noise_seed_": seed,
                 "estimator_": est, "training_rows_": rows,
                 "certificate_": certificate, "unlearn_history_": []}
        state["_unlearn_token"] = self._fitted_state_name(state)
        with request_lock(self):
            self.__dict__.update(state)        # one C call: all or nothing
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
    def _unlearn_options(self, method="second_order"):
        check_method(self, method, self._unlearn_tags().methods)
        return {"method": method}

    def _unlearn_request(self, X_old, X_new, y_old, y_new, sample_weight, options):
        self._validate_params()
        self._check_policy(self.keep_data, self.on_budget_exceeded,
                           rows_kept=self.training_rows_ is not None)
        self._check_ledger()
        return X_old, X_new, y_old, y_new, sample_weight

    def _unlearned_state(self, request, *, method):
        return self._requested(*request, method)

    def _complete_unlearn(self, *, copied):
        self.__dict__["training_rows_"] = committed(self.training_rows_, copied)

    def _published_parameters(self, attributes):
        # the digest of the model the ledger vouches for
        return [np.frombuffer(bytes.fromhex(attributes["certificate_"].model_digest),
                              dtype=np.uint8)]

    def _unlearn_tags(self):
        final = self._split(self.estimator)[1]
        tags = get_unlearn_tags(final)
        return UnlearnTags(
            certifiable=True, exact=tags is not None and tags.exact,
            residual_bound=True, keeps_data=bool(self.keep_data),
            methods=() if tags is None else tags.methods,
        )

    def _requested(self, X_old, X_new, y_old, y_new, sample_weight, method):
        """The whole state after a request and its report, built without
        changing this one."""
        pre, final, _ = self._split(self.estimator_)
        request = validate_request(final, self._transform(pre, X_old),
                                   self._transform(pre, X_new), y_old, y_new,
                                   sample_weight)
        rows = self.training_rows_
        drop = np.array([], dtype=int)
        if rows is not None and request.X_old is not None:
            drop = rows.locate(request.X_old, request.y_old, request.sample_weight)
        updated, bound, report = self._updated_final(final, request, method)
        finite = released_finite(updated)
        cert = self.certificate_
        spent = max(cert.spent, bound)
        over = not finite or spent > cert.budget
        measured = False
        wanted = {"over_budget": over, "always": True, "never": False}
        if (wanted[self.measure_residual] and finite and rows is not None
                and get_unlearn_tags(final).measures_residual):
            # the released model's residual, measured on the corrected rows,
            # spent instead when it fits the budget and beats what is spent
            rebased = updated.rebase_residual_bound(
                _corrected_chunks(rows, drop, request), copy=True)
            value = as_bound(rebased.residual_bound_)
            if value <= cert.budget and (over or value < spent):
                updated, bound = rebased, value
                spent, over, measured = value, False, True
        n_removed = 0 if request.X_old is None else request.X_old.shape[0]
        n_added = 0 if request.X_new is None else request.X_new.shape[0]
        if over and self.on_budget_exceeded == "raise":
            raise BudgetExceededError(
                f"The request would raise the bound on the gradient residual "
                f"to {describe_bound(bound if finite else np.inf)}, over the budget "
                f"{cert.budget:.4g} (spent {cert.spent:.4g}); nothing was "
                "changed. Retrain, raise the budget, or use "
                "on_budget_exceeded='retrain'."
            )
        if rows is not None:
            # the corrected rows as an edit of the kept ones, written in place
            # once the new state is swapped in (_complete_unlearn)
            rows = rows.edited(drop, request.X_new, request.y_new,
                               request.sample_weight)
        if over and self.on_budget_exceeded == "retrain":
            return self._retrained(final, rows, n_removed, n_added)
        void, void_reason = cert.void, cert.void_reason
        if over:
            if not finite:
                raise ValueError(
                    "The request's update has parameters that are not finite (its "
                    "rows overflow the arithmetic); nothing was changed. Check the "
                    "rows, or use on_budget_exceeded='retrain'."
                )
            warnings.warn(
                f"The request raises the residual bound to {describe_bound(bound)}, "
                f"over the budget {cert.budget:.4g}: the certificate is void.",
                UserWarning,
            )
            if not void:
                void, void_reason = True, (
                    f"request {cert.n_requests + 1} raised the residual bound to "
                    f"{describe_bound(bound)}, over the budget {cert.budget:.4g}"
                )
        estimator = self._with_final(updated)
        if measured:
            # spent starts again from the measured bound, as after a retraining
            entry = LedgerEntry("measured", n_removed, n_added, bound, bound)
        else:
            # spent only grows between measurements: the entry adds what it raised
            added = 0.0 if spent == cert.spent else spent - cert.spent
            entry = LedgerEntry("request", n_removed, n_added, bound, added)
        certificate = self._certified(
            cert, estimator, entry, spent=spent, n_requests=cert.n_requests + 1,
            void=void, void_reason=void_reason)
        return {"estimator_": estimator, "training_rows_": rows,
                "certificate_": certificate,
                "unlearn_history_": [*self.unlearn_history_, report]}, report

    @staticmethod
    def _updated_final(final, request, method):
        """The final step after ``request``, as a new object, and its bound.

        The step in use is left as it was: the plan is applied to a shallow
        copy (a plan made on another state would be refused).
        """
        plan = final.plan_unlearn(request.X_old, request.X_new, request.y_old,
                                  request.y_new, sample_weight=request.sample_weight,
                                  method=method)
        updated = final.apply_unlearn(plan, copy=True)
        bound = max(as_bound(plan.report.residual_bound),
                    as_bound(updated.residual_bound_))
        return updated, bound, plan.report

    @staticmethod
    def _transform(pre, X):
        if X is None or pre is None:
            return X
        return pre.transform(X)

    def _with_final(self, final):
        """``estimator_`` with ``final`` as its final step, as a new object
        (a pipeline's other steps are shared)."""
        if not isinstance(self.estimator_, Pipeline):
            return final
        pipeline = copy.copy(self.estimator_)
        pipeline.steps = [*self.estimator_.steps[:-1],
                          (self.estimator_.steps[-1][0], final)]
        return pipeline

    def _retrained(self, final, rows, n_removed, n_added):
        """The whole state after refitting the final step on the corrected
        rows with fresh noise (built without changing this one)."""
        rng = copy.deepcopy(self.noise_rng_)   # advanced only if swapped in
        seed = int(rng.randint(np.iinfo(np.int32).max))
        fresh = self._fit_model(clone(final), *rows.materialised(), seed, self.sigma_)
        bound = as_bound(fresh.residual_bound_)
        if not released_finite(fresh) or not np.isfinite(bound):
            raise ValueError(
                "Retraining on the corrected rows gave a model without finite "
                "parameters or a finite residual bound (the rows overflow the "
                "arithmetic); nothing was changed. Check the request's rows."
            )
        cert = self.certificate_
        void, void_reason = cert.void, cert.void_reason
        if bound > cert.budget and not void:
            void, void_reason = True, (
                f"the retrained model's own residual bound {bound:.3g} exceeds the "
                "budget"
            )
        estimator = self._with_final(fresh)
        certificate = self._certified(
            cert, estimator, LedgerEntry("retrain", n_removed, n_added, bound, bound),
            spent=bound, n_requests=cert.n_requests + 1,
            n_retrains=cert.n_retrains + 1, void=void, void_reason=void_reason)
        report = RequestReport(
            method="retrain", n_removed=n_removed, n_added=n_added, tau=None, n_iter=0,
            step_norm=float(np.linalg.norm(
                np.ravel(fresh.coef_) - np.ravel(final.coef_))),
            gradient_norm=None, residual_estimate=None, bound_increment=bound,
            residual_bound=bound)
        return {"estimator_": estimator, "training_rows_": rows,
                "certificate_": certificate, "noise_rng_": rng, "noise_seed_": seed,
                "unlearn_history_": [*self.unlearn_history_, report]}, report

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
            When the model was changed other than by this meta-estimator.
        """
        check_is_fitted(self)
        if not (isinstance(rtol, Real) and np.isfinite(rtol) and rtol >= 0):
            raise ValueError(f"rtol must be a non-negative number, got {rtol!r}.")
        with request_lock(self):
            # requests edit the kept rows in place: measure before the next one
            rows = self.training_rows_
            if rows is None:
                raise ValueError(
                    "verify() needs the training data: fit with keep_data=True.")
            self._check_ledger()
            return measure(self._split(self.estimator_)[1], rows,
                           self.certificate_, rtol)

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


def _corrected_chunks(rows, drop, request, size=4096):
    """The corrected training rows in chunks, without writing them: the kept
    rows less the positions ``drop``, then the request's new rows."""
    drop = np.sort(np.asarray(drop, dtype=int))
    start = 0
    for X, y, w in rows.chunks(size):
        stop = start + X.shape[0]
        lo, hi = np.searchsorted(drop, [start, stop])
        if hi > lo:
            keep = np.ones(stop - start, dtype=bool)
            keep[drop[lo:hi] - start] = False
            X, y, w = X[keep], y[keep], w[keep]
        start = stop
        yield X, y, w
    if request.X_new is not None:
        yield request.X_new, request.y_new, request.sample_weight
