"""Unlearning through a pipeline over a raw DataFrame, against scikit-learn's
refit of the whole pipeline on the corrected raw data.

The data: scikit-learn's bundled diabetes set (442 rows) as a raw frame, nine
numeric columns, ``sex`` as a string column and an ``age_band`` categorical
column; a binary target (above the median) for logistic regression and the
raw target for ridge. The pipeline: a ColumnTransformer with a StandardScaler
on the numbers and a OneHotEncoder(handle_unknown="ignore") on the categories,
then the unlearnable model. The refit keeps the encoder's fitted categories
(what the unlearned pipeline does; see doc/pipeline.rst).

Two requests on 5% of the rows (22): ``sex`` forgotten (set to a missing
value, which the encoder turns into zeros); ``bmi`` edited in 22 rows and 22
other rows deleted, the scaler unlearned. The figure is the relative distance
``||theta - theta_refit|| / ||theta_refit||`` of the final model's
coefficients and intercept, after the update and without one.

Each request with the default method (``"auto"``), and with
``"second_order"`` and ``"refined"`` named. The reference refit of logistic
regression is solved to round-off: ``newton-cg`` with ``tol=1e-12`` (the
largest entry of the gradient), whose distance to the exact optimum is below
1e-12; ``lbfgs`` with ``tol=1e-12`` stops on its relative decrease of the
objective, 3e-6 from it here, which would hide the figures of the cubic
model.

Then ``forget_features``: columns forgotten in every row (breast cancer,
standardised, logistic regression; ridge on three raw diabetes columns),
against a refit with the columns zeroed.

Last, what ``"auto"`` costs: the median time of a request with each method
on breast cancer (standardised, logistic regression, C=1), for one feature
zeroed in one row (a tiny request, one step) and three zeroed in 60 rows
(refined), with the ratio to the second-order step.

Run: ``python benchmarks/bench_pipeline.py``.
"""

import copy
import sys
import time
from pathlib import Path

import numpy as np
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.pipeline import make_pipeline

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
# the raw frame and pipeline of the tests, measured here at both C
from tests.test_pipeline import _columns as columns  # noqa: E402
from tests.test_pipeline import _frame as frame  # noqa: E402
from tests.test_pipeline import _theta as theta  # noqa: E402

from sklearn_unlearn import (  # noqa: E402
    UnlearnableLogisticRegression,
    UnlearnableRidge,
    replace_features,
)
from sklearn_unlearn.pipeline import make_unlearning_pipeline  # noqa: E402


def tight_refit(C):
    """scikit-learn's logistic regression, solved to round-off."""
    return LogisticRegression(C=C, solver="newton-cg", tol=1e-12, max_iter=10_000)


def measure(final, reference, X, target, rows, edit, method, request):
    pipe = make_unlearning_pipeline(columns(), final).fit(X, target)
    method = {} if method == "auto (default)" else {"method": method}
    cats = list(pipe[0].named_transformers_["onehotencoder"].categories_)
    before = theta(pipe[-1])
    X_fixed, keep = X.copy(), np.arange(len(X))
    if request == "forget sex":
        X_fixed.iloc[rows] = replace_features(X.iloc[rows], ["sex"], None)
        pipe.unlearn(X.iloc[rows], X_fixed.iloc[rows], target[rows], **method)
    else:
        X_fixed.loc[X.index[edit], "bmi"] = 25.0
        pipe.unlearn(X.iloc[edit], X_fixed.iloc[edit], target[edit], **method)
        pipe.unlearn(X.iloc[rows], None, target[rows], **method)
        keep = np.setdiff1d(keep, rows)
    refit = make_pipeline(columns(cats), reference).fit(X_fixed.iloc[keep], target[keep])
    ref = theta(refit[-1])
    norm = np.linalg.norm(ref)
    return (np.linalg.norm(theta(pipe[-1]) - ref) / norm,
            np.linalg.norm(before - ref) / norm, pipe.unlearn_history_[-1])


def main():
    X, t, y = frame()
    rng = np.random.default_rng(0)
    rows = rng.choice(len(t), len(t) // 20, replace=False)
    edit = np.setdiff1d(np.arange(len(t)), rows)[: len(rows)]
    print("| model | request | method | taken | after the update | no update | closer by |"
          " residual_bound |")
    print("|---|---|---|---|---|---|---|---|")
    models = [("ridge alpha=1", UnlearnableRidge(), Ridge(), t)]
    for C in (0.1, 1.0):
        models.append((f"logistic C={C:g}", UnlearnableLogisticRegression(C=C),
                       tight_refit(C), y))
    for label, final, reference, target in models:
        for request in ("forget sex", "edit bmi, delete rows"):
            for method in ("auto (default)", "second_order", "refined"):
                after, none, report = measure(final, reference, X, target, rows, edit,
                                              method, request)
                taken = f"{report.method} ({report.n_iter})"
                print(f"| {label} | {request} | {method} | {taken} | {after:.2e} | "
                      f"{none:.2e} | "
                      f"{none / max(after, 1e-300):.3g}x | "
                      f"{report.residual_bound:.3g} |")


def _relative(model, ref):
    return np.linalg.norm(theta(model) - ref) / np.linalg.norm(ref)


def forget_features_figures():
    """forget_features against a refit with the columns zeroed in every row:
    from the cache alone (the default), the one-step update it replaced, and
    with the training rows."""
    from sklearn.datasets import load_breast_cancer
    from sklearn.preprocessing import scale

    from sklearn_unlearn import zero_features

    A, b = load_breast_cancer(return_X_y=True)
    A = scale(A)
    print("\n| model | columns zeroed | from the cache (default) | Newton iterations |"
          " one step (before) | with the rows | no update | largest predictor change |")
    print("|---|---|---|---|---|---|---|---|")
    for C in (0.1, 1.0):
        for cols in ([0], [0, 5, 10], [20, 21, 22, 23]):
            fitted = UnlearnableLogisticRegression(C=C).fit(A, b)
            ref = theta(tight_refit(C).fit(zero_features(A, cols), b))
            cache_only = copy.deepcopy(fitted).forget_features(cols)
            rows = copy.deepcopy(fitted).forget_features(cols, A, b)
            one_step = _one_step(fitted, cols)
            print(f"| logistic C={C:g} | {cols} | {_relative(cache_only, ref):.2e} | "
                  f"{cache_only.unlearn_history_[-1].n_iter} | "
                  f"{np.linalg.norm(one_step - ref) / np.linalg.norm(ref):.2e} | "
                  f"{_relative(rows, ref):.2e} | {_relative(fitted, ref):.2e} | "
                  f"{_predictor_change(A, theta(fitted), ref):.2f} |")
    X, t, y = frame()
    cols, zeroed = ["bmi", "s5", "sex"], {"bmi": 0.0, "s5": 0.0, "sex": None}
    pipes = [make_unlearning_pipeline(columns(), UnlearnableLogisticRegression()).fit(X, y)
             for _ in range(3)]
    cats = list(pipes[0][0].named_transformers_["onehotencoder"].categories_)
    ref = theta(make_pipeline(columns(cats), tight_refit(1.0)).fit(X.assign(**zeroed), y)[-1])
    pipes[0].forget_features(cols)
    pipes[1].forget_features(cols, X, y)
    print(f"| pipeline, logistic C=1 | {cols} | {_relative(pipes[0][-1], ref):.2e} | "
          f"{pipes[0].unlearn_history_[-1].n_iter} | - | {_relative(pipes[1][-1], ref):.2e} | "
          f"{_relative(pipes[2][-1], ref):.2e} | - |")
    model = UnlearnableRidge().fit(X[["age", "bmi", "bp"]], t)
    before = theta(model)
    model.forget_features(["bmi"])
    ref = theta(Ridge().fit(X[["age", "bmi", "bp"]].assign(bmi=0.0), t))
    print(f"| ridge | ['bmi'] | {_relative(model, ref):.2e} | 1 | - | - | "
          f"{np.linalg.norm(before - ref) / np.linalg.norm(ref):.2e} | - |")


def _predictor_change(A, before, after):
    """``max_i |x_i^T (after - before)|``: how far the refit moves a row's
    predictor (the logistic loss's Taylor series in it converges within pi)."""
    return float(np.max(np.abs(A @ (after - before)[:-1] + (after - before)[-1])))


def _one_step(fitted, cols):
    """The parameters of the update forget_features took before the
    continuation: one step, on the cubic model where it holds over it."""
    from sklearn_unlearn.solvers.steps._coordinates import changed_coordinates

    scale = np.ones(fitted.n_features_in_)
    scale[cols] = 0.0
    new, *_ = changed_coordinates(fitted.unlearning_cache_, scale, np.zeros_like(scale))
    return new.theta[:, 0]


def forget_features_survey(repeats=4):
    """Columns drawn at random (1 to 6) on three bundled data sets, both C:
    how often each update lands within 1e-3 of the refit."""
    from sklearn.datasets import load_breast_cancer, load_diabetes, load_wine
    from sklearn.preprocessing import scale

    from sklearn_unlearn import zero_features

    rng = np.random.default_rng(0)
    data = [("breast cancer", *load_breast_cancer(return_X_y=True))]
    A, t = load_diabetes(return_X_y=True)
    data.append(("diabetes (above the median)", A, (t > np.median(t)).astype(int)))
    A, w = load_wine(return_X_y=True)
    data.append(("wine (class 1)", A, (w == 1).astype(int)))
    print("\n| data | cases | within 1e-3: cache | one step (before) | rows |"
          " median ratio cache / one step | largest ratio |")
    print("|---|---|---|---|---|---|---|")
    for name, A, b in data:
        A, found = scale(A), []
        for C in (0.1, 1.0):
            fitted = UnlearnableLogisticRegression(C=C).fit(A, b)
            for k in (1, 2, 3, 4, 6):
                for _ in range(repeats):
                    cols = sorted(rng.choice(A.shape[1], k, replace=False))
                    ref = theta(tight_refit(C).fit(zero_features(A, cols), b))
                    norm = np.linalg.norm(ref)
                    cache_only = copy.deepcopy(fitted).forget_features(cols)
                    rows = copy.deepcopy(fitted).forget_features(cols, A, b)
                    found.append((_relative(cache_only, ref),
                                  np.linalg.norm(_one_step(fitted, cols) - ref) / norm,
                                  _relative(rows, ref)))
        found = np.array(found)
        ratio = found[:, 0] / found[:, 1]
        print(f"| {name} | {len(found)} | {np.sum(found[:, 0] <= 1e-3)} | "
              f"{np.sum(found[:, 1] <= 1e-3)} | {np.sum(found[:, 2] <= 1e-3)} | "
              f"{np.median(ratio):.2f} | {ratio.max():.3f} |")


def auto_cost(repeats=30):
    """Median seconds of a request with each method, and the ratio to the
    second-order step's."""
    from sklearn.datasets import load_breast_cancer
    from sklearn.preprocessing import scale

    from sklearn_unlearn import zero_features

    A, b = load_breast_cancer(return_X_y=True)
    A = scale(A)
    model = UnlearnableLogisticRegression().fit(A, b)
    print("\n| request | method | taken | median time | vs second_order |")
    print("|---|---|---|---|---|")
    for label, rows, cols in (("1 feature in 1 row", slice(1, 2), [0]),
                              ("3 features in 60 rows", slice(0, 60), [0, 1, 2])):
        A_new = zero_features(A[rows], cols)
        times = {}
        for method in ("second_order", "auto", "refined"):
            runs = []
            for _ in range(repeats):
                m = copy.deepcopy(model)
                start = time.perf_counter()
                m.unlearn(A[rows], A_new, b[rows], method=method)
                runs.append(time.perf_counter() - start)
            times[method] = np.median(runs)
            report = m.unlearn_history_[-1]
            print(f"| {label} | {method} | {report.method} ({report.n_iter}) | "
                  f"{1e3 * times[method]:.2f} ms | "
                  f"{times[method] / times['second_order']:.2f}x |")


if __name__ == "__main__":
    main()
    forget_features_figures()
    forget_features_survey()
    auto_cost()
