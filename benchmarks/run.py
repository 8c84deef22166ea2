"""Benchmark of closed-form unlearning against refitting from scratch.

    python benchmarks/run.py --smoke      # < 60 s, for CI
    python benchmarks/run.py --full       # the figures of benchmarks/RESULTS.md
    python benchmarks/run.py --full --n 1000000 --d 2000   # bigger (hours)

Writes ``results.md``, ``results.json`` and plots into ``benchmarks/results/``
(``benchmarks/results/smoke/`` for ``--smoke``; or ``--out``). See ``benchmarks/RESULTS.md`` for what every column means.
"""

import argparse
import copy
import json
import os
import platform
import resource
import sys
import time
from pathlib import Path

import numpy as np
import scipy.sparse as sp
from threadpoolctl import threadpool_limits

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _core as C  # noqa: E402
import _report  # noqa: E402
from sklearn_unlearn.linear_model._fit import DENSE_HESSIAN_MAX_PARAMS  # noqa: E402

HERE = Path(__file__).resolve().parent


def log(*args):
    print(f"[{time.strftime('%H:%M:%S')}]", *args, flush=True)


# ----------------------------------------------------------------------------
# one data set and estimator family
# ----------------------------------------------------------------------------
def fit_overhead(family, data, repeats):
    t_parent, _ = C.best_of(lambda _: C.quiet_fit(family.make_parent(), data.X, data.y),
                            repeats=repeats, budget=5.0, min_repeats=1)
    t_unl, model = C.best_of(
        lambda _: C.quiet_fit(family.make_unlearnable(), data.X, data.y),
        repeats=repeats, budget=5.0, min_repeats=1)
    return model, t_parent, t_unl


def gram_time(X, repeats):
    """Time of one Gram matrix ``X^T X`` of the training rows (``n d^2``
    flops): the least a dense Hessian summed over every row costs (see
    ``_report.fit_floor``). ``None`` for sparse data, whose cache is not
    dense."""
    if sp.issparse(X):
        return None
    t, _ = C.best_of(lambda _: X.T @ X, repeats=repeats, budget=5.0, min_repeats=1)
    return t


def search_refit(family, data, req, target, theta_star, warm_theta, multinomial,
                 opts):
    """Loosest tolerance of the grid whose refit is as close to the exact
    optimum as ``target``; its best time (the suite's timing rule, the
    search's own run included) and distance."""
    tried = []
    for tol in C.TOLS:
        def once(_):
            est = family.make_parent(tol=tol, warm_theta=warm_theta)
            return C.quiet_fit(est, req.X_corr, req.y_corr)
        t0 = time.perf_counter()
        est = once(None)
        dt = time.perf_counter() - t0
        dist = C.rel_dist(C.theta_of(est, multinomial), theta_star)
        tried.append((tol, dt, dist))
        if dist <= target:
            if dt < opts.budget:
                dt = min(dt, C.best_of(once, repeats=opts.repeats,
                                       budget=opts.budget - dt)[0])
            return dict(tol=tol, time=dt, dist=dist, reached=True,
                        n_iter=int(np.max(est.n_iter_)))
    tol, dt, dist = tried[-1]
    return dict(tol=tol, time=dt, dist=dist, reached=False,
                n_iter=int(np.max(est.n_iter_)))


def run_request(family, data, model, req, opts):
    multinomial = data.task == "multinomial"
    iv = model.unlearning_cache_.objective.design.intercept_value
    theta0 = model.unlearning_cache_.theta.copy()
    row = dict(dataset=data.name, n=data.n, d=data.d, estimator=family.name,
               task=data.task, request=req.kind, k=req.k,
               cache_MB=C.cache_nbytes(model) / 2**20,
               hessian="dense" if model.unlearning_cache_.exact_hessian else "low-rank")

    # unlearning: an edit of a dense cache is timed in a stream of the
    # request and its undoing on one copy (as a model in use serves requests
    # one after the other; a fresh copy every run also times the pages the
    # allocator maps anew for it, which depend on what the process freed
    # before). A deletion, whose undoing leaves the inserted rows pending
    # (the next deletion would fold them too), and a low-rank cache: a fresh
    # copy every run.
    stream = model.unlearning_cache_.exact_hessian and req.kind != "delete"
    results = {}
    for method in ("second_order", "first_order", "refined"):
        repeats = opts.repeats if method != "refined" else 1
        min_repeats = 3 if method != "refined" else 1
        if stream and method != "refined":
            times = C.stream_timings(model, req, method, repeats=repeats,
                                     budget=opts.budget, min_repeats=min_repeats)
            m = req.apply(copy.deepcopy(model), method)
        else:
            times, m = C.timings(lambda mm: req.apply(mm, method),
                                 setup=lambda: copy.deepcopy(model), repeats=repeats,
                                 budget=opts.budget, min_repeats=min_repeats)
        results[method] = (min(times), m)
        if method == "second_order":
            row["unlearn_runs"] = len(times)
            row["unlearn_timing"] = "stream" if stream else "fresh copy"
            row["t_unlearn_2nd_median"] = float(np.median(times))
            if stream:
                row["t_unlearn_2nd_fresh"] = C.best_of(
                    lambda mm: req.apply(mm, method), setup=lambda: copy.deepcopy(model),
                    repeats=opts.repeats, budget=opts.budget)[0]
    row["t_unlearn_2nd"] = results["second_order"][0]
    # what folding the request's rows (no trace) cannot avoid, in the same run
    row["t_fold_floor"] = C.fold_floor(model, req, repeats=opts.repeats,
                                       budget=opts.budget)
    if row["t_fold_floor"]:
        row["fold_floor_ratio"] = row["t_unlearn_2nd"] / row["t_fold_floor"]
    row["t_unlearn_1st"] = results["first_order"][0]
    row["t_unlearn_refined"] = results["refined"][0]
    row["peak_mem_unlearn_MB"] = C.peak_memory(
        lambda mm: req.apply(mm, "second_order"),
        setup=lambda: copy.deepcopy(model)) / 2**20
    unl = results["second_order"][1]
    theta_star, gnorm, it = C.reference_optimum(family, unl, model, req.X_corr,
                                                req.y_corr)
    row["exact_grad_norm"] = gnorm
    row["exact_iters"] = it

    def theta_unl(m):
        th = m.unlearning_cache_.theta.copy()
        if multinomial:
            th[-1] -= th[-1].mean()
        return th

    if multinomial:
        theta_star[-1] -= theta_star[-1].mean()
        theta0[-1] -= theta0[-1].mean()
    row["dist_none"] = C.rel_dist(theta0, theta_star)
    row["dist_2nd"] = C.rel_dist(theta_unl(unl), theta_star)
    row["dist_1st"] = C.rel_dist(theta_unl(results["first_order"][1]), theta_star)
    row["dist_refined"] = C.rel_dist(theta_unl(results["refined"][1]), theta_star)
    row["residual_bound"] = float(unl.residual_bound_)

    # agreement of predictions with the exact optimum, on the corrected data
    ref = C.decision(theta_star, req.X_corr, iv)
    out = C.decision(theta_unl(unl), req.X_corr, iv)
    if data.task == "regression":
        row["agreement"] = float(1.0 - np.linalg.norm(out - ref) / np.linalg.norm(ref))
    elif ref.shape[1] == 1:
        row["agreement"] = float(np.mean((out > 0) == (ref > 0)))
    else:
        row["agreement"] = float(np.mean(out.argmax(1) == ref.argmax(1)))

    # refits at the default tolerance
    def cold(_):
        return C.quiet_fit(family.make_parent(), req.X_corr, req.y_corr)
    row["t_cold_default"], est = C.best_of(cold, repeats=opts.repeats, budget=opts.budget)
    row["dist_cold_default"] = C.rel_dist(C.theta_of(est, multinomial), theta_star)
    row["peak_mem_refit_MB"] = C.peak_memory(cold) / 2**20
    if family.warm:
        def warm(_):
            return C.quiet_fit(family.make_parent(warm_theta=theta0, intercept_value=iv),
                               req.X_corr, req.y_corr)
        row["t_warm_default"], est = C.best_of(warm, repeats=opts.repeats,
                                               budget=opts.budget)
        row["dist_warm_default"] = C.rel_dist(C.theta_of(est, multinomial), theta_star)

    # refits at equal accuracy
    target = max(row["dist_2nd"], C.ROUNDOFF)
    if family.tol_search:
        s = search_refit(family, data, req, target, theta_star, None, multinomial, opts)
        row.update({f"cold_eq_{k}": v for k, v in s.items()})
        if family.warm:
            s = search_refit(family, data, req, target, theta_star, theta0, multinomial,
                             opts)
            row.update({f"warm_eq_{k}": v for k, v in s.items()})
    else:  # a direct solver: the default refit is already exact
        row.update(cold_eq_tol=None, cold_eq_time=row["t_cold_default"],
                   cold_eq_dist=row["dist_cold_default"],
                   cold_eq_reached=row["dist_cold_default"] <= max(target, 1e-12),
                   cold_eq_n_iter=None)
    t2 = row["t_unlearn_2nd"]
    row["speedup_cold_default"] = row["t_cold_default"] / t2
    row["speedup_cold_eq"] = row["cold_eq_time"] / t2
    row["speedup_cold_eq_median"] = row["cold_eq_time"] / row["t_unlearn_2nd_median"]
    if family.warm:
        row["speedup_warm_default"] = row["t_warm_default"] / t2
        row["speedup_warm_eq"] = row["warm_eq_time"] / t2
    row["closer"] = row["dist_none"] / max(row["dist_2nd"], C.ROUNDOFF)
    return row


def too_big(family, data, n_classes, limit_bytes):
    """Bytes the dense Hessian cache would take, if over ``limit_bytes``
    (``None`` where ``hessian="auto"`` keeps a low-rank Hessian)."""
    p = data.d + 1
    m = n_classes if data.task == "multinomial" else 1
    if m * p > DENSE_HESSIAN_MAX_PARAMS:
        return None
    # matrix and Cholesky factor, plus the Gram matrix of the bound and the
    # per-class Gram matrices formed while assembling a multinomial Hessian
    need = 8 * ((m * p) ** 2 * 2 + p * p * (1 + (m * (m + 1) // 2 if m > 1 else 1)))
    return need if need > limit_bytes else None


def run_dataset(data, opts, rows, overhead):
    t_gram = None
    for family in C.families_for(data.task):
        if opts.estimators and family.name not in opts.estimators:
            continue
        n_classes = len(np.unique(data.y)) if data.task != "regression" else 1
        need = too_big(family, data, n_classes, opts.mem_limit)
        if need is not None:
            log(f"{family.name} on {data.name}: not supported yet "
                f"(dense Hessian cache ~{need / 2**30:.0f} GiB)")
            t, _ = C.best_of(lambda _: C.quiet_fit(family.make_parent(), data.X, data.y),
                             repeats=1)
            rows.append(dict(dataset=data.name, n=data.n, d=data.d,
                             estimator=family.name, task=data.task, request="all",
                             k=None, unsupported=True,
                             note=f"not supported yet: the dense Hessian cache "
                                  f"needs ~{need / 2**30:,.0f} GiB",
                             t_cold_default=t))
            continue
        log(f"fit {family.name} on {data.name}")
        model, t_parent, t_unl = fit_overhead(family, data, opts.fit_repeats)
        cache = model.unlearning_cache_
        # a coupled loss of m outputs sums m (m + 1) / 2 weighted Grams
        one_gram = (family.every_row and cache.exact_hessian
                    and not cache.objective.loss.coupled)
        if one_gram and t_gram is None:
            t_gram = gram_time(data.X, opts.fit_repeats)
        o = dict(dataset=data.name, estimator=family.name, n=data.n, d=data.d,
                 t_parent=t_parent, t_unlearnable=t_unl, ratio=t_unl / t_parent,
                 t_gram=t_gram if one_gram else None,
                 cache_MB=C.cache_nbytes(model) / 2**20)
        overhead.append(o)
        floor = _report.fit_floor(o)
        log(f"  parent {t_parent:.3f}s unlearnable {t_unl:.3f}s "
            f"({t_unl / t_parent:.1f}x)"
            + (f"; one Gram {t_gram:.3f}s (floor {floor:.1f}x)" if floor else ""))
        for kind in opts.kinds or ("features", "labels", "delete"):
            for k in C.request_sizes(data.n):
                req = C.make_request(data, kind, k, seed=opts.seed)
                row = run_request(family, data, model, req, opts)
                rows.append(row)
                log(f"  {kind:8s} k={k:<6d} unlearn {row['t_unlearn_2nd'] * 1e3:8.2f} ms "
                    f"cold x{row['speedup_cold_default']:.0f} "
                    f"cold-eq x{row['speedup_cold_eq']:.0f} "
                    f"(median x{row['speedup_cold_eq_median']:.0f}) "
                    + (f"warm-eq x{row['speedup_warm_eq']:.1f} " if family.warm else "")
                    + f"closer x{row['closer']:.3g} agree {row['agreement']:.5f}")
        del model


# ----------------------------------------------------------------------------
# growth of the unlearning cost
# ----------------------------------------------------------------------------
def sweep(opts):
    out = {"k": [], "d": []}
    n, d = opts.sweep_n, opts.sweep_d
    data = C.dense_synthetic(n, d, "binary", seed=opts.seed)
    model = C.quiet_fit(C.LOGISTIC.make_unlearnable(), data.X, data.y)
    for k in opts.sweep_ks:
        req = C.make_request(data, "features", k, seed=opts.seed)
        t, _ = C.best_of(lambda mm: req.apply(mm, "second_order"),
                         setup=lambda: copy.deepcopy(model),
                         repeats=opts.repeats, budget=opts.budget)
        out["k"].append(dict(n=n, d=d, k=k, t=t))
        log(f"sweep k={k}: {t * 1e3:.2f} ms")
    for dd in opts.sweep_ds:
        data = C.dense_synthetic(opts.sweep_n_d, dd, "binary", seed=opts.seed)
        model = C.quiet_fit(C.LOGISTIC.make_unlearnable(), data.X, data.y)
        req = C.make_request(data, "features", opts.sweep_k_d, seed=opts.seed)
        t, _ = C.best_of(lambda mm: req.apply(mm, "second_order"),
                         setup=lambda: copy.deepcopy(model),
                         repeats=opts.repeats, budget=opts.budget)
        out["d"].append(dict(n=opts.sweep_n_d, d=dd, k=opts.sweep_k_d, t=t))
        log(f"sweep d={dd}: {t * 1e3:.2f} ms")
    for key in ("k", "d"):
        pts = [r for r in out[key] if r[key] >= opts.fit_from[key]]
        if len(pts) >= 2:
            slope = np.polyfit(np.log([r[key] for r in pts]),
                               np.log([r["t"] for r in pts]), 1)[0]
            out[f"exponent_{key}"] = float(slope)
            out[f"exponent_{key}_from"] = opts.fit_from[key]
    return out


# ----------------------------------------------------------------------------
# a stream of requests on one model
# ----------------------------------------------------------------------------
def stream(opts):
    """``count`` requests of k rows with 5 features zeroed, one after the other
    on one model: every request's time (the schedule of folding the pending
    rows into the factored matrices included), then the distance of the final
    model to the exact optimum of the final data and the refits of that data."""
    n, d, k = opts.stream_n, opts.d, opts.stream_k
    data = C.dense_synthetic(n, d, "binary", seed=opts.seed)
    model0 = C.quiet_fit(C.LOGISTIC.make_unlearnable(), data.X, data.y)
    model = copy.deepcopy(model0)
    X, y = data.X.copy(), data.y
    rng = np.random.default_rng([opts.seed, 7])
    times, folds = [], 0
    for _ in range(opts.stream_count):
        idx = np.sort(rng.choice(n, k, replace=False))
        X_old = X[idx].copy()
        X_new = C.zero_features(X_old, rng.choice(d, C.N_ZEROED, replace=False))
        before = model.unlearning_cache_.hessians[0].pending_rank
        t0 = time.perf_counter()
        model.unlearn(X_old, X_new, y[idx])
        times.append(time.perf_counter() - t0)
        folds += model.unlearning_cache_.hessians[0].pending_rank <= before
        X[idx] = X_new
    theta_star, gnorm, _ = C.exact_optimum(model, model0, X, y)
    out = dict(n=n, d=d, k=k, count=opts.stream_count, times=times, folds=folds,
               exact_grad_norm=gnorm,
               dist=C.rel_dist(model.unlearning_cache_.theta, theta_star),
               dist_none=C.rel_dist(model0.unlearning_cache_.theta, theta_star))
    out["closer"] = out["dist_none"] / max(out["dist"], C.ROUNDOFF)
    out["t_cold_default"], _ = C.best_of(
        lambda _: C.quiet_fit(C.LOGISTIC.make_parent(), X, y), repeats=opts.repeats,
        budget=opts.budget)
    req = C.Request("features", k, None, None, None, None, None, X, y)
    s = search_refit(C.LOGISTIC, data, req, max(out["dist"], C.ROUNDOFF), theta_star,
                     None, False, opts)
    out.update({f"cold_eq_{key}": v for key, v in s.items()})
    mean = float(np.mean(times))
    out["speedup_cold_eq_mean"] = out["cold_eq_time"] / mean
    out["speedup_cold_eq_max"] = out["cold_eq_time"] / max(times)
    log(f"stream of {len(times)} requests of k={k}: mean {mean * 1e3:.2f} ms, "
        f"max {max(times) * 1e3:.2f} ms, {folds} folds; final distance "
        f"{out['dist']:.2e} ({out['closer']:.3g}x closer); cold-eq "
        f"x{out['speedup_cold_eq_mean']:.0f} on the mean")
    return out


# ----------------------------------------------------------------------------
def machine():
    model = "unknown"
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    import scipy
    import sklearn
    return dict(cpu=model, cores=os.cpu_count(), python=platform.python_version(),
                numpy=np.__version__, scipy=scipy.__version__,
                sklearn=sklearn.__version__,
                mem_GB=round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
                             / 2**30, 1),
                load_before=os.getloadavg())


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    mode = ap.add_mutually_exclusive_group()
    mode.add_argument("--smoke", action="store_true", help="tiny sizes, < 60 s")
    mode.add_argument("--full", action="store_true", help="the sizes of the issue")
    ap.add_argument("--n", type=int, nargs="+",
                    help="sizes of the dense binary runs (full: 1000 10000 100000)")
    ap.add_argument("--d", type=int, help="features of the dense runs (full: 500)")
    ap.add_argument("--n-multinomial", type=int,
                    help="size of the dense 10-class run (full: 10000)")
    ap.add_argument("--n-text", type=int, help="rows of the hashed text (full: 100000)")
    ap.add_argument("--only", nargs="+",
                    choices=["dense", "multinomial", "real", "text", "sweep", "stream"],
                    help="run only these parts")
    ap.add_argument("--estimators", nargs="+", choices=["logistic", "ridge", "linear_svc"],
                    help="run only these estimators")
    ap.add_argument("--kinds", nargs="+", choices=["features", "labels", "delete"],
                    help="run only these requests")
    ap.add_argument("--mem-limit-gb", type=float, default=4.0,
                    help="refuse a dense Hessian cache above this size")
    ap.add_argument("--threads", type=int, default=1,
                    help="BLAS threads (default 1: small solves on a shared "
                         "machine are 10-80x slower with 2 threads under load)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", help="output folder (default benchmarks/results, "
                    "benchmarks/results/smoke for --smoke)")
    opts = ap.parse_args(argv)

    smoke = not opts.full
    opts.out = opts.out or str(HERE / "results" / ("smoke" if smoke else ""))
    opts.mem_limit = opts.mem_limit_gb * 2**30
    opts.n = opts.n or ([2000] if smoke else [1000, 10_000, 100_000])
    opts.d = opts.d or (50 if smoke else 500)
    opts.n_multinomial = opts.n_multinomial or (1000 if smoke else 10_000)
    opts.n_text = opts.n_text or (2000 if smoke else 100_000)
    # 2^14 columns still take the low-rank mode, at a sixteenth of the sketch
    opts.text_log2d = 14 if smoke else 18
    # every timing: at least 3 runs, then up to this many within the budget
    opts.repeats = 5 if smoke else 50
    opts.fit_repeats = 1 if smoke else 2
    opts.budget = 0.5 if smoke else 1.0
    opts.sweep_n, opts.sweep_d = (2000, 50) if smoke else (20_000, 500)
    opts.sweep_ks = [1, 10, 100, 400] if smoke else [1, 10, 100, 1000, 3000]
    opts.sweep_n_d, opts.sweep_k_d = (1000, 10) if smoke else (10_000, 100)
    opts.sweep_ds = [25, 50, 100] if smoke else [100, 200, 400, 800, 1600]
    opts.fit_from = {"k": 10, "d": 100}
    opts.stream_n, opts.stream_k = (2000, 20) if smoke else (100_000, 100)
    opts.stream_count = 10 if smoke else 40

    with threadpool_limits(limits=opts.threads):
        run_all(opts)


def run_all(opts):
    parts = set(opts.only or ["dense", "multinomial", "real", "text", "sweep", "stream"])
    smoke = not opts.full
    t_start = time.perf_counter()
    info = machine()
    info["threads"] = opts.threads
    info["timing"] = dict(min_runs=3, max_runs=opts.repeats, budget_s=opts.budget)
    info["mode"] = "smoke" if smoke else "full"
    info["argv"] = " ".join(sys.argv[1:])
    rows, overhead = [], []
    if "dense" in parts:
        for n in opts.n:
            for task in ("binary", "regression"):
                run_dataset(C.dense_synthetic(n, opts.d, task, seed=opts.seed),
                            opts, rows, overhead)
    if "multinomial" in parts:
        run_dataset(C.dense_synthetic(opts.n_multinomial, opts.d, "multinomial",
                                      seed=opts.seed), opts, rows, overhead)
    if "real" in parts:
        for data in C.real_datasets():
            run_dataset(data, opts, rows, overhead)
    if "text" in parts:
        run_dataset(C.hashed_text(opts.n_text, 2**opts.text_log2d, seed=opts.seed),
                    opts, rows, overhead)
    sweeps = sweep(opts) if "sweep" in parts else None
    streams = stream(opts) if "stream" in parts else None
    info["seconds"] = time.perf_counter() - t_start
    info["max_rss_MB"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    info["load_after"] = os.getloadavg()

    out = Path(opts.out)
    out.mkdir(parents=True, exist_ok=True)
    payload = dict(machine=info, rows=rows, fit_overhead=overhead, sweep=sweeps,
                   stream=streams)
    (out / "results.json").write_text(json.dumps(payload, indent=1, default=float))
    (out / "results.md").write_text(_report.markdown(payload))
    _report.plots(payload, out)
    log(f"done in {info['seconds']:.0f} s; wrote {out}/results.md, results.json, *.png")


if __name__ == "__main__":
    main()
