"""A request against the floor of a sound fold, in thread CPU time.

``run.py`` reports the best wall time of a request and of the floor
(``_core.fold_floor``); on a shared machine both move with the load, the
short floor most. This script times the same two in the CPU time of the
calling thread (which the other jobs of the machine do not add to), one
after the other on every run, and reports medians, with the minor page
faults a request takes (fresh memory the kernel maps: a share of its cost
that depends on the allocator's state).

An edit is timed in a stream on one model, as in use: each timed request
is followed by the request that undoes it (the features set back), so that
the next one finds the data it changes. A deletion is timed on a fresh copy
every run: its undoing would leave the inserted rows pending, and the next
deletion would fold them too. The floor's buffers are allocated once.

    python benchmarks/bench_fold.py --estimators logistic ridge --k 1 100 1000
"""

import argparse
import copy
import os
import resource
import time

import numpy as np
from threadpoolctl import threadpool_limits

import _core as C


def faults():
    return resource.getrusage(resource.RUSAGE_THREAD).ru_minflt


def measure(model, req, runs):
    request, floor, flt = [], [], []
    stream = req.kind != "delete"
    m = copy.deepcopy(model)
    work = C.fold_work(model, req)
    work()      # maps its buffers' pages
    for _ in range(runs):
        if not stream:
            m = copy.deepcopy(model)
        f0, t0 = faults(), time.thread_time()
        req.apply(m, "second_order")
        request.append(time.thread_time() - t0)
        flt.append(faults() - f0)
        if stream:
            req.undo(m, "second_order")
        t0 = time.thread_time()
        work()
        floor.append(time.thread_time() - t0)
    return np.median(request), np.median(floor), np.median(flt)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--estimators", nargs="+", default=["logistic", "ridge"],
                    choices=["logistic", "ridge"])
    ap.add_argument("--k", type=int, nargs="+", default=[1, 100, 1000])
    ap.add_argument("--kind", default="features", choices=["features", "delete"])
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--d", type=int, default=500)
    ap.add_argument("--runs", type=int, default=60)
    opts = ap.parse_args(argv)
    print(f"load average before: {np.round(os.getloadavg(), 2).tolist()}")
    print("| estimator | request | k | request (CPU ms) | floor (CPU ms) | ratio | "
          "page faults |")
    print("|---|---|---|---|---|---|---|")
    with threadpool_limits(limits=1):
        for name in opts.estimators:
            task = "binary" if name == "logistic" else "regression"
            data = C.dense_synthetic(opts.n, opts.d, task)
            family = C.family(name)
            model = C.quiet_fit(family.make_unlearnable(), data.X, data.y)
            for k in opts.k:
                req = C.make_request(data, opts.kind, k)
                t_req, t_floor, flt = measure(model, req, opts.runs)
                print(f"| {name} | {opts.kind} | {k} | {t_req * 1e3:.2f} | "
                      f"{t_floor * 1e3:.2f} | {t_req / t_floor:.2f}x | {flt:.0f} |",
                      flush=True)
    print(f"load average after: {np.round(os.getloadavg(), 2).tolist()}")


if __name__ == "__main__":
    main()
