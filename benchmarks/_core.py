"""Data sets, requests and measurements of the benchmark suite."""

import copy
import math
import time
import tracemalloc
import warnings
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from scipy.linalg.blas import dsyrk
from scipy.linalg.lapack import dpotrf
from sklearn.datasets import load_breast_cancer, load_diabetes, load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.preprocessing import StandardScaler
from sklearn.svm import LinearSVC

from sklearn_unlearn import (
    UnlearnableLinearSVC,
    UnlearnableLogisticRegression,
    UnlearnableRidge,
    zero_features,
)
from sklearn_unlearn.solvers.objective._blocks import solve

# Tolerance grid of the equal-accuracy refits, loosest first.
TOLS = [10.0**-e for e in range(1, 13)]
N_ZEROED = 5
# Relative distances below this are round-off.
ROUNDOFF = 1e-15


# ----------------------------------------------------------------------------
# data
# ----------------------------------------------------------------------------
@dataclass
class Dataset:
    name: str
    X: object
    y: np.ndarray
    task: str  # "binary", "multinomial", "regression"

    @property
    def n(self):
        return self.X.shape[0]

    @property
    def d(self):
        return self.X.shape[1]


def dense_synthetic(n, d, task, n_classes=10, seed=0):
    """Gaussian features, labels from a random linear model with noise."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d))
    if task == "binary":
        w = rng.standard_normal(d) * (3.0 / np.sqrt(d))
        y = (rng.random(n) < 1.0 / (1.0 + np.exp(-(X @ w)))).astype(int)
    elif task == "multinomial":
        W = rng.standard_normal((d, n_classes)) * (3.0 / np.sqrt(d))
        eta = X @ W
        eta -= eta.max(axis=1, keepdims=True)
        P = np.exp(eta)
        P /= P.sum(axis=1, keepdims=True)
        y = (P.cumsum(axis=1) > rng.random((n, 1))).argmax(axis=1)
    else:
        w = rng.standard_normal(d) / np.sqrt(d)
        y = X @ w + 0.5 * rng.standard_normal(n)
    suffix = f"-{n_classes}cls" if task == "multinomial" else ""
    return Dataset(f"dense{suffix} n={n:g} d={d}", X, y, task)


def real_datasets():
    """The data sets bundled with scikit-learn, standardised."""
    out = []
    X, y = load_breast_cancer(return_X_y=True)
    out.append(Dataset("breast_cancer", StandardScaler().fit_transform(X), y, "binary"))
    X, y = load_digits(return_X_y=True)
    out.append(Dataset("digits", StandardScaler().fit_transform(X), y, "multinomial"))
    X, y = load_diabetes(return_X_y=True)
    out.append(Dataset("diabetes", StandardScaler().fit_transform(X), y, "regression"))
    return out


def hashed_text(n, n_features=2**18, seed=0):
    """The generated Zipf corpus of ``_corpus.py`` (50,000 words, about 60
    tokens a document, labels from 200 topic words), hashed into
    ``n_features`` l2-normalised term frequencies (CSR)."""
    from _corpus import hashed, zipf_corpus

    docs, y = zipf_corpus(n, seed=seed)
    X = hashed(docs, n_features)
    return Dataset(f"hashed text n={n:g} d=2^{int(math.log2(n_features))}", X, y,
                   "binary")


# ----------------------------------------------------------------------------
# estimators
# ----------------------------------------------------------------------------
@dataclass
class Family:
    name: str
    unlearnable: type
    parent: type
    params: dict
    warm: bool  # the parent supports warm_start
    tol_search: bool  # the parent's tol controls its accuracy
    tight_params: dict  # extra parameters of the tolerance-grid refits
    # the cached Hessian sums every training row (the squared hinge only
    # those inside the margin)
    every_row: bool = True

    def make_unlearnable(self):
        return self.unlearnable(**self.params)

    def make_parent(self, tol=None, warm_theta=None, intercept_value=1.0):
        params = dict(self.params)
        if tol is not None:
            params.update(self.tight_params, tol=tol)
        if warm_theta is not None:
            params["warm_start"] = True
        est = self.parent(**params)
        if warm_theta is not None:
            d = warm_theta.shape[0] - 1
            est.coef_ = np.ascontiguousarray(warm_theta[:d].T)
            est.intercept_ = intercept_value * warm_theta[d].copy()
        return est


def family(name):
    return {f.name: f for f in (LOGISTIC, RIDGE, SVC)}[name]


def families_for(task):
    if task == "binary":
        return [LOGISTIC, SVC]
    if task == "multinomial":
        return [LOGISTIC]
    return [RIDGE]


LOGISTIC = Family("logistic", UnlearnableLogisticRegression, LogisticRegression,
                  dict(C=1.0), warm=True, tol_search=True,
                  tight_params=dict(max_iter=10_000))
RIDGE = Family("ridge", UnlearnableRidge, Ridge, dict(alpha=1.0), warm=False,
               tol_search=False, tight_params={})
SVC = Family("linear_svc", UnlearnableLinearSVC, LinearSVC, dict(C=0.1),
             warm=False, tol_search=True, tight_params=dict(max_iter=100_000),
             every_row=False)


def theta_of(est, multinomial=False):
    """Parameters as a ``(d + 1, m)`` array: coefficients, then the intercept
    (divided by ``intercept_scaling``; intercepts centred for multinomial)."""
    coef = np.atleast_2d(np.asarray(est.coef_, dtype=float))
    icpt = np.ravel(np.asarray(est.intercept_, dtype=float))
    iv = float(getattr(est, "intercept_scaling", 1.0)) if isinstance(
        est, LinearSVC) else 1.0
    theta = np.vstack([coef.T, icpt[None, :] / iv])
    if multinomial:
        theta[-1] -= theta[-1].mean()
    return theta


def decision(theta, X, intercept_value=1.0):
    d = theta.shape[0] - 1
    return np.asarray(X @ theta[:d]) + intercept_value * theta[d]


def rel_dist(theta, ref):
    return float(np.linalg.norm(theta - ref) / np.linalg.norm(ref))


# ----------------------------------------------------------------------------
# requests
# ----------------------------------------------------------------------------
@dataclass
class Request:
    kind: str
    k: int
    idx: np.ndarray
    X_old: object
    X_new: object
    y_old: np.ndarray
    y_new: np.ndarray | None
    X_corr: object  # the corrected training data
    y_corr: np.ndarray

    def apply(self, model, method):
        if self.kind == "delete":
            return model.unlearn(self.X_old, None, self.y_old, method=method)
        return model.unlearn(self.X_old, self.X_new, self.y_old, self.y_new,
                             method=method)

    def undo(self, model, method):
        """The request that restores the data :meth:`apply` changed (the
        deleted rows inserted again, the edited rows or labels set back)."""
        if self.kind == "delete":
            return model.unlearn(None, self.X_old, None, self.y_old, method=method)
        y_new = self.y_old if self.y_new is None else self.y_new
        return model.unlearn(self.X_new, self.X_old, y_new, self.y_old, method=method)


def _take(X, idx):
    return X[idx] if sp.issparse(X) else X[idx].copy()


def make_request(data, kind, k, seed=0):
    rng = np.random.default_rng([seed, k, ("features", "labels", "delete").index(kind)])
    X, y, n = data.X, data.y, data.n
    idx = np.sort(rng.choice(n, k, replace=False))
    X_old, y_old = _take(X, idx), y[idx].copy()
    if kind == "features":
        if sp.issparse(X):
            # the most frequent columns among the affected rows
            counts = np.asarray((X_old != 0).sum(axis=0)).ravel()
            cols = np.argsort(counts)[::-1][:N_ZEROED]
        else:
            cols = rng.choice(data.d, N_ZEROED, replace=False)
        X_new, y_new = zero_features(X_old, cols), None
        if sp.issparse(X):
            X_corr = X.tolil(copy=True)
            X_corr[idx] = X_new
            X_corr = X_corr.tocsr()
        else:
            X_corr = X.copy()
            X_corr[idx] = X_new
        y_corr = y
    elif kind == "labels":
        if data.task == "binary":
            classes = np.unique(y)
            y_new = np.where(y_old == classes[0], classes[1], classes[0])
        elif data.task == "multinomial":
            classes = np.unique(y)
            pos = np.searchsorted(classes, y_old)
            y_new = classes[(pos + 1) % len(classes)]
        else:
            y_new = -y_old
        X_new, X_corr = X_old, X
        y_corr = y.copy()
        y_corr[idx] = y_new
    elif kind == "delete":
        keep = np.ones(n, dtype=bool)
        keep[idx] = False
        X_new, y_new = None, None
        X_corr, y_corr = X[keep], y[keep]
    else:
        raise ValueError(kind)
    return Request(kind, k, idx, X_old, X_new, y_old, y_new, X_corr, y_corr)


def request_sizes(n, small=(1, 100)):
    ks = [k for k in small if k <= n // 4]
    one_pct = max(1, int(round(0.01 * n)))
    if one_pct not in ks:
        ks.append(one_pct)
    return sorted(ks)


# ----------------------------------------------------------------------------
# measurement helpers
# ----------------------------------------------------------------------------
def timings(fn, setup=None, repeats=50, budget=1.0, min_repeats=3, clock=time.perf_counter):
    """Wall times of ``fn(setup())`` and the last result; ``setup`` is not
    timed. At least ``min_repeats`` runs, then more until ``budget`` seconds
    are spent or ``repeats`` runs are done: a short operation is timed over
    more runs than a long one, as ``timeit`` does, and its best time is not at
    the mercy of a few runs on a busy machine. ``clock``: wall time, or
    ``time.thread_time`` for the CPU time of the calling thread."""
    times, spent, out = [], 0.0, None
    while len(times) < repeats and (spent <= budget or len(times) < min_repeats):
        arg = setup() if setup is not None else None
        t0 = clock()
        out = fn(arg)
        dt = clock() - t0
        times.append(dt)
        spent += dt
    return times, out


def stream_timings(model, req, method, repeats=50, budget=1.0, min_repeats=3,
                   clock=time.perf_counter):
    """Times of ``req`` applied with ``method`` to one copy of ``model``,
    each run followed (untimed) by the request that undoes it, so that the
    next finds the data it changes; as many runs as :func:`timings`."""
    m = copy.deepcopy(model)
    times, spent = [], 0.0
    while len(times) < repeats and (spent <= budget or len(times) < min_repeats):
        t0 = clock()
        req.apply(m, method)
        dt = clock() - t0
        times.append(dt)
        spent += dt
        req.undo(m, method)
    return times


def best_of(fn, setup=None, repeats=50, budget=1.0, min_repeats=3, clock=time.perf_counter):
    """Best time of :func:`timings` and the last result."""
    times, out = timings(fn, setup, repeats, budget, min_repeats, clock)
    return min(times), out


def fold_floor(model, req, repeats=50, budget=1.0, clock=time.perf_counter):
    """Best time of :func:`fold_work`, or ``None`` when the request changes
    no cached matrix."""
    once = fold_work(model, req)
    if once is None:
        return None
    once()      # maps the buffers' pages
    return best_of(lambda _: once(), repeats=repeats, budget=budget, clock=clock)[0]


def fold_work(model, req):
    """A callable doing the work that folding a request's rows into the
    cached matrices cannot avoid, or ``None`` when the request changes no
    cached matrix (a label change of a loss whose curvature does not depend
    on the label).

    Per cached matrix the request changes: one copy of it (the request
    builds the new state beside the old one, which stays intact until it
    commits), then either one symmetric rank-k update of the ``k`` scaled
    rows in place (``dsyrk``, the lower triangle: the fastest form of the
    product; ``A.T @ A`` takes twice as long, as it fills both triangles),
    when the request changes the rows' weights (every matrix on a deletion;
    on a feature edit the Hessian of a loss whose curvature depends on the
    predictor, ``K(K+1)/2`` blocks for a multinomial one, and ``K_R``, whose
    weights hold the row norms), or only the edited columns' product
    ``R^T diag(b) delta`` (a feature edit of a matrix whose weights stay:
    ``K``, and the Hessian of a constant-curvature loss). Then one Cholesky
    factorisation per Hessian block, of a copy. It is done with NumPy, BLAS
    and LAPACK directly, not with the library, into memory the callable
    allocates once.
    """
    cache = model.unlearning_cache_
    if not cache.exact_hessian or req.kind == "labels":
        return None
    design = cache.objective.design

    def augmented(X):
        X = X.toarray() if sp.issparse(X) else np.asarray(X, float)
        return (np.column_stack([X, design.intercept_value * np.ones(len(X))])
                if design.fit_intercept else np.ascontiguousarray(X))

    R = augmented(req.X_old)
    p = R.shape[1]
    edit = req.kind == "features"
    # the p x p matrices the request changes, each with whether it changes
    # their rows' weights (a coupled Hessian: its K(K+1)/2 distinct blocks)
    reweighted = not (edit and cache.objective.loss.constant_curvature)
    changed = []
    for H in cache.hessians:
        M = H.matrix
        for k, l in zip(*np.triu_indices(len(M) // p)):
            changed.append((M[k * p:(k + 1) * p, l * p:(l + 1) * p], reweighted))
    if cache.gram is not None:
        changed += [(cache.gram.matrix, not edit), (cache.norm_gram.matrix, True)]
    bases = [np.asfortranarray(M) for M, _ in changed]
    factored = [H.matrix for H in cache.hessians]
    if edit:
        delta = augmented(req.X_new) - R
        cols = np.flatnonzero(np.any(delta != 0, axis=0))
        delta = np.ascontiguousarray(delta[:, cols])
    weights = np.linspace(0.5, 1.5, len(R))
    scaled = np.empty_like(R)
    # memory written in place, allocated once: a request's new matrices can
    # come from the heap without a page fault, so the floor's do too
    copies = [np.empty_like(b, order="F") for b in bases + factored]

    def once():
        for base, C, (_, weights_change) in zip(bases, copies, changed):
            np.copyto(C, base)
            if weights_change:
                np.multiply(R, weights[:, None], out=scaled)
                dsyrk(1.0, scaled.T, beta=1.0, c=C, trans=0, lower=1, overwrite_c=1)
            else:
                Bd = weights[:, None] * delta
                R.T @ Bd, delta.T @ Bd
        for M, C in zip(factored, copies[len(bases):]):
            np.copyto(C, M)
            dpotrf(C, lower=1, clean=0, overwrite_a=1)

    return once


def peak_memory(fn, setup=None):
    """Peak traced allocation (bytes) while ``fn(setup())`` runs."""
    arg = setup() if setup is not None else None
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        fn(arg)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def quiet_fit(est, X, y):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        warnings.simplefilter("ignore", UserWarning)
        return est.fit(X, y)


def cache_nbytes(model):
    """Bytes of the cached matrices (Hessian blocks, factors, Gram matrices,
    pending rows) and parameter arrays."""
    cache = model.unlearning_cache_
    total = sum(H.nbytes for H in cache.hessians)
    for v in (cache.gram, cache.norm_gram):
        if v is not None:
            total += v.nbytes
    for v in (cache.theta, cache.residual):
        total += v.nbytes
    return total


def reference_optimum(family, model_after, model_before, X, y):
    """The exact corrected optimum (:func:`exact_optimum`) where the cache
    keeps the exact Hessian; with a low-rank Hessian (hashed text, where no
    dense Hessian exists), scikit-learn's own refit at tol=1e-10 warm-started
    from the update. Returns ``theta``, the gradient norm there (``nan`` for
    the refit) and the iterations."""
    if model_after.unlearning_cache_.exact_hessian:
        return exact_optimum(model_after, model_before, X, y)
    iv = model_after.unlearning_cache_.objective.design.intercept_value
    est = family.make_parent(tol=1e-10, warm_theta=model_after.unlearning_cache_.theta
                             if family.warm else None, intercept_value=iv)
    est = quiet_fit(est, X, y)
    return theta_of(est), float("nan"), int(np.max(est.n_iter_))


def exact_optimum(model_after, model_before, X, y, *, max_iter=60, max_newton=15):
    """Parameters of the exact optimum of the corrected objective.

    Minimises the corrected objective from the better of the unlearned and the
    original parameters with line-searched Newton-type steps: first
    preconditioned by the unlearned model's cached Hessian (one pass over the
    data per step), then with fresh Hessians of the corrected data if that
    converges slowly. Returns ``theta``, the gradient norm reached and the
    number of steps.
    """
    cache = model_after.unlearning_cache_
    obj = cache.objective
    Y, S, *_ = model_after._unlearn_targets(y, np.ones(X.shape[0]))
    starts = [cache.theta.copy(), model_before.unlearning_cache_.theta.copy()]
    vals = [obj.value(X, Y, S, t) for t in starts]
    theta = starts[int(np.argmin(vals))]
    f = min(vals)
    g = obj.gradient(X, Y, S, theta)
    scale = obj.scale * np.sqrt(X.shape[0]) * max(cache.max_row_norm, 1.0)
    floor = 1e-13 * scale
    hessians, it, fresh, newton_steps = cache.hessians, 0, False, 0
    while it < max_iter:
        gn = np.linalg.norm(g)
        if gn <= floor and it > 0:  # always one step of its own
            break
        if fresh:
            hessians, _ = obj.hessian(X, Y, S, theta)
            newton_steps += 1
        step = -solve(obj, hessians, g)
        slope = float((g * step).sum())
        t, accepted = 1.0, False
        while t > 1e-12:
            cand = theta + t * step
            f_c = obj.value(X, Y, S, cand)
            if f_c <= f + 1e-4 * t * slope:
                accepted = True
                break
            t *= 0.5
        it += 1
        if not accepted:
            # no decrease within round-off: try a last step on the gradient norm
            g_c = obj.gradient(X, Y, S, theta + step)
            if np.linalg.norm(g_c) < gn:
                theta, g = theta + step, g_c
                continue
            if fresh:
                break
            fresh = True
            continue
        g_c = obj.gradient(X, Y, S, cand)
        ratio = np.linalg.norm(g_c) / gn
        theta, g, f = cand, g_c, f_c
        if not fresh and (ratio > 0.3 or t < 1):
            fresh = True
        if fresh and newton_steps >= max_newton:
            break
    return theta, float(np.linalg.norm(g)), it
