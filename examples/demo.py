"""Forget a sensitive feature, then compare with scikit-learn's refit.

The main job of sklearn-unlearn on bundled data: a logistic regression trained
on the breast cancer data set must forget one feature ("mean radius") of 5% of
its training rows. It prints the time of ``unlearn`` against a refit from
scratch and the distance of both the unlearned and the untouched model to the
refit.

Then the same request on 100,000 generated rows, where a refit costs more and
the unlearning update costs the same.

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
                               random_state=0)
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

    print(f"Forgetting {sensitive} in {len(rows)} of {len(y)} training rows")
    print(f"  unlearn time          {t_unlearn * 1e3:8.2f} ms")
    print(f"  refit time            {t_refit * 1e3:8.2f} ms  "
          f"({t_refit / t_unlearn:.0f}x the unlearn time)")
    print("relative distance to the exact refit:")
    print(f"  no update             {d_none:.2e}")
    print(f"  unlearned             {d_unlearn:.2e}  ({d_none / d_unlearn:.0f}x closer)")
    print(f"  refit (default tol)   {d_refit:.2e}")
    print(f"prediction agreement with the refit: {agree:.1%}")
    print(f"bound on the gradient residual: {model.residual_bound_:.3g}")


if __name__ == "__main__":
    main()
