"""Raw columns forgotten in every row, through the pipeline's fitted steps."""

import numpy as np
from sklearn.frozen import FrozenEstimator
from sklearn.utils.metaestimators import available_if

from ..base import UnlearnerMixin, get_unlearn_tags
from ._columns import forget_columns
from ._report import PipelineRequestReport
from ._walk import Walk, _is_stateless, _transform, refuse_missing


def _final_unlearns(pipeline):
    """Whether the final step is an unlearner (the verbs exist only then)."""
    final = pipeline.steps[-1][1]
    return not isinstance(final, str) and final is not None and (
        get_unlearn_tags(final) is not None)


def _final_forgets(pipeline):
    """Whether the final step can forget features (its tags say it takes a
    change of its features, or it is a pipeline whose final step can), or is
    owned by a meta-estimator: the verbs are then there to refuse, as the
    other requests made past its ledger are."""
    if not _final_unlearns(pipeline):
        return False
    final = pipeline.steps[-1][1]
    if isinstance(final, ForgetColumnsMixin):
        return _final_forgets(final)
    owned = isinstance(final, UnlearnerMixin) and final._unlearn_owner is not None
    return get_unlearn_tags(final).feature_changes or owned


class ForgetColumnsMixin:
    """:meth:`forget_features` of
    :class:`~sklearn_unlearn.pipeline.UnlearningPipeline` (mixin)."""

    @available_if(_final_forgets)
    def forget_features(self, columns, X=None, y=None, sample_weight=None, *,
                        fingerprint_key=None):
        """Retrain as if raw ``columns`` were zero in every row.

        The columns are followed through the fitted steps to the final
        features they become (a scaled column, the one-hot columns of a
        category), which the final step forgets with its own
        ``forget_features``. A scaler or mean imputer of a forgotten column
        takes what a refit on a zero column gives (mean 0, variance 0,
        scale 1); encoders keep their categories, so the values a forgotten
        categorical column took are still listed in ``categories_``.

        With the current training rows ``X``, ``y`` (raw, the fit's rows
        after every request), they pass through the fitted steps and the
        final step polishes its update on them: its ``forget_features`` with
        rows, to the refit. (The steps as they were and as they are after
        the change give the same rows once the forgotten features are
        zeroed; the rows pass through the steps as they were, which a final
        step that keeps fingerprints checks them against.)

        Every column must reach a feature of the final step: a column the
        steps drop is held by nothing in the model, and naming it is refused
        as a likely mistake.

        Parameters
        ----------
        columns : int, str or sequence of them
            Raw columns: positions, or names for a pipeline fitted on a
            DataFrame.
        X : {array-like, DataFrame} of shape (n_samples, n_features), default=None
            The current raw training rows; ``None`` forgets from the caches
            alone.
        y : array-like of shape (n_samples,), default=None
            Their targets (needed with ``X``).
        sample_weight : array-like of shape (n_samples,), default=None
            Their weights in the final step's fit.
        fingerprint_key : bytes, default=None
            The key of a final step fitted with ``fingerprint_key`` (see its
            ``forget_features``): it then forgets only with the rows.

        Returns
        -------
        self : UnlearningPipeline
            On any error it is left exactly as it was.

        Examples
        --------
        >>> import pandas as pd
        >>> from sklearn.compose import make_column_transformer
        >>> from sklearn.preprocessing import OneHotEncoder, StandardScaler
        >>> from sklearn_unlearn import UnlearnableRidge
        >>> from sklearn_unlearn.pipeline import make_unlearning_pipeline
        >>> X = pd.DataFrame({"age": [25., 32., 47., 51., 62., 23.],
        ...                   "sex": ["F", "M", "F", "M", "F", "M"]})
        >>> y = [1.0, 1.3, 2.2, 2.0, 3.1, 0.8]
        >>> pipe = make_unlearning_pipeline(
        ...     make_column_transformer((StandardScaler(), ["age"]),
        ...                             (OneHotEncoder(), ["sex"])),
        ...     UnlearnableRidge()).fit(X, y)
        >>> pipe[-1].coef_.round(3).tolist()
        [0.63, 0.121, -0.121]
        >>> pipe.forget_features(["sex"])[-1].coef_.round(3).tolist()
        [0.664, 0.0, 0.0]
        """
        self._check_forget(X, y, sample_weight, fingerprint_key)
        positions = _raw_positions(self, columns)
        return self._serialised(lambda: self._apply(self._plan_forget(
            positions, X, y, sample_weight, fingerprint_key), False))

    @available_if(_final_forgets)
    def plan_forget_features(self, columns, X=None, y=None, sample_weight=None, *,
                             fingerprint_key=None):
        """The plan of :meth:`forget_features`, computed without changing
        anything (parameters as there): its report has every figure of the
        request, which the history keeps fewer of. Apply it with
        :meth:`apply_unlearn`.

        Returns
        -------
        plan : UnlearningPlan
        """
        # a plan is made to be applied: one past the owner's ledger never is
        self._check_forget(X, y, sample_weight, fingerprint_key)
        positions = _raw_positions(self, columns)
        return self._serialised(lambda: self._plan_forget(
            positions, X, y, sample_weight, fingerprint_key))

    def _check_forget(self, X, y, sample_weight, fingerprint_key=None):
        """Refuse a :meth:`forget_features` the pipeline cannot take: made past
        an owner's ledger, after its steps changed, or one its final step
        refuses (a final pipeline checks its own steps and final step)."""
        self._check_not_owned()
        self._checked_options({})
        self.steps[-1][1]._check_forget(X, y, sample_weight, fingerprint_key)

    def _plan_forget(self, positions, X=None, y=None, sample_weight=None,
                     fingerprint_key=None):
        """The plan of :meth:`forget_features` of the raw columns at
        ``positions`` (checked by :meth:`_check_forget`); a pipeline whose
        final step this one is makes it with its own rows transformed."""
        walk = _new_walk(self)
        steps, local = _forgotten_steps(self, positions, walk)
        unused = [j for j in positions if not _reaches_final(self, [j])]
        if unused:
            names = getattr(self, "feature_names_in_", None)
            given = (np.array(unused) if names is None else names[unused]).tolist()
            raise ValueError(
                f"The columns {given} reach no feature of the final step: the "
                "pipeline's steps drop them, so its model holds nothing of them to "
                "forget. Name only columns the model uses. Nothing was changed.")
        name, final = self.steps[-1]
        if X is not None:
            for _, step in self.steps[:-1]:
                X = _transform(step, X)
            refuse_missing(final, {"The rows X": X})
        # The final step takes its new state in place as the pipeline
        # commits (see _complete_unlearn), as it takes a request.
        plan = final._plan_forget(np.unique(local), X, y, sample_weight, fingerprint_key)
        report = PipelineRequestReport.of(plan.report, walk.kinds, name)
        steps = [*steps, (name, final)]
        # with the rows the final step's cache is made from them, its history
        # anew (the earlier reports' bounds are functions of their rows): the
        # pipeline's as well
        history = [] if X is not None else self.unlearn_history_
        state = {"steps": steps,
                 "_fitted_params": self._fitted_params_text(steps),
                 "unlearn_statistics_": walk.new_counts,
                 "unlearn_history_": [*history, report.kept()],
                 "_final_plan": plan}
        return self._state_plan(state, report)


def _new_walk(pipeline):
    return Walk(frozenset(), pipeline.unlearn_statistics_,
                dict(pipeline.unlearn_statistics_))


def _reaches_final(pipeline, positions):
    """Whether the raw columns at ``positions`` reach a feature of the
    innermost final step (through a final pipeline's steps too: one that
    drops them is named by the raw columns of the outermost)."""
    local = _forgotten_steps(pipeline, positions, _new_walk(pipeline))[1]
    final = pipeline.steps[-1][1]
    if len(local) and isinstance(final, ForgetColumnsMixin):
        return _reaches_final(final, np.unique(local))
    return bool(len(local))


def _forgotten_steps(pipeline, positions, walk):
    """The steps before the final one as a refit leaves them with the raw
    columns at ``positions`` zero, and the final features they become."""
    steps, local = [], positions
    for name, step in pipeline.steps[:-1]:
        step, local = forget_columns(step, (name,), local, walk)
        steps.append((name, step))
    return steps, local


def _raw_positions(pipeline, columns):
    """Positions of raw ``columns`` in the pipeline's input."""
    items = np.atleast_1d(np.asarray(columns, dtype=object))
    n = _input_width(pipeline)
    if any(isinstance(c, str) for c in items):
        names = list(getattr(pipeline, "feature_names_in_", []))
        unknown = [str(c) for c in items if c not in names]
        if not names or unknown:
            raise ValueError(f"Unknown columns {unknown or list(items)}; the pipeline "
                             f"was fitted on {names or 'an array without names'}.")
        return np.array([names.index(c) for c in items])
    positions = items.astype(int)
    if positions.size == 0 or np.any((positions < -n) | (positions >= n)):
        raise ValueError(f"Column positions {positions.tolist()} out of range for {n} "
                         "columns (give at least one).")
    return positions % n


def _input_width(pipeline):
    """The number of raw columns the pipeline takes: its first step's
    (``'passthrough'`` passes them on). A step that takes no columns (a
    text vectorizer takes documents, a ``DictVectorizer`` mappings) leaves
    none to name: refused by name."""
    for name, step in pipeline.steps:
        if step is None or (isinstance(step, str) and step == "passthrough"):
            continue
        n = getattr(step, "n_features_in_", None)
        if n is not None:
            return n
        kept = isinstance(step, FrozenEstimator) or name in (pipeline.frozen_steps or ())
        if _is_stateless(step) or kept:
            # requests pass such a step
            instead = ("Forget them by a request instead: unlearn every current row "
                       "that holds them, edited, pipe.unlearn(X, X_edited, y) "
                       "(documents with the words taken out, say)")
            if kept and not _is_stateless(step):
                instead += ("; the step, kept as fitted, still lists them (its "
                            "vocabulary), which only a refit without them takes out")
        else:
            instead = ("Fit the pipeline again on the rows edited (documents with "
                       "the words taken out, say)")
        raise ValueError(
            f"Cannot forget columns through step {name!r} ({type(step).__name__}): "
            "it takes no columns (a vectorizer takes documents or mappings, and "
            "recorded no n_features_in_), so there are none to name, and which of "
            "its output columns a word or key becomes cannot be traced. "
            f"{instead}. Nothing was changed.")
    raise ValueError("The pipeline has no step that takes its columns.")
