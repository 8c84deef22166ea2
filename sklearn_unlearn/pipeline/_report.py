"""The report of a request made through a pipeline."""

from dataclasses import dataclass, fields

from .._report import RequestReport


@dataclass
class PipelineRequestReport(RequestReport):
    """The final step's figures, and what the request did to every other step.

    An entry of :attr:`UnlearningPipeline.unlearn_history_`. The fields of
    :class:`~sklearn_unlearn.base.RequestReport` are the final step's (its
    ``residual_bound`` is about the final step's objective on the features
    the preprocessing now gives; ``inf`` once a scaler was unlearned).
    Steps are named as in ``set_params`` (``"columntransformer__num__scaler"``).

    Attributes
    ----------
    passed_through : tuple of str
        Steps with no fitted state: ``"passthrough"``, ``"drop"``, a
        FunctionTransformer, a stateless transformer (HashingVectorizer).
    frozen : tuple of str
        :class:`~sklearn.frozen.FrozenEstimator` steps (fitted elsewhere).
    treated_as_frozen : tuple of str
        Fitted steps kept as they are because ``frozen_steps`` names them:
        their fitted state still depends on the rows the request removed.
    categories_kept : tuple of str
        OneHotEncoder and OrdinalEncoder steps, whose categories are kept.
    unlearned : tuple of str
        Steps whose statistics were updated exactly (StandardScaler,
        SimpleImputer with ``strategy="mean"``). The final step is moved for
        every change this makes to the features of rows outside the request;
        a change it cannot follow is refused.

    Examples
    --------
    >>> import pandas as pd
    >>> from sklearn.preprocessing import StandardScaler
    >>> from sklearn_unlearn import UnlearnableRidge
    >>> from sklearn_unlearn.pipeline import make_unlearning_pipeline
    >>> X = pd.DataFrame({"a": [0., 1., 2., 3., 4.], "b": [1., 0., 1., 0., 2.]})
    >>> y = [0.1, 1.2, 1.9, 3.2, 3.9]
    >>> pipe = make_unlearning_pipeline(StandardScaler(), UnlearnableRidge()).fit(X, y)
    >>> report = pipe.unlearn(X[:1], None, y[:1]).unlearn_history_[-1]
    >>> report.unlearned
    ('standardscaler',)
    """

    passed_through: tuple = ()
    frozen: tuple = ()
    treated_as_frozen: tuple = ()
    categories_kept: tuple = ()
    unlearned: tuple = ()

    @classmethod
    def of(cls, final_report, kinds, final_name):
        """The pipeline's report from the final step's and the walk's; a
        final pipeline's steps under ``final_name``, as ``set_params`` names
        them."""
        base = {f.name: getattr(final_report, f.name) for f in fields(RequestReport)}
        named = {}
        for kind in ("passed_through", "frozen", "treated_as_frozen",
                     "categories_kept", "unlearned"):
            inner = (getattr(final_report, kind)
                     if isinstance(final_report, PipelineRequestReport) else ())
            named[kind] = (tuple(name for name, k in kinds.items() if k == kind)
                           + tuple(f"{final_name}__{name}" for name in inner))
        return cls(**base, **named)
