"""A squared-hinge model folds a removed row out on the side of the margin it
entered the Hessian on, wherever the parameters have moved it since."""

import hashlib

import joblib
import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.datasets import make_classification
from sklearn.svm import LinearSVC

from sklearn_unlearn import UnlearnableLinearSVC
from sklearn_unlearn.base import MissingRowsError
from sklearn_unlearn.solvers.hessian._entry_sides import side_digests


def _data(n_classes):
    X, y = make_classification(240, 6, n_informative=4, n_redundant=0,
                               n_classes=n_classes, random_state=3)
    return X, y


def _hessian_of(model, X, y, theta):
    """The Hessian blocks of ``X, y`` with every row's curvature at
    ``theta``: what the cache holds when every row entered there."""
    obj = model.unlearning_cache_.objective
    Y, S = model._unlearn_targets(y, np.ones(len(y)))[:2]
    R = obj.design.augmented_rows(X)
    inside = Y * (R @ theta) < 1.0
    blocks = []
    for b, cols in enumerate(obj.block_columns):
        w = obj.scale * S[:, min(cols[0], S.shape[1] - 1)] * 2.0 * inside[:, cols[0]]
        blocks.append((R * w[:, None]).T @ R + np.diag(obj.penalty))
    return blocks


def _crossing_rows(model, X, y, theta_before):
    """Training rows whose side of the margin differs between
    ``theta_before`` and the model's parameters now, in some block."""
    obj = model.unlearning_cache_.objective
    Y = model._unlearn_targets(y, np.ones(len(y)))[0]
    R = obj.design.augmented_rows(X)
    now = model.unlearning_cache_.theta
    return np.flatnonzero(((Y * (R @ theta_before) < 1) != (Y * (R @ now) < 1)).any(axis=1))


@pytest.mark.parametrize("n_classes", [2, 3])
def test_rows_that_crossed_the_margin_leave_exactly(n_classes):
    # Insertions move the parameters so that training rows cross the margin;
    # deleting those rows, then the insertions, must leave the Hessian of the
    # remaining rows at the fit's parameters, where all of them entered. Folded
    # at their new side instead, the crossed rows would stay in it (2 C x x^T
    # each; 0 rows of error allowed beyond round-off).
    X, y = _data(n_classes)
    model = UnlearnableLinearSVC(hessian="dense").fit(X, y)
    theta_fit = model.unlearning_cache_.theta.copy()
    rng = np.random.default_rng(0)
    X_push = X[:20] + rng.normal(scale=2.0, size=(20, X.shape[1]))
    y_push = np.roll(y[:20], 1)
    model.unlearn(None, X_push, None, y_push)
    crossed = _crossing_rows(model, X, y, theta_fit)
    assert len(crossed) >= 3, "the insertion must move rows across the margin"
    model.unlearn(X[crossed], None, y[crossed])
    model.unlearn(X_push, None, y_push)
    keep = np.setdiff1d(np.arange(len(y)), crossed)
    expected = _hessian_of(model, X[keep], y[keep], theta_fit)
    for H, E in zip(model.unlearning_cache_.hessians, expected):
        np.testing.assert_allclose(H.matrix, E, rtol=1e-10, atol=1e-10 * np.abs(E).max())


def test_a_row_not_held_is_refused_and_nothing_changes():
    X, y = _data(3)
    model = UnlearnableLinearSVC(hessian="dense").fit(X[:200], y[:200])
    before = joblib.hash(model)
    with pytest.raises(MissingRowsError, match="not among the rows this model holds"):
        model.unlearn(X[200:202], None, y[200:202])
    wrong = (y[:1] + 1) % 3
    with pytest.raises(MissingRowsError, match="labels and sample weights"):
        model.unlearn(X[:1], None, wrong)
    assert joblib.hash(model) == before
    model.unlearn(X[:1], None, y[:1])
    with pytest.raises(MissingRowsError):           # deleted already
        model.unlearn(X[:1], None, y[:1])
    # a row given sparse is the same row
    model.unlearn(sp.csr_matrix(X[1:3]), None, y[1:3])


def test_erased_rows_digests_leave_the_store():
    X, y = _data(2)
    model = UnlearnableLinearSVC(hessian="dense").fit(X, y)
    sides = model.unlearning_cache_.entry_sides
    Y, S = model._unlearn_targets(y[:5], np.ones(5))[:2]
    digests = side_digests(X[:5], Y, S, sides.key)
    assert sides.store.missing(digests) == []
    model.unlearn(X[:5], None, y[:5])
    after = model.unlearning_cache_.entry_sides
    assert after.store.missing(digests) == [0, 1, 2, 3, 4]
    assert after.n_rows == len(y) - 5


def test_chunked_fit_records_the_same_sides():
    X, y = _data(3)
    chunks = [(X[i:i + 60], y[i:i + 60]) for i in range(0, len(y), 60)]
    whole = UnlearnableLinearSVC(hessian="dense").fit(X, y)
    by_chunks = UnlearnableLinearSVC.from_fitted(LinearSVC().fit(X, y), chunks)
    a, b = whole.unlearning_cache_.entry_sides, by_chunks.unlearning_cache_.entry_sides
    assert a.n_rows == b.n_rows == len(y)
    by_chunks.unlearn(X[:10], None, y[:10])
    whole.unlearn(X[:10], None, y[:10])
    np.testing.assert_allclose(by_chunks.coef_, whole.coef_, rtol=1e-6, atol=1e-8)


def test_digests_name_rows_as_numbers_whatever_their_form():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(2000, 30)).astype(np.float32).astype(np.float64)
    X[rng.random(X.shape) < 0.5] = 0.0
    Y, S = np.sign(rng.normal(size=(2000, 3))), rng.random((2000, 1))
    key = bytes(range(16))
    d = side_digests(X, Y, S, key)
    assert len(np.unique(d)) == len(d)
    np.testing.assert_array_equal(d, side_digests(sp.csr_matrix(X), Y, S, key))
    np.testing.assert_array_equal(d, side_digests(X.astype(np.float32), Y, S, key))
    np.testing.assert_array_equal(d, side_digests(np.where(X == 0, -0.0, X), Y, S, key))
    # one ulp of one value, one label, one weight, or another key: another row
    i, j = rng.integers(2000, size=500), rng.integers(30, size=500)
    X_ulp = X.copy()
    X_ulp[i, j] = np.nextafter(X[i, j], np.inf)
    changed = np.unique(i)
    assert not np.isin(side_digests(X_ulp, Y, S, key)[changed], d).any()
    assert not np.isin(side_digests(X, -Y, S, key), d).any()
    assert not np.isin(side_digests(X, Y, 2 * S, key), d).any()
    assert not np.isin(side_digests(X, Y, S, bytes(16)), d).any()


@pytest.mark.parametrize("seed", range(4))
def test_the_hessian_is_the_rows_held_each_on_its_entry_side(seed):
    # A stream of 25 random requests (insertions, deletions, label edits,
    # rows inserted and later deleted) on a one-vs-rest model: after each,
    # every cached block equals the sum over the rows the model holds of
    # each row's curvature on the side it entered on (at the fit, or at the
    # parameters of the request that inserted it), plus the penalty
    # (rtol 1e-9). Without the recorded sides, rows that crossed the margin
    # leave the wrong curvature.
    rng = np.random.default_rng(seed)
    X, y = make_classification(150, 5, n_informative=4, n_redundant=0, n_classes=3,
                               random_state=seed)
    model = UnlearnableLinearSVC(hessian="dense", C=1.0).fit(X, y)
    cache = model.unlearning_cache_
    obj = cache.objective

    def sides(Xr, yr, theta):
        Y = model._unlearn_targets(yr, np.ones(len(yr)))[0]
        return Y * (obj.design.augmented_rows(Xr) @ theta) < 1.0

    held = [(X[i], y[i], s) for i, s in enumerate(sides(X, y, cache.theta))]
    for step in range(25):
        theta = model.unlearning_cache_.theta.copy()
        kind = rng.choice(["insert", "delete", "edit"])
        m = int(rng.integers(1, 6))
        if kind == "insert" or len(held) < 20:
            Xn = rng.normal(scale=1.5, size=(m, X.shape[1]))
            yn = rng.integers(3, size=m)
            model.unlearn(None, Xn, None, yn)
            held += [(x, t, s) for x, t, s in zip(Xn, yn, sides(Xn, yn, theta))]
            continue
        pick = sorted(rng.choice(len(held), size=m, replace=False), reverse=True)
        gone = [held.pop(i) for i in pick]
        Xo, yo = np.array([g[0] for g in gone]), np.array([g[1] for g in gone])
        if kind == "delete":
            model.unlearn(Xo, None, yo)
        else:
            yn = (yo + 1 + rng.integers(2, size=m)) % 3
            model.unlearn(Xo, Xo, yo, yn)
            held += [(x, t, s) for x, t, s in zip(Xo, yn, sides(Xo, yn, theta))]
        R = obj.design.augmented_rows(np.array([h[0] for h in held]))
        S = np.array([h[2] for h in held], dtype=float)
        for b, H in enumerate(model.unlearning_cache_.hessians):
            w = obj.scale * 2.0 * S[:, b]
            expected = (R * w[:, None]).T @ R + np.diag(obj._block_penalty(b))
            np.testing.assert_allclose(H.matrix, expected, rtol=1e-9,
                                       atol=1e-9 * np.abs(expected).max(),
                                       err_msg=f"step {step} ({kind})")


def _unmix(z):
    """The inverse of the digests' 64-bit mix (splitmix64's finaliser)."""
    mask = (1 << 64) - 1

    def unshift(z, s):
        x = z
        for _ in range(64 // s + 1):
            x = z ^ (x >> s)
        return x & mask

    z = unshift(int(z), 31)
    z = (z * pow(0x94D049BB133111EB, -1, 1 << 64)) & mask
    z = unshift(z, 27)
    z = (z * pow(0xBF58476D1CE4E5B9, -1, 1 << 64)) & mask
    return unshift(z, 30)


def test_a_digest_does_not_give_back_a_value_from_the_others():
    """The digests' key is kept with the model. The digest was the mix of a
    sum linear in the mixed values, so with the key and a row's other
    columns, its unknown column came back exactly (a tester recovered 40 of
    40 values from a file). Each row's sums are now hashed by BLAKE2b: the
    same inversion finds nothing, and a candidate row is still told held."""
    from sklearn_unlearn.solvers.hessian import _entry_sides as es

    rng = np.random.default_rng(0)
    X = rng.standard_normal((40, 2))
    Y, S = np.ones((40, 1)), np.ones((40, 1))
    key = es.new_key()
    digests = es.side_digests(X, Y, S, key)
    lanes = np.frombuffer(hashlib.blake2b(key, digest_size=16).digest(), np.uint64)
    coef = [int(c) for c in es._coefficients(np.arange(4), lanes)[:, 0]]
    known = [int(es._bits(np.array([v]))[0]) for v in (0.0, 1.0, 1.0)]
    recovered = 0
    for row, digest in zip(X, digests):
        word = int(np.frombuffer(digest.ljust(16, b"\0"), np.uint64)[0])
        rest = (int(es._bits(row[1:2])[0]) * coef[1] + known[1] * coef[2]
                + known[2] * coef[3])
        mixed = ((_unmix(word) - rest) * pow(coef[0], -1, 1 << 64)) & ((1 << 64) - 1)
        value = np.array([_unmix(mixed)], dtype=np.uint64).view(np.float64)[0]
        recovered += bool(value == row[0])
    assert recovered == 0
    np.testing.assert_array_equal(es.side_digests(X[3:4], Y[:1], S[:1], key), digests[3:4])
