"""
===================================================================
Forget a categorical column through a pipeline over a raw DataFrame
===================================================================

Most models live in a pipeline: a :class:`~sklearn.compose.ColumnTransformer`
scales the numeric columns and one-hot encodes the categorical ones, and a
linear model sits at the end. Here 5% of the patients of a clinical data set
withdraw their consent to the use of their sex. The request is made with the
raw rows, as the pipeline takes them; the pipeline passes them through its
fitted steps and the final model unlearns.

We compare the result with what scikit-learn gives when the whole pipeline is
refitted on the corrected raw data, then delete rows, which changes the
scaler too.
"""

# %%
# A raw frame with numeric, string and categorical columns
# --------------------------------------------------------
# scikit-learn's bundled diabetes data, unscaled: nine numeric columns, ``sex``
# as a string column, and an ``age_band`` column derived from the age. The
# target: whether the disease progressed more than the median.

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from sklearn.compose import make_column_transformer
from sklearn.datasets import load_diabetes
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from sklearn_unlearn import UnlearnableLogisticRegression, replace_features
from sklearn_unlearn.pipeline import make_unlearning_pipeline

data = load_diabetes(as_frame=True, scaled=False)
X = data.data.copy()
X["sex"] = np.where(X["sex"] == 1, "F", "M")
X["age_band"] = pd.cut(X["age"], [0, 35, 50, 65, 120],
                       labels=["young", "mid", "senior", "old"]).astype(str)
y = (data.target > data.target.median()).astype(int).to_numpy()
numeric = ["age", "bmi", "bp", "s1", "s2", "s3", "s4", "s5", "s6"]
categorical = ["sex", "age_band"]
X.head()

# %%
# The pipeline
# ------------
# :func:`~sklearn_unlearn.pipeline.make_unlearning_pipeline` builds a
# :class:`~sklearn.pipeline.Pipeline` subclass; it fits, predicts and
# searches as any pipeline does. The encoder ignores unknown categories: a
# forgotten value becomes zeros in its columns.


def columns(categories="auto"):
    return make_column_transformer(
        (StandardScaler(), numeric),
        (OneHotEncoder(handle_unknown="ignore", categories=categories), categorical))


pipe = make_unlearning_pipeline(columns(), UnlearnableLogisticRegression(C=0.1))
pipe.fit(X, y)
coef_before = pipe[-1].coef_.ravel().copy()
names = pipe[:-1].get_feature_names_out()
print(f"training accuracy {pipe.score(X, y):.3f}")

# %%
# Forget ``sex`` for 5% of the patients
# -------------------------------------
# ``X_old`` are their rows as trained on, ``X_new`` the same rows with ``sex``
# missing. The report says what happened to every step.

rng = np.random.default_rng(0)
withdrawn = rng.choice(len(X), size=len(X) // 20, replace=False)
X_old = X.iloc[withdrawn]
X_new = replace_features(X_old, ["sex"], None)
pipe.unlearn(X_old, X_new, y[withdrawn])
report = pipe.unlearn_history_[-1]
print("categories kept:", report.categories_kept)
print("passed through:", report.passed_through)
print("statistics unlearned:", report.unlearned)

# %%
# The reference: scikit-learn refits the whole pipeline
# -----------------------------------------------------
# On the corrected raw data, with the encoder's categories as fitted (the
# unlearned pipeline keeps them; a refit with ``categories="auto"`` would see
# the missing values and could lose a category, see :doc:`/pipeline`).

X_fixed = X.copy()
X_fixed.iloc[withdrawn] = X_new
categories = list(pipe[0].named_transformers_["onehotencoder"].categories_)
refit = make_pipeline(columns(categories),
                      LogisticRegression(C=0.1, tol=1e-10, max_iter=10_000))
refit.fit(X_fixed, y)
coef_refit = refit[-1].coef_.ravel()
coef_after = pipe[-1].coef_.ravel()
gap_after = np.linalg.norm(coef_after - coef_refit) / np.linalg.norm(coef_refit)
gap_before = np.linalg.norm(coef_before - coef_refit) / np.linalg.norm(coef_refit)
print(f"relative distance to the refit: {gap_after:.1e} after unlearning, "
      f"{gap_before:.1e} without")

# %%
# Then delete rows: the scaler is unlearned too
# ---------------------------------------------
# Deleting rows changes the scaler's means and variances, hence the features
# of every remaining row. The pipeline updates the scaler exactly and passes
# the change to the final model, which moves to the refit on the new features.

deleted = rng.choice(np.setdiff1d(np.arange(len(X)), withdrawn), size=len(X) // 20,
                     replace=False)
pipe.unlearn(X_fixed.iloc[deleted], None, y[deleted])
print("unlearned:", pipe.unlearn_history_[-1].unlearned)
keep = np.setdiff1d(np.arange(len(X)), deleted)
refit.fit(X_fixed.iloc[keep], y[keep])
scaler = pipe[0].named_transformers_["standardscaler"]
ref_scaler = refit[0].named_transformers_["standardscaler"]
print("scaler means as refitted:", np.allclose(scaler.mean_, ref_scaler.mean_))
coef_deleted = pipe[-1].coef_.ravel()
gap_deleted = (np.linalg.norm(coef_deleted - refit[-1].coef_.ravel())
               / np.linalg.norm(refit[-1].coef_))
print(f"after the deletion: {gap_deleted:.1e} from the refit")

# %%
# The coefficients
# ----------------
# Left: the change of every coefficient by the request against the change the
# refit makes. Right: the distances to the refit.

fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
left.scatter(coef_refit - coef_before, coef_after - coef_before)
for name, dx, dy in zip(names, coef_refit - coef_before, coef_after - coef_before):
    if abs(dx) > 0.05:
        left.annotate(name.split("__")[-1], (dx, dy), fontsize=8)
lim = np.abs(coef_refit - coef_before).max() * 1.1
left.plot([-lim, lim], [-lim, lim], color="grey", lw=0.8)
left.set_xlabel("change made by the refit")
left.set_ylabel("change made by unlearning")
left.set_title("forgetting sex for 5% of rows")
right.bar(["no update", "unlearned", "then deleted"],
          [gap_before, gap_after, gap_deleted], color=["grey", "C0", "C1"])
right.set_yscale("log")
right.set_ylabel("relative distance to the refit")
right.set_title("final model against the full-pipeline refit")
fig.tight_layout()
plt.show()
