"""Every exported estimator, once, with what the common tests run it on.

Adding an estimator adds one entry to :data:`REGISTRY`: the instances for
scikit-learn's checks and for
:func:`~sklearn_unlearn.utils.estimator_checks.check_unlearning`, the recipes
of the no-trace scan, and the configurations the persistence tests save
(each with the types its skops file names beyond the core ones) and check
against the persistence guide's lists. Each of those tests takes its list
from here, and ``tests/test_common.py`` fails for an exported estimator
that has no entry.

A data set is named by its task: ``"binary"``, ``"multiclass"``,
``"regression"``, ``"multi-target"``, ``"positive"`` (a regression with
positive targets, for a GLM), with ``"-sparse"`` for CSR rows; each test
makes its own data for a task.
"""

from dataclasses import dataclass, field

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer
from sklearn.svm import LinearSVC

from sklearn_unlearn import (
    CertifiedRemoval,
    UnlearnableGammaRegressor,
    UnlearnableLinearSVC,
    UnlearnableLogisticRegression,
    UnlearnableMLPClassifier,
    UnlearnableMLPRegressor,
    UnlearnablePoissonRegressor,
    UnlearnableRidge,
    UnlearnableTweedieRegressor,
)

_LOSSES = "sklearn_unlearn.losses._glm."


@dataclass(frozen=True)
class Recipe:
    """An estimator and the problem the no-trace scan fits it on.

    ``task``: see the module. ``transform``: what a stateless first pipeline
    step does to the rows (``None``: the final step sees them as given).
    """

    name: str
    make: object
    task: str
    wide: bool = False
    sparse: bool = False
    float32: bool = False
    transform: object = None
    params: dict = field(default_factory=dict)

    def __str__(self):
        return self.name


@dataclass(frozen=True)
class Saved:
    """A configuration the persistence tests save and load: the estimator,
    the task of its data, and the types its skops file names beyond the
    core ones (its loss, what it keeps of its rows)."""

    make: object
    task: str
    types: frozenset = frozenset()


@dataclass(frozen=True)
class Documented:
    """A configuration whose skops file must name what the persistence
    guide's list for the estimator says, under ``conditions`` (the guide's
    words): the estimator, the task of its data, the request options."""

    make: object
    task: str
    options: dict
    conditions: frozenset


@dataclass(frozen=True)
class Entry:
    """What the common tests run one exported estimator on."""

    sklearn_checks: tuple
    unlearning_checks: tuple
    no_trace: tuple
    saved: dict = field(default_factory=dict)
    documented: dict = field(default_factory=dict)


def hessian_modes(cls):
    """The options of a ``hessian`` parameter, ``"auto"`` (one of the others) excepted."""
    (options,) = [c for c in cls._parameter_constraints["hessian"]
                  if hasattr(c, "options")]
    return set(options.options) - {"auto"}


def _linear_recipes(cls, tasks, sparse_task, extra=()):
    """Every ``hessian`` mode of ``cls`` (the low-rank one on a wide problem),
    on each task, and the dense mode on sparse input."""
    out = [Recipe(f"{cls.__name__}-{task}-{mode}", (lambda m=mode: cls(hessian=m)), task,
                  wide=mode != "dense", params={"hessian": mode})
           for mode in sorted(hessian_modes(cls)) for task in tasks]
    out.append(Recipe(f"{cls.__name__}-{sparse_task}-dense-sparse",
                      lambda: cls(hessian="dense"), sparse_task, sparse=True,
                      params={"hessian": "dense"}))
    return (*out, *extra)


class _AdoptedFromChunks:
    """``fit``: scikit-learn's parent fit, then ``from_fitted`` from chunks of
    rows (the cache made by the chunked passes)."""

    def __init__(self, cls, parent):
        self.cls, self.parent = cls, parent

    def fit(self, X, y):
        fitted = self.parent().fit(X, y)
        chunks = [(X[i:i + 50], y[i:i + 50]) for i in range(0, X.shape[0], 50)]
        return self.cls.from_fitted(fitted, chunks)


def _scan_mlp(cls, **kw):
    return lambda: cls(hidden_layer_sizes=(7,), max_iter=40, random_state=0, **kw)


def _scan_certified(final, keep, pipeline=False):
    def make():
        est = final()
        if pipeline:
            est = make_pipeline(FunctionTransformer(np.arcsinh), est)
        return CertifiedRemoval(est, budget=1.0, keep_data=keep, random_state=0,
                                on_budget_exceeded="retrain" if keep else "warn")
    return make


def _glm_recipes(name, make):
    return (Recipe(f"{name}-positive", make, "positive"),
            Recipe(f"{name}-positive-sparse", make, "positive", sparse=True))


# the networks converged (lbfgs, smooth activation): the update aims at the
# optimum near the fitted parameters. The classifier is regularised more: at
# alpha=1e-2 its 3-class problem is fit almost perfectly, the objective is flat
# and a damped Newton step on a feature edit or a label change overshoots
# (benchmarks/RESULTS_mlp.md, "Unlearning checks").
_MLP_CHECKED = dict(hidden_layer_sizes=(5,), solver="lbfgs", activation="tanh",
                    alpha=1e-2, tol=1e-12, max_iter=5000, random_state=0)
_MLP_SAVED = dict(hidden_layer_sizes=(4,), max_iter=10, random_state=0)
# few iterations keep scikit-learn's checks quick (as it checks its own MLPs)
_MLP_QUICK = dict(max_iter=100, random_state=0)


def _logistic_documented():
    out = {}
    for kind in ("binary", "multiclass"):
        for h in ("dense", "low_rank"):
            for rb in (True, False):
                out[f"logistic_{kind}_{h}_bound_{rb}"] = Documented(
                    lambda h=h, rb=rb: UnlearnableLogisticRegression(hessian=h,
                                                                     residual_bound=rb),
                    kind, {}, frozenset({kind, f'hessian="{h}"'}
                                        | ({"residual_bound=True"} if rb else set())))
    return out


def _mlp_documented(cls, kind, tasks):
    out = {f"mlp_{kind}_{solver}_{task}": Documented(
        lambda s=solver: cls(solver=s, **_MLP_SAVED), task, {},
        frozenset({f'solver="{solver}"', "keep_data=True"}))
        for solver, task in zip(("adam", "sgd", "lbfgs"), tasks)}
    if cls is UnlearnableMLPClassifier:
        out["mlp_classifier_no_rows"] = Documented(
            lambda: cls(keep_data=False, **_MLP_SAVED), "multiclass",
            {"method": "first_order", "tau": 0.1}, frozenset({'solver="adam"'}))
    return out


def _glm_documented(key, make, conditions=()):
    return {f"glm_{key}": Documented(make, "positive", {}, frozenset(conditions))}


def _log_link_entry(cls, key, loss):
    """The entry of a GLM with a log link and no parameter of its own."""
    make = lambda: cls(alpha=0.1)  # noqa: E731
    return Entry(
        sklearn_checks=(cls(),),
        unlearning_checks=(make(),),
        no_trace=_glm_recipes(cls.__name__, make),
        saved={key: Saved(make, "positive", frozenset({_LOSSES + loss}))},
        documented=_glm_documented(key, cls),
    )


REGISTRY = {
    UnlearnableLogisticRegression: Entry(
        sklearn_checks=(UnlearnableLogisticRegression(),),
        unlearning_checks=(UnlearnableLogisticRegression(),),
        no_trace=_linear_recipes(
            UnlearnableLogisticRegression, ["binary", "multiclass"], "binary",
            [Recipe("UnlearnableLogisticRegression-binary-dense-float32",
                    lambda: UnlearnableLogisticRegression(hessian="dense"), "binary",
                    float32=True, params={"hessian": "dense"}),
             Recipe("UnlearnableLogisticRegression-multiclass-adopted-from-chunks",
                    lambda: _AdoptedFromChunks(UnlearnableLogisticRegression,
                                               LogisticRegression), "multiclass")]),
        saved={
            "binary_logistic": Saved(lambda: UnlearnableLogisticRegression(C=0.5),
                                     "binary", frozenset({_LOSSES + "BinaryLogLoss"})),
            "multinomial_logistic": Saved(lambda: UnlearnableLogisticRegression(C=0.5),
                                          "multiclass",
                                          frozenset({_LOSSES + "MultinomialLogLoss"})),
        },
        documented=_logistic_documented(),
    ),
    UnlearnableRidge: Entry(
        sklearn_checks=(UnlearnableRidge(),),
        unlearning_checks=(UnlearnableRidge(),),
        no_trace=_linear_recipes(UnlearnableRidge, ["regression", "multi-target"],
                                 "regression"),
        saved={
            "ridge": Saved(lambda: UnlearnableRidge(alpha=0.3), "regression",
                           frozenset({_LOSSES + "HalfSquaredError"})),
            "multi_target_ridge": Saved(lambda: UnlearnableRidge(alpha=0.3),
                                        "multi-target",
                                        frozenset({_LOSSES + "HalfSquaredError"})),
        },
        documented={f"ridge_{task}_{h}": Documented(
            lambda h=h: UnlearnableRidge(hessian=h), task, {},
            frozenset({f'hessian="{h}"'}))
            for task in ("regression", "multi-target") for h in ("dense", "low_rank")},
    ),
    UnlearnableLinearSVC: Entry(
        sklearn_checks=(UnlearnableLinearSVC(),),
        unlearning_checks=(UnlearnableLinearSVC(),),
        no_trace=_linear_recipes(UnlearnableLinearSVC, ["binary", "multiclass"],
                                 "multiclass",
                                 [Recipe("UnlearnableLinearSVC-binary-adopted-from-chunks",
                                         lambda: _AdoptedFromChunks(UnlearnableLinearSVC,
                                                                    LinearSVC),
                                         "binary")]),
        # what it keeps of its rows: the side of the margin each entered on
        saved={name: Saved(lambda: UnlearnableLinearSVC(C=0.1, max_iter=10_000), task,
                           frozenset({_LOSSES + "SquaredHinge",
                                      "sklearn_unlearn.solvers.hessian._entry_sides.EntrySides",
                                      "sklearn_unlearn._fingerprints.RowFingerprints"}))
               for name, task in (("binary_svc", "binary"),
                                  ("ovr_svc", "multiclass-sparse"))},
        documented={f"svc_{kind}_{h}": Documented(
            lambda h=h: UnlearnableLinearSVC(hessian=h, C=0.1, max_iter=10_000), kind,
            {}, frozenset({f'hessian="{h}"'}))
            for kind in ("binary", "multiclass") for h in ("dense", "low_rank")},
    ),
    UnlearnableMLPClassifier: Entry(
        sklearn_checks=(UnlearnableMLPClassifier(**_MLP_QUICK),),
        unlearning_checks=(UnlearnableMLPClassifier(**{**_MLP_CHECKED, "alpha": 1.0}),),
        no_trace=(Recipe("UnlearnableMLPClassifier", _scan_mlp(UnlearnableMLPClassifier),
                         "binary"),
                  Recipe("UnlearnableMLPClassifier-sparse",
                         _scan_mlp(UnlearnableMLPClassifier), "multiclass", sparse=True)),
        documented=_mlp_documented(UnlearnableMLPClassifier, "classifier",
                                   ("binary", "multiclass", "multiclass")),
    ),
    UnlearnableMLPRegressor: Entry(
        sklearn_checks=(UnlearnableMLPRegressor(**_MLP_QUICK),),
        unlearning_checks=(UnlearnableMLPRegressor(**_MLP_CHECKED),),
        no_trace=(Recipe("UnlearnableMLPRegressor", _scan_mlp(UnlearnableMLPRegressor),
                         "regression"),
                  Recipe("UnlearnableMLPRegressor-sparse",
                         _scan_mlp(UnlearnableMLPRegressor), "regression", sparse=True)),
        documented=_mlp_documented(UnlearnableMLPRegressor, "regressor",
                                   ("regression", "multi-target", "multi-target")),
    ),
    CertifiedRemoval: Entry(
        sklearn_checks=(
            CertifiedRemoval(UnlearnableLogisticRegression(), budget=0.05, random_state=0),
            CertifiedRemoval(UnlearnableRidge()),
        ),
        unlearning_checks=(
            # a request of 4 rows out of 200 is large: the bound stays within
            # the budget when the objective is strongly convex (small C) and
            # the noise small (small budget)
            CertifiedRemoval(UnlearnableLogisticRegression(C=0.03), budget=0.3,
                             on_budget_exceeded="raise", random_state=0),
            CertifiedRemoval(UnlearnableRidge()),
        ),
        no_trace=(*(
            Recipe(f"CertifiedRemoval-{name}-keep_data={keep}",
                   _scan_certified(final, keep, pipeline), task,
                   transform=np.arcsinh if pipeline else None)
            for name, final, task, pipeline in [
                ("logistic", UnlearnableLogisticRegression, "binary", False),
                ("ridge", UnlearnableRidge, "regression", False),
                ("pipeline-arcsinh-logistic", UnlearnableLogisticRegression, "binary",
                 True),
            ]
            for keep in (True, False)),
            Recipe("CertifiedRemoval-logistic-sparse-keep_data=True",
                   _scan_certified(UnlearnableLogisticRegression, True), "binary",
                   sparse=True)),
    ),
    UnlearnablePoissonRegressor: _log_link_entry(UnlearnablePoissonRegressor, "poisson",
                                                  "HalfPoissonLoss"),
    UnlearnableGammaRegressor: _log_link_entry(UnlearnableGammaRegressor, "gamma",
                                               "HalfGammaLoss"),
    UnlearnableTweedieRegressor: Entry(
        sklearn_checks=(UnlearnableTweedieRegressor(),
                        UnlearnableTweedieRegressor(power=1.5)),
        unlearning_checks=(UnlearnableTweedieRegressor(alpha=0.1),
                           UnlearnableTweedieRegressor(power=1.5, alpha=0.1)),
        no_trace=(
            *_glm_recipes("UnlearnableTweedieRegressor-power=1.5",
                          lambda: UnlearnableTweedieRegressor(power=1.5, alpha=0.1)),
            Recipe("UnlearnableTweedieRegressor-power=0",
                   lambda: UnlearnableTweedieRegressor(alpha=0.1), "regression")),
        # scikit-learn's own loss object, kept by the Tweedie parent (skops
        # trusts those of Poisson and Gamma by default)
        saved={"tweedie": Saved(lambda: UnlearnableTweedieRegressor(power=1.5, alpha=0.1),
                                "positive", frozenset({_LOSSES + "HalfTweedieLoss",
                                                       "sklearn._loss.loss.HalfTweedieLoss"}))},
        documented={
            **_glm_documented("tweedie_0", lambda: UnlearnableTweedieRegressor(power=0.0),
                              {"power=0"}),
            **_glm_documented("tweedie_1.5", lambda: UnlearnableTweedieRegressor(power=1.5),
                              {"1 <= power <= 2"}),
        },
    ),
}


def registered(part):
    """One part of every entry (the attribute of :class:`Entry`), flattened:
    a list for tuples, a dict for dicts."""
    parts = [getattr(entry, part) for entry in REGISTRY.values()]
    if isinstance(parts[0], dict):
        return {k: v for p in parts for k, v in p.items()}
    return [x for p in parts for x in p]


def type_name(cls):
    """The name a skops file gives a class."""
    return f"{cls.__module__}.{cls.__qualname__}"
