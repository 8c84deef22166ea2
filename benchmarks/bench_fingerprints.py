"""What keyed row fingerprints cost: bytes per row and the time they add to a
request, at 10^6 training rows.

    python benchmarks/bench_fingerprints.py            # n = 10^6, d = 20
    python benchmarks/bench_fingerprints.py --n 100000

A ridge regression (whose fit is one factorisation, so the run is short) is
fitted on the same rows with and without ``fingerprint_key``. A request is
timed as ``plan_unlearn`` (the whole request but the final swap, which is one
dictionary update) of the same 100 deleted rows, alternately on the two
models, and the medians and 90th percentiles are compared. Targets (issue
21): at most ~32 MB for 10^6 rows, at most ~1 ms more for a request of 100.
"""

import argparse
import secrets
import time

import numpy as np
from threadpoolctl import threadpool_limits

from sklearn_unlearn import UnlearnableRidge


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--d", type=int, default=20)
    parser.add_argument("--k", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=200)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    X = rng.standard_normal((args.n, args.d))
    y = X @ rng.standard_normal(args.d) + rng.standard_normal(args.n)
    key = secrets.token_bytes(32)

    with threadpool_limits(1):
        t0 = time.perf_counter()
        plain = UnlearnableRidge().fit(X, y)
        t1 = time.perf_counter()
        keyed = UnlearnableRidge().fit(X, y, fingerprint_key=key)
        t2 = time.perf_counter()
        fp = keyed.row_fingerprints_
        print(f"n = {args.n:,}, d = {args.d}, k = {args.k}")
        print(f"fit: {t1 - t0:.2f} s plain, {t2 - t1:.2f} s with fingerprints "
              f"(+{t2 - t1 - (t1 - t0):.2f} s, {(t2 - t1 - (t1 - t0)) / args.n * 1e6:.2f} "
              "us per row)")
        print(f"fingerprints: {fp.nbytes / 2**20:.1f} MiB, {fp.nbytes / args.n:.1f} "
              f"bytes per row, {len(fp.shards)} shards (target: <= ~32 MB at 10^6 rows)")

        rows = rng.choice(args.n, args.k, replace=False)
        X_old, y_old = X[rows], y[rows]
        times = {"plain": [], "keyed": []}
        for _ in range(args.repeats):
            for name, model, kw in (("plain", plain, {}),
                                    ("keyed", keyed, {"fingerprint_key": key})):
                start = time.perf_counter()
                model.plan_unlearn(X_old, None, y_old, **kw)
                times[name].append(time.perf_counter() - start)
    p = {name: np.percentile(t, [50, 90]) * 1e3 for name, t in times.items()}
    print(f"request of {args.k} deleted rows (plan_unlearn, ms, median / p90 over "
          f"{args.repeats}):")
    print(f"  plain            {p['plain'][0]:.3f} / {p['plain'][1]:.3f}")
    print(f"  with fingerprints {p['keyed'][0]:.3f} / {p['keyed'][1]:.3f}")
    print(f"  added             {p['keyed'][0] - p['plain'][0]:.3f} ms median "
          "(target: <= ~1 ms)")


if __name__ == "__main__":
    main()
