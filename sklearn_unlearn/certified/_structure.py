"""What a certified model is made of: the preprocessing steps and the final
step, which steps the certificate covers, and the final step's noisy fit."""

import copy

import numpy as np
import scipy.sparse as sp
from sklearn.frozen import FrozenEstimator
from sklearn.pipeline import Pipeline
from sklearn.utils import check_array, get_tags

from .._request import check_training_weights
from .._training_rows import TrainingRows
from ..base import get_unlearn_tags

#: The attribute by which a fitted final step is marked as owned by the
#: meta-estimator whose ledger accounts for it: the public ``unlearn`` of the
#: linear estimators refuses an estimator that carries it. It lives in the
#: instance's ``__dict__``, so it is pickled and copied with the estimator,
#: but it is no parameter: ``get_params`` and ``clone`` do not see it.
OWNER_ATTRIBUTE = "_unlearn_owner"


def split(est):
    """``(preprocessing, final step, final step's name)`` of a pipeline, or
    ``(None, est, None)``."""
    if isinstance(est, Pipeline):
        # a pipeline of its final step alone has no preprocessing (an empty
        # one has no transform)
        pre = est[:-1] if len(est.steps) > 1 else None
        return pre, est[-1], est.steps[-1][0]
    return None, est, None


def check_structure(est, allow_stateful_steps):
    """The names of the fitted steps before the final one (refused unless
    ``allow_stateful_steps``); refuse a final step that cannot be certified."""
    pre, final, _ = split(est)
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
            if not allow_stateful_steps:
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


def fit_final(est, X, y, sample_weight, seed, sigma, owner):
    """Fit ``est`` (a fresh clone) with the noise, and mark its final step
    as owned by the meta-estimator named ``owner``."""
    pre, final, last = split(est)
    if not get_unlearn_tags(final).exact:
        final.set_params(objective_noise=sigma, random_state=seed,
                         residual_bound=True)
    params = {}
    if sample_weight is not None:
        params[f"{last}__sample_weight" if last else "sample_weight"] = sample_weight
    est.fit(X, y, **params)
    # a new object (the clone) fitted here: nothing else holds it yet
    vars(split(est)[1])[OWNER_ATTRIBUTE] = owner
    return est


def check_policy(keep_data, on_budget_exceeded, rows_kept=True):
    """Refuse ``on_budget_exceeded="retrain"`` without the kept rows."""
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


def transform(pre, X):
    """``X`` through the preprocessing steps ``pre`` (if any)."""
    if X is None or pre is None:
        return X
    return pre.transform(X)


def with_final(estimator, final):
    """``estimator`` with ``final`` as its final step, as a new object (a
    pipeline's other steps are shared)."""
    if not isinstance(estimator, Pipeline):
        return final
    pipeline = copy.copy(estimator)
    pipeline.steps = [*estimator.steps[:-1], (estimator.steps[-1][0], final)]
    return pipeline


def check_bounded(final):
    """Refuse a fitted final step that keeps no residual bound."""
    if not get_unlearn_tags(final).residual_bound or (
            final.residual_bound_ == np.inf):
        raise ValueError(
            f"{type(final).__name__} was fitted without a residual bound (with "
            "hessian='auto' on wide data it keeps a low-rank approximation of "
            "its Hessian, whose error no bound covers), so its removals cannot "
            "be certified. Set hessian='dense' on it (memory grows as the "
            "square of the number of parameters) or reduce the features."
        )


def fit_rows(Xt):
    """Rows ``Xt`` handed over by the preprocessing steps, in the dtype the
    final step's fit takes them in: float32 rows stay float32, as
    scikit-learn's linear models fit them (to float32 parameters); any
    other are float64."""
    return check_array(Xt, accept_sparse="csr", dtype=[np.float64, np.float32])


def handed_over(final, X):
    """Kept rows ``X`` as the preprocessing steps hand them to ``final``: a
    data frame of its feature names when it was fitted on one (its fit
    keeps them, and its predictions warn about rows without them)."""
    if not hasattr(final, "feature_names_in_"):
        return X
    import pandas as pd

    names = final.feature_names_in_
    if sp.issparse(X):
        return pd.DataFrame.sparse.from_spmatrix(X, columns=names)
    return pd.DataFrame(X, columns=names, copy=False)


def kept_rows(pre, final, X, y, sample_weight):
    """A copy of the training rows after the preprocessing steps ``pre``, as
    the fitted ``final`` step was fitted on them (a retraining fits them
    again), checked to be those rows: ``X`` is read again to keep them, and
    a Dask graph computed anew, or chunks read anew, can give other rows
    (a sample drawn without a seed). Later measurements trust the kept
    rows as the model's own; they pass the cache's checks of the current
    rows here (one pass over them), or the fit is refused."""
    Xt = fit_rows(transform(pre, X))
    sw = check_training_weights(sample_weight, Xt)
    rows = TrainingRows(Xt, np.asarray(y), sw)      # copies
    try:
        final._rebased_on_kept_rows(rows.chunks())
    except ValueError as exc:
        raise ValueError(
            "The training rows, read again to be kept, are not the rows the model "
            "was fitted on: the data gives other rows each time it is computed or "
            "read (a Dask graph that samples or shuffles without a seed, chunks "
            "that change between reads; the cause below says which check failed). "
            "Compute the data once (dask's persist, or arrays in memory) and fit "
            "again. Nothing was changed.") from exc
    return rows
