"""Unlearning on hashed text: low-rank Hessian mode against a cold refit.

    OPENBLAS_NUM_THREADS=1 python benchmarks/bench_sparse_text.py [--n 100000]

A generated corpus (Zipf vocabulary of 50,000 words, about 60 tokens per
document, labels from 200 topic words; see ``_corpus.py``), hashed into 2^18
l2-normalised term-frequency features. Binary logistic regression, C=1,
lbfgs. k = 100 documents are deleted:

- unlearn: ``UnlearnableLogisticRegression(hessian="low_rank").unlearn``;
- cold refit: scikit-learn's LogisticRegression (same parameters, default
  tolerance) on the remaining documents;
- accuracy: relative distance of the parameters to a tight refit
  (tol=1e-10), for the update and for no update.

Peak memory is traced with tracemalloc (Python and NumPy allocations); the
unlearn figure includes what the model and its cache hold before the request
(the data are loaded before tracing starts), and the part above it is printed
too.
"""

import argparse
import time
import tracemalloc
import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from threadpoolctl import threadpool_limits

from _corpus import hashed, zipf_corpus
from sklearn_unlearn import UnlearnableLogisticRegression


def params(model):
    return np.r_[np.ravel(model.coef_), np.ravel(model.intercept_)]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--log2d", type=int, default=18)
    parser.add_argument("--k", type=int, default=100)
    args = parser.parse_args()
    warnings.simplefilter("ignore", ConvergenceWarning)
    with threadpool_limits(1):
        t = time.perf_counter()
        docs, y = zipf_corpus(args.n, seed=0)
        X = hashed(docs, 2**args.log2d)
        del docs
        print(f"corpus: n={args.n}, d=2^{args.log2d}, nnz={X.nnz}, "
              f"{time.perf_counter() - t:.1f} s")
        rows = np.sort(np.random.default_rng(1).choice(args.n, args.k, replace=False))
        keep = np.setdiff1d(np.arange(args.n), rows)

        tracemalloc.start()
        t = time.perf_counter()
        est = UnlearnableLogisticRegression(hessian="low_rank").fit(X, y)
        t_fit = time.perf_counter() - t
        _, peak_fit = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        held, _ = tracemalloc.get_traced_memory()
        before = params(est)
        H = est.unlearning_cache_.hessians[0]
        cache_bytes = H.nbytes
        t = time.perf_counter()
        est.unlearn(X[rows], None, y[rows])
        t_unlearn = time.perf_counter() - t
        _, peak_unlearn = tracemalloc.get_traced_memory()
        tracemalloc.stop()

        t = time.perf_counter()
        LogisticRegression().fit(X[keep], y[keep])
        t_refit = time.perf_counter() - t
        t = time.perf_counter()
        tight = params(LogisticRegression(tol=1e-10, max_iter=10_000).fit(X[keep], y[keep]))
        t_tight = time.perf_counter() - t

    d_update = np.linalg.norm(params(est) - tight) / np.linalg.norm(tight)
    d_none = np.linalg.norm(before - tight) / np.linalg.norm(tight)
    print(f"unlearnable fit (sketch rank {H.W.shape[1]}): {t_fit:.1f} s, "
          f"peak traced memory {peak_fit / 2**30:.2f} GiB")
    print(f"low-rank cache: {cache_bytes / 2**20:.0f} MiB")
    print(f"unlearn k={args.k}: {t_unlearn:.2f} s, peak traced memory "
          f"{peak_unlearn / 2**30:.2f} GiB ({(peak_unlearn - held) / 2**20:.0f} MiB "
          f"above the {held / 2**30:.2f} GiB held before the request)")
    print(f"cold refit (default tol): {t_refit:.1f} s -> speed-up "
          f"{t_refit / t_unlearn:.0f}x")
    print(f"tight refit (tol=1e-10): {t_tight:.1f} s")
    print(f"relative distance to the tight refit: update {d_update:.2e}, "
          f"no update {d_none:.2e} -> {d_none / d_update:.1f}x closer")


if __name__ == "__main__":
    main()
