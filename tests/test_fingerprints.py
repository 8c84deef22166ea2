"""Keyed row fingerprints: requests that do not match the training data are
refused, nothing of an erased row stays, the key is never kept."""

import copy
import pickle
import secrets
import warnings

import joblib
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from sklearn.base import clone, is_classifier

from sklearn_unlearn import (
    UnlearnableLinearSVC,
    UnlearnableLogisticRegression,
    UnlearnableMLPClassifier,
    UnlearnableMLPRegressor,
    UnlearnableRidge,
    zero_features,
)
from sklearn_unlearn._fingerprints import (
    RowFingerprints,
    canonical_targets,
    key_check,
    row_digests,
)
from sklearn_unlearn.base import MissingRowsError

KEY = bytes(range(7, 39))

ESTIMATORS = [
    UnlearnableLogisticRegression(C=0.5),
    UnlearnableRidge(alpha=1.0),
    UnlearnableLinearSVC(C=0.05),
    UnlearnableMLPClassifier(hidden_layer_sizes=(4,), max_iter=30, random_state=0),
    UnlearnableMLPRegressor(hidden_layer_sizes=(4,), max_iter=30, random_state=0),
]


def _data(est, n=120, d=5, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d))
    if is_classifier(est):
        y = np.array(["no", "yes", "maybe"])[(X[:, 0] > 0).astype(int) + (X[:, 1] > 0.8)]
    else:
        y = X @ rng.standard_normal(d) + 0.1 * rng.standard_normal(n)
    return X, y


def _quiet():
    """Convergence warnings of the small fits and steps are not the subject."""
    return warnings.catch_warnings(action="ignore")


def _fit(est, X, y, **kw):
    with _quiet():
        return clone(est).fit(X, y, fingerprint_key=KEY, **kw)


def _other_target(est, y):
    if is_classifier(est):
        classes = np.array(["maybe", "no", "yes"])
        return np.array([classes[(np.searchsorted(classes, v) + 1) % len(classes)]
                         for v in y])
    return y + 1.0


def _digests(est, X, y, w=None):
    n = X.shape[0]
    w = np.ones(n) if w is None else np.asarray(w, float)
    return row_digests(X, canonical_targets(est, y, n), w, KEY)


def _multiset(fp):
    return sorted(np.concatenate(fp.shards).tolist())


@pytest.mark.parametrize("est", ESTIMATORS, ids=lambda e: type(e).__name__)
def test_requests_that_do_not_match_the_training_rows_are_refused(est):
    X, y = _data(est)
    model = _fit(est, X[:100], y[:100])
    stranger = X[100:102]
    cases = {
        "never trained": (stranger, None, y[100:102], {}),
        "wrong target": (X[:2], None, _other_target(est, y[:2]), {}),
        "wrong weight": (X[:2], None, y[:2], {"sample_weight": [2.0, 2.0]}),
        "edit of a row never trained": (stranger, zero_features(stranger, [0]),
                                        y[100:102], {}),
    }
    for name, (X_old, X_new, y_old, kw) in cases.items():
        before = joblib.hash(model)
        with pytest.raises(MissingRowsError, match="Nothing was changed"):
            model.unlearn(X_old, X_new, y_old, fingerprint_key=KEY, **kw)
        assert joblib.hash(model) == before, name
    with _quiet():
        model.unlearn(X[:2], None, y[:2], fingerprint_key=KEY)
    before = joblib.hash(model)
    with pytest.raises(MissingRowsError, match="deleted already"):
        model.unlearn(X[:1], None, y[:1], fingerprint_key=KEY)
    assert joblib.hash(model) == before


def test_the_message_names_rows_and_likely_causes():
    est = UnlearnableLogisticRegression()
    X, y = _data(est)
    model = _fit(est, X[:100], y[:100])
    wrong = "no" if y[0] != "no" else "yes"
    with pytest.raises(MissingRowsError) as info:
        model.unlearn(X[[0, 100]], None, np.array([wrong, y[100]]), fingerprint_key=KEY)
    message = str(info.value)
    assert f"row 0: trained with the label {y[0]}, not" in message
    assert "row 1: never trained on" in message
    assert "np." not in message
    with pytest.raises(MissingRowsError, match="row 0: trained with weight 1, not 3.0"):
        model.unlearn(X[:1], None, y[:1], sample_weight=[3.0], fingerprint_key=KEY)


@pytest.mark.parametrize("est", ESTIMATORS, ids=lambda e: type(e).__name__)
def test_fingerprints_follow_the_corrected_data(est):
    # After deletions, edits, label changes and insertions, the multiset held
    # is exactly that of a fit on the corrected data.
    X, y = _data(est)
    model = _fit(est, X[:100], y[:100])
    Xc, yc = X[:100].copy(), y[:100].copy()
    with _quiet():
        model.unlearn(X[:5], None, y[:5], fingerprint_key=KEY)
        edited = zero_features(X[5:10], [1, 3])
        model.unlearn(X[5:10], edited, y[5:10], fingerprint_key=KEY)
        relabel = _other_target(est, y[10:13])
        model.unlearn(X[10:13], X[10:13], y[10:13], relabel, fingerprint_key=KEY)
        model.unlearn(None, X[100:110], y_new=y[100:110], fingerprint_key=KEY)
    Xc[5:10], yc[10:13] = edited, relabel
    Xc, yc = np.vstack([Xc[5:], X[100:110]]), np.r_[yc[5:], y[100:110]]
    fresh = _fit(est, Xc, yc)
    assert model.row_fingerprints_.n_rows == len(yc)
    assert _multiset(model.row_fingerprints_) == _multiset(fresh.row_fingerprints_)
    # the old version of an edited row is gone; its new version is held
    with pytest.raises(MissingRowsError):
        model.unlearn(X[5:6], None, y[5:6], fingerprint_key=KEY)
    with _quiet():
        model.unlearn(edited[:1], None, y[5:6], fingerprint_key=KEY)


def test_a_row_trained_twice_is_held_twice():
    est = UnlearnableRidge()
    X, y = _data(est)
    X[1], y[1] = X[0], y[0]
    model = _fit(est, X, y)
    model.unlearn(X[:1], None, y[:1], fingerprint_key=KEY)
    model.unlearn(X[:1], None, y[:1], fingerprint_key=KEY)
    with pytest.raises(MissingRowsError):
        model.unlearn(X[:1], None, y[:1], fingerprint_key=KEY)
    # two copies in one request: both must be held
    model = _fit(est, X, y)
    with pytest.raises(MissingRowsError):
        model.unlearn(X[[0, 0, 0]], None, y[[0, 0, 0]], fingerprint_key=KEY)
    model.unlearn(X[[0, 0]], None, y[[0, 0]], fingerprint_key=KEY)


def test_a_row_has_one_digest_in_every_form():
    est = UnlearnableLogisticRegression()
    X, y = _data(est)
    X[:, 2] = np.where(X[:, 2] > 0, X[:, 2], 0.0)
    X[0, 2] = -0.0
    X = X.astype(np.float32).astype(np.float64)
    frame = pd.DataFrame(X, columns=[f"f{i}" for i in range(X.shape[1])])
    model = _fit(est, frame, y)
    forms = [frame.iloc[:3], X[:3], X[:3].astype(np.float32), sp.csr_matrix(X[:3]),
             sp.csc_matrix(X[:3]).tocsr()]
    for form in forms:
        with _quiet():      # arrays into a model fitted on a frame: a warning
            copy.deepcopy(model).unlearn(form, None, y[:3], fingerprint_key=KEY)
    # a stored zero in a sparse row is the same row
    S = sp.csr_matrix(X[:3])
    S.data[S.data == 0] = 0.0
    S = sp.csr_matrix((np.r_[S.data, 0.0], np.r_[S.indices, 2],
                       np.r_[S.indptr[:-1], S.indptr[-1] + 1]), shape=S.shape)
    np.testing.assert_array_equal(_digests(model, S, y[:3]), _digests(model, X[:3], y[:3]))


def test_the_key_is_checked_and_never_kept():
    est = UnlearnableLogisticRegression()
    X, y = _data(est)
    model = _fit(est, X, y)
    blob = pickle.dumps(model)
    assert KEY not in blob
    before = joblib.hash(model)
    with pytest.raises(ValueError, match="pass the fingerprint_key"):
        model.unlearn(X[:1], None, y[:1])
    with pytest.raises(ValueError, match="not the key this model was fitted with"):
        model.unlearn(X[:1], None, y[:1], fingerprint_key=secrets.token_bytes(32))
    with pytest.raises(ValueError, match="16 to 64 bytes"):
        model.unlearn(X[:1], None, y[:1], fingerprint_key=b"short")
    with pytest.raises(TypeError, match="must be bytes"):
        model.unlearn(X[:1], None, y[:1], fingerprint_key="a string key of some length")
    assert joblib.hash(model) == before
    plain = clone(est).fit(X, y)
    assert plain.row_fingerprints_ is None
    with pytest.raises(ValueError, match="fitted without one"):
        plain.unlearn(X[:1], None, y[:1], fingerprint_key=KEY)
    with pytest.raises(ValueError, match="16 to 64 bytes"):
        clone(est).fit(X, y, fingerprint_key=b"")


def test_no_digest_of_an_erased_row_stays():
    est = UnlearnableLogisticRegression()
    X, y = _data(est, n=3000)
    model = _fit(est, X, y)
    assert len(model.row_fingerprints_.shards) > 1
    erased = _digests(model, X[:20], y[:20])
    model.unlearn(X[:20], None, y[:20], fingerprint_key=KEY)
    held = np.concatenate(model.row_fingerprints_.shards)
    assert not np.isin(erased, held).any()
    for blob in (pickle.dumps(model), pickle.dumps(copy.deepcopy(model))):
        assert not any(bytes(d) in blob for d in erased.tolist())
    # no shard is a view of a buffer that still holds them
    for shard in model.row_fingerprints_.shards:
        assert shard.base is None


@pytest.mark.parametrize("est", ESTIMATORS[:2], ids=lambda e: type(e).__name__)
def test_forget_features_fingerprints_the_zeroed_rows(est):
    """A fingerprinted model forgets features with its training rows and the
    key: the rows must be exactly the fingerprinted ones, and the digests
    become those of the zeroed rows, none of the old ones left; without the
    rows, without the key, with a wrong key or with other rows it is
    refused and nothing changes."""
    X, y = _data(est, n=600)
    w = np.random.default_rng(3).uniform(0.5, 2.0, len(y))
    model = _fit(est, X, y, sample_weight=w)
    model.unlearn(X[:10], None, y[:10], sample_weight=w[:10], fingerprint_key=KEY)
    X, y, w = X[10:], y[10:], w[10:]
    kept, coef = model.row_fingerprints_, model.coef_.copy()
    for args, kw, match in [
        ((), {}, "fingerprints of its training rows"),
        ((X, y, w), {}, "pass the fingerprint_key"),
        ((X, y, w), {"fingerprint_key": bytes(32)}, "not the key"),
        ((X[1:], y[1:], w[1:]), {"fingerprint_key": KEY}, "current training data"),
        # the same count and weights: the fingerprints tell, or the rows'
        # gradient at the model, checked first
        ((X + np.eye(*X.shape)[::-1], y, w), {"fingerprint_key": KEY},
         "not this model's training rows|not the model's current training rows"),
        # one value off by one unit in the last place: the fingerprints alone
        ((np.where(np.arange(X.size).reshape(X.shape) == 0, np.nextafter(X, np.inf), X),
          y, w), {"fingerprint_key": KEY}, "not this model's training rows"),
        (([(X, y, w)],), {"fingerprint_key": KEY}, "in memory"),
    ]:
        with pytest.raises(ValueError, match=match), _quiet():
            model.forget_features([1, 3], *args, **kw)
        assert model.row_fingerprints_ is kept
        np.testing.assert_array_equal(model.coef_, coef)
    old = _digests(model, X, y, w)
    with _quiet():
        model.forget_features([1, 3], X, y, w, fingerprint_key=KEY)
    X0 = zero_features(X, [1, 3])
    assert _multiset(model.row_fingerprints_) == sorted(_digests(model, X0, y, w).tolist())
    held = np.concatenate(model.row_fingerprints_.shards)
    assert not np.isin(old, held).any()
    blob = pickle.dumps(model)
    assert not any(bytes(d) in blob for d in old.tolist())
    # requests go on, checked against the zeroed rows
    with _quiet():
        model.unlearn(X0[:5], None, y[:5], sample_weight=w[:5], fingerprint_key=KEY)
        with pytest.raises(MissingRowsError):
            model.unlearn(X[5:8], None, y[5:8], sample_weight=w[5:8],
                          fingerprint_key=KEY)


def test_forget_features_refuses_a_key_for_a_model_without_fingerprints():
    X, y = _data(UnlearnableRidge(), n=200)
    model = UnlearnableRidge().fit(X, y)
    coef = model.coef_.copy()
    with pytest.raises(ValueError, match="fitted without one"):
        model.forget_features([0], X, y, fingerprint_key=KEY)
    with pytest.raises(ValueError, match="in memory"):
        model.forget_features([0], fingerprint_key=KEY)
    np.testing.assert_array_equal(model.coef_, coef)


def test_plan_checks_and_apply_updates_the_fingerprints():
    est = UnlearnableRidge()
    X, y = _data(est)
    model = _fit(est, X, y)
    with pytest.raises(MissingRowsError):
        model.plan_unlearn(X[:1], None, y[:1] + 1, fingerprint_key=KEY)
    plan = model.plan_unlearn(X[:4], None, y[:4], fingerprint_key=KEY)
    assert model.row_fingerprints_.n_rows == len(y)
    model.apply_unlearn(plan)
    assert model.row_fingerprints_.n_rows == len(y) - 4


def test_skops_round_trip_with_fingerprints(tmp_path):
    sio = pytest.importorskip("skops.io")
    est = UnlearnableLogisticRegression()
    X, y = _data(est)
    model = _fit(est, X, y)
    path = tmp_path / "model.skops"
    sio.dump(model, path)
    untrusted = sio.get_untrusted_types(file=path)
    assert "sklearn_unlearn._fingerprints.RowFingerprints" in untrusted
    loaded = sio.load(path, trusted=untrusted)
    assert _multiset(loaded.row_fingerprints_) == _multiset(model.row_fingerprints_)
    loaded.unlearn(X[:2], None, y[:2], fingerprint_key=KEY)
    with pytest.raises(MissingRowsError):
        loaded.unlearn(X[:1], None, y[:1], fingerprint_key=KEY)


def test_shards_stay_sorted_and_balanced():
    rng = np.random.default_rng(0)
    digests = np.frombuffer(rng.bytes(16 * 50_000), dtype="S16").copy()
    fp = RowFingerprints.from_digests(digests, key_check(KEY))
    assert len(fp.shards) == 2 ** round(np.log2(50_000 / 256))
    assert fp.n_rows == 50_000
    new = np.frombuffer(rng.bytes(16 * 300), dtype="S16").copy()
    after, missing = fp.after(digests[:200], new)
    assert missing == []
    assert after.n_rows == 50_100 and fp.n_rows == 50_000
    for shard in after.shards:
        assert np.all(shard[:-1] <= shard[1:])
    assert fp.missing(new[:3]) == [0, 1, 2]
    assert after.missing(digests[:200]) == list(range(200))
    assert after.after(digests[:200], new)[0] is None


def test_requests_through_a_pipeline_are_checked_by_its_final_step():
    from sklearn.preprocessing import FunctionTransformer, StandardScaler

    from sklearn_unlearn.pipeline import make_unlearning_pipeline

    est = UnlearnableLogisticRegression()
    X, y = _data(est)
    pipe = make_unlearning_pipeline(FunctionTransformer(np.tanh), clone(est)).fit(
        X, y, unlearnablelogisticregression__fingerprint_key=KEY)
    before = joblib.hash(pipe)
    with pytest.raises(MissingRowsError, match="trained with the label"):
        pipe.unlearn(X[:2], None, _other_target(est, y[:2]), fingerprint_key=KEY)
    with pytest.raises(MissingRowsError, match="never trained on"):
        pipe.unlearn(X[:2] + 1.0, None, y[:2], fingerprint_key=KEY)
    assert joblib.hash(pipe) == before
    pipe.unlearn(X[:2], None, y[:2], fingerprint_key=KEY)
    assert pipe[-1].row_fingerprints_.n_rows == len(y) - 2
    # a scaler the pipeline unlearns changes every row the final step saw
    scaled = make_unlearning_pipeline(StandardScaler(), clone(est)).fit(
        X, y, unlearnablelogisticregression__fingerprint_key=KEY)
    with pytest.raises(ValueError, match="before the change of features"):
        scaled.unlearn(X[:2], None, y[:2], fingerprint_key=KEY)
