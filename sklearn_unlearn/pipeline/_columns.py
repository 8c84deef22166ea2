"""Which output columns of the fitted steps a raw column becomes, and the
steps as a refit would leave them with that column zero in every row."""

import copy

import numpy as np
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

from ._statistics import as_seen, without_columns
from ._walk import _is_stateless


def _cannot(path, step):
    if isinstance(step, FrozenEstimator) or _is_stateless(step):
        # requests pass such a step: the columns can be zeroed row by row
        instead = (
            "Forget them by a request instead: unlearn every current row with the "
            "columns zeroed, pipe.unlearn(X, sklearn_unlearn.zero_features(X, "
            "columns), y) (for a column whose zero the steps cannot take, a date "
            "say, sklearn_unlearn.replace_features with one value they take: a "
            "StandardScaler after the step then makes it zero), or fit the "
            "pipeline again on the rows with the columns zeroed.")
    else:
        instead = ("Fit the pipeline again on the rows with the columns zeroed "
                   "(sklearn_unlearn.zero_features).")
    raise ValueError(
        f"Cannot tell which output columns of step {'__'.join(path)!r} "
        f"({type(step).__name__}) come from the forgotten columns: forget_features "
        "follows columns through ColumnTransformers, pipelines, 'passthrough', "
        "StandardScaler, SimpleImputer (without indicator), OneHotEncoder and "
        f"OrdinalEncoder. {instead} Nothing was changed."
    )


def _one_to_one(step):
    return (isinstance(step, (StandardScaler, OrdinalEncoder))
            or (isinstance(step, SimpleImputer) and not step.add_indicator
                and not np.isnan(step.statistics_).any())
            or (isinstance(step, FunctionTransformer) and step.func is None))


def _zeroed(step, local):
    """A copy of a one-to-one step as a refit on a zero column leaves it."""
    if isinstance(step, StandardScaler) and step.mean_ is not None:
        new = copy.copy(step)
        new.mean_ = step.mean_.copy()
        new.mean_[local] = 0.0
        if step.var_ is not None:
            new.var_ = step.var_.copy()
            new.var_[local] = 0.0
            if step.scale_ is not None:
                new.scale_ = step.scale_.copy()
                new.scale_[local] = 1.0
        return new
    if isinstance(step, SimpleImputer):
        new = copy.copy(step)
        new.statistics_ = step.statistics_.copy()
        new.statistics_[local] = 0.0
        return new
    return step


def forget_columns(step, path, local, walk):
    """``(new step, output positions)`` of the input columns ``local`` of a
    step; ``walk`` (a :class:`~._walk.Walk`) records the steps' kinds and the
    imputers' new counts."""
    name = "__".join(path)
    local = np.asarray(local, dtype=int)
    if step is None or (isinstance(step, str) and step == "passthrough"):
        return step, local
    if isinstance(step, Pipeline):
        steps = []
        for sub_name, sub in step.steps:
            sub, local = forget_columns(sub, (*path, sub_name), local, walk)
            steps.append((sub_name, sub))
        new = copy.copy(step)
        new.steps = steps
        return new, local
    if isinstance(step, ColumnTransformer):
        return _forget_in_columns(step, path, local, walk)
    if isinstance(step, FrozenEstimator) and _one_to_one(step.estimator):
        walk.kinds[name] = "frozen"
        return step, local
    if _one_to_one(step):
        walk.kinds[name] = (
            "unlearned" if isinstance(step, (StandardScaler, SimpleImputer)) else
            "categories_kept" if isinstance(step, OrdinalEncoder) else "passed_through")
        new = _zeroed(step, local)
        # a zero column has every value observed, sums to zero, and its
        # statistics are exact (a refit's); its sums' tables are rebuilt as
        # a fit on the current rows leaves them (as wide as the other
        # columns need: the width the forgotten values needed would stay)
        if isinstance(step, SimpleImputer):
            observed, n_rows, sums = walk.new_counts[name]
            observed = observed.copy()
            observed[local] = n_rows
            walk.new_counts[name] = (observed, n_rows, without_columns(sums, local))
        elif isinstance(step, StandardScaler):
            n_rows, sums, squares, weighted = walk.new_counts[name]
            sums, squares = (without_columns(t, local)
                             if t is not None and np.ndim(t) == 2 else t
                             for t in (sums, squares))
            walk.new_counts[name] = (n_rows, sums, squares, weighted)
            seen = np.broadcast_to(np.asarray(step.n_samples_seen_, dtype=np.float64),
                                   (step.n_features_in_,)).copy()
            seen[local] = n_rows
            new.n_samples_seen_ = as_seen(seen, step.n_samples_seen_)
        return new, local
    if isinstance(step, OneHotEncoder) and step.min_frequency is None and (
            step.max_categories is None):
        walk.kinds[name] = "categories_kept"
        sizes = np.array([len(c) for c in step.categories_])
        drop = step.drop_idx_
        if drop is not None:
            sizes = sizes - np.array([d is not None for d in drop], dtype=int)
        starts = np.r_[0, np.cumsum(sizes)]
        out = [np.arange(starts[k], starts[k + 1]) for k in local]
        return step, np.concatenate(out) if out else np.zeros(0, dtype=int)
    _cannot(path, step)


def _forget_in_columns(ct, path, local, walk):
    out = []
    fitted = []
    for name, trans, columns in ct.transformers_:
        indices = np.asarray(ct._transformer_to_input_indices.get(name, []), dtype=int)
        hit = np.flatnonzero(np.isin(indices, local))
        if (isinstance(trans, str) and trans == "drop") or not len(hit):
            fitted.append((name, trans, columns))
            continue
        new, positions = forget_columns(trans, (*path, name), hit, walk)
        fitted.append((name, new, columns))
        out.append(ct.output_indices_[name].start + positions)
    new_ct = copy.copy(ct)
    new_ct.transformers_ = fitted
    return new_ct, np.concatenate(out) if out else np.zeros(0, dtype=int)
