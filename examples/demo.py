"""Forget a sensitive feature, then compare with scikit-learn's refit.

The main job of sklearn-unlearn on bundled data: a logistic regression trained
on the breast cancer data set must forget one feature ("mean radius") of 5% of
its training rows. It prints the time of ``unlearn`` against a refit from
scratch and the distance of both the unlearned and the untouched model to the
refit.

Then the same request on 100,000 generated rows, where a refit costs more and
the unlearning update costs the same. The generated data is of full rank
(``n_redundant=0``): with redundant columns, part of the optimum is pinned
down by the penalty alone, and every model is far from the exact refit along
those directions, the untouched one included.

Every distance is to the exact optimum on the corrected data (scikit-learn's
refit at a tolerance of 1e-12), and so is the prediction agreement.

Run it with ``python examples/demo.py``.
"""

import time

import numpy as np
import pandas as pd
from sklearn.datasets import load_breast_cancer, make_classification
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler

from sklearn_unlearn import UnlearnableLogisticRegression, zero_features


def params(model):
    return np.r_[model.coef_.ravel(), model.intercept_]


def main():
    data = load_breast_cancer(as_frame=True)
    X = StandardScaler().set_output(transform="pandas").fit_transform(data.data)
    forget(X, data.target.to_numpy(), ["mean radius"], share=0.05)
    X, y = make_classification(n_samples=100_000, n_features=50, n_informative=20,
                               n_redundant=0, random_state=0)
    X = pd.DataFrame(StandardScaler().fit_transform(X),
                     columns=[f"x{i}" for i in range(50)])
    print()
    forget(X, y, ["x0", "x1"], share=0.001)


def forget(X, y, sensitive, share):
    rng = np.random.default_rng(0)
    rows = rng.choice(len(y), size=int(share * len(y)), replace=False)

    model = UnlearnableLogisticRegression(C=1.0, max_iter=1000).fit(X, y)
    before = params(model)

    X_old = X.iloc[rows]
    X_new = zero_features(X_old, sensitive)
    start = time.perf_counter()
    model.unlearn(X_old, X_new, y[rows])
    t_unlearn = time.perf_counter() - start

    X_corrected = X.copy()
    X_corrected.iloc[rows] = X_new
    start = time.perf_counter()
    refit = LogisticRegression(C=1.0, max_iter=1000).fit(X_corrected, y)
    t_refit = time.perf_counter() - start
    # The exact corrected optimum, to measure distances against.
    exact = LogisticRegression(C=1.0, tol=1e-12, max_iter=100_000).fit(X_corrected, y)

    target = params(exact)
    scale = np.linalg.norm(target)
    d_unlearn = np.linalg.norm(params(model) - target) / scale
    d_none = np.linalg.norm(before - target) / scale
    d_refit = np.linalg.norm(params(refit) - target) / scale
    agree = np.mean(model.predict(X_corrected) == exact.predict(X_corrected))
    agree_refit = np.mean(refit.predict(X_corrected) == exact.predict(X_corrected))

    print(f"Forgetting {sensitive} in {len(rows)} of {len(y)} training rows")
    print(f"  time of unlearn                             {t_unlearn * 1e3:8.2f} ms")
    print(f"  time of LogisticRegression refit (default)  {t_refit * 1e3:8.2f} ms  "
          f"({t_refit / t_unlearn:.0f}x the unlearn time)")
    print("relative parameter distance to the exact refit (tol=1e-12):")
    print(f"  model before the request (no update)   {d_none:.2e}")
    print(f"  unlearned model                        {d_unlearn:.2e}  "
          f"({d_none / d_unlearn:.0f}x closer than no update)")
    print(f"  LogisticRegression refit (default tol) {d_refit:.2e}")
    print("prediction agreement with the exact refit, on the corrected rows:")
    print(f"  unlearned model                        {agree:.2%}")
    print(f"  LogisticRegression refit (default tol) {agree_refit:.2%}")
    print(f"bound on the unlearned model's gradient residual: {model.residual_bound_:.3g}")

if __name__ == "__main__":
    main()
