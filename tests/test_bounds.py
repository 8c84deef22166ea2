"""The residual bound never under-reports: property tests over random data
sets and requests, against the true gradient recomputed on the corrected data."""

import os
import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from sklearn_unlearn import UnlearnableLogisticRegression, UnlearnableRidge
from sklearn_unlearn.solvers import UnlearningWarning

RATIOS = []


def true_residual(est, X, y, sample_weight):
    """``||grad L(theta; D)||`` of the current model on the data ``D``."""
    cache = est.unlearning_cache_
    Y, S, *_ = est._unlearn_targets(y, sample_weight)
    return np.linalg.norm(
        cache.objective.gradient(X, Y, S, cache.theta, cache.noise)
    )


@st.composite
def scenarios(draw):
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    n = draw(st.integers(30, 120))
    d = draw(st.integers(1, 8))
    n_classes = draw(st.sampled_from([2, 2, 3, 4]))
    X = rng.normal(size=(n, d)) * draw(st.sampled_from([0.3, 1.0, 3.0]))
    w = rng.normal(size=(d, n_classes)) * draw(st.sampled_from([0.5, 2.0, 5.0]))
    logits = X @ w + rng.gumbel(size=(n, n_classes))
    y = logits.argmax(axis=1)
    y[:n_classes] = np.arange(n_classes)  # every class present
    weighted = draw(st.booleans())
    sw = rng.uniform(0.2, 3.0, n) if weighted else np.ones(n)
    params = dict(
        C=draw(st.sampled_from([0.1, 1.0, 10.0])),
        fit_intercept=draw(st.booleans()),
        objective_noise=draw(st.sampled_from([0.0, 0.0, 0.5])),
        random_state=seed % 1000,
    )
    requests = []
    for _ in range(draw(st.integers(1, 3))):
        kind = draw(st.sampled_from(["features", "labels", "delete", "insert"]))
        k = draw(st.integers(1, max(1, n // 10)))
        method = draw(st.sampled_from(["second_order", "second_order", "first_order",
                                       "refined"]))
        requests.append((kind, k, method, int(rng.integers(1 << 30))))
    return X, y, sw, params, requests


def _apply(est, X, y, sw, kind, k, method, seed):
    """Apply one request to ``est``; return the corrected data set."""
    rng = np.random.default_rng(seed)
    n_classes = len(est.classes_)
    if kind == "insert":
        X_add = rng.normal(size=(k, X.shape[1])) * X.std()
        y_add = rng.integers(n_classes, size=k)
        sw_add = rng.uniform(0.2, 3.0, k)
        est.unlearn(None, X_add, y_new=est.classes_[y_add], sample_weight=sw_add,
                    method=method)
        return np.vstack([X, X_add]), np.r_[y, y_add], np.r_[sw, sw_add]
    # keep at least two rows of every class
    counts = np.bincount(y, minlength=n_classes)
    candidates = [i for i in rng.permutation(len(y)) if counts[y[i]] > 2]
    rows = np.array(candidates[:k], dtype=int)
    if kind == "delete":
        _, first = np.unique(y[rows], return_index=True)
        rows = rows[np.bincount(y[rows], minlength=n_classes)[y[rows]] < counts[y[rows]] - 1]
        if not len(rows):
            return X, y, sw
        est.unlearn(X[rows], None, y[rows], sample_weight=sw[rows], method=method)
        keep = np.setdiff1d(np.arange(len(y)), rows)
        return X[keep], y[keep], sw[keep]
    Xc, yc = X.copy(), y.copy()
    if kind == "features":
        cols = rng.choice(X.shape[1], size=rng.integers(1, X.shape[1] + 1), replace=False)
        Xc[np.ix_(rows, cols)] = rng.choice([0.0, 1.0])
    else:
        yc[rows] = (y[rows] + rng.integers(1, n_classes, size=len(rows))) % n_classes
    est.unlearn(X[rows], Xc[rows], y[rows], yc[rows], sample_weight=sw[rows],
                method=method)
    return Xc, yc, sw


@settings(max_examples=int(os.environ.get("UNLEARN_BOUND_EXAMPLES", 300)), deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(scenarios())
def test_logistic_bound_never_under_reports(scenario):
    X, y, sw, params, requests = scenario
    est = UnlearnableLogisticRegression(max_iter=500, **params)
    try:
        est.fit(X, y, sample_weight=sw)
    except ValueError as exc:
        # noise larger than the data term: the perturbed objective has no
        # minimum, and fit says so
        assert params["objective_noise"] > 0 and "no finite minimum" in str(exc)
        assume(False)
    bound = est.residual_bound_
    assert true_residual(est, X, y, sw) <= bound
    for kind, k, method, seed in requests:
        X, y, sw = _apply(est, X, y, sw, kind, k, method, seed)
        true = true_residual(est, X, y, sw)
        bound = est.residual_bound_
        assert true <= bound, (kind, method, true, bound)
        if true > 1e-8:
            RATIOS.append(bound / true)


@settings(max_examples=50, deadline=None)
@given(st.integers(0, 2**32 - 1), st.booleans())
def test_ridge_bound_is_round_off(seed, fit_intercept):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(60, 5))
    y = X @ rng.normal(size=5) + rng.normal(size=60)
    est = UnlearnableRidge(alpha=0.5, fit_intercept=fit_intercept).fit(X, y)
    est.unlearn(X[:6], None, y[:6])
    true = np.linalg.norm(est.unlearning_cache_.objective.gradient(
        X[6:], y[6:, None], np.ones((54, 1)), est.unlearning_cache_.theta))
    assert true <= est.residual_bound_ <= 1e-9 * np.abs(y).sum()


def test_report_bound_tightness():
    """Runs after the property test: the median bound / true residual ratio."""
    if not RATIOS:
        pytest.skip("run together with test_logistic_bound_never_under_reports")
    ratios = np.array(RATIOS)
    print(f"bound / true residual over {len(ratios)} requests: median "
          f"{np.median(ratios):.3g}, 10% {np.quantile(ratios, 0.1):.3g}, "
          f"90% {np.quantile(ratios, 0.9):.3g}")
    assert np.all(ratios >= 1.0)



def _request_against_dense_forms(est, X, y, rows, kind):
    """Apply a request; check its increment is at least ``scale * min(Lipschitz
    form, bounded form)`` computed from the dense Gram matrices of the
    remaining rows and the drift bound the cache kept, and return both forms."""
    cache = est.unlearning_cache_
    before, drift_form = cache.theta.copy(), cache.drift.form
    K, K_R = cache.gram.matrix.copy(), cache.norm_gram.matrix.copy()
    y_new = None if kind == "delete" else (y[rows] + 1) % 3
    est.unlearn(X[rows], None if kind == "delete" else X[rows], y[rows], y_new)
    cache = est.unlearning_cache_
    R = np.column_stack([X[rows], np.ones(len(rows))])
    norms = np.linalg.norm(R, axis=1)
    K -= R.T @ R
    K_R -= (R * norms[:, None]).T @ R
    step = cache.theta - before
    q_R = np.trace(step.T @ K_R @ step)
    loss = cache.objective.loss
    lipschitz = loss.curvature_lipschitz * (np.sqrt(q_R * drift_form) + 0.5 * q_R)
    bounded = loss.curvature_cap * np.sqrt(np.trace(step.T @ K @ step) * np.trace(K))
    expected = cache.objective.scale * min(lipschitz, bounded)
    got = est.unlearn_history_[-1].bound_increment
    assert got >= expected * (1 - 1e-9)
    if kind == "labels":
        y[rows] = y_new
    return lipschitz, bounded


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 2**32 - 1), st.sampled_from([0.1, 1.0, 30.0]),
       st.sampled_from(["delete", "labels"]))
def test_increment_is_the_smaller_gram_form(seed, C, kind):
    """A multinomial model (no self-concordant form): the reported increment
    covers the smaller of the two Gram forms, whether or not the request
    needed ``K``'s own quadratic form."""
    rng = np.random.default_rng(seed)
    n, d = 80, 4
    X = rng.normal(size=(n, d)) * rng.uniform(0.3, 3.0, d)
    y = np.arange(n) % 3
    est = UnlearnableLogisticRegression(C=C, max_iter=500).fit(X, y)
    # a first request moves theta from the anchor (a drift)
    est.unlearn(X[:2], None, y[:2])
    X, y = X[2:], y[2:].copy()
    rows = rng.choice(len(y), int(rng.integers(1, 8)), replace=False)
    _request_against_dense_forms(est, X, y, rows, kind)


def test_increment_of_long_steps_is_the_bounded_form():
    """Label flips on a few separable rows: steps of the size of the
    parameters, where the bounded form is the smaller one."""
    rng = np.random.default_rng(0)
    n = 15
    X = rng.normal(size=(n, 2)) * 3
    y = np.arange(n) % 3
    X[:, 0] += 4 * y
    est = UnlearnableLogisticRegression(C=1e3, max_iter=2000).fit(X, y)
    y = y.copy()
    forms = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UnlearningWarning)
        for i in range(3):
            forms.append(_request_against_dense_forms(est, X, y, [i], "labels"))
    assert any(bounded < lipschitz for lipschitz, bounded in forms)
    assert any(bounded > lipschitz for lipschitz, bounded in forms)


# -- what erased rows leave in the cached Hessian ------------------------------------
LD = np.longdouble
HESSIAN_RATIOS = []


def _sigmoid_ld(z):
    return LD(1) / (LD(1) + np.exp(-z))


def _anchored_hessian_error(cache, R, S, curvature, live):
    """``||H - sum_live c s_i a_i x_i x_i^T - P||_op`` with the anchor's
    curvature ``a_i``, summed in long double."""
    obj = cache.objective
    exact = (R[live] * (LD(obj.scale) * S[live] * curvature[live])[:, None]).T @ R[live]
    exact += np.diag(obj.penalty.astype(LD))
    H = cache.hessians[0].matrix.astype(LD)
    return float(np.linalg.norm((H - exact).astype(np.float64), 2))


@settings(max_examples=int(os.environ.get("UNLEARN_BOUND_EXAMPLES", 300)) // 4,
          deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(0, 2**32 - 1), st.integers(40, 300), st.integers(1, 8),
       st.sampled_from([0.01, 1.0, 100.0]), st.booleans(),
       st.sampled_from([0.3, 1.0, 5.0]), st.sampled_from([0.0, 0.0, 30.0, 1e3]),
       st.booleans(), st.integers(1, 40))
def test_hessian_error_covers_what_erased_rows_leave(seed, n, d, C, fit_intercept,
                                                     scale, far, weighted, erasures):
    """Binary logistic regression, single rows erased one request at a time
    (the far or confidently classified rows among them): the cached
    Hessian's error bound covers its distance, in operator norm, from the
    exact Hessian of the remaining rows at the fit's anchor (long double),
    whichever per-row form of what the erased rows left behind it took."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d)) * scale
    X[:2] *= max(far, 1.0)
    y = (X @ rng.normal(size=d) * rng.uniform(0.3, 3.0)
         + rng.logistic(size=n) > 0).astype(int)
    assume(0 < y.sum() < n - 2)
    sw = rng.uniform(0.2, 3.0, n) if weighted else np.ones(n)
    est = UnlearnableLogisticRegression(C=C, fit_intercept=fit_intercept,
                                        max_iter=1000).fit(X, y, sample_weight=sw)
    cache = est.unlearning_cache_
    assume(cache.drift.norm == 0)          # the Hessian's anchor is the fit's theta
    obj = cache.objective
    R = np.asarray(obj.design.augmented_rows(X), dtype=LD)
    eta = R @ cache.theta.astype(LD)[:, 0]
    curvature = _sigmoid_ld(eta) * (1 - _sigmoid_ld(eta))
    margin = np.abs(eta.astype(np.float64))
    order = [0, 1] + list(np.argsort(-margin)[:3]) + list(rng.permutation(n))
    live = np.ones(n, dtype=bool)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UnlearningWarning)
        for j in [j for j in dict.fromkeys(order)][:erasures]:
            if y[live].sum() - y[j] < 1 or (1 - y[live]).sum() - (1 - y[j]) < 1:
                continue
            est.unlearn(X[j:j + 1], None, y[j:j + 1], sample_weight=sw[j:j + 1])
            live[j] = False
            cache = est.unlearning_cache_
            true = _anchored_hessian_error(cache, R, sw.astype(LD), curvature, live)
            bound = cache.drift.hessian_error
            assert true <= bound, (j, true, bound)
            if true > 0:
                HESSIAN_RATIOS.append(bound / true)


def test_report_hessian_error_tightness():
    """Runs after the property test above: the smallest bound / true ratio."""
    if not HESSIAN_RATIOS:
        pytest.skip("run together with test_hessian_error_covers_what_erased_rows_leave")
    ratios = np.array(HESSIAN_RATIOS)
    print(f"Hessian error bound / true over {len(ratios)} erasures: smallest "
          f"{ratios.min():.6g}, median {np.median(ratios):.3g}")
    assert np.all(ratios >= 1.0)


def test_erased_rows_leave_by_their_own_norm():
    """A long stream of single erasures: what each erased row leaves behind
    is bounded by its own norm times the drift's reach ``D``, far below
    the Cauchy-Schwarz form ``c gamma sqrt(s ||x||^3 Q)`` over the drift
    of all rows."""
    rng = np.random.default_rng(0)
    n, d = 2000, 8
    X = rng.normal(size=(n, d))
    y = (X @ rng.normal(size=d) + rng.logistic(size=n) > 0).astype(int)
    est = UnlearnableLogisticRegression().fit(X, y)
    gam = est.unlearning_cache_.objective.loss.curvature_lipschitz
    shares = []
    for j in range(30):
        old = est.unlearning_cache_.drift
        est.unlearn(X[j:j + 1], None, y[j:j + 1])
        added = est.unlearning_cache_.drift.hessian_error - old.hessian_error
        norm = np.linalg.norm(np.r_[X[j], 1.0])
        if old.form > 0:
            shares.append(added / (gam * np.sqrt(norm**3 * old.form)))
    assert max(shares) < 0.5, shares


@pytest.mark.parametrize("sparse", [False, True])
def test_an_edit_whose_difference_rounds_is_bounded_as_the_rows_given(sparse):
    """A value of 1e8 + 0.12 replaced by 0.3: ``X_new - X_old`` rounds, and
    the edit stood for the row ``X_old + delta`` (0.3 + 4.7e-11), not for
    ``X_new``. With the row's weight 1e-14 and its new target 1e14, the
    bound was 420 times below the true residual (1.4e-11 against 6.0e-9),
    the model 1.7e-12 from the refit. Such rows are taken whole: the bound
    holds, and the model is scikit-learn's refit on the rows given."""
    import scipy.sparse as sp
    from sklearn.linear_model import Ridge

    from ._reference import residual_of

    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 3))
    y = X @ [1.0, -2.0, 0.5] + rng.normal(size=40)
    w = np.ones(40)
    X[0, 1], w[0] = 1e8 + 0.123456789, 1e-14
    model = UnlearnableRidge(alpha=1.0).fit(X, y, sample_weight=w)
    Z, t = X.copy(), y.copy()
    Z[0, 1], t[0] = 0.3, 1e14
    form = sp.csr_matrix if sparse else np.asarray
    model.unlearn(form(X[:1]), form(Z[:1]), y[:1], t[:1], sample_weight=w[:1])
    true = residual_of(model, Z, t, w)
    assert model.residual_bound_ >= true.upper
    refit = Ridge(alpha=1.0, solver="cholesky").fit(Z, t, sample_weight=w)
    np.testing.assert_allclose(model.coef_, refit.coef_, rtol=0, atol=1e-13)
