"""Unlearning in multilayer perceptrons on load_digits: figures in one run.

    python benchmarks/bench_mlp.py [--seeds 5]

1. Label poisoning: 20% of the training labels flipped to a random other
   class; a (32,) ReLU network (adam, 200 epochs) is trained on them, then
   the flips are unlearned. "restored" is the share of the test accuracy lost
   to the poisoning that comes back: (acc - acc_poisoned) / (acc_refit -
   acc_poisoned), with the refit trained on the corrected labels from the
   same initialisation. Fine-tuning runs partial_fit on the corrected data
   for the same wall time as the second-order update.
2. Exact Hessian-vector products against central differences of the
   gradient.
3. Canary: five training images stamped in pixels that are blank in every
   digit and relabelled 6. Exposure is the mean predicted probability of 6 on
   stamped test images of other classes; the canary is unlearned by
   correcting its labels, or by deleting its rows.

All timings use single-threaded BLAS for every method (small products on a
busy two-core machine are slower with two BLAS threads than with one).
"""

import argparse
import copy
import time
import warnings

import numpy as np
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from threadpoolctl import threadpool_limits

from sklearn_unlearn import UnlearnableMLPClassifier
from sklearn_unlearn.neural_network._hvp import MeanObjective, MLPFunction, MLPLayout

PARAMS = dict(hidden_layer_sizes=(32,), max_iter=200)
FLIP_SHARE = 0.2
CANARY_LABEL, CANARY_ROWS = 6, 5


def fit(seed, X, y):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        start = time.perf_counter()
        model = UnlearnableMLPClassifier(**PARAMS, random_state=seed).fit(X, y)
        return model, time.perf_counter() - start


def timed_unlearn(model, *args, **kw):
    model = copy.deepcopy(model)
    start = time.perf_counter()
    model.unlearn(*args, **kw)
    return model, time.perf_counter() - start


def poisoning(seed, Xtr, Xte, ytr, yte):
    rng = np.random.default_rng(seed)
    flip = rng.choice(len(ytr), int(FLIP_SHARE * len(ytr)), replace=False)
    y_bad = ytr.copy()
    y_bad[flip] = (ytr[flip] + rng.integers(1, 10, len(flip))) % 10
    refit, t_refit = fit(seed, Xtr, ytr)
    poisoned, _ = fit(seed, Xtr, y_bad)
    acc_refit, acc_bad = refit.score(Xte, yte), poisoned.score(Xte, yte)
    req = (Xtr[flip], Xtr[flip], y_bad[flip], ytr[flip])
    rows = {}
    for name, kw in [
        ("first order (tau auto)", dict(method="first_order")),
        ("second order, Gauss-Newton (default)", {}),
        ("second order, exact Hessian, damping 0.1", dict(curvature="exact", damping=0.1)),
    ]:
        try:
            model, t = timed_unlearn(poisoned, *req, **kw)
            rows[name] = (model.score(Xte, yte), t, model.unlearn_history_[-1])
        except ValueError as exc:  # negative curvature of the exact Hessian
            rows[name] = (np.nan, np.nan, str(exc).split(":")[0])
    t_second = rows["second order, Gauss-Newton (default)"][1]
    tuned = copy.deepcopy(poisoned)
    start, epochs = time.perf_counter(), 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        while time.perf_counter() - start < t_second:
            tuned.partial_fit(Xtr, ytr)
            epochs += 1
    rows[f"fine-tuning, same time ({epochs} epochs)"] = (
        tuned.score(Xte, yte), time.perf_counter() - start, None)
    return acc_refit, acc_bad, t_refit, rows


def hvp_error(Xtr, ytr):
    model, _ = fit(0, Xtr, ytr)
    layout = MLPLayout.from_coefs(model.coefs_)
    theta = layout.pack(model.coefs_, model.intercepts_)
    Y = model._encode_targets(ytr)
    s = np.ones(len(ytr))

    def objective(t):
        net = MLPFunction(layout, model.activation, model.out_activation_, Xtr, Y, s, t)
        return MeanObjective(net, model.alpha, len(ytr))

    v = np.random.default_rng(0).standard_normal(layout.n_params)
    eps = 1e-5
    plus, minus = objective(theta + eps * v), objective(theta - eps * v)
    fd = (plus.gradient() - minus.gradient()) / (2 * eps)
    obj = objective(theta)
    start = time.perf_counter()
    hv = obj.hvp(v)
    t_hvp = time.perf_counter() - start
    return np.linalg.norm(hv - fd) / np.linalg.norm(fd), t_hvp, layout.n_params


def canary(seed, Xtr, Xte, ytr, yte):
    blank = np.where(Xtr.max(axis=0) == 0)[0]

    def stamp(A):
        A = A.copy()
        A[:, blank] = 1.0
        return A

    rng = np.random.default_rng(seed)
    pick = rng.choice(np.where(ytr != CANARY_LABEL)[0], CANARY_ROWS, replace=False)
    Xc, yc_true = stamp(Xtr[pick]), ytr[pick]
    yc = np.full(CANARY_ROWS, CANARY_LABEL)
    X_all = np.vstack([Xtr, Xc])
    probe = stamp(Xte[yte != CANARY_LABEL])

    def exposure(m):
        return m.predict_proba(probe)[:, list(m.classes_).index(CANARY_LABEL)].mean()

    planted, _ = fit(seed, X_all, np.concatenate([ytr, yc]))
    refit_fixed, _ = fit(seed, X_all, np.concatenate([ytr, yc_true]))
    refit_without, _ = fit(seed, Xtr, ytr)
    fixed, _ = timed_unlearn(planted, Xc, Xc, yc, yc_true)
    deleted, _ = timed_unlearn(planted, Xc, None, yc)
    return {
        "planted": exposure(planted),
        "refit, labels corrected": exposure(refit_fixed),
        "unlearned, labels corrected": exposure(fixed),
        "refit without the rows": exposure(refit_without),
        "unlearned, rows deleted": exposure(deleted),
        "test accuracy planted": planted.score(Xte, yte),
        "test accuracy corrected": fixed.score(Xte, yte),
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5)
    args = parser.parse_args()
    X, y = load_digits(return_X_y=True)
    X = X / 16.0
    Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=0.3, random_state=0, stratify=y)
    print(f"load_digits: {len(ytr)} training rows, {len(yte)} test rows; "
          f"MLP {PARAMS}; single-threaded BLAS")

    with threadpool_limits(1):
        print(f"\n1. label poisoning ({FLIP_SHARE:.0%} of the labels flipped)")
        shares, ratios = {}, {}
        for seed in range(args.seeds):
            acc_refit, acc_bad, t_refit, rows = poisoning(seed, Xtr, Xte, ytr, yte)
            print(f"  seed {seed}: refit acc {acc_refit:.4f} in {t_refit:.2f}s, poisoned "
                  f"acc {acc_bad:.4f} (lost {acc_refit - acc_bad:.4f})")
            for name, (acc, t, report) in rows.items():
                share = (acc - acc_bad) / (acc_refit - acc_bad)
                key = name.split(" (")[0] if name.startswith("fine") else name
                shares.setdefault(key, []).append(share)
                ratios.setdefault(key, []).append(t / t_refit)
                extra = ""
                if report is not None and not isinstance(report, str) and report.cg_iterations:
                    extra = f", {report.cg_iterations} CG iterations"
                elif isinstance(report, str):
                    extra = f" [{report}]"
                print(f"    {name:45s} restored {share:6.2f}  time {t:.3f}s = "
                      f"{t / t_refit:.3f} of refit{extra}")
        print("  mean over seeds (min..max):")
        for key in shares:
            s, r = np.array(shares[key]), np.array(ratios[key])
            print(f"    {key:45s} restored {np.nanmean(s):.2f} "
                  f"({np.nanmin(s):.2f}..{np.nanmax(s):.2f}), time {np.nanmean(r):.3f} of refit")

        err, t_hvp, n_params = hvp_error(Xtr, ytr)
        print(f"\n2. exact HVP ({n_params} parameters, {len(ytr)} rows): relative error "
              f"against central differences (step 1e-5) {err:.1e}; "
              f"one product {t_hvp * 1e3:.1f} ms")

        print(f"\n3. canary ({CANARY_ROWS} stamped rows labelled {CANARY_LABEL}): exposure")
        for seed in range(min(args.seeds, 3)):
            res = canary(seed, Xtr, Xte, ytr, yte)
            print(f"  seed {seed}: " + ", ".join(f"{k} {v:.3f}" for k, v in res.items()))


if __name__ == "__main__":
    main()
