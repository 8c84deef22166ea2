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

``PYTHONPATH=. python benchmarks/bench_glm.py`` (from the repository's root:
the data and the requests are those of ``tests/test_glm.py``)
"""

import copy
import time
import warnings

import numpy as np
from threadpoolctl import threadpool_limits

# the models, the data and the requests the tests assert on
from tests.test_glm import (
    KINDS,
    MODELS,
    TIGHT,
    diabetes_data,
    distance,
    linnerud_counts,
    request,
)


def datasets():
    X, y = diabetes_data()
    yield "diabetes", X, y, MODELS
    X, y = linnerud_counts()
    yield "linnerud", X, y, {"poisson": MODELS["poisson"]}


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
    (X_fit, y_fit), req, (X_fix, y_fix) = request(kind, X, y, rows, rng)
    fitted = cls(**params).fit(X_fit, y_fit)
    reference = parent(**params, **TIGHT).fit(X_fix, y_fix)
    updated = copy.deepcopy(fitted).unlearn(*req)
    d_up, d_none = distance(updated, reference), distance(fitted, reference)
    t_up = _best_time(lambda: copy.deepcopy(fitted).unlearn(*req))
    t_copy = _best_time(lambda: copy.deepcopy(fitted))
    t_refit = _best_time(lambda: parent(**params).fit(X_fix, y_fix))
    t_up = max(t_up - t_copy, 0.0)
    return (f"| {name} | {params['alpha']:g} | {kind} | {d_up:.1e} | {d_none:.1e} | "
            f"{d_none / max(d_up, 1e-300):.3g} | {1e3 * t_up:.2f} / {1e3 * t_refit:.1f} "
            f"= {t_up / t_refit:.3f} |")


def main():
    warnings.simplefilter("ignore")
    # one thread for the BLAS and OpenMP of both sides (as every benchmark
    # here): on a shared machine more threads time the contention
    threadpool_limits(1)
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
