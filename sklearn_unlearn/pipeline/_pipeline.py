"""A scikit-learn Pipeline that unlearns rows given in its input space."""

import copy
import functools
from copy import copy as shallow_copy

import numpy as np
import scipy.sparse as sp
from sklearn import get_config
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.metaestimators import available_if
from sklearn.utils.validation import _num_samples

from .._locks import fit_serialised, serialised
from .._digest import fitted_digest
from .._request import check_sparse_structure
from ..base import UnlearnerMixin, UnlearnTags, get_unlearn_tags, state_lineage
from ._forget import ForgetColumnsMixin, _final_unlearns
from ._report import PipelineRequestReport
from ._statistics import column_sums, dense_rows, observed_counts, squares_overflow
from ._walk import Walk, _transform, leaf_inputs, refuse_missing, walk_chain


class UnlearningPipeline(ForgetColumnsMixin, UnlearnerMixin, Pipeline):
    """A :class:`~sklearn.pipeline.Pipeline` whose requests take raw rows.

    ``unlearn(X_old, X_new, y_old, y_new)`` takes rows as the pipeline takes
    them (DataFrames with numeric, categorical and string columns, arrays,
    sparse matrices), passes them through the fitted steps, updates the
    steps whose fitted statistics are sums over rows, and unlearns the final
    step through its own ``unlearn``. The verbs exist when the final step is
    an unlearner. See :doc:`/pipeline`.

    How each fitted step is taken:

    - ``"passthrough"``, ``"drop"``, stateless transformers
      (FunctionTransformer, HashingVectorizer) and
      :class:`~sklearn.frozen.FrozenEstimator` pass the rows through;
    - :class:`~sklearn.preprocessing.OneHotEncoder` and
      :class:`~sklearn.preprocessing.OrdinalEncoder` keep their categories;
    - :class:`~sklearn.preprocessing.StandardScaler` and
      :class:`~sklearn.impute.SimpleImputer` (``strategy="mean"``) are
      unlearned exactly, and a scaler's change of every row's features is
      passed to the final step (``feature_change``), which moves to the refit
      of the whole pipeline (exactly for ridge). A change the final step
      cannot follow is refused: a mean imputer whose mean changes for rows
      outside the request that it imputed, a scaler's change passed through
      a stateless step;
    - :class:`~sklearn.compose.ColumnTransformer` and nested pipelines are
      walked child by child;
    - any other fitted step is refused by name, unless ``frozen_steps``
      names it.

    :meth:`forget_features` forgets raw columns in every row, without data.

    Parameters
    ----------
    steps : list of tuples
        As in :class:`~sklearn.pipeline.Pipeline`.
    frozen_steps : list of str, default=None
        Fitted steps to keep as they are in every request (named as in
        ``set_params``, ``"columntransformer__num__pca"``, or by their own
        name): their fitted state still depends on the rows removed, which
        each report records in ``treated_as_frozen``. A step kept as fitted
        by one request is not unlearned by a later one (it has not followed
        the rows meanwhile): that request is refused.
    transform_input, verbose
        As in :class:`~sklearn.pipeline.Pipeline`.
    memory : None
        Must be ``None`` when the final step unlearns: a cache of fitted
        transformers keeps their outputs, the transformed training rows, in
        files that unlearning cannot erase. ``fit`` refuses any other value.

    Attributes
    ----------
    unlearn_history_ : list of PipelineRequestReport
        The report of every request.
    unlearn_statistics_ : dict
        What the pipeline keeps beside its steps: for every mean imputer, the
        number of observed values per column and of rows, and the exact sum
        of the observed values per column (as parts: the sum's rounding,
        then what it left out), from which ``statistics_`` is the rounding
        of the exact mean after every request; for every standard scaler,
        the number of rows, the exact sums of every column's values and of
        their squares (as parts), from which its ``mean_`` and ``var_`` are
        the roundings of the exact mean and variance after every request,
        and whether its fit was given sample weights.

    See Also
    --------
    make_unlearning_pipeline : Build one from its steps.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.datasets import load_diabetes
    >>> from sklearn.linear_model import Ridge
    >>> from sklearn.pipeline import make_pipeline
    >>> from sklearn.preprocessing import StandardScaler
    >>> from sklearn_unlearn import UnlearnableRidge
    >>> from sklearn_unlearn.pipeline import UnlearningPipeline
    >>> X, y = load_diabetes(return_X_y=True)
    >>> pipe = UnlearningPipeline([("scale", StandardScaler()),
    ...                            ("ridge", UnlearnableRidge())]).fit(X, y)
    >>> pipe = pipe.unlearn(X[:20], None, y[:20])      # the scaler too
    >>> refit = make_pipeline(StandardScaler(), Ridge()).fit(X[20:], y[20:])
    >>> bool(np.allclose(pipe[-1].coef_, refit[-1].coef_))
    True
    """

    # the final step keeps the fingerprints of the rows it sees: a request's
    # fingerprint_key is passed to it
    _forwards_fingerprints = True

    _parameter_constraints: dict = {
        **Pipeline._parameter_constraints,
        "frozen_steps": [list, tuple, None],
    }

    def __init__(self, steps, *, frozen_steps=None, transform_input=None, memory=None,
                 verbose=False):
        super().__init__(steps, transform_input=transform_input, memory=memory,
                         verbose=verbose)
        self.frozen_steps = frozen_steps

    @fit_serialised
    def fit(self, X, y=None, **params):
        """Fit the pipeline, and count what its mean imputers will need.

        Parameters
        ----------
        X : iterable
            Training data, as :meth:`sklearn.pipeline.Pipeline.fit` takes it.
        y : iterable, default=None
            Training targets.
        **params : dict
            As in :meth:`sklearn.pipeline.Pipeline.fit`.

        Returns
        -------
        self : object
            The fitted pipeline.

        Examples
        --------
        >>> from sklearn.datasets import load_diabetes
        >>> from sklearn.preprocessing import StandardScaler
        >>> from sklearn_unlearn import UnlearnableRidge
        >>> from sklearn_unlearn.pipeline import make_unlearning_pipeline
        >>> X, y = load_diabetes(return_X_y=True)
        >>> pipe = make_unlearning_pipeline(StandardScaler(), UnlearnableRidge())
        >>> pipe.fit(X, y).unlearn_history_
        []
        """
        if self.memory is not None and _final_unlearns(self):
            raise ValueError(
                "An UnlearningPipeline whose final step unlearns does not cache its "
                "fitted transformers: memory keeps the transformed training rows in "
                "files that unlearning cannot erase. Use memory=None.")
        check_sparse_structure(X, "X")
        # scikit-learn refits the steps in place (without memory, it clones
        # none): a fit that fails part way puts every one of them back, so
        # that the steps and the statistics kept stay those of one fit
        saved = [(step, dict(vars(step))) for step in _fitted_in_place(self)]
        try:
            super().fit(X, y, **params)
            statistics = self._kept_statistics(X, params)
        except BaseException as exc:
            # a scaler whose variance overflowed makes a later step fail
            # on NaN or infinite features: say what the statistics would
            overflowed = self._overflowed_scaler() if isinstance(exc, Exception) else None
            for step, attributes in saved:
                vars(step).clear()
                vars(step).update(attributes)
            if overflowed is not None:
                what = f"the StandardScaler {overflowed!r}"
                raise ValueError(squares_overflow(what)) from exc
            raise
        self.unlearn_statistics_ = statistics
        self.unlearn_history_ = []
        self._final_plan = None
        if _final_unlearns(self):
            self._new_unlearn_state()
        return self

    def _kept_statistics(self, X, params=None):
        """What the pipeline keeps of its steps' inputs: per mean imputer, the
        count and exact sum of every column's observed values and the row
        count; per standard scaler, the row count, the exact sums of every
        column's values and of their squares, and whether the fit's
        ``params`` gave it sample weights."""
        if not any(isinstance(v, (SimpleImputer, StandardScaler))
                   for v in self.get_params().values()):
            return {}
        kept = {}
        for name, step in self.steps[:-1]:
            for path, leaf, X_in in leaf_inputs(step, (name,), X):
                if isinstance(leaf, SimpleImputer):
                    # a sparse input is read by its stored values, not made dense
                    X_in = X_in if sp.issparse(X_in) else dense_rows(X_in)
                    kept[path] = (observed_counts(X_in, X_in.shape[1]), _num_samples(X_in),
                                  column_sums(X_in))
                else:
                    # its counts are its own n_samples_seen_; a weighted fit's
                    # sums are not kept (its requests are refused)
                    weighted = _given_weights(leaf, path, params or {})
                    exact = leaf.mean_ is not None and not weighted
                    sums = column_sums(X_in, what="a StandardScaler") if exact else None
                    squares = (column_sums(X_in, squared=True, what="a StandardScaler")
                               if exact and leaf.var_ is not None else None)
                    kept[path] = (_num_samples(X_in), sums, squares, weighted)
            X = _transform(step, X)
        return kept

    def _overflowed_scaler(self):
        """The name of a fitted StandardScaler of the steps whose mean or
        variance is not finite (its input's squares overflowed), or
        ``None``. Read after a failed fit: a fit that succeeded keeps none
        (its statistics refuse such input)."""
        try:
            for name, step in self.steps[:-1]:
                for path, leaf, _ in leaf_inputs(step, (name,), None):
                    if isinstance(leaf, StandardScaler) and any(
                            value is not None and not np.all(np.isfinite(value))
                            for value in (getattr(leaf, "mean_", None),
                                          getattr(leaf, "var_", None))):
                        return path
        except Exception:           # steps left unfitted by the failure
            return None
        return None

    # -- the verbs, where the final step unlearns -----------------------------------
    @available_if(_final_unlearns)
    def plan_unlearn(self, X_old, X_new, y_old=None, y_new=None, *, sample_weight=None,
                     **options):
        """Compute the update of a request without applying it.

        Refused (``ValueError``), as :meth:`unlearn` is, when the final step is
        owned by a :class:`~sklearn_unlearn.certified.CertifiedRemoval`:
        requests then go through its ledger.

        Parameters
        ----------
        X_old, X_new, y_old, y_new, sample_weight, **options
            As in :meth:`unlearn`.

        Returns
        -------
        plan : UnlearningPlan
            Its ``report`` is a :class:`PipelineRequestReport`.

        Examples
        --------
        >>> from sklearn.datasets import load_diabetes
        >>> from sklearn.preprocessing import StandardScaler
        >>> from sklearn_unlearn import UnlearnableRidge
        >>> from sklearn_unlearn.pipeline import make_unlearning_pipeline
        >>> X, y = load_diabetes(return_X_y=True)
        >>> pipe = make_unlearning_pipeline(StandardScaler(), UnlearnableRidge()).fit(X, y)
        >>> plan = pipe.plan_unlearn(X[:5], None, y[:5])
        >>> plan.report.n_removed, plan.report.unlearned
        (5, ('standardscaler',))
        >>> pipe = pipe.apply_unlearn(plan)
        """
        # a plan is made to be applied: one past the owner's ledger never is
        # (the owner plans on the final step itself)
        self._check_not_owned()
        return UnlearnerMixin.plan_unlearn(self, X_old, X_new, y_old, y_new,
                                           sample_weight=sample_weight, **options)

    @available_if(_final_unlearns)
    def apply_unlearn(self, plan, *, copy=False):
        """Apply a plan of :meth:`plan_unlearn` (all or nothing).

        Parameters
        ----------
        plan : UnlearningPlan
            A plan made on this pipeline's current state.
        copy : bool, default=False
            Apply it to a shallow copy and return the copy.

        Returns
        -------
        self or a copy : UnlearningPipeline

        Examples
        --------
        >>> from sklearn.datasets import load_diabetes
        >>> from sklearn.preprocessing import StandardScaler
        >>> from sklearn_unlearn import UnlearnableRidge
        >>> from sklearn_unlearn.pipeline import make_unlearning_pipeline
        >>> X, y = load_diabetes(return_X_y=True)
        >>> pipe = make_unlearning_pipeline(StandardScaler(), UnlearnableRidge()).fit(X, y)
        >>> updated = pipe.apply_unlearn(pipe.plan_unlearn(X[:5], None, y[:5]), copy=True)
        >>> len(updated.unlearn_history_), len(pipe.unlearn_history_)
        (1, 0)
        """
        return UnlearnerMixin.apply_unlearn(self, plan, copy=copy)

    @available_if(_final_unlearns)
    def unlearn(self, X_old, X_new, y_old=None, y_new=None, *, sample_weight=None,
                **options):
        """Unlearn rows given as the pipeline takes them.

        The rows pass through the fitted steps (``X_old`` as it was trained
        on, ``X_new`` through the updated steps); steps whose statistics are
        sums over rows are updated, and the final step unlearns the request.

        Parameters
        ----------
        X_old : DataFrame, array-like or sparse matrix of shape (k, n_features) or None
            The affected training rows as trained on (``None``: insertion).
        X_new : DataFrame, array-like or sparse matrix of shape (k, n_features) or None
            The rows as they should be (``None``: deletion).
        y_old, y_new : array-like of shape (k,), default=None
            Their targets; ``y_new`` defaults to ``y_old``.
        sample_weight : array-like of shape (k,), default=None
            The rows' weights in the final step (the preprocessing counts rows).
        **options
            The final step's request options (``method``, ...).

        Returns
        -------
        self : UnlearningPipeline
            On any error it is left exactly as it was.

        Examples
        --------
        >>> import pandas as pd
        >>> from sklearn.compose import make_column_transformer
        >>> from sklearn.preprocessing import OneHotEncoder, StandardScaler
        >>> from sklearn_unlearn import UnlearnableLogisticRegression, replace_features
        >>> from sklearn_unlearn.pipeline import make_unlearning_pipeline
        >>> X = pd.DataFrame({"age": [25., 32., 47., 51., 62., 23., 44., 36.],
        ...                   "sex": ["F", "M", "F", "M", "F", "M", "M", "F"]})
        >>> y = [0, 0, 1, 1, 1, 0, 1, 0]
        >>> pipe = make_unlearning_pipeline(
        ...     make_column_transformer((StandardScaler(), ["age"]),
        ...                             (OneHotEncoder(handle_unknown="ignore"), ["sex"])),
        ...     UnlearnableLogisticRegression()).fit(X, y)
        >>> X_new = replace_features(X[:2], ["sex"], None)     # forget 'sex'
        >>> report = pipe.unlearn(X[:2], X_new, y[:2]).unlearn_history_[-1]
        >>> report.categories_kept, report.unlearned
        (('columntransformer__onehotencoder',), ('columntransformer__standardscaler',))
        """
        return UnlearnerMixin.unlearn(self, X_old, X_new, y_old, y_new,
                                      sample_weight=sample_weight, **options)

    # -- the unlearning contract --------------------------------------------------------
    def _unlearn_option_names(self):
        # the final step's, but for the change of features the pipeline
        # computes from its unlearned steps
        return [name for name in self.steps[-1][1]._unlearn_option_names()
                if name != "feature_change"]

    def _unknown_option_hint(self, name):
        if name == "feature_change":
            return (" feature_change is computed by the pipeline from its unlearned "
                    "steps; it is not an option of its requests.")
        return super()._unknown_option_hint(name)

    def _unlearn_options(self, **options):
        if "unlearn_statistics_" not in self.__dict__:
            raise ValueError("Fit this UnlearningPipeline with fit before requests.")
        return options

    def _unlearn_request(self, X_old, X_new, y_old, y_new, sample_weight, options):
        if X_old is None and X_new is None:
            raise ValueError("Nothing to unlearn: pass X_old and/or X_new.")
        n = getattr(self, "n_features_in_", None)
        for name, X in (("X_old", X_old), ("X_new", X_new)):
            # the steps' own conversions read a sparse matrix's index arrays
            check_sparse_structure(X, name)
            shape = () if X is None else np.shape(X)
            if n is not None and len(shape) == 2 and shape[1] != n:
                raise ValueError(
                    f"{name} has {shape[1]} columns, but the pipeline was fitted on "
                    f"{n}: pass the rows as the pipeline takes them (its raw input). "
                    "Nothing was changed.")
        return X_old, X_new, y_old, y_new, sample_weight

    def _unlearned_state(self, request, **options):
        X_old, X_new, y_old, y_new, sample_weight = request
        frozen_before = frozenset(name for r in self.unlearn_history_
                                  for name in r.treated_as_frozen)
        walk = Walk(frozenset(self.frozen_steps or ()), self.unlearn_statistics_,
                    dict(self.unlearn_statistics_), frozen_before)
        prefix, change = walk_chain(self.steps[:-1], (), X_old, X_new, None, walk)
        # the rows that leave, as the final step was trained on them (through
        # the steps as they were: an imputer whose mean changes imputed them
        # with the old one); the new ones through the new steps
        F_old, F_new = X_old, X_new
        for (_, before), (_, after) in zip(self.steps[:-1], prefix):
            F_old, F_new = _transform(before, F_old), _transform(after, F_new)
        name, final = self.steps[-1]
        refuse_missing(final, {"X_old": F_old, "X_new": F_new})
        known = None if change is None else self._feature_change(change)
        if known is not None:
            options["feature_change"] = self._checked_change(final, known)
            if F_old is not None:
                # in the coordinates the change takes the final step to (a
                # data frame keeps its columns, which the final step checks)
                rows = F_old if hasattr(F_old, "columns") else dense_rows(F_old)
                F_old = rows * known[0] + known[1]
        plan = final.plan_unlearn(F_old, F_new, y_old, y_new, sample_weight=sample_weight,
                                  **options)
        report = PipelineRequestReport.of(plan.report, walk.kinds, name)
        # the final step takes its plan in place as the pipeline commits (see
        # _complete_unlearn): a request made on it directly, and a reference
        # to it a caller holds, then see the same model as the pipeline
        steps = [*prefix, (name, final)]
        return {"steps": steps,
                "_fitted_params": self._fitted_params_text(steps),
                "unlearn_statistics_": walk.new_counts,
                "unlearn_history_": [*self.unlearn_history_, report.kept()],
                "_final_plan": plan}, report

    def _complete_unlearn(self, *, copied):
        plan = self.__dict__.get("_final_plan")
        if plan is None:
            return
        name, final = self.steps[-1]
        if final._state_name() == plan._base:
            # a copy of the pipeline gets a final step of its own
            updated = final.apply_unlearn(plan, copy=copied)
            if copied:
                self.steps = [*self.steps[:-1], (name, updated)]
        elif vars(final).get("_unlearn_token") != plan._name:
            # neither before nor after the plan (applied already when a
            # completion was cut short after it): changed in between
            raise ValueError(
                "The pipeline's last request was interrupted before its final step "
                "took its part, and the final step was changed since by a request "
                "of its own: the two no longer match. Refit the pipeline.")
        self.__dict__["_final_plan"] = None

    @staticmethod
    def _feature_change(change):
        """The change of the final features, ``None`` when it leaves them as
        they are."""
        if np.all(change.scale == 1.0) and np.all(change.shift == 0.0):
            return None
        return change.scale, change.shift

    @staticmethod
    def _checked_change(final, change):
        tags = get_unlearn_tags(final)
        if not tags.feature_changes:
            raise ValueError(
                f"The request changes the features of every training row (a scaler "
                f"was unlearned), and the final step {type(final).__name__} cannot "
                "take such a change (its tags say feature_changes=False). Freeze "
                "the scaler (frozen_steps or FrozenEstimator), or use a final step "
                "that can (UnlearnableRidge, UnlearnableLogisticRegression, the GLMs)."
            )
        return change

    def _fitted_params_text(self, steps=None):
        # the steps before the final one, with their parameters and fitted
        # statistics, as the last fit or request left them, and the fit the
        # final step's state descends from (it checks its own parameters;
        # its requests, the pipeline's or its own, keep that fit's lineage)
        steps = self.steps if steps is None else steps
        token = getattr(steps[-1][1], "__dict__", {}).get("_unlearn_token")
        lineage = "" if token is None else state_lineage(token)
        return (super()._fitted_params_text() + lineage
                + fitted_digest(step for _, step in steps[:-1]))

    def _check_applicable(self, plan):
        # and whether the final step takes its part: what it refuses (its
        # parameters changed since the plan, a certified removal's policy) is
        # refused before the pipeline's steps go in (found after them, it
        # left the new preprocessing before the old final step, predictions
        # 0.06 off both states)
        super()._check_applicable(plan)
        final, part = self._unlearning_final(), plan._state.get("_final_plan")
        if final is not None and part is not None:
            final._check_applicable(part)

    def _params_changed_message(self):
        return ("The steps of this UnlearningPipeline changed since its last fit or "
                "request (set_params of a step or of its parameters, a step replaced, "
                "or refitted on its own; or a function of a step computes otherwise: "
                "its code, or data it reads, changed): its statistics kept for "
                "unlearning are those of the steps as they were. Set them back, or "
                "fit the pipeline again. A function that changes what it holds as it "
                "runs (a counter, a cache) is refused at every request: rows cannot "
                "be unlearned through it; one that fills a value on first use (a "
                "lazy loader) is refused until it has run in this process (a predict "
                "fills it). Nothing was changed.")

    #: The steps to freeze are chosen per request; a cache of transformers
    #: is never used after fit (the final step checks its own parameters).
    _unlearn_free_params = UnlearnerMixin._unlearn_free_params | {"frozen_steps",
                                                                 "memory"}

    def _holding_locks(self, work):
        # a request made on the final step itself holds that step's lock:
        # none then falls between this request's plan and its commit. A
        # final pipeline holds its own final step's too, at every depth (a
        # request on the innermost model between the two levels' commits
        # left the outer steps changed and the inner ones not)
        final = self._unlearning_final()
        if final is None:
            return serialised(self, work)
        return serialised(self, lambda: final._holding_locks(work))

    def _check_not_owned(self):
        # the final step takes the pipeline's requests in place: a final step
        # another estimator owns refuses them before anything changes
        super()._check_not_owned()
        final = self._unlearning_final()
        if final is not None:
            final._check_not_owned()

    def _unlearning_final(self):
        """The final step when it is an unlearner (it then takes requests in
        place, the pipeline's and its own), else ``None``."""
        try:
            final = self.__dict__["steps"][-1][1]
        except (KeyError, IndexError, TypeError):     # not (yet) a valid pipeline
            return None
        return final if isinstance(final, UnlearnerMixin) else None

    def _detached_state(self, state):
        # a copy gets a final step of its own: requests change it in place.
        # Its copy is marked as this snapshot's (copied again, it would copy
        # its kept rows again); a pipeline made from the snapshot unmarks it
        final = self._unlearning_final()
        if final is not None:
            snapshot = shallow_copy(final)
            snapshot.__dict__["_unlearn_snapshot"] = True
            state["steps"] = [*state["steps"][:-1], (state["steps"][-1][0], snapshot)]
        return state

    def _applicable_state(self, state):
        # a plan made on another pipeline of this state (a copy, a file)
        # names that pipeline's steps: this one takes its own final step,
        # which the plan's final part then moves, and copies of the rest
        # (a plan's final step moved in place the pipeline it was made on,
        # which then shared its final step with this one)
        name, planned = state["steps"][-1]
        own = self.steps[-1][1]
        if planned is own:
            return state
        # the steps the request left as they were are the other pipeline's
        # own, which it may have changed in place since (set_params, a fit)
        if self._fitted_params_text(state["steps"]) != state["_fitted_params"]:
            raise ValueError(
                "The plan was made on another pipeline of this state, whose steps "
                "were changed since (set_params or a fit): plan the request again "
                "on this pipeline. Nothing was changed.")
        steps = [(n, copy.deepcopy(step)) for n, step in state["steps"][:-1]]
        return {**state, "steps": [*steps, (name, own)]}

    def __setstate__(self, state):
        super().__setstate__(state)
        final = self._unlearning_final()
        if final is not None:
            final.__dict__.pop("_unlearn_snapshot", None)

    def _state_name(self):
        # a request made on the final step itself changes the state too (on
        # a final pipeline's own final step, at any depth)
        final = self._unlearning_final()
        return (self.__dict__.get("_unlearn_token"),
                None if final is None else final._state_name())

    def _published_parameters(self, attributes):
        # the final step's state: the one its pending plan makes, if any
        plan = attributes.get("_final_plan")
        token = repr(plan._name if plan is not None
                     else vars(attributes["steps"][-1][1]).get("_unlearn_token")).encode()
        return [np.frombuffer(token, dtype=np.uint8)]

    def _unlearn_tags(self):
        tags = get_unlearn_tags(self.steps[-1][1])
        return UnlearnTags(exact=tags.exact, residual_bound=tags.residual_bound,
                           convex=tags.convex, methods=tags.methods)

    def __sklearn_tags__(self):
        if _final_unlearns(self):
            return UnlearnerMixin.__sklearn_tags__(self)
        return Pipeline.__sklearn_tags__(self)


def _read_under_lock(name):
    """Pipeline's ``name`` run holding the request lock, once a commit cut
    short is completed: a request commits the pipeline's steps and then its
    final step's plan, and a prediction between the two would pass rows
    through the new preprocessing into the old final step (2.8 from both the
    prediction before and the one after, in a test). A completion that
    fails raises: no prediction mixes the two. Available exactly when
    Pipeline's is."""
    inherited = Pipeline.__dict__[name]

    @functools.wraps(inherited.fn)
    def read(self, *args, **kwargs):
        def completed_first():
            self._complete_pending()
            return inherited.fn(self, *args, **kwargs)

        return serialised(self, completed_first)

    return available_if(inherited.check)(read)


for _name in ("predict", "predict_proba", "predict_log_proba", "decision_function",
              "score_samples", "transform", "inverse_transform", "score"):
    setattr(UnlearningPipeline, _name, _read_under_lock(_name))


def make_unlearning_pipeline(*steps, frozen_steps=None, transform_input=None, memory=None,
                             verbose=False):
    """Build an :class:`UnlearningPipeline`, naming the steps as
    :func:`~sklearn.pipeline.make_pipeline` does.

    Parameters
    ----------
    *steps : list of estimators
        The steps; the last one should be an unlearner.
    frozen_steps, transform_input, memory, verbose
        As in :class:`UnlearningPipeline`.

    Returns
    -------
    pipeline : UnlearningPipeline

    Examples
    --------
    >>> from sklearn.preprocessing import StandardScaler
    >>> from sklearn_unlearn import UnlearnableRidge
    >>> from sklearn_unlearn.pipeline import make_unlearning_pipeline
    >>> pipe = make_unlearning_pipeline(StandardScaler(), UnlearnableRidge())
    >>> [name for name, _ in pipe.steps]
    ['standardscaler', 'unlearnableridge']
    """
    named = make_pipeline(*steps).steps
    return UnlearningPipeline(named, frozen_steps=frozen_steps,
                              transform_input=transform_input, memory=memory,
                              verbose=verbose)


def _given_weights(leaf, path, params):
    """Whether a fit with ``params`` gave the scaler ``leaf`` sample weights:
    by name (``"<step>__sample_weight"``), or by metadata routing, which
    gives them to a step that requests them. Its fitted statistics then
    weigh the rows, which the pipeline's requests count."""
    if params.get(f"{path}__sample_weight") is not None:
        return True
    if not get_config().get("enable_metadata_routing"):
        return False
    # requested as sample_weight (True) or under an alias (its key)
    request = leaf.get_metadata_routing().fit.requests.get("sample_weight")
    key = "sample_weight" if request is True else request if isinstance(request, str) else None
    return key is not None and params.get(key) is not None


def _fitted_in_place(pipeline):
    """The steps of ``pipeline`` and every estimator nested in them, which a
    fit without memory refits in place."""
    found, seen = [], set()
    # the deep parameters name every step, and every estimator in them
    for value in pipeline.get_params(deep=True).values():
        if hasattr(value, "get_params") and hasattr(value, "__dict__") and (
                not isinstance(value, type)) and id(value) not in seen:
            seen.add(id(value))
            found.append(value)
    return found
