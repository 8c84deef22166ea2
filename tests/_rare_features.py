"""Rows with a few rare features, for tests of requests that leave a
feature's rows or drift the model far from where the cache took its
curvature."""

import numpy as np


def rare_feature_rows(seed, n=120, d=25, n_classes=3):
    """``(X, y, rng)``: rows with a quarter of their entries set, the last
    six features held by one or two rows each, ``n_classes`` balanced
    classes, and the generator, to draw requests from."""
    rng = np.random.default_rng(seed)
    X = (rng.random((n, d)) < 0.25) * rng.standard_normal((n, d))
    for j in range(d - 6, d):
        X[:, j] = 0
        k = rng.integers(1, 3)
        X[rng.choice(n, k, replace=False), j] = rng.standard_normal(k)
    score = X @ rng.standard_normal(d) + 0.3 * rng.standard_normal(n)
    y = np.digitize(score, np.quantile(score, np.linspace(0, 1, n_classes + 1)[1:-1]))
    return X, y, rng
