"""Fit-time overhead of the dense cache: unlearnable fit / parent fit.

    OPENBLAS_NUM_THREADS=1 python benchmarks/bench_fit_overhead.py [--n 100000]

Binary logistic regression (lbfgs, default tolerance) on dense Gaussian
features with a planted linear signal, d in {100, 500, 1000}. The parent is
scikit-learn's LogisticRegression with the same parameters; the unlearnable
fit runs the same solver, then polishes and builds the cache. Both timings are
the best of ``--repeat`` runs with single-threaded BLAS.
"""

import argparse
import time
import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from threadpoolctl import threadpool_limits

from sklearn_unlearn import UnlearnableLogisticRegression


def data(n, d, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d))
    w = rng.standard_normal(d) / np.sqrt(d)
    y = (X @ w + 0.5 * rng.standard_normal(n) > 0).astype(int)
    return X, y


def best_time(make, X, y, repeat):
    times = []
    for _ in range(repeat):
        est = make()
        start = time.perf_counter()
        est.fit(X, y)
        times.append(time.perf_counter() - start)
    return min(times), est


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--dims", type=int, nargs="+", default=[100, 500, 1000])
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()
    print(f"n = {args.n}, single-threaded BLAS, best of {args.repeat}")
    print(f"{'d':>6} {'parent s':>9} {'unlearnable s':>14} {'ratio':>6} "
          f"{'no bound s':>11} {'ratio':>6}")
    with threadpool_limits(1), warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        for d in args.dims:
            X, y = data(args.n, d)
            t_parent, _ = best_time(LogisticRegression, X, y, args.repeat)
            t_unl, _ = best_time(UnlearnableLogisticRegression, X, y, args.repeat)
            t_lean, _ = best_time(
                lambda: UnlearnableLogisticRegression(residual_bound=False), X, y,
                args.repeat)
            print(f"{d:>6} {t_parent:>9.2f} {t_unl:>14.2f} {t_unl / t_parent:>6.2f} "
                  f"{t_lean:>11.2f} {t_lean / t_parent:>6.2f}", flush=True)


if __name__ == "__main__":
    main()
