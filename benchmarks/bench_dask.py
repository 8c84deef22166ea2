"""Fits on a Dask cluster, and the adoption of fitted models without refitting.

    OPENBLAS_NUM_THREADS=1 python benchmarks/bench_dask.py [--n 10000000] [--d 100]

Binary logistic regression (C = 1) on Gaussian features with a planted linear
signal, generated chunk by chunk by ``dask.array.random`` with a seed: no
process ever holds the whole data, and every pass regenerates its chunks.

``dask``: the fit on a ``LocalCluster`` of this machine at ``--n`` rows, its
Newton iterations and the time per pass over the chunks; the check of the
model against in-memory computations on slices (see ``slice_check``); the
Dask fit of the first ``--slice`` rows against the in-memory fit of the same
rows; a request on the ``--n``-row model against the same request on a
``--small``-row model, and its ratio to the Dask refit.

``adopt``: ``from_fitted`` of a fitted ``LogisticRegression`` (and
``LinearSVC``, ``Ridge``) from arrays and from chunks of 50,000 rows against
the unlearnable fit on the same data, in time (best of ``--repeat``) and
distance.
"""

import argparse
import copy
import time
import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.svm import LinearSVC

from sklearn_unlearn import (UnlearnableLinearSVC, UnlearnableLogisticRegression,
                             UnlearnableRidge)

C = 1.0


def dask_data(n, d, chunk_rows, seed=0):
    """Lazy ``X`` (n, d) and labels, chunk by chunk."""
    import dask.array as da

    rng = da.random.default_rng(seed)
    X = rng.standard_normal((n, d), chunks=(chunk_rows, d))
    w = np.random.default_rng(seed + 1).standard_normal(d) / np.sqrt(d)
    noise = rng.logistic(size=n, chunks=chunk_rows)
    y = ((X @ w + noise) > 0).astype(np.int64)
    return X, y


def rel(a, b):
    pa = np.r_[np.ravel(a.coef_), np.ravel(a.intercept_)]
    pb = np.r_[np.ravel(b.coef_), np.ravel(b.intercept_)]
    return float(np.linalg.norm(pa - pb) / np.linalg.norm(pb))


def timed(f, repeat=1):
    """The result of ``f()`` and the best time of ``repeat`` calls."""
    best = np.inf
    for _ in range(repeat):
        start = time.perf_counter()
        out = f()
        best = min(best, time.perf_counter() - start)
    return out, best


def slice_check(model, X, y, slice_rows):
    """The gradient of the parent's objective at the model's parameters,
    computed in memory slice by slice (plain NumPy, one slice in memory at a
    time) and added: relative to the size of its terms, it is at round-off
    when the model is the optimum of the whole data."""
    w, b = model.coef_.ravel(), float(model.intercept_[0])
    grad = np.r_[w, 0.0]              # the penalty's part (intercept unpenalised)
    scale = float(np.linalg.norm(w))
    for start in range(0, X.shape[0], slice_rows):
        Xs = X[start:start + slice_rows].compute()
        ys = y[start:start + slice_rows].compute()
        r = C * (1.0 / (1.0 + np.exp(-(Xs @ w + b))) - ys)
        grad[:-1] += Xs.T @ r
        grad[-1] += r.sum()
        scale += float(np.abs(r) @ np.sqrt((Xs**2).sum(axis=1) + 1.0))
    return float(np.linalg.norm(grad)), scale


def request_time(model, X_rows, y_rows, repeat=5):
    times = []
    for _ in range(repeat):
        m = copy.deepcopy(model)
        start = time.perf_counter()
        m.unlearn(X_rows, None, y_rows)
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def run_dask(args):
    from dask.distributed import Client, LocalCluster

    out = {}
    with LocalCluster(n_workers=args.workers, threads_per_worker=1, processes=True,
                      dashboard_address=None) as cluster, Client(cluster):
        X, y = dask_data(args.n, args.d, args.chunk_rows)
        est = UnlearnableLogisticRegression(C=C)
        _, t_fit = timed(lambda: est.fit(X, y))
        n_iter = int(est.n_iter_[0])
        # passes: the first, one per accepted step, and the last at the optimum
        print(f"dask fit n={args.n:,} d={args.d}: {t_fit:.1f} s, {n_iter} Newton "
              f"iterations, residual bound {est.residual_bound_:.3g}")
        out["fit"] = (t_fit, n_iter)

        norm, scale = slice_check(est, X, y, args.slice)
        print(f"slice check: ||grad|| over all slices {norm:.3g}, relative to its "
              f"terms {norm / scale:.3g}")
        out["slice_check"] = (norm, norm / scale)

        Xs, ys = X[:args.slice], y[:args.slice]
        small_dask, t_sd = timed(lambda: UnlearnableLogisticRegression(C=C).fit(Xs, ys))
        Xm, ym = Xs.compute(), ys.compute()
        mem, t_mem = timed(lambda: UnlearnableLogisticRegression(C=C).fit(Xm, ym))
        parent, t_par = timed(lambda: LogisticRegression(C=C).fit(Xm, ym))
        print(f"n={args.slice:,}: dask fit {t_sd:.1f} s, in-memory unlearnable fit "
              f"{t_mem:.1f} s, LogisticRegression {t_par:.1f} s; dask vs in-memory "
              f"{rel(small_dask, mem):.2e}; vs LogisticRegression "
              f"{rel(small_dask, parent):.2e}; n={args.n:,} model vs this one "
              f"{rel(est, mem):.2e}")
        out["slice"] = (t_sd, t_mem, t_par, rel(small_dask, mem), rel(small_dask, parent),
                        rel(est, mem))

        k = 10
        small = UnlearnableLogisticRegression(C=C).fit(Xm[:args.small], ym[:args.small])
        t_big = request_time(est, Xm[:k], ym[:k])
        t_small = request_time(small, Xm[:k], ym[:k])
        print(f"request (delete {k} rows): n={args.n:,} {t_big * 1e3:.2f} ms, "
              f"n={args.small:,} {t_small * 1e3:.2f} ms (ratio {t_big / t_small:.2f}); "
              f"Dask refit ~ the fit, {t_fit:.1f} s: {t_fit / t_big:,.0f}x the request")
        out["request"] = (t_big, t_small)
    return out


def run_adopt(args):
    rng = np.random.default_rng(0)
    n, d = args.adopt_n, args.d
    X = rng.standard_normal((n, d))
    w = rng.standard_normal(d) / np.sqrt(d)
    y = (X @ w + rng.logistic(size=n) > 0).astype(int)
    t = X @ w + rng.standard_normal(n)
    chunks_of = lambda target: [(X[i:i + 50_000], target[i:i + 50_000])  # noqa: E731
                                for i in range(0, n, 50_000)]
    for cls, parent_cls, target in [(UnlearnableLogisticRegression, LogisticRegression, y),
                                    (UnlearnableLinearSVC, LinearSVC, y),
                                    (UnlearnableRidge, Ridge, t)]:
        r = args.repeat
        parent, t_par = timed(lambda: parent_cls().fit(X, target), r)
        fit, t_fit = timed(lambda: cls().fit(X, target), r)
        a, t_a = timed(lambda: cls.from_fitted(parent, X, target), r)
        chunks = chunks_of(target)
        c, t_c = timed(lambda: cls.from_fitted(parent, chunks), r)
        print(f"{cls.__name__} n={n:,} d={d}: parent {t_par:.2f} s, unlearnable fit "
              f"{t_fit:.2f} s, from_fitted arrays {t_a:.2f} s ({rel(a, fit):.1e}), "
              f"chunks {t_c:.2f} s ({rel(c, fit):.1e})")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=["dask", "adopt"])
    parser.add_argument("--n", type=int, default=10_000_000)
    parser.add_argument("--d", type=int, default=100)
    parser.add_argument("--chunk-rows", type=int, default=250_000)
    parser.add_argument("--slice", type=int, default=1_000_000)
    parser.add_argument("--small", type=int, default=100_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--adopt-n", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=3,
                        help="best of this many runs for the adopt timings")
    args = parser.parse_args()
    warnings.simplefilter("ignore", ConvergenceWarning)
    if args.only in (None, "adopt"):
        run_adopt(args)
    if args.only in (None, "dask"):
        run_dask(args)


if __name__ == "__main__":
    main()
