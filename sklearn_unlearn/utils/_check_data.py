"""The problems and requests of the unlearning checks, chosen by an
estimator's tags."""

import copy
import warnings
from dataclasses import dataclass

import numpy as np
from sklearn.base import clone, is_classifier
from sklearn.utils import get_tags

from ..base import get_unlearn_tags

#: Rows and features of the problems (the no-trace problem is wider: a match
#: of ``|cos| > 1 - 1e-9`` is no coincidence from 10 features on).
N_ROWS, N_FEATURES, N_FEATURES_TRACE = 200, 5, 10
#: Rows of one request.
N_REQUEST = 4


@dataclass
class Problem:
    """Training rows, their targets, and rows that were never trained on."""

    X: np.ndarray
    y: np.ndarray
    X_extra: np.ndarray
    y_extra: np.ndarray


def unlearn_tags(estimator):
    """The estimator's unlearning tags; an ``AssertionError`` if it has none."""
    tags = get_unlearn_tags(estimator)
    assert tags is not None, (
        f"{type(estimator).__name__} declares no unlearning tags "
        "(sklearn_unlearn.base.get_unlearn_tags returned None): it does not "
        "implement the unlearning contract (mix UnlearnerMixin in)."
    )
    return tags


def _targets(estimator, T, rng):
    """Targets of the kind the estimator's tags ask for, from scores ``T``."""
    tags = get_tags(estimator)
    if is_classifier(estimator):
        n_classes = 3 if tags.classifier_tags.multi_class else 2
        return np.argmax(T[:, :n_classes] + 0.5 * rng.standard_normal(
            (len(T), n_classes)), axis=1)
    t = T[:, 0] + 0.3 * rng.standard_normal(len(T))
    if tags.target_tags.positive_only:
        return np.exp(t / 2)
    return t


def make_problem(estimator, *, n_features=N_FEATURES, seed=0):
    """A problem for ``estimator``: classes or targets from its tags."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((N_ROWS + N_REQUEST, n_features))
    W = rng.standard_normal((n_features, 3)) * 1.5 / np.sqrt(n_features)
    y = _targets(estimator, X @ W, rng)
    n = N_ROWS
    return Problem(X[:n], y[:n], X[n:], y[n:])


def changed_targets(estimator, y):
    """Other targets for the rows of ``y``: another known class, or a target
    moved by about one standard deviation (scaled, for positive targets)."""
    if is_classifier(estimator):
        classes = np.unique(y)
        return classes[(np.searchsorted(classes, y) + 1) % len(classes)]
    if get_tags(estimator).target_tags.positive_only:
        return y * 2.0
    return y + 1.0


def fit(estimator, X, y):
    """A clone of ``estimator`` fit on ``X, y`` (its warnings silenced: the
    problems are small, and a solver may stop early on them)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return clone(estimator).fit(X, y)


def unlearn(estimator, request):
    """``estimator.unlearn`` of a :func:`requests` entry, warnings silenced."""
    X_old, X_new, y_old, y_new = request
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return estimator.unlearn(X_old, X_new, y_old, y_new)


def plan(estimator, request):
    """``estimator.plan_unlearn`` of a :func:`requests` entry."""
    X_old, X_new, y_old, y_new = request
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return estimator.plan_unlearn(X_old, X_new, y_old, y_new)


def requests(estimator, problem):
    """``{kind: ((X_old, X_new, y_old, y_new), (X_corrected, y_corrected))}``
    for a deletion, an insertion, a feature edit and a label change, each
    of :data:`N_REQUEST` rows."""
    X, y, k = problem.X, problem.y, N_REQUEST
    edited = X[:k].copy()
    edited[:, 1] = 0.0
    X_edit = X.copy()
    X_edit[:k] = edited
    y_change = y.copy()
    y_change[:k] = changed_targets(estimator, y[:k])
    return {
        "deletion": ((X[:k], None, y[:k], None), (X[k:], y[k:])),
        "insertion": ((None, problem.X_extra, None, problem.y_extra),
                      (np.vstack([X, problem.X_extra]), np.r_[y, problem.y_extra])),
        "feature edit": ((X[:k], edited, y[:k], None), (X_edit, y)),
        "label change": ((X[:k], X[:k], y[:k], y_change[:k]), (X, y_change)),
    }


def refit(estimator, fitted, X, y):
    """What an update of ``fitted`` approximates: a fresh fit on the
    corrected data ``X, y`` for a convex objective, and for a non-convex one
    training continued from the fitted parameters (``warm_start``), which
    finds the optimum near them that the update's step aims at."""
    if unlearn_tags(fitted).convex:
        return fit(estimator, X, y)
    params = fitted.get_params(deep=False)
    assert "warm_start" in params, (
        f"{type(fitted).__name__} is not convex (tag convex=False) and takes no "
        "warm_start parameter: the checks compare its updates with training "
        "continued from the fitted parameters, which needs warm_start."
    )
    warm = copy.deepcopy(fitted).set_params(warm_start=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return warm.fit(X, y)
