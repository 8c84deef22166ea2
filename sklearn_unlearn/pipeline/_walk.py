"""A request's walk through the fitted preprocessing of a pipeline.

Every step is taken by what its fitted state is: nothing (``"passthrough"``,
``"drop"``, a stateless transformer), frozen (a FrozenEstimator, or a step the
user named in ``frozen_steps``), a set of categories (kept), or sums over rows
(unlearned exactly). Any other fitted step is refused by name. The walk
returns the new steps and how every row outside the request sees its output
change: ``None`` (unchanged), or per output column a scale and a shift. A
change the final step cannot follow (not affine in a step's own output, or
under rows the pipeline does not hold) is refused: the final step would keep
those rows as the old statistics made them, and those statistics are sums
over the removed rows.
"""

import copy
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp
from sklearn.compose import ColumnTransformer
from sklearn.frozen import FrozenEstimator
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import (
    FunctionTransformer,
    OneHotEncoder,
    OrdinalEncoder,
    StandardScaler,
)
from sklearn.utils import get_tags

from ._statistics import dense_rows, unlearned_imputer, unlearned_scaler


@dataclass
class Change:
    """How the rows outside a request see a step's output columns change."""

    scale: np.ndarray
    shift: np.ndarray

    @classmethod
    def identity(cls, width):
        return cls(np.ones(width), np.zeros(width))


@dataclass
class Walk:
    """What a walk needs and what it records for the report."""

    frozen_steps: frozenset
    counts: dict
    new_counts: dict = field(default_factory=dict)
    #: steps an earlier request kept as fitted: their statistics no longer
    #: follow the rows, so they cannot be unlearned any more
    frozen_before: frozenset = frozenset()
    kinds: dict = field(default_factory=dict)

    def opted_frozen(self, path):
        return "__".join(path) in self.frozen_steps or path[-1] in self.frozen_steps


def _is_stateless(step):
    return isinstance(step, FunctionTransformer) or not get_tags(step).requires_fit


def _is_mean_imputer(step):
    return (isinstance(step, SimpleImputer) and step.strategy == "mean"
            and not step.add_indicator
            and isinstance(step.missing_values, float) and np.isnan(step.missing_values))


def _refuse(path, step, why):
    name = "__".join(path)
    raise ValueError(
        f"Pipeline step {name!r} ({type(step).__name__}) {why} Freeze it: fit it on "
        "data that is not to be removed and wrap it in sklearn.frozen.FrozenEstimator, "
        f"or pass frozen_steps=[{name!r}] to keep its fitted state as it is (the "
        "report records it; its statistics then still depend on the rows removed)."
    )


def _refuse_unfollowed(path, step, why):
    name = "__".join(path)
    raise ValueError(
        f"Pipeline step {name!r} ({type(step).__name__}) {why} The final step "
        "cannot follow that change without those rows, and would keep them as the "
        "old statistics made them: those are sums over the rows the request "
        "removes, which could be recovered from it. Nothing was changed. Refit "
        "the pipeline, or keep the earlier step's statistics as fitted with "
        "frozen_steps (the report records it; its statistics then still depend on "
        "the rows removed)."
    )


def _transform(step, X):
    if X is None or step is None or (isinstance(step, str) and step == "passthrough"):
        return X
    return step.transform(X)


def walk_chain(steps, path, Xo, Xn, change, w):
    """The new ``(name, step)`` list of a chain of steps and its output change."""
    new_steps = []
    for name, step in steps:
        new, change = walk_step(step, (*path, name), Xo, Xn, change, w)
        Xo, Xn = _transform(step, Xo), _transform(new, Xn)
        new_steps.append((name, new))
    return new_steps, change


def walk_step(step, path, Xo, Xn, change, w):
    """The step after the request and the change of its output."""
    name = "__".join(path)
    if step is None or (isinstance(step, str) and step in ("passthrough", "drop")):
        w.kinds[name] = "passed_through"
        return step, change
    if isinstance(step, Pipeline):
        steps, change = walk_chain(step.steps, path, Xo, Xn, change, w)
        new = copy.copy(step)
        new.steps = steps
        return new, change
    if isinstance(step, ColumnTransformer):
        return _walk_columns(step, path, Xo, Xn, change, w)
    incoming = change is not None and (np.any(change.scale != 1)
                                       or np.any(change.shift != 0))
    if isinstance(step, FunctionTransformer) and step.func is None:
        # the identity (a ColumnTransformer keeps "passthrough" as one): a
        # change passes through it as it is
        w.kinds[name] = "passed_through"
        return step, change
    if isinstance(step, FrozenEstimator) or _is_stateless(step) or w.opted_frozen(path):
        w.kinds[name] = ("frozen" if isinstance(step, FrozenEstimator) else
                         "passed_through" if _is_stateless(step) else "treated_as_frozen")
        if incoming:
            _refuse_unfollowed(path, step, "receives features that the request "
                               "changes for every row outside it (an earlier step was "
                               "unlearned), and what it makes of them is not known to be "
                               "affine.")
        return step, None
    if incoming:
        _refuse(path, step, "is fitted on features that the request changes for rows "
                "outside it (an earlier step was unlearned), so it cannot be updated "
                "from the request's rows.")
    if isinstance(step, (OneHotEncoder, OrdinalEncoder)):
        if getattr(step, "max_categories", None) is not None or (
                getattr(step, "min_frequency", None) is not None):
            _refuse(path, step, "groups infrequent categories by their counts, which "
                    "the pipeline does not keep.")
        w.kinds[name] = "categories_kept"
        return step, None
    if name in w.frozen_before and (isinstance(step, StandardScaler)
                                    or _is_mean_imputer(step)):
        raise ValueError(
            f"Pipeline step {name!r} ({type(step).__name__}) was kept as fitted by an "
            "earlier request (frozen_steps): its statistics no longer follow the "
            "training rows, so it cannot be unlearned any more. Keep it in "
            "frozen_steps, or refit the pipeline. Nothing was changed.")
    if isinstance(step, StandardScaler):
        return _walk_scaler(step, path, Xo, Xn, w)
    if _is_mean_imputer(step):
        return _walk_imputer(step, path, Xo, Xn, w)
    _refuse(path, step, "is fitted on the training data and cannot be unlearned "
            "(the pipeline unlearns StandardScaler and SimpleImputer(strategy='mean') "
            "exactly and keeps the categories of OneHotEncoder and OrdinalEncoder).")


def _walk_scaler(step, path, Xo, Xn, w):
    name = "__".join(path)
    old, new_rows = dense_rows(Xo), dense_rows(Xn)
    # the rows the pipeline counted, the exact sums of every column's values
    # and of their squares, and whether the fit weighed the rows
    n_rows, sums, squares, weighted = w.counts[name]
    if weighted:
        _refuse(path, step, "was fitted with sample weights, whose sums the "
                "pipeline does not unlearn (it counts the rows).")
    if step.mean_ is not None and (sums is None or np.ndim(sums) != 2):
        _refuse(path, step, "was saved by a version of sklearn_unlearn that kept no "
                "exact sums of its columns, from which it is unlearned. Refit the "
                "pipeline.")
    new, scale_shift, sums, squares = unlearned_scaler(step, old, new_rows, sums, squares)
    w.kinds[name] = "unlearned"
    w.new_counts[name] = (n_rows - (0 if old is None else len(old))
                          + (0 if new_rows is None else len(new_rows)), sums, squares,
                          weighted)
    if scale_shift is None:
        return new, None
    return new, Change(*scale_shift)


def _walk_imputer(step, path, Xo, Xn, w):
    name = "__".join(path)
    # the observed values' count and exact sum per column, and the rows
    observed, n_rows, sums = w.counts[name]
    old, new_rows = dense_rows(Xo), dense_rows(Xn)
    new, n_obs, changed, sums = unlearned_imputer(step, observed, old, new_rows, sums)
    removed = 0 if old is None else len(old)
    added = 0 if new_rows is None else len(new_rows)
    w.new_counts[name] = (n_obs, n_rows - removed + added, sums)
    w.kinds[name] = "unlearned"
    # rows outside the request that were imputed would see their value change
    missing_old = 0 if old is None else np.isnan(old).sum(axis=0)
    imputed_elsewhere = (n_rows - observed) - missing_old
    unfollowed = changed & (imputed_elsewhere > 0)
    if unfollowed.any():
        cols = np.flatnonzero(unfollowed)
        _refuse_unfollowed(
            path, step, f"would change the mean it imputes in column(s) {cols.tolist()}, "
            f"which {int(imputed_elsewhere[cols].max())} or more rows outside the "
            "request had imputed.")
    return new, None


def _missing_features(F):
    """Positions of the features of ``F`` (rows as the final step takes
    them) that hold a missing value (NaN, or ``None`` in a data frame)."""
    if F is None:
        return np.zeros(0, dtype=int)
    if hasattr(F, "isna"):
        return np.flatnonzero(F.isna().to_numpy().any(axis=0))
    if sp.issparse(F):
        F = sp.csc_array(F)
        columns = np.repeat(np.arange(F.shape[1]), np.diff(F.indptr))
        data = F.data
    else:
        F = np.asarray(F)
        data = F.reshape(len(F), -1)
        columns = np.broadcast_to(np.arange(data.shape[1]), data.shape)
    if data.dtype.kind not in "fc":
        # not numbers: the final step says what it makes of them
        return np.zeros(0, dtype=int)
    return np.unique(columns[np.isnan(data)])


def refuse_missing(final, rows):
    """Refuse request rows (``rows``: ``{name: rows through the steps}``)
    with a missing value where the final step takes none, naming where it
    comes from: the final step's own refusal speaks of its input alone."""
    if get_tags(final).input_tags.allow_nan:
        return
    for name, F in rows.items():
        where = _missing_features(F)
        if len(where):
            names = getattr(F, "columns", None)
            shown = (where if names is None else np.asarray(names)[where])[:5].tolist()
            raise ValueError(
                f"{name}, passed through the pipeline's steps, hold missing values in "
                f"{len(where)} of the features of the final step "
                f"{type(final).__name__} ({shown}{', ...' if len(where) > 5 else ''}), "
                "which takes none. They come out of the steps: a raw value that is "
                "missing (NaN, None, pd.NA, or NaT, which "
                "sklearn_unlearn.zero_features gives a datetime column) passed on by a "
                "step that does not impute it (a FunctionTransformer, say). Give those "
                "raw columns values the steps make numbers of (sklearn_unlearn."
                "replace_features), or add an imputer before the final step and fit "
                "the pipeline again. Nothing was changed.")


def _select(X, columns, indices):
    if X is None:
        return None
    scalar = np.isscalar(columns)
    if hasattr(X, "iloc"):
        return X.iloc[:, indices[0]] if scalar else X.iloc[:, indices]
    if sp.issparse(X):
        return X.tocsc()[:, indices]
    X = np.asarray(X)
    return X[:, indices[0]] if scalar else X[:, indices]


def _walk_columns(ct, path, Xo, Xn, change, w):
    out_width = max((s.stop for s in ct.output_indices_.values()), default=0)
    out = Change.identity(out_width)
    any_change = False
    weights = ct.transformer_weights or {}
    fitted = []
    for name, trans, columns in ct.transformers_:
        indices = ct._transformer_to_input_indices.get(name, [])
        if (isinstance(trans, str) and trans == "drop") or len(indices) == 0:
            fitted.append((name, trans, columns))
            continue
        sub = None
        if change is not None:
            sub = Change(change.scale[indices], change.shift[indices])
        new, child = walk_step(trans, (*path, name), _select(Xo, columns, indices),
                               _select(Xn, columns, indices), sub, w)
        fitted.append((name, new, columns))
        if child is not None:
            span = ct.output_indices_[name]
            out.scale[span] = child.scale
            out.shift[span] = child.shift * weights.get(name, 1.0)
            any_change = True
    new_ct = copy.copy(ct)
    new_ct.transformers_ = fitted
    return new_ct, (out if any_change else None)


def leaf_inputs(step, path, X):
    """``(name, step, input)`` of every mean imputer and standard scaler,
    for the statistics a fit keeps of them."""
    if step is None or isinstance(step, str):
        return
    if isinstance(step, Pipeline):
        for name, sub in step.steps:
            yield from leaf_inputs(sub, (*path, name), X)
            X = _transform(sub, X)
    elif isinstance(step, ColumnTransformer):
        for name, trans, columns in step.transformers_:
            indices = step._transformer_to_input_indices.get(name, [])
            if len(indices) and not isinstance(trans, str):
                yield from leaf_inputs(trans, (*path, name), _select(X, columns, indices))
    elif _is_mean_imputer(step) or isinstance(step, StandardScaler):
        yield "__".join(path), step, X
