"""Saving and loading with joblib and skops: the cache survives, and a loaded
model unlearns exactly as the original would have."""

import copy
import pathlib
import re

import joblib
import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.datasets import make_classification, make_regression
from sklearn.frozen import FrozenEstimator
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import sklearn_unlearn
from sklearn_unlearn import (
    CertifiedRemoval,
    UnlearnableLogisticRegression,
    UnlearnableMLPClassifier,
    UnlearnableMLPRegressor,
    UnlearnableRidge,
    zero_features,
)

from .registry import REGISTRY, registered, type_name

sio = pytest.importorskip("skops.io")

# Every type that skops does not trust by default and that a saved
# estimator of this package needs. All are plain containers of NumPy arrays
# and numbers defined in this package; reviewed, not trusted wholesale.
CACHE_TYPES = {
    "sklearn_unlearn._report.RequestReport",
    "sklearn_unlearn.solvers._cache.UnlearningCache",
    "sklearn_unlearn.solvers.bounds._drift.Drift",
    "sklearn_unlearn.solvers.objective._design.LinearDesign",
    "sklearn_unlearn.solvers.hessian._factored.FactoredHessian",
    "sklearn_unlearn.solvers.objective._objective.LinearObjective",
}
# Types a file holds only in some states: the bound's Gram matrices (logistic
# regression), the pending rows of requests not yet folded into them, and
# the loss profile (dropped by a removal until a measurement takes it again).
STATE_TYPES = {
    "sklearn_unlearn._plausibility.LossProfile",
    "sklearn_unlearn.solvers.hessian._pending.PendingMatrix",
    "sklearn_unlearn.solvers.hessian._rows.RowCurvature",
}
def _classification(n_classes, sparse=False):
    X, y = make_classification(n_samples=120, n_features=6, n_informative=4,
                               n_classes=n_classes, random_state=0)
    return (sp.csr_matrix(X) if sparse else X), y


def _regression(n_targets):
    X, y = make_regression(n_samples=120, n_features=6, n_targets=n_targets,
                           noise=1.0, random_state=0)
    return X, y


def _positive(X_y):
    """Rescaled rows and positive targets, for the GLMs."""
    X, y = X_y
    return X / np.abs(X).max(), np.exp(y / np.abs(y).max())


def _data(task):
    """The data set of a task of the registry."""
    sparse = task.endswith("-sparse")
    task = task.removesuffix("-sparse")
    if task in ("binary", "multiclass"):
        return _classification(2 if task == "binary" else 3, sparse=sparse)
    if task == "positive":
        return _positive(_regression(1))
    return _regression(1 if task == "regression" else 2)


#: The configurations saved and loaded, estimator by estimator (``saved`` of
#: the registry), each with the types its file names beyond the core ones.
SAVED = registered("saved")


def _fitted(case):
    saved = SAVED[case]
    X, y = _data(saved.task)
    est = saved.make().fit(X, y)
    # One request before saving, so that the history is part of what is
    # saved (its removed rows are folded at once: nothing of them pending).
    est.unlearn(X[:3], None, y[:3])
    return est, X, y


def _requests(est, X, y):
    """Apply a fixed sequence of requests and return every state reached."""
    states = []
    requests = [
        dict(X_old=X[5:9], X_new=zero_features(X[5:9], [1]), y_old=y[5:9]),
        dict(X_old=X[9:12], X_new=None, y_old=y[9:12], method="first_order"),
        dict(X_old=None, X_new=X[9:12], y_new=y[9:12], method="refined"),
    ]
    for request in requests:
        est.unlearn(**request)
        states.append((np.array(est.coef_, copy=True),
                       np.array(est.intercept_, copy=True),
                       est.residual_bound_))
    return states


def _assert_identical(est, loaded):
    np.testing.assert_array_equal(loaded.coef_, est.coef_)
    np.testing.assert_array_equal(loaded.intercept_, est.intercept_)
    assert type(loaded) is type(est)
    assert loaded.get_params() == est.get_params()
    assert loaded.unlearn_history_ == est.unlearn_history_
    a, b = est.unlearning_cache_, loaded.unlearning_cache_
    np.testing.assert_array_equal(b.theta, a.theta)
    np.testing.assert_array_equal(b.residual, a.residual)
    for Ha, Hb in zip(a.hessians, b.hessians, strict=True):
        np.testing.assert_array_equal(Hb.matrix, Ha.matrix)
        assert Hb.pending_rank == Ha.pending_rank


def _assert_same_future(est, loaded, X, y):
    """``unlearn`` on the loaded copy gives bit-identical results."""
    X_pred = X[:20]
    np.testing.assert_array_equal(loaded.predict(X_pred), est.predict(X_pred))
    expected = _requests(copy.deepcopy(est), X, y)
    got = _requests(loaded, X, y)
    for (c1, i1, b1), (c2, i2, b2) in zip(expected, got, strict=True):
        np.testing.assert_array_equal(c2, c1)
        np.testing.assert_array_equal(i2, i1)
        assert b2 == b1 or (np.isinf(b1) and np.isinf(b2))


def test_every_exported_estimator_is_covered():
    exported = {
        getattr(sklearn_unlearn, name) for name in sklearn_unlearn.__all__
        if isinstance(getattr(sklearn_unlearn, name), type)
    }
    covered = ({type(saved.make()) for saved in SAVED.values()} | set(MLP_TYPES)
               | {CertifiedRemoval})
    assert exported == covered


@pytest.mark.parametrize("case", sorted(SAVED))
def test_joblib_round_trip(case, tmp_path):
    est, X, y = _fitted(case)
    path = tmp_path / "model.joblib"
    joblib.dump(est, path)
    loaded = joblib.load(path)
    _assert_identical(est, loaded)
    _assert_same_future(est, loaded, X, y)


@pytest.mark.parametrize("case", sorted(SAVED))
def test_skops_round_trip(case, tmp_path):
    est, X, y = _fitted(case)
    # inserted rows may stay pending beside the Hessian: saved with it
    est.unlearn(None, X[:3], y_new=y[:3])
    path = tmp_path / "model.skops"
    sio.dump(est, path)

    # The types the file asks us to trust are reviewed ones, the core set
    # always included.
    untrusted = set(sio.get_untrusted_types(file=path))
    expected = CACHE_TYPES | {type_name(type(est))} | SAVED[case].types
    assert expected <= untrusted <= expected | STATE_TYPES
    assert "sklearn_unlearn.solvers.hessian._rows.RowCurvature" in untrusted  # rows pending

    loaded = sio.load(path, trusted=sorted(untrusted))
    _assert_identical(est, loaded)
    _assert_same_future(est, loaded, X, y)


def test_skops_refuses_unreviewed_types(tmp_path):
    est, _, _ = _fitted("binary_logistic")
    path = tmp_path / "model.skops"
    sio.dump(est, path)
    # Trusting only the estimator class is not enough: its cache types must
    # be reviewed too, and loading stops before building anything untrusted.
    with pytest.raises(Exception, match="[Uu]ntrusted"):
        sio.load(path, trusted=[type_name(type(est))])


def test_loaded_model_keeps_its_history_and_bound(tmp_path):
    est, X, y = _fitted("binary_logistic")
    path = tmp_path / "model.joblib"
    joblib.dump(est, path)
    loaded = joblib.load(path)
    assert len(loaded.unlearn_history_) == 1
    assert loaded.residual_bound_ == est.residual_bound_
    # The history goes on from where it was.
    loaded.unlearn(X[20:22], None, y[20:22])
    assert len(loaded.unlearn_history_) == 2
    assert len(est.unlearn_history_) == 1


# The MLPs keep their training rows (``training_rows_``) and the parent's
# Adam optimiser; both are reviewed below.
MLP_TYPES = {cls: type_name(cls) for cls in (UnlearnableMLPClassifier, UnlearnableMLPRegressor)}
MLP_TRUSTED = {
    "sklearn.neural_network._stochastic_optimizers.AdamOptimizer",
    "sklearn_unlearn._report.RequestReport",
    "sklearn_unlearn._training_rows.TrainingRows",
}


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize("cls", sorted(MLP_TYPES, key=lambda c: c.__name__))
@pytest.mark.parametrize("fmt", ["joblib", "skops"])
def test_mlp_round_trip(cls, fmt, tmp_path):
    X, y = _classification(2)
    if cls is UnlearnableMLPRegressor:
        y = y.astype(float)
    est = cls(hidden_layer_sizes=(8,), max_iter=50, random_state=0).fit(X, y)
    est.unlearn(X[:3], None, y[:3])
    path = tmp_path / "model"
    if fmt == "joblib":
        joblib.dump(est, path)
        loaded = joblib.load(path)
    else:
        sio.dump(est, path)
        expected = MLP_TRUSTED | {MLP_TYPES[cls]}
        assert set(sio.get_untrusted_types(file=path)) == expected
        loaded = sio.load(path, trusted=sorted(expected))
    for a, b in zip(est.coefs_ + est.intercepts_, loaded.coefs_ + loaded.intercepts_,
                    strict=True):
        np.testing.assert_array_equal(b, a)
    for model in (est, loaded):
        model.unlearn(X[5:8], zero_features(X[5:8], [1]), y[5:8])
    for a, b in zip(est.coefs_ + est.intercepts_, loaded.coefs_ + loaded.intercepts_,
                    strict=True):
        np.testing.assert_array_equal(b, a)


CERTIFIED_TRUSTED = CACHE_TYPES | STATE_TYPES | {
    type_name(UnlearnableLogisticRegression),
    *SAVED["binary_logistic"].types,
    "sklearn_unlearn._training_rows.TrainingRows",
    "sklearn_unlearn.certified._certificate.Certificate",
    "sklearn_unlearn.certified._certificate.LedgerEntry",
    "sklearn_unlearn.certified._removal.CertifiedRemoval",
    "numpy.random.mtrand.RandomState",
}


@pytest.mark.parametrize("fmt", ["joblib", "skops"])
def test_certified_round_trip(fmt, tmp_path):
    X, y = _classification(2)
    model = CertifiedRemoval(UnlearnableLogisticRegression(), epsilon=1.0, budget=1.0,
                             random_state=0).fit(X, y)
    model.unlearn(X[:2], None, y[:2])
    path = tmp_path / "model"
    if fmt == "joblib":
        joblib.dump(model, path)
        loaded = joblib.load(path)
    else:
        sio.dump(model, path)
        untrusted = set(sio.get_untrusted_types(file=path))
        assert untrusted <= CERTIFIED_TRUSTED
        loaded = sio.load(path, trusted=sorted(untrusted))
    assert loaded.certificate_ == model.certificate_
    np.testing.assert_array_equal(loaded.training_rows_.X, model.training_rows_.X)
    for m in (model, loaded):
        m.unlearn(X[2:5], None, y[2:5])
    assert loaded.certificate_ == model.certificate_
    np.testing.assert_array_equal(loaded.predict_proba(X), model.predict_proba(X))


# -- the documented skops lists ---------------------------------------------------
# doc/persistence.rst lists, estimator by estimator, every type a file may name,
# each with the conditions under which it appears. The test reads the lists from
# there (the one place to update) and compares them with what skops reports for
# each configuration below, in four states: fitted, after a deletion, after a
# feature edit, after an insertion.
DOC = pathlib.Path(__file__).resolve().parents[1] / "doc" / "persistence.rst"
AFTER_REQUEST, PENDING = "after a request", "while rows are pending"
#: named until a request removes rows (the loss profile), as a pending type
#: is: a file may name it or not
UNTIL_REMOVAL = "until a request removes rows"
STATES = ("fitted", "after a deletion", "after a feature edit", "after an insertion")


def _documented_lists():
    """{estimator name: [(type, frozenset of conditions)]} from the page."""
    text = DOC.read_text()
    blocks = re.findall(r"^``(\w+)`` may name[^:]*::\n\n((?:   [^\n]*\n)+)", text, re.M)
    lists = {}
    for name, body in blocks:
        entries = []
        for line in body.splitlines():
            typ, _, cond = line.strip().partition("#")
            conds = frozenset(c.strip() for c in cond.split(",") if c.strip())
            entries.append((typ.strip(), conds))
        assert name not in lists, f"{DOC.name} lists {name} twice"
        lists[name] = entries
    return lists


def _example_list():
    """The TRUSTED list of the page's example."""
    block = re.search(r"TRUSTED = \[\n(.*?)\n   \]", DOC.read_text(), re.S).group(1)
    return set(re.findall(r'"([\w.]+)"', block))


_LR, _RIDGE = "UnlearnableLogisticRegression", "UnlearnableRidge"
#: config id: (estimator name, estimator factory, data factory, unlearn
#: keywords, conditions that hold for it, in the page's words), from the
#: registry's ``documented`` configurations
DOC_CONFIGS = {config: (cls.__name__, doc.make, lambda t=doc.task: _data(t), doc.options,
                        set(doc.conditions))
               for cls, entry in REGISTRY.items() for config, doc in entry.documented.items()}

# CertifiedRemoval: its own list and its final estimator's (conditions of both).
# Over budget a request warns instead of retraining, so that every state is
# the one named.
_CR = dict(epsilon=1.0, on_budget_exceeded="warn", random_state=0)
CR_CONFIGS = {
    "certified_logistic_keep": (
        lambda: CertifiedRemoval(UnlearnableLogisticRegression(hessian="dense"), **_CR),
        lambda: _classification(2), {"keep_data=True"}, _LR,
        {"binary", 'hessian="dense"', "residual_bound=True"}),
    "certified_pipeline_keep": (
        lambda: CertifiedRemoval(make_pipeline(
            FrozenEstimator(StandardScaler().fit(_classification(3)[0][:40])),
            UnlearnableLogisticRegression(hessian="dense")), **_CR),
        lambda: _classification(3), {"keep_data=True"}, _LR,
        {"multiclass", 'hessian="dense"', "residual_bound=True"}),
    "certified_logistic_no_data": (
        lambda: CertifiedRemoval(UnlearnableLogisticRegression(hessian="dense"), keep_data=False,
                                 **_CR),
        lambda: _classification(2), set(), _LR,
        {"binary", 'hessian="dense"', "residual_bound=True"}),
    "certified_pipeline_no_data": (
        lambda: CertifiedRemoval(make_pipeline(
            FrozenEstimator(StandardScaler().fit(_classification(2)[0][:40])),
            UnlearnableLogisticRegression(hessian="dense")), keep_data=False, **_CR),
        lambda: _classification(2), set(), _LR,
        {"binary", 'hessian="dense"', "residual_bound=True"}),
    "certified_ridge_keep": (
        lambda: CertifiedRemoval(UnlearnableRidge(hessian="dense"), **_CR),
        lambda: _regression(1), {"keep_data=True"}, _RIDGE, {'hessian="dense"'}),
    "certified_ridge_no_data": (
        lambda: CertifiedRemoval(UnlearnableRidge(hessian="dense"), keep_data=False,
                                 **_CR),
        lambda: _regression(1), set(), _RIDGE, {'hessian="dense"'}),
}


def _reported_per_state(est, X, y, kw):
    """The untrusted types of a file of ``est`` in each of :data:`STATES`."""
    out = []
    requests = [(X[:2], None, y[:2], None), (X[2:4], zero_features(X[2:4], [1]), y[2:4], None),
                (None, X[:2], None, y[:2])]
    for state in STATES:
        if state != "fitted":
            X_old, X_new, y_old, y_new = requests[STATES.index(state) - 1]
            est.unlearn(X_old, X_new, y_old, y_new, **kw)
        out.append(set(sio.get_untrusted_types(data=sio.dumps(est))))
    return out


def _expected(entries, conditions):
    """(always named, named after a request, may be named) for a configuration."""
    states = {AFTER_REQUEST, PENDING, UNTIL_REMOVAL}
    applies = [(t, c - states, c) for t, c in entries]
    applies = [(t, c) for t, static, c in applies if static <= conditions]
    always = {t for t, c in applies if not c & states}
    after = {t for t, c in applies if AFTER_REQUEST in c and not c & {PENDING, UNTIL_REMOVAL}}
    pending = {t for t, c in applies if c & {PENDING, UNTIL_REMOVAL}}
    return always, after, pending


def _compare(config, reported, always, after, pending, problems):
    for state, types in zip(STATES, reported):
        required = always | (after if state != "fitted" else set())
        allowed = required | pending | (after if state != "fitted" else set())
        if required - types:
            problems.append(f"{config}, {state}: the page lists {sorted(required - types)}, "
                            "which the file does not name")
        if types - allowed:
            problems.append(f"{config}, {state}: the file names {sorted(types - allowed)}, "
                            "which the page does not list for it")
    union = set().union(*reported)
    if (always | after | pending) - union:
        problems.append(f"{config}: the page lists {sorted((always | after | pending) - union)}, "
                        "which no file of it names in any state")
    return union


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.filterwarnings("ignore::UserWarning")
def test_documented_skops_lists_are_what_skops_reports():
    lists = _documented_lists()
    exported = {name for name in sklearn_unlearn.__all__
                if isinstance(getattr(sklearn_unlearn, name), type)}
    assert set(lists) == exported, (
        f"{DOC.name} has type lists for {sorted(lists)}; the package exports {sorted(exported)}")
    assert {cfg[0] for cfg in DOC_CONFIGS.values()} | {"CertifiedRemoval"} == exported

    problems, used = [], {name: set() for name in lists}
    for config, (name, make, data, kw, conditions) in DOC_CONFIGS.items():
        X, y = data()
        reported = _reported_per_state(make().fit(X, y), X, y, kw)
        union = _compare(config, reported, *_expected(lists[name], conditions), problems)
        used[name] |= union
        if config == "logistic_binary_dense_bound_True" and union != _example_list():
            problems.append(f"{config}: the page's TRUSTED example is {sorted(_example_list())}, "
                            f"the files name {sorted(union)}")
    for config, (make, data, conditions, final, final_conditions) in CR_CONFIGS.items():
        X, y = data()
        reported = _reported_per_state(make().fit(X, y), X, y, {})
        own = _expected(lists["CertifiedRemoval"], conditions)
        inner = _expected(lists[final], final_conditions)
        union = _compare(config, reported, *(a | b for a, b in zip(own, inner)), problems)
        used["CertifiedRemoval"] |= union
        used[final] |= union
    for name, entries in lists.items():
        stale = {t for t, _ in entries} - used[name]
        if stale:
            problems.append(f"{name}: the page lists {sorted(stale)}, which no configuration "
                            "of the test names")
    assert not problems, (
        f"The skops type lists of {DOC} no longer match the files (update the lists there, "
        "or the configurations of this test):\n  " + "\n  ".join(problems))


def test_files_that_name_the_drift_bounds_by_their_old_module_still_load():
    # Files saved before the drift bounds had a module of their own name
    # them sklearn_unlearn.solvers._cache._Drift; loading them still works.
    import pickle

    from sklearn_unlearn.solvers.bounds._drift import Drift

    saved = pickle.dumps(Drift(form=1.0, norm=2.0), protocol=0)
    old = saved.replace(b"sklearn_unlearn.solvers.bounds._drift\nDrift",
                        b"sklearn_unlearn.solvers._cache\n_Drift")
    assert old != saved
    assert pickle.loads(old) == Drift(form=1.0, norm=2.0)


def test_files_that_name_the_solvers_modules_by_their_old_paths_still_load(breast_cancer):
    # Files saved before the solvers' modules moved into their folders
    # (objective/, hessian/, steps/, bounds/, fit/) name them by their old
    # paths, e.g. sklearn_unlearn.solvers._factored; loading them still
    # works, and the model loaded still unlearns.
    import pickle

    X, y = breast_cancer
    est = UnlearnableLogisticRegression().fit(X, y)
    saved = pickle.dumps(est, protocol=2)
    old = re.sub(rb"sklearn_unlearn\.solvers\.(?:objective|hessian|steps|bounds|fit)\.(_\w+)\n",
                 rb"sklearn_unlearn.solvers.\1\n", saved)
    assert b"sklearn_unlearn.solvers._factored\n" in old
    assert b"solvers.hessian." not in old
    loaded = pickle.loads(old)
    np.testing.assert_array_equal(loaded.coef_, est.coef_)
    loaded.unlearn(X[:5], None, y[:5])
    est.unlearn(X[:5], None, y[:5])
    np.testing.assert_array_equal(loaded.coef_, est.coef_)
