"""A generated text corpus with a Zipf vocabulary (no downloads)."""

import numpy as np
from sklearn.feature_extraction.text import HashingVectorizer


def zipf_corpus(n_docs, *, vocab=50_000, mean_len=60, n_topic_words=200, seed=0,
                n_classes=2):
    """Documents of Zipf-distributed tokens; the label depends on a few topic
    words, and a planted token ``"zzplanted"`` marks 1% of the positive
    documents (of class 1 when ``n_classes > 2``).

    Returns the list of documents and the labels: binary, or with
    ``n_classes > 2`` the class of largest score (one weight per topic word
    and class).
    """
    rng = np.random.default_rng(seed)
    ranks = np.arange(1, vocab + 1)
    prob = 1.0 / ranks**1.1
    prob /= prob.sum()
    lengths = np.maximum(5, rng.poisson(mean_len, n_docs))
    tokens = rng.choice(vocab, size=lengths.sum(), p=prob)
    topic = rng.choice(np.arange(50, 50 + 20 * n_topic_words), n_topic_words, replace=False)
    weight = np.zeros(vocab)
    weight[topic] = rng.standard_normal(n_topic_words) * 1.5
    if n_classes > 2:
        weight = np.zeros((vocab, n_classes))
        weight[topic] = rng.standard_normal((n_topic_words, n_classes)) * 1.5
    bounds = np.r_[0, np.cumsum(lengths)]
    docs, y = [], np.empty(n_docs, dtype=int)
    for i in range(n_docs):
        toks = tokens[bounds[i] : bounds[i + 1]]
        if n_classes > 2:
            score = weight[toks].sum(axis=0) + 0.5 * rng.standard_normal(n_classes)
            y[i] = int(np.argmax(score))
        else:
            score = weight[toks].sum() + 0.5 * rng.standard_normal()
            y[i] = int(score > 0)
        words = [f"w{t}" for t in toks]
        if y[i] == 1 and rng.random() < 0.01:
            words.append("zzplanted")
        docs.append(" ".join(words))
    return docs, y


def hashed(docs, n_features):
    """Hashed l2-normalised term frequencies, CSR float64."""
    vec = HashingVectorizer(n_features=n_features, alternate_sign=False, norm="l2")
    return vec.transform(docs).astype(np.float64).tocsr()
