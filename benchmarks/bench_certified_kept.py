"""Certified removal with kept rows against the plain estimator's request.

    python benchmarks/bench_certified_kept.py [--quick]

1. n = 100,000, d = 500 (rows of norm <= 1, binary logistic regression
   without intercept, lambda = 1e-3, a dense Hessian): the plain
   ``UnlearnableLogisticRegression``, ``CertifiedRemoval(..., keep_data=False)``
   and ``CertifiedRemoval(..., keep_data=True)``, fitted on the same rows,
   each erase the same 100 rows one at a time, in the same order; then 5
   requests of 100 rows each. Median and 90th percentile of each, and the
   ratios of the certified request with kept rows to the others (target:
   at most 1.5 against the plain one).
2. The certified single-row erasure at d = 100 for n = 10^4, 10^5, 10^6
   (median and 90th percentile over 50 removals): it should not grow with n.

BLAS is limited to one thread; the estimators are timed in the same
process, taking turns on each request. ``--clock cpu`` (the default) times
the process's CPU time, which a machine shared with other jobs disturbs
less than the wall clock (``--clock wall``). ``--quick`` runs smaller sizes
(a check that the script works, not a measurement).
"""

import argparse
import time
import warnings

import numpy as np
from threadpoolctl import threadpool_limits

from sklearn_unlearn import UnlearnableLogisticRegression
from sklearn_unlearn.certified import CertifiedRemoval


def data(n, d, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d))
    X /= np.maximum(np.linalg.norm(X, axis=1, keepdims=True), 1.0)   # norm <= 1
    w = rng.standard_normal(d) * 3.0
    y = (X @ w + 0.3 * rng.standard_normal(n) > 0).astype(int)
    return X, y


def final_step(n):
    # lambda = 1e-3 in the per-row objective: C = 1 / (lambda n)
    return UnlearnableLogisticRegression(C=1.0 / (1e-3 * n), fit_intercept=False,
                                         hessian="dense")


def certified(n):
    # "warn": every request is an update (none becomes a retraining)
    return CertifiedRemoval(final_step(n), budget=1.0, on_budget_exceeded="warn",
                            random_state=0)


CLOCKS = {"cpu": time.process_time, "wall": time.perf_counter}


def request_times(models, X, y, batches, clock):
    """Seconds of each request on each model; the models take turns on each
    batch, so that a change of the machine's load falls on all of them."""
    times = {name: [] for name in models}
    for rows in batches:
        for name, model in models.items():
            start = clock()
            model.unlearn(X[rows], None, y[rows])
            times[name].append(clock() - start)
    return {name: np.asarray(t) for name, t in times.items()}


def summary(times):
    return np.median(times), np.percentile(times, 90)


def side_by_side(n, d, runs, clock):
    """Fit the three models once; time each run of requests on each."""
    X, y = data(n, d)
    models = {"plain": final_step(n).fit(X, y),
              "keep_data=False": certified(n).set_params(keep_data=False).fit(X, y),
              "keep_data=True": certified(n).fit(X, y)}
    for label, batches in runs:
        t = {name: summary(times)
             for name, times in request_times(models, X, y, batches, clock).items()}
        (mp, pp), (mn, pn), (mk, pk) = t["plain"], t["keep_data=False"], t["keep_data=True"]
        print(f"{label:<13} {1e3 * mp:>7.2f} {1e3 * pp:>7.2f} {1e3 * mn:>7.2f} "
              f"{1e3 * pn:>7.2f} {1e3 * mk:>7.2f} {1e3 * pk:>7.2f} "
              f"{mk / mp:>6.2f} {pk / pp:>6.2f} {mk / mn:>6.2f} {pk / pn:>6.2f}")
    removed = sum(len(b) for _, batches in runs for b in batches)
    assert models["keep_data=True"].training_rows_.n_rows == n - removed


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--clock", choices=sorted(CLOCKS), default="cpu")
    args = parser.parse_args()
    clock = CLOCKS[args.clock]
    n, d = (10_000, 100) if args.quick else (100_000, 500)
    sizes = [1_000, 10_000, 30_000] if args.quick else [10_000, 100_000, 1_000_000]
    rng = np.random.default_rng(1)
    with threadpool_limits(1), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        print(f"{args.clock} time; BLAS limited to one thread")
        print(f"1. n = {n}, d = {d}: ms per request (median, p90); ratios of the "
              "certified request with kept rows to the plain one and to the "
              "certified one without kept rows (median, p90)")
        print(f"{'request':<13} {'plain':>7} {'p90':>7} {'no rows':>7} {'p90':>7} "
              f"{'kept':>7} {'p90':>7} {'/plain':>6} {'p90':>6} {'/norows':>6} {'p90':>6}")
        order = rng.permutation(n)
        side_by_side(n, d, [
            ("1 row x 100", [order[i:i + 1] for i in range(100)]),
            ("100 rows x 5", [order[100 + 100 * i:200 + 100 * i] for i in range(5)]),
        ], clock)
        print("\n2. certified single-row erasure, d = 100: ms (median, p90 of 50)")
        print(f"{'n':>9} {'median':>9} {'p90':>9} {'fit s':>7}")
        for size in sizes:
            X, y = data(size, 100)
            start = time.perf_counter()
            model = certified(size).fit(X, y)
            fit = time.perf_counter() - start
            picks = rng.permutation(size)[:50]
            times = request_times({"kept": model}, X, y, [[i] for i in picks], clock)
            med, p90 = summary(times["kept"])
            print(f"{size:>9} {1e3 * med:>9.2f} {1e3 * p90:>9.2f} {fit:>7.1f}")
            del X, y, model


if __name__ == "__main__":
    main()
