"""What ``refresh_cache`` costs against a fit on the same rows.

    python benchmarks/bench_refresh.py [--n 100000] [--repeat 3]

A model is fitted, 100 rows are erased, and the model is made anew from the
remaining rows (``refresh_cache(..., copy=True)``: the check's pass, the
polish from the unlearned parameters and the cache) or fitted on them from
scratch (the parent's solver, the polish and the cache). Dense binary
logistic regression at d = 100 and 500 and ridge at d = 500; sparse logistic
regression with the low-rank Hessian (3,000 columns, 2% dense). Both timings
are the best of ``--repeat`` runs with one BLAS thread, one after the other;
the distance between the two models' coefficients is printed beside them.
"""

import argparse
import time
import warnings

import numpy as np
import scipy.sparse as sp
from threadpoolctl import threadpool_limits

from sklearn_unlearn import UnlearnableLogisticRegression, UnlearnableRidge


def problems(n, seed=0):
    rng = np.random.default_rng(seed)
    for d in (100, 500):
        X = rng.standard_normal((n if d == 100 else n // 5, d))
        z = X @ rng.standard_normal(d) / np.sqrt(d)
        yield (f"logistic, {X.shape[0]:,} x {d}", UnlearnableLogisticRegression, X,
               (z + rng.standard_normal(len(z)) > 0).astype(int))
    X = rng.standard_normal((n // 5, 500))
    yield (f"ridge, {X.shape[0]:,} x 500", UnlearnableRidge, X,
           X @ rng.standard_normal(500) + rng.standard_normal(len(X)))
    X = sp.random(n // 10, 3000, density=0.02, random_state=seed, format="csr")
    z = X @ rng.standard_normal(3000)
    yield (f"logistic low-rank, sparse {X.shape[0]:,} x 3,000",
           lambda: UnlearnableLogisticRegression(hessian="low_rank"), X,
           (z + rng.standard_normal(len(z)) > 0).astype(int))


def best(fn, repeat):
    times, out = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - start)
    return min(times), out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--repeat", type=int, default=3)
    opts = ap.parse_args(argv)
    print("| model | refresh_cache (s) | fit (s) | fit / refresh | coefficients apart |")
    print("|---|---|---|---|---|")
    with threadpool_limits(limits=1), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for name, make, X, y in problems(opts.n):
            model = make().fit(X, y)
            model.unlearn(X[:100], None, y[:100])
            rest_X, rest_y = X[100:], y[100:]
            t_refresh, fresh = best(
                lambda: model.refresh_cache(rest_X, rest_y, copy=True), opts.repeat)
            t_fit, fitted = best(lambda: make().fit(rest_X, rest_y), opts.repeat)
            gap = float(np.abs(fresh.coef_ - fitted.coef_).max())
            print(f"| {name} | {t_refresh:.3f} | {t_fit:.3f} | {t_fit / t_refresh:.2f}x "
                  f"| {gap:.1e} |", flush=True)


if __name__ == "__main__":
    main()
