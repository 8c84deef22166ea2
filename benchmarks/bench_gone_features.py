"""What taking out a feature that no row holds any more costs, and what it
leaves: a deletion of a row that alone held a feature (a word only one
document used) against a deletion of a row that did not.

    python benchmarks/bench_gone_features.py            # n = 20,000, d = 500
    python benchmarks/bench_gone_features.py --d 200

Binary logistic regression on sparse non-negative rows (5% of the values
not zero); each of the first 50 features is held by one row alone, and a
first request (10 other rows deleted) has moved the model. Each
request is timed on a fresh copy of the fitted model (BLAS at one thread),
the medians over 20 rows of each kind compared, and against scikit-learn's
refit on the remaining rows (``LogisticRegression``, default solver and
tolerance, warm-started from the fitted parameters). After the request,
the feature's weight and the off-diagonal part of its Hessian column (by a
product with the unit vector) are printed, and how much of that column lies
on the erased row's other features (zero once the feature is taken out).
"""

import argparse
import copy
import time
import warnings

import numpy as np
from sklearn.linear_model import LogisticRegression
from threadpoolctl import threadpool_limits

from sklearn_unlearn import UnlearnableLogisticRegression


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=20_000)
    parser.add_argument("--d", type=int, default=500)
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    n, d = args.n, args.d
    X = (rng.random((n, d)) < 0.05) * rng.random((n, d))
    X[:, :50] = 0.0
    for j in range(50):
        X[j, j] = 1.0 + j / 50          # feature j: row j alone
    y = (X.sum(axis=1) + rng.normal(0, 1, n) > np.median(X.sum(axis=1))).astype(int)

    with threadpool_limits(1), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = UnlearnableLogisticRegression().fit(X, y)
        # an earlier request moves the model from where the rows' curvature
        # entered the Hessian (right after the fit a row leaves with the
        # curvature it entered with, exactly)
        model.unlearn(X[200:210], None, y[200:210])
        times = {"holds a feature alone": [], "does not": []}
        for i in range(args.repeats):
            for kind, row in (("holds a feature alone", i), ("does not", 100 + i)):
                m = copy.deepcopy(model)
                t0 = time.perf_counter()
                m.unlearn(X[row:row + 1], None, y[row:row + 1])
                times[kind].append(time.perf_counter() - t0)
        keep = np.setdiff1d(np.arange(1, n), np.arange(200, 210))
        t0 = time.perf_counter()
        LogisticRegression(warm_start=True).fit(X[keep], y[keep])
        refit = time.perf_counter() - t0

        m = copy.deepcopy(model)
        m.unlearn(X[0:1], None, y[0:1])
        H = m.unlearning_cache_.hessians[0]
        column = H.matvec(np.eye(H.shape[0])[0])
        column[0] = 0.0
        others = np.flatnonzero(X[0])[1:]
        total = float(np.linalg.norm(column))
        share = float(np.linalg.norm(column[others])) / total if total else 0.0

    print(f"n = {n:,}, d = {d}: a deletion of one row (median of {args.repeats}), "
          f"against a refit of {refit * 1e3:.0f} ms")
    for kind, ts in times.items():
        t = float(np.median(ts))
        print(f"  a row that {kind:22s} {t * 1e3:6.2f} ms  ({refit / t:.0f}x the refit)")
    print(f"after erasing row 0 (feature 0 held by it alone): weight {float(m.coef_[0, 0]):.3g}, "
          f"Hessian column off the diagonal: norm {total:.3g}, share on the row's "
          f"{len(others)} other features {share:.3f}")


if __name__ == "__main__":
    main()
