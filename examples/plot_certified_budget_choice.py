"""
======================================================
Choosing epsilon, delta and the budget for a data set
======================================================

:class:`~sklearn_unlearn.certified.CertifiedRemoval` takes three numbers.
``delta`` is the probability with which the guarantee may fail, ``epsilon``
how close (in the differential-privacy sense) an unlearned model must be to
one retrained without the removed rows, and ``budget`` the largest gradient
residual the noise must hide. They set the noise scale

.. math::

   \\sigma = \\frac{\\beta\\, \\sqrt{2 \\ln(1.5/\\delta)}}{\\varepsilon},

and pull two ways:

* the **accuracy** depends on :math:`\\sigma` alone (against ``C`` times the
  number of rows): a larger budget costs what a smaller epsilon costs;
* the **retrainings** depend on the budget alone: a request is compared
  with the budget, and when the model's residual would pass it, the model is
  retrained on the kept rows with fresh noise.

So: measure both on the data, pick the budget from the number of
retrainings the expected request rate allows, then the smallest epsilon
whose accuracy cost is acceptable. This example does it for 1,500 generated
rows and streams of single-row erasures (the benchmark
``benchmarks/bench_certified_choice.py`` does it with 5,000 rows and 1,000
requests; see :ref:`certified-choice`).
"""

# %%
# The data
# --------
# The features are scaled by a scaler fitted on the held-out rows and
# frozen: a scaler fitted on the training rows would keep statistics of the
# rows to be removed, which the certificate cannot cover.

import warnings

import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import make_classification
from sklearn.frozen import FrozenEstimator
from sklearn.preprocessing import StandardScaler

from sklearn_unlearn import UnlearnableLogisticRegression
from sklearn_unlearn.certified import CertifiedRemoval, noise_scale

X, y = make_classification(n_samples=3_500, n_features=20, n_informative=8,
                           flip_y=0.03, random_state=0)
scaler = FrozenEstimator(StandardScaler().fit(X[1_500:]))
X_train, X_test = scaler.transform(X[:1_500]), scaler.transform(X[1_500:])
y_train, y_test = y[:1_500], y[1_500:]
delta = 1e-5          # well below 1 / n
budgets = [0.02, 0.1, 0.5, 2.5]
epsilons = [0.1, 0.3, 1.0]
noise_free = UnlearnableLogisticRegression().fit(X_train, y_train).score(X_test, y_test)

# %%
# The accuracy cost of each noise scale
# -------------------------------------
# Two noise draws per setting; the cost is in points of held-out accuracy
# against the noise-free model of the same rows.

cost = np.full((len(epsilons), len(budgets)), np.nan)
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    for i, eps in enumerate(epsilons):
        for j, budget in enumerate(budgets):
            scores = []
            for seed in range(2):
                model = CertifiedRemoval(UnlearnableLogisticRegression(),
                                         epsilon=eps, delta=delta, budget=budget,
                                         random_state=seed)
                try:
                    scores.append(model.fit(X_train, y_train).score(X_test, y_test))
                except ValueError:      # the noisy objective has no minimum
                    continue
            if scores:
                cost[i, j] = 100 * (noise_free - np.mean(scores))

for i, eps in enumerate(epsilons):
    print(f"epsilon {eps:>4}: " + "  ".join(
        f"budget {b:g} (sigma {noise_scale(eps, delta, b):.3g}): {c:+.2f}"
        for b, c in zip(budgets, cost[i])))

# %%
# The retrainings each budget needs
# ---------------------------------
# 80 single-row erasures per budget, once spending the residual measured on
# the kept rows when the accumulated bound would pass the budget (the
# default), once spending the data-free bounds alone
# (``measure_residual="never"``, the accounting of a model that keeps no
# rows). The counts are given per 1,000 requests.

n_requests = 80
order = np.random.default_rng(0).permutation(len(y_train))[:n_requests]
per_thousand = {"over_budget": [], "never": []}
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    for measure, counts in per_thousand.items():
        for budget in budgets:
            model = CertifiedRemoval(UnlearnableLogisticRegression(), epsilon=1.0,
                                     delta=delta, budget=budget,
                                     measure_residual=measure, random_state=0)
            model.fit(X_train, y_train)
            for row in order:
                model.unlearn(X_train[row:row + 1], None, y_train[row:row + 1])
            counts.append(1000 * model.certificate_.n_retrains / n_requests)
print("retrainings per 1,000 requests, measured residual:", per_thousand["over_budget"])
print("retrainings per 1,000 requests, bounds only:     ", per_thousand["never"])

# %%
# The figure
# ----------
# Left: what each (epsilon, budget) costs in accuracy. Right: how often each
# budget retrains. A budget to the right costs fewer retrainings and, at the
# same epsilon, more accuracy.

fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
for i, eps in enumerate(epsilons):
    left.plot(budgets, cost[i], "o-", label=f"epsilon = {eps:g}")
left.set(xscale="log", xlabel="budget", ylabel="accuracy cost (points)",
         title=f"accuracy cost ({len(y_train)} rows, delta = {delta:g})")
left.axhline(0, color="grey", lw=0.8)
left.legend()
right.plot(budgets, per_thousand["over_budget"], "o-", label="measured residual (kept rows)")
right.plot(budgets, per_thousand["never"], "s--", label="data-free bounds only")
right.set(xscale="log", xlabel="budget", ylabel="retrainings per 1,000 requests",
          title="retrainings, single-row erasures")
right.legend()
fig.tight_layout()
plt.show()

# %%
# Reading it
# ----------
# With requests expected at a rate ``R`` per day, the retrainings per day
# are ``R`` times the right panel's value over 1,000; each costs a fit on the
# kept rows. Take the smallest budget whose retrainings you can afford, then
# the smallest epsilon whose accuracy cost (left, on that budget's column)
# you accept. ``delta`` barely matters: its constant
# :math:`\sqrt{2 \ln(1.5/\delta)}` is 4.4 at :math:`10^{-4}`, 4.9 at
# :math:`10^{-5}` and 5.3 at :math:`10^{-6}`; choose it well below one over
# the number of rows.
