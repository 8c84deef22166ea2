"""Where the data-free bound of a stream of erasures comes from, and how far
it could fall with more knowledge than the cache keeps.

    pip install ".[benchmark]"        # statsmodels ships the data set
    python benchmarks/bench_certified_floor.py                # 200 erasures

The stream of ``bench_certified_stream.py`` without kept data (``fair``,
epsilon = 1, delta = 1e-5, budget 0.5, single rows erased one request at a
time, ``on_budget_exceeded="warn"`` so that the stream goes on past the
budget). The benchmark keeps the rows itself and, after every request,
measures:

- the split of the request's increment: what the cached Hessian's error
  bound adds (``e_H ||step||``) and the rest (the step's own term, with the
  drift since fit; the rounding allowances are below 1e-10 here);
- the true drift since fit against the scalars the cache keeps for it: ``Q
  >= sum_i s_i ||x_i|| v_i^2`` and ``D >= ||theta - theta_fit||``, with
  ``v_i = x_i^T (theta - theta_fit)``;
- the error the request itself adds to the residual, ``err_k`` (the true
  residual minus the cache's estimate, less that of the request before),
  whose norms a ledger adding per-request bounds can at best add up.

It prints the ledgers one could keep with more knowledge, each as the
requests served before the budget is spent and the median spent / true
residual over them (the benchmark's figures): the cache's bound; the same
forms with the true ``Q`` (the drift as a vector, which the cache may not
keep: with the Hessian it would give the erased rows' gradients); every
row's own drift, ``c gamma sum_i s_i ||x_i|| (|v_i u_i| + u_i^2 / 2)``; and
the true errors' norms themselves.
"""

import argparse
import warnings

import numpy as np
from bench_certified_stream import load_fair
from threadpoolctl import threadpool_limits

from sklearn_unlearn import UnlearnableLogisticRegression
from sklearn_unlearn.certified import CertifiedRemoval


def _gradient(final, X, Y, S):
    cache = final.unlearning_cache_
    return cache.objective.gradient(X, Y, S, cache.theta, cache.noise)


def measure(X, y, n_requests, budget, seed=0):
    """Per request: the true residual and the ledgers' increments."""
    model = CertifiedRemoval(
        UnlearnableLogisticRegression(), epsilon=1.0, delta=1e-5, budget=budget,
        random_state=0, keep_data=False, on_budget_exceeded="warn").fit(X, y)
    final = model.estimator_
    cache = final.unlearning_cache_
    if cache.drift.norm != 0:
        raise RuntimeError("the fit's Hessian is not anchored at its parameters")
    obj = cache.objective
    gam = obj.loss.curvature_lipschitz
    Y, S, *_ = final._unlearn_targets(y, np.ones(len(y)))
    R = np.asarray(obj.design.augmented_rows(X))
    weights = S[:, 0] * np.linalg.norm(R, axis=1)        # s_i ||x_i||
    theta_fit = cache.theta.ravel().copy()
    live = np.ones(len(y), dtype=bool)
    carried = _gradient(final, X, Y, S) - cache.residual
    rows = []
    order = np.random.default_rng(seed).permutation(len(y))[:n_requests]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for j in order:
            before = model.estimator_.unlearning_cache_
            drift = before.drift
            model.unlearn(X[j:j + 1], None, y[j:j + 1])
            live[j] = False
            final = model.estimator_
            cache = final.unlearning_cache_
            report = final.unlearn_history_[-1]
            gradient = _gradient(final, X[live], Y[live], S[live])
            error = gradient - cache.residual
            # the error this request added: the carried one is the previous
            # residual's error less the erased row's (exact) gradient term
            err_k = error - carried
            carried = error
            v = R[live] @ (before.theta.ravel() - theta_fit)
            u = R[live] @ (cache.theta - before.theta).ravel()
            w = weights[live]
            q_true, q_r = float(w @ v**2), float(w @ u**2)
            hessian_term = cache.drift.hessian_error * float(
                np.linalg.norm(cache.theta - before.theta))
            rows.append(dict(
                true=float(np.linalg.norm(gradient)),
                spent=model.certificate_.spent,
                increment=report.bound_increment,
                hessian_term=hessian_term,
                Q=drift.form, Q_true=q_true, D=drift.norm,
                D_true=float(np.linalg.norm(before.theta.ravel() - theta_fit)),
                true_Q=obj.scale * gam * (np.sqrt(q_r * q_true) + 0.5 * q_r),
                per_row=obj.scale * gam * float(w @ (np.abs(v * u) + 0.5 * u**2)),
                exact=float(np.linalg.norm(err_k)),
            ))
    return rows


def served(rows, key, budget, start):
    """Requests served before ``start`` plus the added ``key`` passes the
    budget, and the median spent / true residual over them."""
    spent = start + np.cumsum([r[key] for r in rows])
    true = np.array([r["true"] for r in rows])
    n = int(np.argmax(spent > budget)) if np.any(spent > budget) else len(rows)
    return n, (float(np.median(spent[:n] / true[:n])) if n else np.nan)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--budget", type=float, default=0.5)
    args = parser.parse_args()
    X, _, y, _ = load_fair()
    with threadpool_limits(1):
        rows = measure(X, y, args.requests, args.budget)
    start = rows[0]["spent"] - rows[0]["increment"]
    n, median = served(rows, "increment", args.budget, start)
    inc = sum(r["increment"] for r in rows[:n])
    hess = sum(r["hessian_term"] for r in rows[:n])
    print(f"fair, {len(rows)} single-row erasures, budget {args.budget:g}, no kept data")
    print(f"the cache's bound: {n} served, spent/true median {median:.3g}; over "
          f"them the Hessian's error bound adds {hess:.3g} of {inc:.3g} "
          f"({100 * hess / inc:.0f}%), the step's own term with the drift the rest")
    for at in (n - 1, len(rows) - 1):
        r = rows[at]
        print(f"  before request {at + 1}: Q {r['Q']:.3g} (true {r['Q_true']:.3g}), "
              f"D {r['D']:.3g} (true {r['D_true']:.3g}); true residual "
              f"{r['true']:.3g}, spent {r['spent']:.3g}")
    for key, what in (("true_Q", "the same forms with the true drift Q"),
                      ("per_row", "every row's own drift, row by row"),
                      ("exact", "the true per-request errors' norms")):
        # a ledger never spends less than the request's true error
        for r in rows:
            r[key + "_spent"] = max(r[key], r["exact"])
        n, median = served(rows, key + "_spent", args.budget, start)
        print(f"{what}: {n} served, spent/true median {median:.3g}")
    total = sum(r["exact"] for r in rows)
    print(f"after {len(rows)}: true residual {rows[-1]['true']:.3g}, the requests' "
          f"errors' norms add up to {total:.3g}")


if __name__ == "__main__":
    main()
