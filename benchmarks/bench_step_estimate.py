"""How far single requests land from the refit, against their plan's
estimate (``report.change_error``) and the warning it gives.

    python benchmarks/bench_step_estimate.py [--per-case 12]

Logistic regression (C = 0.1, 1 and 10) on breast cancer and wine (class 1
against the rest), standardised, and 600 generated rows of 6 features
(binary: the estimate from the cubic term), and on wine's and iris's three
classes (multinomial: the estimate from the request's bound):
from a fresh fit each time, one request of a kind (deletion; two features
zeroed; rows inserted near existing ones; labels flipped) on 0.5 to 20% of
the rows. The distance is the relative distance of all parameters from
scikit-learn's refit on the corrected data (newton-cg to round-off); the
estimate is relative to the model's parameters. Prints the counts, the
ratio of estimate to distance (where the distance is above 1e-8, the
reference's own precision), the largest distance a request served
without a warning landed at, and the farthest requests.
"""

import argparse
import itertools
import warnings

import numpy as np
from sklearn.datasets import load_breast_cancer, load_iris, load_wine
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler

from sklearn_unlearn import UnlearnableLogisticRegression
from sklearn_unlearn.solvers import UnlearningWarning

KINDS = ("deletion", "edit", "insertion", "label flip")
FRACTIONS = (0.005, 0.02, 0.05, 0.1, 0.2)


def data_sets():
    X, y = load_breast_cancer(return_X_y=True)
    yield "breast cancer", StandardScaler().fit_transform(X), y
    X, y = load_wine(return_X_y=True)
    yield "wine", StandardScaler().fit_transform(X), (y == 1).astype(int)
    yield "wine, 3 classes", StandardScaler().fit_transform(X), y
    X, y = load_iris(return_X_y=True)
    yield "iris, 3 classes", StandardScaler().fit_transform(X), y
    rng = np.random.default_rng(0)
    X = rng.standard_normal((600, 6))
    yield "generated", X, (X @ rng.standard_normal(6) + rng.logistic(size=600) > 0).astype(int)


def request(kind, X, y, rows, rng):
    """``(X_old, X_new, y_old, y_new)`` and the corrected ``(X, y)``."""
    if kind == "deletion":
        keep = np.setdiff1d(np.arange(len(X)), rows)
        return (X[rows], None, y[rows], None), (X[keep], y[keep])
    if kind == "edit":
        new = X[rows].copy()
        new[:, rng.choice(X.shape[1], 2, replace=False)] = 0.0
        Xc = X.copy()
        Xc[rows] = new
        return (X[rows], new, y[rows], None), (Xc, y)
    if kind == "insertion":
        new = X[rows] + 0.5 * rng.standard_normal((len(rows), X.shape[1]))
        return (None, new, None, y[rows]), (np.r_[X, new], np.r_[y, y[rows]])
    flipped = (y[rows] + 1) % (y.max() + 1)
    yc = y.copy()
    yc[rows] = flipped
    return (X[rows], X[rows], y[rows], flipped), (X, yc)


def params(model):
    """Coefficients and intercepts; a multinomial model's intercepts centred
    (its objective does not change when one constant is added to all)."""
    intercept = np.ravel(model.intercept_)
    if len(intercept) > 1:
        intercept = intercept - intercept.mean()
    return np.r_[model.coef_.ravel(), intercept]


def main(per_case):
    rng = np.random.default_rng(0)
    cases = []
    for (name, X, y), C in itertools.product(data_sets(), (0.1, 1.0, 10.0)):
        for trial in range(per_case):
            kind, frac = KINDS[trial % 4], FRACTIONS[trial % 5]
            rows = rng.choice(len(X), max(1, int(frac * len(X))), replace=False)
            args, (Xc, yc) = request(kind, X, y, rows, rng)
            model = UnlearnableLogisticRegression(C=C).fit(X, y)
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always", UnlearningWarning)
                plan = model.plan_unlearn(*args)
            warned = any("may land far" in str(w.message) for w in caught)
            model.apply_unlearn(plan)
            ref = LogisticRegression(C=C, solver="newton-cg", tol=1e-12,
                                     max_iter=10_000).fit(Xc, yc)
            theta = params(model)
            distance = np.linalg.norm(theta - params(ref)) / np.linalg.norm(params(ref))
            estimate = plan.report.change_error / np.linalg.norm(theta)
            cases.append((name, C, kind, frac, warned, distance, estimate))
    # below 1e-8 the distance is of the order of the reference's own
    # precision (newton-cg's tolerance)
    ratios = [e / d for *_, d, e in cases if d > 1e-8]
    print(f"{len(cases)} requests, {sum(c[4] for c in cases)} warned")
    print(f"estimate / distance (distance > 1e-8): smallest {min(ratios):.3g}, "
          f"median {np.median(ratios):.3g}")
    print("largest distance served without a warning: "
          f"{max(c[5] for c in cases if not c[4]):.3g}")
    print("farthest requests (data, C, kind, share of rows, warned, distance, estimate):")
    for case in sorted(cases, key=lambda c: -c[5])[:8]:
        print("  %-15s C=%-4g %-10s %5.1f%%  %-5s %.3g  %.3g" % (
            case[0], case[1], case[2], 100 * case[3], case[4], case[5], case[6]))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-case", type=int, default=12)
    main(parser.parse_args().per_case)
