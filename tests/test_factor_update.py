"""The Cholesky factor updated for a change of low rank (instead of a new
factorisation): equal to the factor of the changed matrix, refused where a
panel is not positive definite, used by a fold only where it costs less,
and, inside an estimator, as exact as a factorisation against scikit-learn's
refit."""

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression, Ridge

from sklearn_unlearn import UnlearnableLogisticRegression, UnlearnableRidge
from sklearn_unlearn.solvers import FactoredHessian, NotPositiveDefiniteError, RowCurvature
from sklearn_unlearn.solvers.hessian._factor_update import updated_factor

from ._reference import residual_of
from .conftest import params_of
from .test_solvers import _spd


@pytest.fixture
def updates(monkeypatch):
    """Every fold that can update the factor does: the update's results do
    not depend on the cost model that chooses it, which is tested at sizes
    where it chooses the update by itself."""
    import sklearn_unlearn.solvers.hessian._factored as factored

    monkeypatch.setattr(factored, "update_flops", lambda p, r: 0.0)


@pytest.mark.parametrize("p, r, panel", [(7, 2, 3), (50, 5, 8), (101, 30, 16),
                                         (130, 1, 64), (65, 100, 64)])
def test_updated_factor_is_the_factor_of_the_changed_matrix(p, r, panel):
    rng = np.random.default_rng(p + r)
    A = _spd(rng, p)
    U = 0.3 * rng.standard_normal((p, r))
    signs = rng.choice([-1.0, 1.0], r)
    changed = A + (U * signs) @ U.T
    assert np.linalg.eigvalsh(changed).min() > 0
    # whatever is above the old factor's diagonal is neither read nor kept
    L = np.asfortranarray(np.linalg.cholesky(A) + np.triu(rng.standard_normal((p, p)), 1))
    new = updated_factor(L, U, signs, panel=panel)
    expected = np.linalg.cholesky(changed)
    assert np.abs(new - expected).max() <= 1e-13 * np.abs(expected).max()
    assert not np.triu(new, 1).any()
    assert new.flags.f_contiguous


def test_updated_factor_refuses_a_removal_of_curvature_the_matrix_lacks():
    rng = np.random.default_rng(0)
    A = _spd(rng, 20)
    u = 10.0 * rng.standard_normal((20, 1))
    assert np.linalg.eigvalsh(A - u @ u.T).min() < 0
    assert updated_factor(np.linalg.cholesky(A), u, np.array([-1.0]), panel=8) is None


@pytest.mark.parametrize("bad", [np.inf, np.nan, 1e200])
def test_updated_factor_refuses_non_finite_columns(bad):
    rng = np.random.default_rng(9)
    A = _spd(rng, 40)
    U = rng.standard_normal((40, 2))
    U[25, 1] = bad
    assert updated_factor(np.linalg.cholesky(A), U, np.array([1.0, 1.0]), panel=8) is None


def test_a_fold_of_few_rows_updates_the_factor_and_solves_as_a_factorisation():
    rng = np.random.default_rng(1)
    p = 700
    A = _spd(rng, p)
    H = FactoredHessian(A)
    rows = rng.standard_normal((3, p))
    term = RowCurvature(rows, np.array([-0.5, 0.7, -0.2]))
    folded = H.corrected(term, fold=True)
    assert folded._chol_updates == 1          # the update, not a factorisation
    assert H._chol_updates == 0 and H._chol is not folded._chol
    fresh = FactoredHessian(A + term.dense())
    g = rng.standard_normal(p)
    np.testing.assert_allclose(folded.solve(g), fresh.solve(g), rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(np.tril(folded._chol), np.tril(fresh._chol),
                               rtol=0, atol=1e-12 * np.abs(fresh._chol).max())
    # many rows: a factorisation costs less
    many = RowCurvature(rng.standard_normal((200, p)), np.full(200, 0.1))
    assert H.corrected(many, fold=True)._chol_updates == 0


@pytest.mark.parametrize("reweighted", [False, True])
def test_an_edit_of_few_columns_updates_the_factor_by_them(reweighted):
    """An edit of many rows in few columns: two columns per edited column
    (and one per row whose weight changes), not two per row, so the update
    still costs less than a factorisation. The columns give the change to
    round-off, also where the edited values are large."""
    rng = np.random.default_rng(3)
    p, k = 700, 100
    A = _spd(rng, p)
    rows = rng.standard_normal((k, p))
    cols = np.array([4, 17, 250])
    delta = rng.standard_normal((k, 3)) * 1e3
    # five rows whose weight changes too, one of each sign at least
    weights = np.zeros(k)
    if reweighted:
        weights[:5] = [0.05, -0.02, 0.1, -0.07, 0.03]
    term = RowCurvature(rows, weights, edit=(cols, delta, rng.uniform(0.5, 2.0, k)))
    U, signs = term.update_columns()
    assert U.shape[1] == term.n_update_columns < 2 * k
    change = term.dense()
    np.testing.assert_allclose(U @ (signs[:, None] * U.T), change,
                               rtol=0, atol=1e-13 * np.abs(change).max())
    H = FactoredHessian(A + 1e7 * np.eye(p))
    folded = H.corrected(term, fold=True)
    assert folded._chol_updates == 1
    fresh = FactoredHessian(A + 1e7 * np.eye(p) + change)
    np.testing.assert_allclose(np.tril(folded._chol), np.tril(fresh._chol),
                               rtol=0, atol=1e-12 * np.abs(fresh._chol).max())


def test_edited_columns_must_be_distinct():
    """A repeated column would be counted twice by the edit's products."""
    rows = np.ones((2, 8))
    with pytest.raises(ValueError, match="distinct"):
        RowCurvature(rows, np.zeros(2), edit=(np.array([3, 3, 7]), np.ones((2, 3)),
                                              np.ones(2)))


def test_feature_edits_of_many_rows_on_ridge_update_the_factor():
    """Ridge, 200 rows edited in 4 columns (its curvature does not change
    with them): the factor is updated by 8 columns, and the model is
    scikit-learn's refit on the edited data (1e-9). (The values are negated:
    an edit whose difference rounds is taken as whole rows.)"""
    rng = np.random.default_rng(6)
    n, d = 2000, 700
    X = rng.standard_normal((n, d))
    y = X @ (rng.standard_normal(d) / np.sqrt(d)) + 0.1 * rng.standard_normal(n)
    est = UnlearnableRidge(alpha=1.0).fit(X, y)
    rows = np.arange(200)
    new = X[rows].copy()
    new[:, [2, 50, 51, 699]] *= -1.0
    est.unlearn(X[rows], new, y[rows])
    assert est.unlearning_cache_.hessians[0]._chol_updates == 1
    Xc = X.copy()
    Xc[rows] = new
    ref = params_of(Ridge(alpha=1.0).fit(Xc, y))
    assert np.linalg.norm(params_of(est) - ref) <= 1e-9 * np.linalg.norm(ref)


def test_updates_whose_columns_outweigh_the_matrix_factor_anew(updates):
    """The rounding of an update grows with the size of its change, also
    where a later change cancels it: once the columns of the updates since
    the last factorisation add up to the trace of the matrix, the next fold
    factors anew."""
    rng = np.random.default_rng(9)
    p = 200
    H = FactoredHessian(_spd(rng, p))
    trace = np.trace(H.matrix)
    row = rng.standard_normal((1, p))
    row *= np.sqrt(0.3 * trace) / np.linalg.norm(row)       # a third of the trace
    folds = []
    for sign in (1.0, -1.0, 1.0, -1.0):
        H = H.corrected(RowCurvature(row, np.array([sign])), fold=True)
        folds.append(H._chol_updates)
    # three updates add 0.9 of the trace; the fourth would pass it
    assert folds == [1, 2, 3, 0]
    fresh = FactoredHessian(H.matrix)
    np.testing.assert_allclose(np.tril(H._chol), np.tril(fresh._chol), rtol=0,
                               atol=1e-12 * np.abs(fresh._chol).max())


def test_a_fold_that_removes_missing_curvature_is_refused_as_before():
    rng = np.random.default_rng(2)
    p = 300
    H = FactoredHessian(_spd(rng, p))
    u = 100.0 * rng.standard_normal((1, p))
    with pytest.raises(NotPositiveDefiniteError, match="not positive definite"):
        H.corrected(RowCurvature(u, np.array([-1.0])), fold=True)


def test_an_older_factor_is_cleared_above_when_updated(updates):
    """A factor from a file saved before factors kept zeros above their
    diagonal may hold the factored matrix there: the updated factor keeps
    none of it."""
    rng = np.random.default_rng(3)
    p = 300
    A = _spd(rng, p)
    H = FactoredHessian(A)
    H._chol = np.asfortranarray(np.tril(H._chol) + np.triu(A, 1))
    del H.__dict__["_chol_zero_upper"]
    folded = H.corrected(RowCurvature(rng.standard_normal((1, p)), np.array([0.3])),
                         fold=True)
    assert folded._chol_updates == 1
    assert not np.triu(folded._chol, 1).any()


def test_the_updated_factor_is_checked_at_every_direct_solve(updates):
    """Rounding gathered over updates is caught by the residual of the next
    direct solve: the factor is then factored anew."""
    rng = np.random.default_rng(4)
    p = 300
    A = _spd(rng, p)
    H = FactoredHessian(A).corrected(
        RowCurvature(rng.standard_normal((1, p)), np.array([0.3])), fold=True)
    assert H._chol_updates == 1
    H._chol = np.asfortranarray(H._chol * (1.0 + 1e-6))     # as if drifted
    g = rng.standard_normal(p)
    x = H.solve(g)
    assert H._chol_updates == 0
    np.testing.assert_allclose(H.matrix @ x, g, rtol=1e-10, atol=1e-10)


def _requests(est, X, y, kind, count=20):
    """``count`` single-row requests in a row; the corrected data and how
    many of them updated the factor."""
    X, keep, updates = X.copy(), np.ones(len(y), dtype=bool), 0
    for i in range(count):
        if kind == "delete":
            est.unlearn(X[i:i + 1], None, y[i:i + 1])
            keep[i] = False
        else:
            new = X[i:i + 1].copy()
            new[0, :3] = 0.0
            est.unlearn(X[i:i + 1], new, y[i:i + 1])
            X[i] = new[0]
        updates += est.unlearning_cache_.hessians[0]._chol_updates > 0
    return X[keep], y[keep], updates


@pytest.mark.parametrize("kind", ["delete", "features"])
@pytest.mark.parametrize("family", ["logistic", "ridge"])
def test_single_row_requests_on_wide_models_match_scikit_learn(kind, family, monkeypatch,
                                                              updates):
    """Twenty single-row requests in a row (d = 300, the update forced):
    every one updates the factor, and the model equals
    the one the same requests give with a factorisation each (relative
    distance 1e-10), hence stands where that one does against
    scikit-learn's refit on the corrected data: ridge within 1e-9 (exact),
    logistic regression (second-order steps, C = 1, 1,500 rows) at the same
    distance to 1e-8 of it."""
    import sklearn_unlearn.solvers.hessian._factored as factored

    rng = np.random.default_rng(5)
    n, d = 1500, 300
    X = rng.standard_normal((n, d))
    w = rng.standard_normal(d) / np.sqrt(d)
    if family == "logistic":
        y = (X @ w + 0.5 * rng.standard_normal(n) > 0).astype(int)
        make = lambda: UnlearnableLogisticRegression(C=1.0)          # noqa: E731
        parent = LogisticRegression(C=1.0, tol=1e-12, max_iter=10_000)
    else:
        y = X @ w + 0.1 * rng.standard_normal(n)
        make = lambda: UnlearnableRidge(alpha=1.0)                   # noqa: E731
        parent = Ridge(alpha=1.0)
    updated = make().fit(X, y)
    Xc, yc, updates = _requests(updated, X, y, kind)
    assert updates == 20
    with monkeypatch.context() as m:
        m.setattr(factored, "update_flops", lambda p, r: np.inf)
        factored_each = make().fit(X, y)
        _, _, none = _requests(factored_each, X, y, kind)
    assert none == 0
    ref = params_of(parent.fit(Xc, yc))
    a, b = params_of(updated), params_of(factored_each)
    scale = np.linalg.norm(ref)
    assert np.linalg.norm(a - b) <= 1e-10 * scale
    dist_a, dist_b = np.linalg.norm(a - ref) / scale, np.linalg.norm(b - ref) / scale
    if family == "ridge":
        assert dist_a <= 1e-9
    else:
        assert abs(dist_a - dist_b) <= 1e-8


@pytest.mark.parametrize("scale", [1e4, 1e6, 1e8])
def test_bound_holds_when_a_far_row_enters_and_leaves(scale, updates):
    """A row of norm 1e4 to 1e8 inserted and then deleted on a ridge model
    whose factor would be updated for a row of ordinary size (the
    cancellation of the adversarial suite): the fold's columns outweigh the
    matrix, so it is factored anew, and the residual bound is at least the
    true gradient residual of the published parameters, computed in
    extended precision (the upper end of its interval)."""
    rng = np.random.default_rng(6)
    n, d = 1200, 300
    X = rng.standard_normal((n, d))
    y = X @ (rng.standard_normal(d) / np.sqrt(d)) + 0.1 * rng.standard_normal(n)
    est = UnlearnableRidge(alpha=1.0).fit(X, y)
    far = rng.standard_normal((1, d)) * scale / np.sqrt(d)
    est.unlearn(None, far, None, np.array([3.0]))
    est.unlearn(far, None, np.array([3.0]))
    assert est.unlearning_cache_.hessians[0]._chol_updates == 0
    true = residual_of(est, X, y, np.ones(n))
    assert est.unlearning_cache_.residual_bound >= float(true.upper)


@pytest.mark.parametrize("kind", ["delete", "features"])
def test_multinomial_requests_update_the_coupled_factor(kind, monkeypatch, updates):
    """The coupled Hessian of a 6-class model (d = 80: 486 parameters, the
    intercepts' common shift projected out) is updated as well, one column
    per class and row: ten single-row requests give the model that a
    factorisation each gives (relative distance 1e-10), at the same distance
    from scikit-learn's refit on the corrected data (to 1e-8)."""
    import sklearn_unlearn.solvers.hessian._factored as factored

    rng = np.random.default_rng(7)
    n, d, K = 2000, 80, 6
    X = rng.standard_normal((n, d))
    y = np.argmax(X @ (rng.standard_normal((d, K)) / np.sqrt(d))
                  + rng.gumbel(size=(n, K)), axis=1)

    def run():
        est = UnlearnableLogisticRegression(C=1.0).fit(X, y)
        return (est, *_requests(est, X, y, kind, count=10))

    def theta(est):
        return np.append(est.coef_.ravel(), est.intercept_ - est.intercept_.mean())

    updated, Xc, yc, updates = run()
    assert updates == 10
    with monkeypatch.context() as m:
        m.setattr(factored, "update_flops", lambda p, r: np.inf)
        factored_each, _, _, none = run()
    assert none == 0
    ref = theta(LogisticRegression(C=1.0, tol=1e-12, max_iter=10_000).fit(Xc, yc))
    a, b = theta(updated), theta(factored_each)
    scale = np.linalg.norm(ref)
    assert np.linalg.norm(a - b) <= 1e-10 * scale
    assert abs(np.linalg.norm(a - ref) - np.linalg.norm(b - ref)) <= 1e-8 * scale


@pytest.mark.parametrize("kind", ["delete", "edit"])
@pytest.mark.parametrize("family", ["ridge", "logistic"])
def test_no_trace_after_a_fold_that_updates_the_factor(kind, family, updates):
    """The no-trace scan (values, parallel rows, differences of matrices
    and their products, serializations) finds nothing of two erased rows,
    or of the old values of two edited ones, after a request whose fold
    updated the factor (d = 280)."""
    from sklearn_unlearn.utils._trace_scan import Erased, report, scan

    rng = np.random.default_rng(8)
    n, d = 1200, 280
    X = rng.standard_normal((n, d))
    w = rng.standard_normal(d) / np.sqrt(d)
    if family == "ridge":
        est, y = UnlearnableRidge(), X @ w + 0.1 * rng.standard_normal(n)
    else:
        est, y = UnlearnableLogisticRegression(), (X @ w > 0).astype(int)
    est.fit(X, y)
    erased = Erased(d)
    if kind == "delete":
        est.unlearn(X[:2], None, y[:2])
        for i in range(2):
            erased.add_row(X[i], f"row {i}", 0)
    else:
        new = X[:2].copy()
        new[:, :3] = 0.0
        est.unlearn(X[:2], new, y[:2])
        for i in range(2):
            erased.add_row(X[i], f"row {i}", 0)
            erased.add_new_row(new[i], f"row {i} as edited", 0)
            erased.add_values(X[i, :3], [f"row {i} column {j}" for j in range(3)])
    assert est.unlearning_cache_.hessians[0]._chol_updates == 1
    findings = scan(est, erased)
    assert not findings, report(findings)
