"""
=========================================
Unlearning against refitting: time
=========================================

How long does a request take, compared with training again on the corrected
data? The refit's cost grows with the number of training rows ``n``. The
update never touches the training data: its cost depends on the number of
parameters and on the number of affected rows ``k``, not on ``n``.

We time deletions of ``k`` rows from a binary logistic regression on 20
features, first for a fixed ``k`` as ``n`` grows, then for a fixed ``n`` as
``k`` grows. The sizes are kept small so that the example runs in seconds;
``benchmarks/`` has the full study.
"""

# %%
# Setup
# -----
# Each time is the best of three runs, on one thread.

import copy
import time

import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import make_classification
from sklearn.linear_model import LogisticRegression
from threadpoolctl import threadpool_limits

from sklearn_unlearn import UnlearnableLogisticRegression

threadpool_limits(limits=1)
N_FEATURES = 20


def best_time(func, repeat=3):
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        func()
        times.append(time.perf_counter() - start)
    return min(times)


def data(n):
    return make_classification(n_samples=n, n_features=N_FEATURES,
                               n_informative=10, random_state=0)


def time_request(model, X, y, k, method="second_order"):
    """Time the deletion of the first k rows (on fresh copies of the model)."""
    copies = [copy.deepcopy(model) for _ in range(3)]
    return best_time(lambda: copies.pop().unlearn(X[:k], None, y[:k], method=method))


def time_refit(X, y, k):
    return best_time(lambda: LogisticRegression().fit(X[k:], y[k:]))


# %%
# Growing the training set, k = 10
# --------------------------------

n_values = [1_000, 3_000, 10_000, 30_000, 100_000]
k = 10
by_n = {"unlearn": [], "refit": []}
for n in n_values:
    X, y = data(n)
    model = UnlearnableLogisticRegression().fit(X, y)
    by_n["unlearn"].append(time_request(model, X, y, k))
    by_n["refit"].append(time_refit(X, y, k))
    print(f"n={n:>7}: unlearn {1e3 * by_n['unlearn'][-1]:7.2f} ms, "
          f"refit {1e3 * by_n['refit'][-1]:7.2f} ms")

# %%
# Growing the request, n = 30,000
# -------------------------------

X, y = data(30_000)
model = UnlearnableLogisticRegression().fit(X, y)
k_values = [1, 3, 10, 30, 100, 300, 1000, 3000]
by_k = {"second_order": [], "first_order": []}
for k in k_values:
    for method in by_k:
        by_k[method].append(time_request(model, X, y, k, method))
t_refit = time_refit(X, y, 0)
for k, t2, t1 in zip(k_values, by_k["second_order"], by_k["first_order"]):
    print(f"k={k:>5}: second_order {1e3 * t2:7.2f} ms, first_order {1e3 * t1:7.2f} ms")
print(f"refit {1e3 * t_refit:.2f} ms")

# %%
# The figure
# ----------

fig, (ax_n, ax_k) = plt.subplots(1, 2, figsize=(10, 4))
ax_n.loglog(n_values, 1e3 * np.array(by_n["unlearn"]), "s-", color="tab:blue",
            label="unlearn (second order)")
ax_n.loglog(n_values, 1e3 * np.array(by_n["refit"]), "o-", color="tab:orange",
            label="refit")
ax_n.set_xlabel("training rows n")
ax_n.set_ylabel("time (ms)")
ax_n.set_title("Deleting 10 rows")
ax_n.legend()

ax_k.loglog(k_values, 1e3 * np.array(by_k["second_order"]), "s-", color="tab:blue",
            label="unlearn, second order")
ax_k.loglog(k_values, 1e3 * np.array(by_k["first_order"]), "^-", color="tab:green",
            label="unlearn, first order")
ax_k.axhline(1e3 * t_refit, color="tab:orange", linestyle="--", label="refit")
ax_k.set_xlabel("rows deleted k")
ax_k.set_ylabel("time (ms)")
ax_k.set_title("n = 30,000")
ax_k.legend()
fig.tight_layout()
plt.show()

# %%
# Reading the figure
# ------------------
# Left: the refit grows with ``n``, the update stays flat, so the gap widens
# with the size of the training set. Right: the update's cost grows with the
# request. The second-order step solves with the corrected Hessian by
# conjugate gradients preconditioned with the Cholesky factor kept from
# fit: each iteration passes once over the ``k`` affected rows, and the
# larger the share of the data a request changes, the more iterations it
# takes; a request too far from the cached Hessian folds its rows into a new
# factor instead. So the cost grows about linearly in ``k``, and the update
# stays far below the refit as long as the request is a small share of the
# data. The first-order step needs no solve and stays cheap, but is much less
# accurate (see the user guide). Large requests are also where the updates
# are least accurate: when a request changes a large share of the data,
# retrain.
