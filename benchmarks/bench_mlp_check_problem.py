"""How far the MLP classifier's update moves towards training continued on
the corrected data, on the problem of the unlearning checks, by alpha.

Prints, for each request of the checks, ``distance(update, reference) /
distance(original, reference)`` on the outputs (below 1: the update moved
towards the reference) and the norm of the corrected objective's gradient
before and after the update. ``python benchmarks/bench_mlp_check_problem.py``
"""

import copy
import warnings

import numpy as np

from sklearn_unlearn import UnlearnableMLPClassifier
from sklearn_unlearn.utils import _check_data as data
from sklearn_unlearn.utils._check_state import distance


def main(alphas=(1e-2, 1e-1, 3e-1, 1.0, 3.0)):
    warnings.simplefilter("ignore")
    print("| alpha | " + " | ".join(("deletion", "insertion", "feature edit",
                                     "label change")) + " |")
    print("| --- " * 5 + "|")
    for alpha in alphas:
        est = UnlearnableMLPClassifier(
            hidden_layer_sizes=(5,), solver="lbfgs", activation="tanh", alpha=alpha,
            tol=1e-12, max_iter=5000, random_state=0)
        problem = data.make_problem(est)
        fitted = data.fit(est, problem.X, problem.y)
        probe = np.vstack([problem.X, problem.X_extra])
        cells = []
        for request, (X_fix, y_fix) in data.requests(est, problem).values():
            reference = data.refit(est, fitted, X_fix, y_fix)
            updated = copy.deepcopy(fitted)
            plan = data.plan(updated, request)
            updated.apply_unlearn(plan)
            before = distance(fitted, reference, probe, with_parameters=False)
            after = distance(updated, reference, probe, with_parameters=False)
            r = plan.report
            cells.append(f"{after['outputs'] / before['outputs']:.2f} "
                         f"({r.gradient_norm:.1e} → {r.residual_estimate:.1e})")
        print(f"| {alpha:g} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
