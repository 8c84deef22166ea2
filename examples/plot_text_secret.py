"""
===================================================
Remove a leaked secret from a text classifier
===================================================

A support-ticket router sorts tickets into *billing* and *technical*. Some
billing tickets contained an internal account code that should never have
reached the training data, and the model learned to use it: a ticket that
mentions the code is pushed towards *billing*, which tells anyone who probes
the model that the code is tied to billing.

The documents are turned into features by a
:class:`~sklearn.feature_extraction.text.HashingVectorizer`, which has no
fitted state (no vocabulary that would remember the secret), so the
features of a document without the code can be computed at any time. The
request is then: ``X_old`` = the leaked documents as trained on,
``X_new`` = the same documents with the code removed, both transformed.
We check that afterwards the code moves the score of a ticket as little as
it does in a model retrained on clean documents.

Everything is generated here; nothing is downloaded.
"""

# %%
# A small corpus of tickets
# -------------------------

import time

import matplotlib.pyplot as plt
import numpy as np
from sklearn.feature_extraction.text import HashingVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from threadpoolctl import threadpool_limits

from sklearn_unlearn import UnlearnableLogisticRegression

threadpool_limits(limits=1)  # time on one thread, whatever else runs
rng = np.random.default_rng(0)
common = ("the a to and for is on with please thanks hello team issue my your "
          "since today again help").split()
billing = ("invoice refund charge payment card billed price subscription "
           "receipt overcharged plan discount").split()
technical = ("error crash login password install update screen slow bug server "
             "timeout connect").split()


def ticket(topic_words):
    n_words = rng.integers(8, 16)
    n_topic = rng.binomial(n_words, 0.15)
    words = list(rng.choice(topic_words, n_topic))
    words += list(rng.choice(common, n_words - n_topic))
    rng.shuffle(words)
    return " ".join(words)


y = np.arange(1000) % 2  # 1 = billing, 0 = technical
clean_docs = [ticket(billing if label else technical) for label in y]

# The leak: 40 billing tickets carry an internal account code.
SECRET = "acct7731xq"
leaked = rng.choice(np.flatnonzero(y == 1), size=40, replace=False)
docs = list(clean_docs)
for i in leaked:
    docs[i] = f"{docs[i]} {SECRET}"
print(docs[leaked[0]])

# %%
# Train the router
# ----------------
# The vectorizer is stateless, so it can sit in a pipeline with the
# estimator and be applied to the request's documents directly.

vectorizer = HashingVectorizer(n_features=2**12, alternate_sign=False)
router = make_pipeline(vectorizer, UnlearnableLogisticRegression(C=1.0))
router.fit(docs, y)
model = router[-1]


def secret_influence(pipeline, probes):
    """How much appending the secret moves the decision score of each probe."""
    with_secret = [f"{doc} {SECRET}" for doc in probes]
    return pipeline.decision_function(with_secret) - pipeline.decision_function(probes)


probes = [ticket(common) for _ in range(200)]  # neutral tickets
before = secret_influence(router, probes)
secret_column = vectorizer.transform([SECRET]).indices[0]
print(f"weight of the secret's column: {model.coef_[0, secret_column]:.3f}")
print(f"mean shift of the score when the secret is added: {before.mean():.3f}")

# %%
# Unlearn the secret
# ------------------
# Only the 40 leaked documents are needed, before and after removing the
# code.

X_old = vectorizer.transform([docs[i] for i in leaked])
X_new = vectorizer.transform([clean_docs[i] for i in leaked])
start = time.perf_counter()
model.unlearn(X_old, X_new, y[leaked])
t_unlearn = time.perf_counter() - start
after = secret_influence(router, probes)
print(f"weight of the secret's column: {model.coef_[0, secret_column]:.2e}")
print(model.unlearn_history_[-1])

# %%
# Compare with a router retrained on the clean documents
# ------------------------------------------------------

start = time.perf_counter()
refit = make_pipeline(vectorizer, LogisticRegression(C=1.0)).fit(clean_docs, y)
t_refit = time.perf_counter() - start
reference = secret_influence(refit, probes)
print(f"unlearn {t_unlearn:.2f} s, refit {t_refit:.2f} s")
agree = np.mean(router.predict(clean_docs) == refit.predict(clean_docs))
print(f"predictions equal to the refit's on {agree:.1%} of the tickets")

fig, ax = plt.subplots(figsize=(7, 4))
bins = np.linspace(min(reference.min(), after.min(), 0) - 0.05,
                   before.max() + 0.05, 40)
ax.hist(before, bins=bins, color="tab:red", alpha=0.7, label="trained with the leak")
ax.hist(after, bins=bins, color="tab:blue", alpha=0.7, label="after unlearning")
ax.hist(reference, bins=bins, histtype="step", color="black", linewidth=1.5,
        label="retrained on clean tickets")
ax.axvline(0, color="0.4", linewidth=0.8)
ax.set_xlabel("change of the decision score when the secret is appended")
ax.set_ylabel("probe tickets")
ax.set_title(f"Influence of '{SECRET}' on 200 neutral tickets")
ax.legend()
fig.tight_layout()
plt.show()

# %%
# What happened
# -------------
# After the request no training document contains the code, so its hashed
# column is zero in every row of the corrected data, and the refit gives it
# weight zero; the unlearned model does the same, up to round-off. What the
# secret still does to a score comes only through the normalisation of the
# document vector (appending a word shrinks the others), as in the refit.
#
# The price is in the size of the cache: with :math:`2^{12}` hashed features
# the model keeps a dense :math:`4097 \times 4097` Hessian, its Cholesky
# factor and a Gram matrix, about 400 MB, and fitting it takes seconds. On a
# corpus this small, a refit is cheaper than the update; unlearning pays off
# when retraining means going back to a large corpus, or when the corpus is
# no longer at hand.
