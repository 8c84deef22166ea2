"""The multilayer perceptrons keep no trace of what a request erased, and a
request that fails (a bad input, a non-finite step, an interrupt at any line)
or runs beside another one leaves a consistent state.

No trace: the erased rows (and, for a feature edit, the old values of the
edited columns) are drawn as full-precision random float64 values, so that
finding one of their 8-byte patterns (or its text) in a file by chance has a
probability of about 2**-50 per position. Every serialization (pickle,
joblib, skops, each member of the skops archive) is scanned for them, and
every array reachable from the estimator, its deep copy and each loaded copy
is checked for exact copies of them, for a stored row or column vector
parallel to an erased row (``|cos| > 1 - 1e-9``) and for a stored copy of the
parameters before the request. Each check is first shown to find what it
looks for in the state before the request.
"""

import copy
import dataclasses
import io
import os
import pickle
import struct
import sys
import threading
import warnings
import zipfile

import joblib
import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.exceptions import ConvergenceWarning

import sklearn_unlearn
from sklearn_unlearn import _locks
from sklearn_unlearn import UnlearnableMLPClassifier, UnlearnableMLPRegressor, zero_features
from sklearn_unlearn.base import RequestReport
from sklearn_unlearn.solvers import UnlearningWarning

sio = pytest.importorskip("skops.io")

# a stored vector this parallel to an erased row is a copy of it up to scale
PARALLEL_COS = 1.0 - 1e-9
EDITED_COLUMNS = [1, 4]
N_ROWS, N_FEATURES = 60, 6
LIBRARY = os.path.dirname(os.path.abspath(sklearn_unlearn.__file__))


def _data(seed, sparse=False, n_targets=None):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(N_ROWS, N_FEATURES))
    if sparse:
        X[rng.random(X.shape) < 0.3] = 0.0
    y_cls = rng.integers(0, 3, N_ROWS)
    y_reg = np.tanh(X @ rng.normal(size=(N_FEATURES, n_targets or 1)))
    return (sp.csr_matrix(X) if sparse else X), y_cls, (y_reg if n_targets else y_reg[:, 0])


def _fit(est, X, y):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return est.fit(X, y)


# name: (estimator, data, unlearn keywords, rows affected). The sgd model
# (no momentum, no penalty, one row per batch, no shuffling) leaves in its
# velocities the gradient of the last row, whose first-layer columns are that
# row up to scale; it is among the erased rows.
CONFIGS = {
    "classifier_adam": (
        lambda: UnlearnableMLPClassifier(hidden_layer_sizes=(5,), max_iter=30, random_state=0),
        lambda: _data(0)[:2], {}, [3, 17, 40]),
    "classifier_sgd_last_row": (
        lambda: UnlearnableMLPClassifier(hidden_layer_sizes=(4,), solver="sgd", momentum=0.0,
                                         alpha=0.0, batch_size=1, shuffle=False, max_iter=3,
                                         random_state=0),
        lambda: _data(1)[:2], {"method": "first_order"}, [8, N_ROWS - 1]),
    "classifier_early_stopping": (
        lambda: UnlearnableMLPClassifier(hidden_layer_sizes=(5,), early_stopping=True,
                                         max_iter=30, random_state=0),
        lambda: _data(2)[:2], {}, [0, 21]),
    "classifier_sparse_binary": (
        lambda: UnlearnableMLPClassifier(hidden_layer_sizes=(4,), max_iter=30, random_state=0),
        lambda: (lambda X, y, _: (X, y % 2))(*_data(3, sparse=True)), {}, [5, 6, 30]),
    "regressor_lbfgs_exact": (
        lambda: UnlearnableMLPRegressor(hidden_layer_sizes=(5,), solver="lbfgs", max_iter=50,
                                        random_state=0),
        lambda: (lambda X, _, y: (X, y))(*_data(4)),
        {"curvature": "exact", "damping": 1.0}, [2, 50]),
    "regressor_multi_target_no_rows": (
        lambda: UnlearnableMLPRegressor(hidden_layer_sizes=(5,), max_iter=30, random_state=0,
                                        keep_data=False),
        lambda: (lambda X, _, y: (X, y))(*_data(5, n_targets=2)),
        {"method": "first_order", "tau": 0.5}, [9, 10, 11]),
}


def _dense(X):
    return X.toarray() if sp.issparse(X) else np.asarray(X)


# -- what to look for, and where -------------------------------------------------
def _value_patterns(values):
    """Byte patterns of float64 values as a file may hold them: raw little- and
    big-endian (numpy's buffers, pickle's BINFLOAT) and their text (JSON)."""
    out = set()
    for v in np.asarray(values, dtype=np.float64).ravel():
        out.add(struct.pack("<d", v))
        out.add(struct.pack(">d", v))
        out.add(repr(float(v)).encode())
    return out


def _byte_findings(blob, patterns, where):
    found = [f"{where} holds {p!r}" for p in patterns if p in blob]
    if blob[:2] == b"PK":
        # a zip archive (skops; inside it scipy's compressed .npz of a sparse
        # matrix): scan each member inflated, and its members in turn
        with zipfile.ZipFile(io.BytesIO(blob)) as archive:
            for name in archive.namelist():
                found += _byte_findings(archive.read(name), patterns, f"{where}:{name}")
    return found


def _reachable(obj, path="est", seen=None):
    """Every array and float reachable from ``obj`` (attributes, containers,
    dataclass fields, sparse matrices' buffers, the bases of views)."""
    if seen is None:
        seen = set()
    if id(obj) in seen or obj is None or isinstance(obj, (str, bytes, bool, type)):
        return
    seen.add(id(obj))
    if isinstance(obj, np.ndarray):
        if obj.dtype == object:
            for i, item in enumerate(obj.ravel()):
                yield from _reachable(item, f"{path}[{i}]", seen)
        else:
            yield path, obj
        if obj.base is not None:
            yield from _reachable(obj.base, f"{path}.base", seen)
        return
    if isinstance(obj, (float, np.floating)):
        yield path, np.asarray(obj, dtype=np.float64)
        return
    if isinstance(obj, dict):
        items = obj.items()
    elif isinstance(obj, (list, tuple, set, frozenset)):
        items = enumerate(obj)
    elif isinstance(obj, np.random.RandomState):
        items = [("state", obj.get_state()[1])]
    elif hasattr(obj, "__dict__") or hasattr(obj, "__slots__"):
        items = dict(vars(obj) if hasattr(obj, "__dict__") else {})
        for name in getattr(type(obj), "__slots__", ()):
            if hasattr(obj, name):
                items[name] = getattr(obj, name)
        items = items.items()
    else:
        return
    for key, value in items:
        yield from _reachable(value, f"{path}.{key}" if isinstance(key, str) else f"{path}[{key}]",
                              seen)


def _array_findings(obj, rows, values, old_params, where):
    """Stored copies of ``values``, vectors parallel to ``rows``, arrays equal
    to a parameter array of ``old_params``."""
    found = []
    rows = np.atleast_2d(rows)
    unit = rows / np.linalg.norm(rows, axis=1, keepdims=True)
    for path, a in _reachable(obj, where):
        if a.dtype.kind not in "fc":
            continue
        a = np.real(a) if a.dtype.kind == "c" else a
        hits = np.isin(a.ravel(), np.asarray(values).astype(a.dtype))
        if hits.any():
            found.append(f"{path} holds {hits.sum()} erased values")
        vectors = []
        if a.ndim >= 1 and a.shape[-1] == N_FEATURES:
            vectors.append(a.reshape(-1, N_FEATURES))
        if a.ndim == 2 and a.shape[0] == N_FEATURES:
            vectors.append(a.T)
        for V in vectors:
            V = np.asarray(V, dtype=np.float64)
            norms = np.linalg.norm(V, axis=1)
            live = norms > 0
            if live.any():
                cos = np.abs(V[live] @ unit.T) / norms[live, None]
                if np.any(cos > PARALLEL_COS):
                    found.append(f"{path} holds a vector parallel to an erased row "
                                 f"(|cos| = {cos.max():.12f})")
        for p in old_params:
            if a.size > 1 and a.shape == p.shape and np.array_equal(a, p):
                found.append(f"{path} is a parameter array of the model before the request")
    return found


def _copies(est):
    """(name, serialized bytes or None, loaded copy) for every way to copy."""
    out = [("deepcopy", None, copy.deepcopy(est))]
    blob = pickle.dumps(est)
    out.append(("pickle", blob, pickle.loads(blob)))
    buffer = io.BytesIO()
    joblib.dump(est, buffer)
    out.append(("joblib", buffer.getvalue(), joblib.load(io.BytesIO(buffer.getvalue()))))
    blob = sio.dumps(est)
    out.append(("skops", blob, sio.loads(blob, trusted=sio.get_untrusted_types(data=blob))))
    return out


def _all_findings(est, rows, values, old_params):
    patterns = _value_patterns(values)
    found = _array_findings(est, rows, values, old_params, "est")
    for name, blob, loaded in _copies(est):
        if blob is not None:
            found += _byte_findings(blob, patterns, name)
        found += _array_findings(loaded, rows, values, old_params, name)
    return found


def _params(est):
    return [a.copy() for a in est.coefs_ + est.intercepts_]


# -- no trace -----------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["delete", "edit_features"])
@pytest.mark.parametrize("config", sorted(CONFIGS))
def test_no_trace_of_the_erased_values_after_a_request(config, kind):
    make, make_data, kw, affected = CONFIGS[config]
    X, y = make_data()
    est = _fit(make(), X, y)
    X_old, y_old = X[affected], y[affected]
    old_rows = _dense(X_old)
    if kind == "delete":
        X_new, values = None, old_rows
    else:
        X_new = zero_features(X_old, EDITED_COLUMNS)
        values = old_rows[:, EDITED_COLUMNS]
    values = values[values != 0]   # a sparse row's zeros are not values
    assert len(np.unique(values)) == len(values) >= len(affected)

    # the checks find the rows in the fitted model that keeps them, and the
    # current parameters as parameters of the model "before"
    before = _all_findings(est, old_rows, values, _params(est))
    assert any("parameter array" in f for f in before)
    if est.training_rows_ is not None:
        for name in ("est", "deepcopy", "pickle", "joblib", "skops"):
            assert any(f.startswith(name) and "erased values" in f for f in before), name
        for name in ("pickle", "joblib", "skops:"):
            assert any(f.startswith(name) and " holds b" in f for f in before), name
    if config == "classifier_sgd_last_row":
        assert any("_optimizer.velocities" in f and "parallel" in f for f in before)
    if config == "classifier_early_stopping":
        # early stopping's best parameters are the parameters of the fit
        assert all(np.array_equal(a, b) for a, b in zip(est._best_coefs, est.coefs_))

    old_params = _params(est)
    est.unlearn(X_old, X_new, y_old, **kw)
    found = _all_findings(est, old_rows, values, old_params)
    assert not found, "\n".join(found)
    # and the request did what it says
    if est.training_rows_ is not None:
        assert est.training_rows_.n_rows == N_ROWS - (kind == "delete") * len(affected)


@pytest.mark.parametrize("sparse", [False, True])
def test_kept_rows_are_copies_made_at_fit(sparse):
    X, y, _ = _data(6, sparse=sparse)
    sw = np.linspace(0.5, 2.0, N_ROWS)
    est = UnlearnableMLPClassifier(hidden_layer_sizes=(4,), max_iter=20, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        est.fit(X, y, sample_weight=sw)
    kept = est.training_rows_
    X_fit, y_fit, sw_fit = _dense(X).copy(), y.copy(), sw.copy()
    buffers = [X.data if sparse else X, y, sw]
    for ours in ([kept.X.data, kept.X.indices, kept.X.indptr] if sparse else [kept.X]) + [
            kept.y, kept.sample_weight]:
        for theirs in buffers:
            assert not np.shares_memory(ours, theirs)
    for theirs in buffers:       # the caller reuses its arrays
        theirs[...] = theirs[::-1].copy()
    np.testing.assert_array_equal(_dense(kept.X), X_fit)
    np.testing.assert_array_equal(kept.y, y_fit)
    np.testing.assert_array_equal(kept.sample_weight, sw_fit)
    # so the rows as trained on are still found, and erased
    est.unlearn(X_fit[:2], None, y_fit[:2], sample_weight=sw_fit[:2])
    assert est.training_rows_.n_rows == N_ROWS - 2


# -- one state or the other ----------------------------------------------------------
def _state(obj, seen=None):
    """A comparable image of everything reachable from ``obj`` (a report's
    wall time left out)."""
    if isinstance(obj, np.ndarray):
        if obj.dtype == object:
            return ("object-array", obj.shape, tuple(_state(v) for v in obj.ravel()))
        return ("array", obj.dtype.str, obj.shape, obj.tobytes())
    if obj is None or isinstance(obj, (str, bytes, bool, int, float, complex, np.generic, type)):
        return (type(obj).__name__, repr(obj))
    if isinstance(obj, (list, tuple)):
        return (type(obj).__name__, tuple(_state(v) for v in obj))
    if isinstance(obj, dict):
        return ("dict", tuple(sorted((repr(k), _state(v)) for k, v in obj.items())))
    if isinstance(obj, RequestReport):
        fields = {f.name: getattr(obj, f.name) for f in dataclasses.fields(obj)}
        fields.pop("seconds")
        return ("report", _state(fields))
    if isinstance(obj, np.random.RandomState):
        return ("RandomState", _state(obj.get_state()))
    if hasattr(obj, "__dict__"):
        # kept rows' versions are names, one per edit, not content
        names = _VERSION_NAMES.get(type(obj).__qualname__, ())
        return (type(obj).__qualname__,
                _state({k: v for k, v in vars(obj).items() if k not in names}))
    raise TypeError(f"no image for {type(obj)}")


_VERSION_NAMES = {"TrainingRows": ("_version",), "RowStore": ("version",),
                  "RowEdit": ("base",)}


def _interrupt_at(n):
    """A tracer raising KeyboardInterrupt at the ``n``-th line the library runs."""
    count = [0]

    def local(frame, event, arg):
        if event == "line":
            count[0] += 1
            if count[0] == n:
                raise KeyboardInterrupt(f"line {n}: {frame.f_code.co_filename}:{frame.f_lineno}")
        return local

    def tracer(frame, event, arg):
        name = os.path.abspath(frame.f_code.co_filename)
        return local if name.startswith(LIBRARY) else None

    return tracer, count


@pytest.mark.parametrize("case", ["second_order_delete", "first_order_edit_auto_tau",
                                  "regressor_insert"])
def test_an_interrupt_at_any_line_leaves_the_old_or_the_new_state(case):
    X, y_cls, y_reg = _data(7)
    X, y_cls, y_reg = X[:25, :4], y_cls[:25], y_reg[:25]
    if case == "regressor_insert":
        est = _fit(UnlearnableMLPRegressor(hidden_layer_sizes=(3,), max_iter=20, random_state=0),
                   X, y_reg)
        args, kw = (None, X[:2] + 0.5), dict(y_new=y_reg[:2], cg_max_iter=3)
    elif case == "second_order_delete":
        est = _fit(UnlearnableMLPClassifier(hidden_layer_sizes=(3,), max_iter=20,
                                            early_stopping=True, random_state=0), X, y_cls)
        args, kw = (X[:2], None, y_cls[:2]), dict(cg_max_iter=3)
    else:
        est = _fit(UnlearnableMLPClassifier(hidden_layer_sizes=(3,), max_iter=20, solver="sgd",
                                            random_state=0), X, y_cls)
        args, kw = (X[2:4], zero_features(X[2:4], [1]), y_cls[2:4]), dict(method="first_order")
    old = _state(est)
    new = _state(copy.deepcopy(est).unlearn(*args, **kw))
    assert new != old
    n = 0
    while True:
        n += 1
        model = copy.deepcopy(est)
        tracer, count = _interrupt_at(n)
        sys.settrace(tracer)
        try:
            model.unlearn(*args, **kw)
            completed = True
        except KeyboardInterrupt:
            completed = False
        finally:
            sys.settrace(None)
        state = _state(model)
        # and the request lock is free for another thread
        taken = []
        probe = threading.Thread(
            target=lambda: taken.append(_locks.request_lock(model).acquire(timeout=5)))
        probe.start()
        probe.join()
        assert taken == [True], f"interrupt at line {n} left the request lock taken"
        if completed:
            assert state == new, f"completed after an interrupt at line {n}, in another state"
            if count[0] < n:   # ran to the end without an interrupt: every line was tried
                break
        else:
            assert state in (old, new), f"interrupt at line {n} left a torn state"
    assert n > 100   # the commit path was traced, not skipped


def test_concurrent_requests_serialise():
    X, y, _ = _data(8)
    est = _fit(UnlearnableMLPClassifier(hidden_layer_sizes=(5,), max_iter=20, random_state=0),
               X, y)
    first = dict(X_old=X[:3], X_new=None, y_old=y[:3])
    second = dict(X_old=X[10:12], X_new=zero_features(X[10:12], [2]), y_old=y[10:12])
    in_order = []
    for a, b in ((first, second), (second, first)):
        model = copy.deepcopy(est)
        model.unlearn(**a)
        model.unlearn(**b)
        in_order.append(_state(model))
    assert in_order[0] != in_order[1]
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)   # switch threads often, so that requests interleave
    try:
        for _ in range(6):
            model = copy.deepcopy(est)
            barrier = threading.Barrier(2)
            errors = []

            def run(request, model=model, barrier=barrier, errors=errors):
                barrier.wait()
                try:
                    model.unlearn(**request)
                except BaseException as exc:  # pragma: no cover - reported below
                    errors.append(exc)

            threads = [threading.Thread(target=run, args=(r,)) for r in (first, second)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            assert errors == []
            assert _state(model) in in_order
            assert len(model.unlearn_history_) == 2
    finally:
        sys.setswitchinterval(interval)


# -- failures change nothing; messages say what applies ---------------------------
@pytest.mark.filterwarnings("ignore::RuntimeWarning")   # the overflows refused
def test_failing_requests_leave_the_state_exactly_as_it_was():
    X, y_cls, y_reg = _data(9)
    clf = _fit(UnlearnableMLPClassifier(hidden_layer_sizes=(4,), max_iter=20, random_state=0),
               X, y_cls)
    X_nan = X[:2].copy()
    X_nan[0, 1] = np.nan
    requests = [
        (clf, dict(X_old=X_nan, X_new=None, y_old=y_cls[:2]), ValueError, "NaN"),
        (clf, dict(X_old=X[:2], X_new=X_nan, y_old=y_cls[:2]), ValueError, "NaN"),
        (clf, dict(X_old=X[:2, :3], X_new=None, y_old=y_cls[:2]), ValueError, "features"),
        (clf, dict(X_old=X[:2], X_new=None, y_old=y_cls[:2], method="first_order",
                   tau=1e308), ValueError, "finite"),
        (clf, dict(X_old=X[:2], X_new=None, y_old=y_cls[:2], tau=np.nan), ValueError, "tau"),
        (clf, dict(X_old=X[:2], X_new=None, y_old=y_cls[:2], tau="fast"), ValueError, "tau"),
    ]
    # finite rows whose products overflow, for each method
    for kw in ({}, {"method": "first_order"}, {"method": "first_order", "tau": 1.0},
               {"curvature": "exact"}):
        requests.append((clf, dict(X_old=None, X_new=X[:2] * 1e300, y_new=y_cls[:2], **kw),
                         ValueError, "not finite|overflow"))
    reg = _fit(UnlearnableMLPRegressor(loss="poisson", hidden_layer_sizes=(4,), max_iter=20,
                                       random_state=0), X, np.exp(y_reg))
    # a step the parameters survive but the exponential output does not
    requests.append((reg, dict(X_old=X[:2], X_new=None, y_old=np.exp(y_reg[:2]),
                               method="first_order", tau=1e3), ValueError, "not finite"))
    for est, kwargs, error, match in requests:
        snap = _state(est)
        with pytest.raises(error, match=match):
            est.unlearn(**kwargs)
        assert _state(est) == snap


def _overflow_model(kind, keep_data, dtype=np.float64):
    X, y_cls, y_reg = _data(11)
    X = X.astype(dtype)
    if kind == "classifier":
        est = UnlearnableMLPClassifier(hidden_layer_sizes=(4,), max_iter=50, random_state=0,
                                       keep_data=keep_data)
        return _fit(est, X, y_cls), X, y_cls
    est = UnlearnableMLPRegressor(hidden_layer_sizes=(4,), max_iter=50, random_state=0,
                                  keep_data=keep_data)
    return _fit(est, X, y_reg), X, y_reg


def _refused_quietly(est, request, match):
    """``request(est)`` raises a ValueError matching ``match``, emits no
    warning (the overflow it meets is expected and checked) and leaves the
    estimator exactly as it was."""
    before = _state(est)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with pytest.raises(ValueError, match=match) as info:
            request(est)
    assert [str(w.message) for w in caught] == []
    assert _state(est) == before
    return str(info.value)


@pytest.mark.parametrize("entry", ["unlearn", "plan_unlearn"])
@pytest.mark.parametrize("tau", [1e200, 1e300])
@pytest.mark.parametrize("keep_data", [True, False])
@pytest.mark.parametrize("kind", ["classifier", "regressor"])
def test_a_step_whose_outputs_overflow_is_refused(kind, keep_data, tau, entry):
    # Without kept rows nothing evaluated the network at the new parameters:
    # a rate of 1e300 was accepted, with weights of 1e297 and predictions of
    # +-inf. The request's rows show the overflow; refused as with the rows.
    est, X, y = _overflow_model(kind, keep_data)
    message = _refused_quietly(
        est, lambda e: getattr(e, entry)(X[:2], None, y[:2], method="first_order", tau=tau),
        "overflow|not finite|non-finite")
    assert "unchanged" in message and "Lower tau" in message, message
    # a rate the network survives is accepted, its step reported as taken
    theta = np.concatenate([c.ravel() for c in est.coefs_ + est.intercepts_])
    plan = est.plan_unlearn(X[:2], None, y[:2], method="first_order", tau=1e-2)
    est.apply_unlearn(plan)
    step = theta - np.concatenate([c.ravel() for c in est.coefs_ + est.intercepts_])
    assert np.isfinite(plan.report.step_norm)
    np.testing.assert_allclose(plan.report.step_norm, np.linalg.norm(step), rtol=1e-12)


@pytest.mark.parametrize("tau", [1e36, 1e60])
@pytest.mark.parametrize("keep_data", [True, False])
def test_a_float32_network_is_checked_in_float32(keep_data, tau):
    # The step is taken in float64 and published in the model's float32: a
    # step finite in float64 overflowed in the cast (tau=1e60), or gave
    # parameters whose float32 outputs overflow (tau=1e36); both were kept.
    est, X, y = _overflow_model("regressor", keep_data, dtype=np.float32)
    assert est.coefs_[0].dtype == np.float32
    message = _refused_quietly(
        est, lambda e: e.unlearn(X[:2], None, y[:2], method="first_order", tau=tau),
        "overflow|not finite|non-finite")
    assert "Lower tau" in message, message


@pytest.mark.parametrize("kind", ["classifier", "regressor"])
def test_a_newton_step_whose_outputs_overflow_is_refused(kind, monkeypatch):
    # Conjugate gradients check their own products, not the network at the
    # point they lead to: a solution that converged but whose parameters
    # overflow the outputs (as a nearly singular Hessian gives) is refused.
    from sklearn_unlearn.neural_network import _step
    from sklearn_unlearn.solvers._cg import CGResult

    def huge_solution(apply, b, **kwargs):
        return CGResult(np.full_like(b, 1e200), 1, 0.0, "converged")

    monkeypatch.setattr(_step, "conjugate_gradient", huge_solution)
    est, X, y = _overflow_model(kind, keep_data=True)
    message = _refused_quietly(est, lambda e: e.unlearn(X[:2], None, y[:2]),
                               "not finite")
    assert "Raise damping" in message and "tau" not in message, message


@pytest.mark.parametrize("keep_data", [True, False])
def test_rows_the_network_overflows_on_are_refused_whatever_the_step(keep_data):
    # Rows on which a hidden pre-activation overflows already: tanh saturates,
    # so the gradient stays finite and the step is tiny, yet no tau helps and
    # the refusal must not ask to lower it.
    X, y, _ = _data(12)
    est = _fit(UnlearnableMLPClassifier(hidden_layer_sizes=(4,), activation="tanh",
                                        max_iter=50, random_state=0, keep_data=keep_data),
               X, y)
    W = est.coefs_[0]
    unit = np.argmax(np.abs(W).sum(axis=0))
    assert np.abs(W[:, unit]).sum() > 2.0      # 1e308 times it overflows
    X_new = np.tile(1e308 * np.sign(W[:, unit]), (2, 1))
    message = _refused_quietly(
        est, lambda e: e.unlearn(None, X_new, None, y[:2], method="first_order",
                                 tau=1e-12),
        "not finite")
    assert "current parameters" in message and "Scale the features" in message, message
    assert "tau" not in message, message


@pytest.mark.parametrize("kw", [{"damping": 1e-2}, {"damping": 1e300},
                                {"curvature": "exact"},
                                {"method": "first_order", "tau": "auto"}])
def test_an_objective_out_of_float64_range_is_refused_as_such(kw):
    """A finite target of 1e160 makes the corrected objective's value and
    the square of its gradient's norm overflow: the refusal said a
    Hessian-vector product overflowed after 0 conjugate-gradient
    iterations, "Scale the features, or raise damping" (tau='auto': "or
    pass a numeric tau"), and no damping up to 1e300 helped. It now says
    what is too large and that no setting helps."""
    X, _, _ = _data(13)
    y = X @ np.arange(1.0, N_FEATURES + 1)
    est = _fit(UnlearnableMLPRegressor(hidden_layer_sizes=(5,), solver="lbfgs",
                                       max_iter=200, random_state=0), X, y)
    message = _refused_quietly(
        est, lambda e: e.unlearn(X[:2], X[:2], y[:2], np.array([1e160, 1.0]), **kw),
        "too large for float64")
    assert "its value and the squared norm of its gradient" in message, message
    assert "no damping or step length changes that" in message, message
    assert "request's values" in message, message
    assert "aise damping" not in message and "tau" not in message, message


def test_a_first_product_that_overflows_does_not_ask_for_damping():
    """Conjugate gradients' first product is the damped Hessian's along the
    gradient, which more damping only makes larger: its overflow asked to
    raise damping all the same."""
    X, y, _ = _data(9)
    clf = _fit(UnlearnableMLPClassifier(hidden_layer_sizes=(4,), max_iter=20, random_state=0),
               X, y)
    message = _refused_quietly(
        clf, lambda e: e.unlearn(None, X[:2] * 1e150, y_new=y[:2], curvature="exact"),
        "overflowed after 0 conjugate-gradient iterations")
    assert "Scale the features" in message and "damping" not in message, message


def test_second_order_without_rows_names_what_applies():
    X, y, _ = _data(10)
    est = _fit(UnlearnableMLPClassifier(hidden_layer_sizes=(4,), max_iter=20, random_state=0,
                                        keep_data=False), X, y)
    with pytest.raises(ValueError) as info:
        est.unlearn(X[:2], None, y[:2], method="second_order")
    message = str(info.value)
    assert "method='second_order'" in message and "keep_data=False" in message
    assert "tau='auto'" not in message
    with pytest.raises(ValueError, match="tau='auto'") as info:
        est.unlearn(X[:2], None, y[:2], method="first_order", tau="auto")
    assert "second_order" not in str(info.value)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")   # the overflows refused
def test_overflowing_step_names_only_the_settings_of_its_method():
    # A Newton step has no tau: its failure must not tell the user to lower
    # one; a gradient step of a given rate is shortened by the rate alone.
    X, y, _ = _data(9)
    clf = _fit(UnlearnableMLPClassifier(hidden_layer_sizes=(4,), max_iter=20, random_state=0),
               X, y)
    for kw, named, not_named in (({}, "damping", "tau"),
                                 ({"curvature": "exact"}, "damping", "tau"),
                                 ({"method": "first_order", "tau": 1.0}, "tau", "damping")):
        with pytest.raises(ValueError, match="not finite|overflow") as info:
            clf.unlearn(None, X[:2] * 1e300, y_new=y[:2], **kw)
        message = str(info.value)
        assert named in message and not_named not in message, (kw, message)


@pytest.mark.parametrize("params", [
    dict(solver="adam", batch_size=80, max_iter=300),
    dict(solver="sgd", early_stopping=True, validation_fraction=0.2, max_iter=300),
    dict(solver="lbfgs", max_iter=300),
], ids=["adam", "sgd-early-stopping", "lbfgs"])
def test_the_record_of_the_fit_goes_with_the_erased_row(params):
    # loss_curve_ held the epochs' mean losses, the erased row's among them:
    # a replay of the fit on the kept rows solved for the row to 1e-9, and
    # the epochs run (n_iter_ 48 against 500) told candidate values apart.
    # Two models that differ only in the erased row must keep the same record.
    rng = np.random.default_rng(0)
    X = rng.standard_normal((80, 4))
    y = X @ np.array([1.0, -2.0, 0.5, 0.0]) + 0.1 * rng.standard_normal(80)
    records = []
    for value in (1.7, -30.1):
        Xv, yv = X.copy(), y.copy()
        Xv[0, 0], yv[0] = value, 2 * value
        model = UnlearnableMLPRegressor(hidden_layer_sizes=(5,), random_state=0, **params)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            model.fit(Xv, yv)
        if "loss_curve_" in vars(model):
            assert len(model.loss_curve_) > 1
        model.unlearn(Xv[:1], None, yv[:1])
        records.append({name: getattr(model, name) for name in (
            "loss_", "loss_curve_", "best_loss_", "validation_scores_",
            "best_validation_score_", "n_iter_", "t_") if name in vars(model)})
        # the epochs the fit ran moved its random state: drawn again
        records[-1]["random_state"] = pickle.dumps(model._random_state.get_state())
    assert records[0] == records[1] and records[0]["loss_"] is None
    # training goes on from the new parameters as a new fit would
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.set_params(warm_start=True, max_iter=5).fit(X[1:], y[1:])
    assert model.loss_ is not None


def test_a_callers_random_state_keeps_no_count_of_the_epochs():
    """A ``RandomState`` passed as ``random_state`` was the parent's stream:
    the fit left it at a position that counted the epochs it ran, which
    depend on every row, erased ones included, and a file saved it as the
    parameter after the request (a replay of fits on dummy rows read 358
    epochs off it). The fit now draws its stream's seed from it: two fits
    differing in the erased row run 452 and 566 epochs and leave it, and
    the model's random state after the request, the same, one draw on.
    Successive fits still differ, as with the parent, and a fit that fails
    puts the object back."""
    rng = np.random.default_rng(0)
    X = rng.standard_normal((60, 3))
    y = (X[:, 0] + X[:, 1] > 0).astype(int)
    epochs, states = [], []
    for value in (0.3, -8.0):
        Xv = X.copy()
        Xv[0, 0] = value
        model = _fit(UnlearnableMLPClassifier(
            hidden_layer_sizes=(4,), learning_rate_init=0.01, max_iter=1000,
            random_state=np.random.RandomState(0)), Xv, y)
        epochs.append(model.n_iter_)
        model.unlearn(Xv[:1], None, y[:1])
        states.append([pickle.dumps(model.random_state.get_state()),
                       pickle.dumps(model._random_state.get_state())])
    assert epochs[0] != epochs[1] and states[0] == states[1]
    one_draw = np.random.RandomState(0)
    one_draw.randint(np.iinfo(np.int32).max)
    assert states[0][0] == pickle.dumps(one_draw.get_state())

    given = np.random.RandomState(0)
    model = UnlearnableMLPClassifier(hidden_layer_sizes=(4,), max_iter=5,
                                     random_state=given)
    first = _fit(model, X, y).coefs_[0].copy()
    assert model.random_state is given
    assert not np.array_equal(_fit(model, X, y).coefs_[0], first)
    position = pickle.dumps(given.get_state())
    with pytest.raises(ValueError):
        model.fit(X, np.full(len(y), np.nan))
    with pytest.raises(ValueError):
        model.partial_fit(X[:, :2], y)
    assert model.random_state is given
    assert pickle.dumps(given.get_state()) == position


def test_a_request_that_removes_a_whole_class_is_refused():
    """The kept rows show a class left without rows: a refit would no longer
    know it, and the network's output for it would keep the erased rows'
    label. Refused, nothing changed (the linear models refuse it too)."""
    from sklearn_unlearn import UnlearnableMLPClassifier
    from sklearn_unlearn.utils._check_state import state_hash

    rng = np.random.default_rng(0)
    X = rng.normal(size=(90, 3))
    y = np.repeat([0, 1, 2], 30)
    model = UnlearnableMLPClassifier(hidden_layer_sizes=(5,), max_iter=50,
                                     random_state=0).fit(X, y)
    before = state_hash(model)
    with pytest.raises(ValueError, match="every training row of class 2"):
        model.unlearn(X[y == 2], None, y[y == 2])
    assert state_hash(model) == before
    model.unlearn(X[y == 2][:29], None, y[y == 2][:29])


@pytest.mark.parametrize("keep_data", [True, False])
def test_a_classifier_without_kept_rows_refuses_to_empty_a_class(keep_data):
    """Without its rows, an MLP classifier could not tell that a request
    erased every row of a class (its output for it stays, and the erased
    rows' label with it). It keeps the count and exact weight of every
    class, as the linear models do, and refuses such a request, or one
    that takes more weight from a class than it holds, with nothing
    changed; labels that are Python strings are named."""
    import pandas as pd

    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 3))
    y = pd.Series(np.where(X[:, 0] > 0.8, "rare", "common"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est = UnlearnableMLPClassifier(hidden_layer_sizes=(4,), max_iter=50,
                                       random_state=0, keep_data=keep_data).fit(X, y)
    rare = np.flatnonzero(y == "rare")
    before = pickle.dumps(est.__dict__)
    requests = [(X[rare], None, y[rare].to_numpy(), "every training row of class 'rare'"),
                (X[rare[:1]], None, y[rare[:1]].to_numpy(), "more weight from class 'rare'")]
    for X_old, X_new, y_old, match in requests:
        weights = None if "every" in match else np.full(1, 50.0)
        with pytest.raises(ValueError, match=match):
            est.unlearn(X_old, X_new, y_old, sample_weight=weights,
                        method="first_order", tau=1e-3)
        assert pickle.dumps(est.__dict__) == before
    # beside a heavy class, a light one was overdrawn within a relative slack
    heavy = UnlearnableMLPClassifier(hidden_layer_sizes=(4,), max_iter=50, random_state=0,
                                     keep_data=keep_data)
    weights = np.where(y == "rare", 1e-3, 1e6)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        heavy.fit(X, y, sample_weight=weights)
    state = pickle.dumps(heavy.__dict__)
    with pytest.raises(ValueError, match="more weight from class 'rare'"):
        heavy.unlearn(X[rare[:1]], None, y[rare[:1]].to_numpy(), sample_weight=[0.05],
                      method="first_order", tau=1e-3)
    assert pickle.dumps(heavy.__dict__) == state
    est.unlearn(X[rare[1:]], None, y[rare[1:]].to_numpy(), method="first_order", tau=1e-3)
    assert est.unlearning_group_counts_.tolist() == [len(y) - len(rare), 1.0]


def _mean_objective(model, X, y):
    """scikit-learn's objective of an MLP classifier on ``(X, y)``: the mean
    log-loss plus ``alpha / (2 n)`` times the squared weights."""
    from sklearn.metrics import log_loss

    penalty = sum(float((W ** 2).sum()) for W in model.coefs_)
    return (log_loss(y, model.predict_proba(X), labels=model.classes_)
            + model.alpha * penalty / (2 * len(X)))


def test_a_request_with_kept_rows_never_raises_the_corrected_objective():
    """The default second-order step repairing 20 wrong labels of a digits
    network took scikit-learn's objective on the corrected data from 0.44
    to 27.1 and its accuracy from 0.97 to 0.22, silently; a target edited
    to 1e20 raised the corrected gradient from 5.5e18 to 9.2e55. With the
    rows kept, the step is shortened until the corrected objective falls
    (Armijo); where no length lowers it, the network stays, with a warning
    (the kept rows are corrected all the same)."""
    from sklearn.datasets import load_digits, make_regression

    X, y = load_digits(return_X_y=True)
    X, y = X[:600] / 16.0, y[:600]
    idx = np.random.RandomState(0).choice(600, 20, replace=False)
    wrong = y.copy()
    wrong[idx] = (y[idx] + 1) % 10
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = UnlearnableMLPClassifier(hidden_layer_sizes=(32,), solver="lbfgs",
                                         max_iter=100, random_state=0).fit(X, wrong)
    before = _mean_objective(model, X, y)
    model.unlearn(X[idx], X[idx], wrong[idx], y[idx])
    assert _mean_objective(model, X, y) < before
    Xr, yr = make_regression(80, 4, random_state=3)
    yr /= yr.std()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        net = UnlearnableMLPRegressor(hidden_layer_sizes=(4,), solver="lbfgs",
                                      max_iter=30, random_state=0).fit(Xr, yr)
    coefs = [W.copy() for W in net.coefs_]
    with pytest.warns(UnlearningWarning, match="left where it was"):
        net.unlearn(Xr[:2], Xr[:2], yr[:2], np.array([1e20, 1.0]))
    for W, old in zip(net.coefs_, coefs):
        np.testing.assert_array_equal(W, old)
    assert 1e20 in net.training_rows_.y


def test_a_request_at_a_kink_of_relu_units_leaves_the_network():
    """A relu network fitted tight by lbfgs sits on kinks of its units: no
    length of a no-op request's step (X_old equal to X_new) lowered the
    objective down to 2**-19, and the request was refused; a full step
    that overflowed the outputs was refused before a shorter one was
    tried. The network stays where it is, with a warning, and a shorter
    step is taken where it keeps the outputs finite."""
    rng = np.random.default_rng(8)
    X = rng.normal(size=(400, 8))
    y = (X[:, 0] + 0.5 * X[:, 1] + 0.3 * rng.normal(size=400) > 0).astype(int)
    refused = 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        net = UnlearnableMLPClassifier(hidden_layer_sizes=(8,), activation="relu",
                                       solver="lbfgs", alpha=1e-4, max_iter=2000,
                                       tol=1e-10, random_state=0).fit(X, y)
        for request in ((X[:3], X[:3], y[:3], y[:3]), (X[:1], None, y[:1], None)):
            try:
                copy.deepcopy(net).unlearn(*request)
            except ValueError:
                refused += 1
    assert refused == 0



def test_the_history_keeps_no_rate_computed_from_the_rows():
    """tau="auto" is a quotient of the request's gradient (a function of the
    rows that leave): the history kept it, in every file."""
    from sklearn.datasets import load_iris

    X, y = load_iris(return_X_y=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = UnlearnableMLPClassifier(hidden_layer_sizes=(5,), max_iter=50,
                                         random_state=0).fit(X, y)
    plan = model.plan_unlearn(X[:3], None, y[:3], method="first_order", tau="auto")
    assert plan.report.tau is not None
    model.apply_unlearn(plan)
    assert model.unlearn_history_[-1].tau is None


def test_a_step_whose_full_length_overflows_is_shortened_first(monkeypatch):
    """A full step that overflowed an exponential output was refused before
    a shorter one was tried (a label edit of 5 rows; a step of 1/16 of it
    lowered the objective from 3.43 to 1.94 with finite outputs). The
    lengths are tried first; a full step 1e3 times too long is taken at
    the length that lowers the corrected objective."""
    from sklearn_unlearn.neural_network import _step
    from sklearn_unlearn.neural_network._hvp import MeanObjective, MLPLayout

    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 4))
    y = rng.poisson(np.exp(0.5 * X[:, 0])).astype(float)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        net = UnlearnableMLPRegressor(loss="poisson", hidden_layer_sizes=(6,),
                                      solver="lbfgs", max_iter=500,
                                      random_state=0).fit(X, y)
    solve = _step.conjugate_gradient

    def overshooting(apply, b, **kwargs):
        result = solve(apply, b, **kwargs)
        return dataclasses.replace(result, x=result.x * 1e3)

    monkeypatch.setattr(_step, "conjugate_gradient", overshooting)
    corrected = y.copy()
    corrected[:5] += 1.0
    layout = MLPLayout.from_coefs(net.coefs_)

    def objective(model):
        theta = layout.pack(model.coefs_, model.intercepts_)
        return MeanObjective(model._network(layout, X, corrected, np.ones(60), theta),
                             model.alpha, 60.0).value()

    before = objective(net)
    net.unlearn(X[:5], X[:5], y[:5], corrected[:5])
    assert np.all(np.isfinite(net.predict(X))) and objective(net) < before


@pytest.mark.parametrize("seed, warned", [(7, "larger than before"),
                                          (11, "longer than the parameters' norm"),
                                          (4, None)])
def test_a_label_repair_that_leaves_the_model_s_region_warns(seed, warned):
    """Label repairs on an lbfgs network of nearly separable rows: the
    line search took steps that lowered the objective but halved the
    accuracy on the corrected rows (0.93 to 0.49 and 0.61; a refit from the
    same start 0.93-0.95), silently. A step that leaves the gradient larger
    than before it, or is longer than the parameters' norm, warns; an
    accurate repair (seed 4: 0.987, the refit 1.0) does not."""
    rng = np.random.RandomState(seed)
    X = rng.uniform(-1, 1, (150, 5))
    y = (X[:, 0] + X[:, 1] > 0).astype(int)
    K = rng.choice(150, [1, 3, 5, 10][seed % 4], replace=False)
    fixed = y.copy()
    fixed[K] = 1 - y[K]
    est = UnlearnableMLPClassifier(hidden_layer_sizes=(6,), solver="lbfgs", max_iter=300,
                                   tol=1e-8, random_state=seed).fit(X, y)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        est.unlearn(X[K], X[K], y[K], fixed[K])
    messages = [str(w.message) for w in caught if issubclass(w.category, UnlearningWarning)]
    if warned is None:
        assert messages == [] and est.score(X, fixed) > 0.98
    else:
        assert any(warned in m for m in messages)
        assert est.score(X, fixed) < 0.65


def test_a_negligible_step_that_grows_the_gradient_does_not_warn():
    """One row of 500 deleted from a network fitted short of its optimum:
    a step of 4e-6 of the parameters' norm grows the gradient (0.015 to
    0.021) with the accuracy unchanged, and every such deletion warned."""
    from sklearn.datasets import make_moons

    X, y = make_moons(500, noise=0.25, random_state=2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        est = UnlearnableMLPClassifier(hidden_layer_sizes=(50,), solver="lbfgs",
                                       max_iter=400, alpha=1e-4, random_state=0).fit(X, y)
    for i in (0, 50, 100):
        model = copy.deepcopy(est)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            plan = model.plan_unlearn(X[i:i + 1], None, y[i:i + 1])
        assert plan.report.residual_estimate > plan.report.gradient_norm
        assert not [w for w in caught if issubclass(w.category, UnlearningWarning)]


@pytest.mark.parametrize("keep_data", [True, False])
def test_a_classifier_s_total_weight_that_overflows_is_refused(keep_data):
    """Two rows of weight 1e308, one per class: each class's total is
    finite, their sum is not; the request was served, the total weight
    published as inf and every row's share of the objective 0."""
    rng = np.random.RandomState(0)
    X = rng.uniform(-1, 1, (80, 4))
    y = (X[:, 0] > 0).astype(int)
    rows = [np.flatnonzero(y == 0)[0], np.flatnonzero(y == 1)[0]]
    options = {} if keep_data else {"method": "first_order", "tau": 0.1}
    est = UnlearnableMLPClassifier(hidden_layer_sizes=(4,), solver="lbfgs", max_iter=50,
                                   random_state=0, keep_data=keep_data).fit(X, y)
    before = pickle.dumps(est)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        with pytest.raises(ValueError, match="total sample weight overflows"):
            est.unlearn(None, X[rows], None, y[rows], sample_weight=[1e308, 1e308],
                        **options)
    assert pickle.dumps(est) == before
