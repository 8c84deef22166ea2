"""Choosing epsilon, delta and the budget: the accuracy each costs and the
retrainings per 1,000 requests.

    python benchmarks/bench_certified_choice.py                 # n = 5,000
    python benchmarks/bench_certified_choice.py --n 20000 --requests 500

The data: ``make_classification`` (20 features, 8 informative, 3% of labels
flipped, seed 0), ``n`` rows for training and 2,000 held out; the features
are scaled by a scaler fitted on the held-out rows and frozen (a step fitted
on the training rows would not be covered by the certificate).

First table, the accuracy cost: for every epsilon and budget, the noise
scale ``sigma = budget * sqrt(2 ln(1.5 / delta)) / epsilon`` and the mean
held-out accuracy of ``CertifiedRemoval(UnlearnableLogisticRegression())``
over ``--draws`` noise draws, in points against the noise-free model of the
same rows (draws whose noisy objective has no minimum are counted apart).

Second table, the retrainings: for every budget, a stream of ``--requests``
single-row erasures (rows drawn at random) with
``on_budget_exceeded="retrain"``, at epsilon = 1, once spending the measured
residual when the bound would pass the budget (kept rows, the default) and
once spending the accumulated bounds alone (``measure_residual="never"``:
the accounting of a model that keeps no rows), given per 1,000 requests.
The retrainings depend on the budget, not on epsilon: the budget is what a
request's residual is compared with; epsilon only scales the noise.
"""

import argparse
import time
import warnings

import numpy as np
from sklearn.datasets import make_classification
from sklearn.frozen import FrozenEstimator
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

from sklearn_unlearn import UnlearnableLogisticRegression
from sklearn_unlearn.certified import CertifiedRemoval, noise_scale


def load(n, n_test=2000):
    X, y = make_classification(n_samples=n + n_test, n_features=20, n_informative=8,
                               flip_y=0.03, random_state=0)
    scaler = FrozenEstimator(StandardScaler().fit(X[n:]))
    return scaler.transform(X[:n]), scaler.transform(X[n:]), y[:n], y[n:]


def accuracy_cost(X, X_test, y, y_test, epsilon, delta, budget, draws):
    """Mean held-out accuracy over the draws that fit, and how many had no
    minimum."""
    scores, none = [], 0
    for rs in range(draws):
        model = CertifiedRemoval(UnlearnableLogisticRegression(), epsilon=epsilon,
                                 delta=delta, budget=budget, random_state=rs)
        try:
            model.fit(X, y)
        except ValueError:
            none += 1
            continue
        scores.append(model.score(X_test, y_test))
    return (np.mean(scores) if scores else np.nan), none


def retrains(X, y, delta, budget, requests, measure, seed=0):
    """Retrainings in a stream of single-row erasures, and its seconds."""
    model = CertifiedRemoval(UnlearnableLogisticRegression(), epsilon=1.0, delta=delta,
                             budget=budget, measure_residual=measure,
                             random_state=0).fit(X, y)
    start = time.perf_counter()
    for j in np.random.default_rng(seed).permutation(len(y))[:requests]:
        model.unlearn(X[j:j + 1], None, y[j:j + 1])
    return model.certificate_.n_retrains, time.perf_counter() - start


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=5000)
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--draws", type=int, default=5)
    parser.add_argument("--delta", type=float, default=1e-5)
    parser.add_argument("--epsilons", type=float, nargs="+",
                        default=[0.1, 0.25, 0.5, 1.0])
    parser.add_argument("--budgets", type=float, nargs="+",
                        default=[0.05, 0.2, 1.0, 5.0])
    args = parser.parse_args()
    X, X_test, y, y_test = load(args.n)
    start = time.perf_counter()
    with threadpool_limits(1), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        plain = UnlearnableLogisticRegression().fit(X, y).score(X_test, y_test)
        print(f"{args.n} training rows, {X.shape[1]} features, {len(y_test)} held "
              f"out; delta = {args.delta:g}; noise-free accuracy {100 * plain:.2f}%")
        print("\naccuracy cost (points against noise-free; draws without a minimum)")
        print(f"{'budget':>7} {'epsilon':>8} {'sigma':>8} {'accuracy':>9} "
              f"{'cost':>6} {'none':>5}")
        for budget in args.budgets:
            for eps in args.epsilons:
                acc, none = accuracy_cost(X, X_test, y, y_test, eps, args.delta,
                                          budget, args.draws)
                print(f"{budget:>7g} {eps:>8g} "
                      f"{noise_scale(eps, args.delta, budget):>8.3g} "
                      f"{100 * acc:>8.2f}% {100 * (plain - acc):>6.2f} "
                      f"{none:>2}/{args.draws}")
        print(f"\nretrainings per 1,000 single-row erasures ({args.requests} "
              "requests, epsilon = 1)")
        print(f"{'budget':>7} {'measured residual':>18} {'bounds only':>12} "
              f"{'ms/request':>11}")
        for budget in args.budgets:
            kept, t_kept = retrains(X, y, args.delta, budget, args.requests,
                                    "over_budget")
            bounds, _ = retrains(X, y, args.delta, budget, args.requests, "never")
            scale = 1000 / args.requests
            print(f"{budget:>7g} {kept * scale:>18.0f} {bounds * scale:>12.0f} "
                  f"{1e3 * t_kept / args.requests:>11.1f}")
    print(f"\n{time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
