"""How far single requests land from the refit, against their plan's
estimate (``report.change_error``) and the warning it gives.

    python benchmarks/bench_step_estimate.py [--per-case 12]

Logistic regression (C = 0.1, 1 and 10) on breast cancer and wine (class 1
against the rest), standardised, and 600 generated rows of 6 features
(binary, at most 32 parameters: the estimate from the cubic term); on
wine's and iris's three classes (multinomial) and on binary models of more
than 32 parameters: digits 0 against the rest and even against odd
(standardised, 65 parameters), 600 generated rows of 100 features, and 200
sparse text-like rows of 128 features (the estimate from the request's
bound). From a fresh fit each time, one request of a kind (deletion; two
features zeroed; rows inserted near existing ones; labels flipped; rows
inserted, one holding a value of 1e2 to 1e5; rows inserted with a sample
weight of 10 to 1e6) on 0.5 to 20% of the rows (at most 3 rows for the
last two kinds). The distance is the relative distance of all parameters
from scikit-learn's refit on the corrected data (newton-cg to round-off);
the estimate is relative to the model's parameters.

Where the estimate comes from the bound, it is computed by every formula
below from the same figures (the plan's report, its step and the
remaining rows' curvature along it); the one the library takes is marked.
Per formula: the requests served without a warning that landed beyond 1e-2
(misses), the warned requests that landed within 1e-3 (false alarms), and
the ratio of estimate to distance (where the distance is above 1e-8, the
reference's own precision). Then the farthest requests.
"""

import argparse
import itertools
import warnings

import numpy as np
import scipy.sparse as sp
from sklearn.datasets import load_breast_cancer, load_digits, load_iris, load_wine
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler

from sklearn_unlearn import UnlearnableLogisticRegression
from sklearn_unlearn.linear_model import _landing
from sklearn_unlearn.solvers import UnlearningWarning

KINDS = ("deletion", "edit", "insertion", "label flip", "large value", "heavy rows")
FRACTIONS = (0.005, 0.02, 0.05, 0.1, 0.2)
RTOL = 1e-2


def _first_order(g, start, step, curvature, penalty):
    """The estimate before: the gradient after the step over ``||G||``
    times the step's length."""
    return g / start * step


def _along_step(g, start, step, curvature, penalty):
    """The gradient after the step over the remaining rows' curvature along
    it."""
    return g / curvature if curvature > 0 else np.inf


def _penalty(g, start, step, curvature, penalty):
    """The gradient after the step over the smallest penalty: the inverse
    Hessian's norm were every parameter penalised (the intercept is not)."""
    return g / penalty


FORMULAS = {"1. first order, g/||G|| ||step||": _first_order,
            "2. along the step, g/c": _along_step,
            "3. smallest penalty, g/lambda": _penalty}
#: the library's estimate, the plan's ``change_error``
TAKEN = "the library's: the larger of 1, 2"


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
    X, y = load_digits(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    yield "digits 0/rest", X, (y == 0).astype(int)
    yield "digits even/odd", X, (y % 2).astype(int)
    X = rng.standard_normal((600, 100))
    yield "generated, 100", X, (X @ rng.standard_normal(100) / 5
                                + rng.logistic(size=600) > 0).astype(int)
    X = sp.random(200, 128, density=0.1, format="csr", random_state=0)
    yield "sparse text", X, np.arange(200) % 2


def _near(X, rows, rng):
    """Copies of ``rows`` moved by noise of 0.5 (a sparse row's stored
    values only)."""
    new = X[rows].copy()
    if sp.issparse(new):
        new.data = new.data + 0.5 * rng.standard_normal(new.nnz)
    else:
        new = new + 0.5 * rng.standard_normal(new.shape)
    return new


def _stack(X, new):
    return sp.vstack([X, new]).tocsr() if sp.issparse(X) else np.r_[X, new]


def request(kind, X, y, rows, rng):
    """``(X_old, X_new, y_old, y_new)``, the inserted rows' sample weights
    and the corrected ``(X, y, sample_weight)``."""
    ones = np.ones(X.shape[0])
    if kind == "deletion":
        keep = np.setdiff1d(np.arange(X.shape[0]), rows)
        return (X[rows], None, y[rows], None), None, (X[keep], y[keep], ones[keep])
    if kind == "edit":
        mask = np.ones(X.shape[1])
        mask[rng.choice(X.shape[1], 2, replace=False)] = 0.0
        new = X[rows].multiply(mask).tocsr() if sp.issparse(X) else X[rows] * mask
        Xc = X.tolil() if sp.issparse(X) else X.copy()
        Xc[rows] = new
        Xc = Xc.tocsr() if sp.issparse(X) else Xc
        return (X[rows], new, y[rows], None), None, (Xc, y, ones)
    if kind in ("insertion", "large value", "heavy rows"):
        new = _near(X, rows, rng)
        weight = None
        if kind == "large value":
            value = 10.0 ** rng.integers(2, 6)
            if sp.issparse(new) and new.nnz:
                new.data[0] = value
            elif sp.issparse(new):
                new = new.tolil()
                new[0, 0] = value
                new = new.tocsr()
            else:
                new[0, rng.integers(X.shape[1])] = value
        if kind == "heavy rows":
            weight = np.full(len(rows), 10.0 ** rng.integers(1, 7))
        added = ones[rows] if weight is None else weight
        return ((None, new, None, y[rows]), weight,
                (_stack(X, new), np.r_[y, y[rows]], np.r_[ones, added]))
    flipped = (y[rows] + 1) % (y.max() + 1)
    yc = y.copy()
    yc[rows] = flipped
    return (X[rows], X[rows], y[rows], flipped), None, (X, yc, ones)


def params(model):
    """Coefficients and intercepts; a multinomial model's intercepts centred
    (its objective does not change when one constant is added to all)."""
    intercept = np.ravel(model.intercept_)
    if len(intercept) > 1:
        intercept = intercept - intercept.mean()
    return np.r_[model.coef_.ravel(), intercept]


def _recording(seen):
    """``bounded_step_error`` that keeps the figures it is computed from."""
    bounded = _landing.bounded_step_error

    def recorded(report, move, curvature=None, left=0.0):
        # (left: a first-order step's own distance; the requests here are
        # second-order, where it is zero)
        error = bounded(report, move, curvature, left)
        seen.append((report, float(np.linalg.norm(move)), curvature, error))
        return error
    return recorded


def estimates(seen, change_error, penalty):
    """The estimate of every formula (the library's ``change_error`` where
    it did not come from the bound)."""
    if not seen or seen[-1][3] is None or change_error is None:
        return {name: change_error for name in (*FORMULAS, TAKEN)}
    report, step, curvature, taken = seen[-1]
    g, start = report.residual_estimate, report.gradient_norm
    # what the estimate holds beside the step's (rounding; zero here)
    rest = change_error - taken
    shrink = g / start
    out = {}
    for name, formula in FORMULAS.items():
        value = formula(g + report.bound_increment, start, step, curvature or 0.0,
                        penalty)
        out[name] = (np.inf if not shrink < 1.0 else value / (1.0 - shrink)) + rest
    out[TAKEN] = change_error
    return out


def run(per_case):
    rng = np.random.default_rng(0)
    seen = []
    _landing.bounded_step_error = _recording(seen)
    cases = []
    for (name, X, y), C in itertools.product(data_sets(), (0.1, 1.0, 10.0)):
        for trial in range(per_case):
            kind, frac = KINDS[trial % len(KINDS)], FRACTIONS[trial % 5]
            k = max(1, int(frac * X.shape[0]))
            if kind in ("large value", "heavy rows"):
                k = min(k, 3)
            rows = rng.choice(X.shape[0], k, replace=False)
            args, weight, (Xc, yc, sw) = request(kind, X, y, rows, rng)
            model = UnlearnableLogisticRegression(C=C).fit(X, y)
            seen.clear()
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always", UnlearningWarning)
                warnings.simplefilter("ignore", RuntimeWarning)
                plan = model.plan_unlearn(*args, sample_weight=weight)
            warned = any("may land far" in str(w.message) for w in caught)
            model.apply_unlearn(plan)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                ref = LogisticRegression(C=C, solver="newton-cg", tol=1e-12,
                                         max_iter=10_000).fit(Xc, yc, sample_weight=sw)
            scale = float(np.linalg.norm(model.unlearning_cache_.theta))
            distance = np.linalg.norm(params(model) - params(ref)) / np.linalg.norm(params(ref))
            est = {f: (None if e is None else e / scale)
                   for f, e in estimates(seen, plan.report.change_error, 1.0 / C).items()}
            source = "bound" if seen and seen[-1][3] is not None else "cubic"
            cases.append(dict(data=name, C=C, kind=kind, k=k, warned=warned,
                              distance=distance, estimates=est, source=source))
    return cases


def summary(cases, formula):
    """Misses, false alarms, the ratios and the farthest unwarned distance
    of ``formula`` over ``cases``."""
    est = [c["estimates"][formula] for c in cases]
    warned = [e is not None and e > RTOL for e in est]
    dist = [c["distance"] for c in cases]
    misses = sum(not w and d > RTOL for w, d in zip(warned, dist))
    alarms = sum(w and d < 1e-3 for w, d in zip(warned, dist))
    ratios = [e / d for e, d in zip(est, dist) if e is not None and d > 1e-8]
    unwarned = max([d for w, d in zip(warned, dist) if not w], default=0.0)
    return misses, alarms, sum(warned), ratios, unwarned


def main(per_case):
    cases = run(per_case)
    bound = [c for c in cases if c["source"] == "bound"]
    print(f"{len(cases)} requests ({len(bound)} estimated from the bound), "
          f"{sum(c['distance'] < 1e-3 for c in cases)} landed within 1e-3, "
          f"{sum(c['distance'] > RTOL for c in cases)} beyond 1e-2")
    print("formula: misses, false alarms, warned, estimate/distance smallest and "
          "median (all requests; from the bound), largest unwarned distance")
    for formula in (*FORMULAS, TAKEN):
        m, a, w, r, u = summary(cases, formula)
        _, _, _, rb, _ = summary(bound, formula)
        print(f"  {formula:32s} {m:3d} {a:4d} {w:4d}   {min(r):.3g} {np.median(r):.3g}; "
              f"{min(rb):.3g} {np.median(rb):.3g}   {u:.3g}")
    taken, before = TAKEN, next(iter(FORMULAS))
    print("per data set: requests, within 1e-3, beyond 1e-2; misses and false "
          "alarms of 1 (the estimate before) and of the library's")
    for name in dict.fromkeys(c["data"] for c in cases):
        sub = [c for c in cases if c["data"] == name]
        m1, a1, _, _, _ = summary(sub, before)
        m, a, _, _, _ = summary(sub, taken)
        print(f"  {name:16s} {len(sub):3d} {sum(c['distance'] < 1e-3 for c in sub):3d} "
              f"{sum(c['distance'] > RTOL for c in sub):3d}   {m1:3d} {a1:3d}   {m:3d} {a:3d}")
    print("farthest requests (data, C, kind, rows, warned, distance, estimate):")
    for c in sorted(cases, key=lambda c: -c["distance"])[:8]:
        print("  %-16s C=%-4g %-11s %3d  %-5s %.3g  %.3g" % (
            c["data"], c["C"], c["kind"], c["k"], c["warned"], c["distance"],
            c["estimates"][taken]))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-case", type=int, default=12)
    main(parser.parse_args().per_case)
