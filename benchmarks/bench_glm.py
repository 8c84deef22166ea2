"""How close the GLMs' updates land to scikit-learn's refit on the corrected
data, on real data shipped with scikit-learn, and what they cost.

For each model, penalty and kind of request (5% of the rows: a feature zeroed,
rows deleted, rows inserted into a model fitted without them, targets
corrected), prints the relative parameter distance to scikit-learn's own
refit (``newton-cholesky``, ``tol=1e-12``) of the update and of no update,
their ratio, and the time of the update against that of scikit-learn's
default refit (``lbfgs``, ``tol=1e-4``), both measured in this run (the best
of three; the update's time net of the copy it is applied to).

Data: the diabetes target (a positive integer score of disease progression,
442 rows, ten standardised baseline variables) for every model, and the
Linnerud sit-up counts (20 rows, three standardised physiological
measurements; 5% is one row) for Poisson.

``python benchmarks/bench_glm.py``
"""

import copy
import time
import warnings

import numpy as np
from sklearn.datasets import load_diabetes, load_linnerud
from sklearn.linear_model import GammaRegressor, PoissonRegressor, TweedieRegressor
from sklearn.preprocessing import StandardScaler

from sklearn_unlearn import (
    UnlearnableGammaRegressor,
    UnlearnablePoissonRegressor,
    UnlearnableTweedieRegressor,
)

TIGHT = dict(solver="newton-cholesky", tol=1e-12, max_iter=1000)
KINDS = ("feature zeroed", "rows deleted", "rows inserted", "targets corrected")
MODELS = {
    "Poisson": (UnlearnablePoissonRegressor, PoissonRegressor, {}),
    "Gamma": (UnlearnableGammaRegressor, GammaRegressor, {}),
    "Tweedie p=1.5": (UnlearnableTweedieRegressor, TweedieRegressor, {"power": 1.5}),
    "Tweedie p=0": (UnlearnableTweedieRegressor, TweedieRegressor, {"power": 0.0}),
}


def datasets():
    X, y = load_diabetes(return_X_y=True)
    yield "diabetes", StandardScaler().fit_transform(X), y, MODELS
    lin = load_linnerud()
    yield ("linnerud", StandardScaler().fit_transform(lin.target), lin.data[:, 1],
           {"Poisson": MODELS["Poisson"]})


def split(kind, X, y, rows, rng):
    """``(fitted on, request, corrected data)``."""
    rest = np.setdiff1d(np.arange(len(y)), rows)
    if kind == "rows deleted":
        return (X, y), (X[rows], None, y[rows], None), (X[rest], y[rest])
    if kind == "rows inserted":
        return ((X[rest], y[rest]), (None, X[rows], None, y[rows]),
                (np.vstack([X[rest], X[rows]]), np.r_[y[rest], y[rows]]))
    X_fix, y_fix = X.copy(), y.copy()
    if kind == "feature zeroed":
        X_fix[rows, int(rng.integers(X.shape[1]))] = 0.0
    else:
        y_fix[rows] = np.round(1.5 * y[rows]) + 1.0
    return (X, y), (X[rows], X_fix[rows], y[rows], y_fix[rows]), (X_fix, y_fix)


def _params(m):
    return np.r_[np.ravel(m.coef_), m.intercept_]


def _distance(m, ref):
    return np.linalg.norm(_params(m) - _params(ref)) / np.linalg.norm(_params(ref))


def _best_time(fn, repeat=3):
    best = np.inf
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def row(name, cls, parent, params, X, y, kind, seed=0):
    rng = np.random.default_rng(seed)
    rows = rng.choice(len(y), max(1, int(round(0.05 * len(y)))), replace=False)
    (X_fit, y_fit), req, (X_fix, y_fix) = split(kind, X, y, rows, rng)
    fitted = cls(**params).fit(X_fit, y_fit)
    reference = parent(**params, **TIGHT).fit(X_fix, y_fix)
    updated = copy.deepcopy(fitted).unlearn(*req)
    d_up, d_none = _distance(updated, reference), _distance(fitted, reference)
    t_up = _best_time(lambda: copy.deepcopy(fitted).unlearn(*req))
    t_copy = _best_time(lambda: copy.deepcopy(fitted))
    t_refit = _best_time(lambda: parent(**params).fit(X_fix, y_fix))
    t_up = max(t_up - t_copy, 0.0)
    return (f"| {name} | {params['alpha']:g} | {kind} | {d_up:.1e} | {d_none:.1e} | "
            f"{d_none / max(d_up, 1e-300):.3g} | {1e3 * t_up:.2f} / {1e3 * t_refit:.1f} "
            f"= {t_up / t_refit:.3f} |")


def main():
    warnings.simplefilter("ignore")
    for data, X, y, models in datasets():
        print(f"\n{data}: {X.shape[0]} rows, {X.shape[1]} features\n")
        print("| model | alpha | request | update to refit | no update to refit "
              "| gain | update ms / refit ms |")
        print("| --- " * 7 + "|")
        for name, (cls, parent, extra) in models.items():
            for alpha in (1e-3, 1e-1, 1.0):
                for kind in KINDS:
                    print(row(name, cls, parent, {**extra, "alpha": alpha}, X, y, kind))


if __name__ == "__main__":
    main()
