"""Copies and files of an estimator are taken between requests: one made
while another thread's request runs holds the state before it or after it,
never a mix, and what later requests write in place (kept rows, a
pipeline's final step) is not shared with it."""

import copy
import os
import pickle
import signal
import sys
import threading
import time
import warnings

import numpy as np
import pytest
from sklearn.datasets import load_diabetes, make_classification
from sklearn.frozen import FrozenEstimator
from sklearn.linear_model import Ridge
from sklearn.preprocessing import StandardScaler

from sklearn_unlearn import (
    CertifiedRemoval,
    UnlearnableLogisticRegression,
    UnlearnableMLPClassifier,
    UnlearnableRidge,
)
from sklearn_unlearn._training_rows import RowStore
from sklearn_unlearn.pipeline import UnlearningPipeline, make_unlearning_pipeline

X, y = load_diabetes(return_X_y=True)


def _pipe():
    return make_unlearning_pipeline(StandardScaler(), UnlearnableRidge()).fit(X, y)


def _summary(pipe):
    """What a consistent pipeline state is told apart by: its final model,
    the scaler it passes rows through, and both histories."""
    return (tuple(pipe[-1].coef_), tuple(pipe[0].mean_), len(pipe.unlearn_history_),
            len(pipe[-1].unlearn_history_), pipe.__dict__.get("_final_plan"))


def _read_while_held(monkeypatch, cls, name, work, read, when=None):
    """What ``read()`` returns from a thread while ``work`` runs in another,
    held at the start of ``cls.name`` (where ``when(self)``); it must wait
    for ``work``."""
    entered, release = threading.Event(), threading.Event()
    method = getattr(cls, name)

    def held(self, *args, **kwargs):
        if (when is None or when(self)) and not entered.is_set():
            entered.set()
            release.wait(10)
        return method(self, *args, **kwargs)

    monkeypatch.setattr(cls, name, held)
    worker = threading.Thread(target=work)
    worker.start()
    assert entered.wait(10)
    results = []
    grab = threading.Thread(target=lambda: results.append(read()))
    grab.start()
    grab.join(0.3)
    waited = grab.is_alive()
    release.set()
    worker.join()
    grab.join()
    assert waited, "the read did not wait"
    return results[0]


def _pickled_while_held(monkeypatch, est, cls, name, work, when=None):
    """A pickle of ``est`` made while ``work`` is held (see
    :func:`_read_while_held`)."""
    return _read_while_held(monkeypatch, cls, name, work, lambda: pickle.dumps(est), when)


def test_a_prediction_made_while_a_pipeline_request_commits_waits_for_it(monkeypatch):
    """A request commits the pipeline's steps, then the final step's plan: a
    prediction from another thread between the two passed the rows through
    the new scaler into the old final step (0.27 from the prediction after
    the request, and from the one before). Predictions hold the request
    lock, and see the state before or after."""
    rng = np.random.default_rng(0)
    Xs = rng.standard_normal((40, 3)) * [1, 5, 2] + [0, 3, -1]
    Xs[0] = [8.0, 30.0, 9.0]
    ys = Xs[:, 0] - Xs[:, 1] + 0.1 * rng.standard_normal(40)
    probe = rng.standard_normal((5, 3)) * 3
    pipe = make_unlearning_pipeline(StandardScaler(), UnlearnableRidge()).fit(Xs, ys)
    after = copy.deepcopy(pipe).unlearn(Xs[:1], None, ys[:1]).predict(probe)
    seen = _read_while_held(
        monkeypatch, UnlearningPipeline, "_complete_unlearn",
        lambda: pipe.unlearn(Xs[:1], None, ys[:1]), lambda: pipe.predict(probe),
        when=lambda self: self.__dict__.get("_final_plan") is not None)
    np.testing.assert_array_equal(seen, after)


def test_a_final_step_changed_between_plan_and_commit_leaves_the_pipeline_as_it_was(
        monkeypatch):
    """Another thread's ``set_params`` on the final step, landing between the
    pipeline's plan and its commit: the pipeline's steps went in, the final
    step then refused its part, and predictions passed rows through the new
    scaler into the old model (0.06 off both states), with an error saying
    the request was applied. The pipeline checks the final step's parameters
    before its commit: refused, unchanged."""
    pipe = _pipe()
    before = pickle.dumps(pipe)
    plan = UnlearnableRidge.plan_unlearn

    def plan_then_changed(self, *args, **kwargs):
        out = plan(self, *args, **kwargs)
        self.set_params(alpha=2.0)
        return out

    monkeypatch.setattr(UnlearnableRidge, "plan_unlearn", plan_then_changed)
    with pytest.raises(ValueError, match="parameters of this UnlearnableRidge changed"):
        pipe.unlearn(X[:3], None, y[:3])
    pipe[-1].set_params(alpha=1.0)
    assert pickle.dumps(pipe) == before


def test_a_final_step_that_cannot_take_its_part_leaves_no_mixed_prediction(monkeypatch):
    """The final step's part of the commit failing every time (memory): the
    pipeline's steps are in, the final step's not. A prediction then
    completes the commit first, or raises; once the final step can take its
    part, the pipeline is the one the request makes."""
    pipe = _pipe()
    after = copy.deepcopy(pipe).unlearn(X[:3], None, y[:3])

    def out_of_memory(self, *args, **kwargs):
        raise MemoryError

    with monkeypatch.context() as patched:
        patched.setattr(UnlearnableRidge, "apply_unlearn", out_of_memory)
        with pytest.raises(MemoryError) as info:
            pipe.unlearn(X[:3], None, y[:3])
        assert "final step" in " ".join(getattr(info.value, "__notes__", []))
        with pytest.raises(MemoryError):
            pipe.predict(X[:5])
    np.testing.assert_array_equal(pipe.predict(X[:5]), after.predict(X[:5]))
    assert _summary(pipe)[:4] == _summary(after)[:4]


def test_a_copy_made_while_a_request_commits_waits_for_it(monkeypatch):
    """The request is held between the pipeline's swap and its final step's
    part; a pickle made then waits, and holds the state after the request
    (a pickle taken there held the new scaler and history with the final
    step's old model, and a pending plan)."""
    pipe = _pipe()
    saved = pickle.loads(_pickled_while_held(
        monkeypatch, pipe, UnlearningPipeline, "_complete_unlearn",
        lambda: pipe.unlearn(X[:20], None, y[:20]),
        when=lambda self: self.__dict__.get("_final_plan") is not None))
    assert _summary(saved) == _summary(pipe)
    assert saved.__dict__.get("_final_plan") is None
    refit = Ridge().fit(StandardScaler().fit_transform(X[20:]), y[20:])
    np.testing.assert_allclose(saved[-1].coef_, refit.coef_, rtol=0, atol=1e-8)


def test_a_state_taken_before_a_request_is_not_changed_by_it():
    """Pickle takes the state first and writes the steps after: a request
    committed in between must not reach the steps it writes (the final step
    is changed in place by the pipeline's requests)."""
    pipe = _pipe()
    before = _summary(pipe)
    state = pipe.__getstate__()
    pipe.unlearn(X[:20], None, y[:20])
    copied = UnlearningPipeline.__new__(UnlearningPipeline)
    copied.__setstate__(state)
    assert _summary(copied) == before
    assert copied[-1] is not pipe[-1]
    assert _summary(pickle.loads(pickle.dumps(copied))) == before


def _rows_keeper(kind):
    Xc, yc = make_classification(n_samples=60, n_features=4, random_state=0)
    if kind == "certified":
        est = CertifiedRemoval(UnlearnableLogisticRegression(), budget=1.0,
                               on_budget_exceeded="warn", random_state=0)
    else:
        est = UnlearnableMLPClassifier(hidden_layer_sizes=(3,), max_iter=30,
                                       random_state=0)
    return est.fit(Xc, yc), Xc, yc


@pytest.mark.filterwarnings("ignore:The request raises the residual bound")
@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize("kind", ["certified", "mlp"])
def test_kept_rows_of_a_state_taken_before_a_request_stay_as_they_were(kind):
    """The kept rows are edited in place: a state taken before a request
    holds a copy, not the rows the request overwrites (it held the rows,
    which then refused to be read, or were written while being saved)."""
    est, Xc, yc = _rows_keeper(kind)
    rows = pickle.dumps(est.training_rows_)
    state = est.__getstate__()
    est.unlearn(Xc[:5], None, yc[:5])
    assert pickle.dumps(state["training_rows_"]) == rows
    assert est.training_rows_.n_rows == 55 and state["training_rows_"].n_rows == 60


@pytest.mark.filterwarnings("ignore:The request raises the residual bound")
@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_a_shallow_copy_of_a_pipeline_takes_requests_of_its_own():
    """``copy.copy`` gives a pipeline a final step of its own (it shared it:
    a request on either changed the other's final model)."""
    pipe = _pipe()
    other = copy.copy(pipe)
    assert other[-1] is not pipe[-1]
    other.unlearn(X[:20], None, y[:20])
    pipe.unlearn(X[20:40], None, y[20:40])
    for model, kept in ((other, np.r_[20:len(X)]), (pipe, np.r_[0:20, 40:len(X)])):
        refit = Ridge().fit(StandardScaler().fit_transform(X[kept]), y[kept])
        np.testing.assert_allclose(model[-1].coef_, refit.coef_, rtol=0, atol=1e-8)


def test_pickles_made_during_a_stream_of_requests_are_consistent():
    """Real threads, no hooks: every pickle made while requests run equals
    the state after some number of them."""
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        pipe = _pipe()
        expected = [_summary(pipe)]
        sequential = _pipe()
        for i in range(40):
            sequential.unlearn(X[5 * i:5 * i + 5], None, y[5 * i:5 * i + 5])
            expected.append(_summary(sequential))
        files, done = [], threading.Event()

        def grab():
            while not done.is_set():
                files.append(pickle.dumps(pipe))

        thread = threading.Thread(target=grab)
        thread.start()
        for i in range(40):
            pipe.unlearn(X[5 * i:5 * i + 5], None, y[5 * i:5 * i + 5])
        done.set()
        thread.join()
    finally:
        sys.setswitchinterval(interval)
    seen = [_summary(pickle.loads(f)) for f in files]
    assert all(s in expected for s in seen)


@pytest.mark.filterwarnings("ignore:The request raises the residual bound")
def test_a_request_on_an_owned_pipeline_is_refused_before_anything_changes():
    """A CertifiedRemoval's pipeline refuses requests made on it directly
    (they would bypass the ledger): before its own state changes (it was
    swapped in, and the pending part then made every later request, copy
    and file of the meta-estimator fail)."""
    Xc, yc = make_classification(n_samples=200, n_features=5, random_state=0)
    model = CertifiedRemoval(
        make_unlearning_pipeline(FrozenEstimator(StandardScaler().fit(Xc)),
                                 UnlearnableLogisticRegression()),
        budget=1.0, random_state=0).fit(Xc, yc)
    pipe = model.estimator_
    before = pickle.dumps(pipe.__dict__)
    for call in (lambda: pipe.unlearn(Xc[:2], None, yc[:2]),
                 lambda: pipe.apply_unlearn(pipe.plan_unlearn(Xc[:2], None, yc[:2]))):
        with pytest.raises(ValueError, match="final step of a CertifiedRemoval"):
            call()
        assert pickle.dumps(pipe.__dict__) == before
    copy.deepcopy(model)
    model.unlearn(Xc[2:4], None, yc[2:4])
    assert model.training_rows_.n_rows == 198


def _holds(rows, row):
    return bool(np.any(np.all(rows.X == row, axis=1)))


@pytest.mark.filterwarnings("ignore:The request raises the residual bound")
@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize("kind", ["certified", "mlp"])
@pytest.mark.parametrize("route", ["plan saved", "plan applied to a copy",
                                   "plan applied to a file"])
def test_a_plan_taken_elsewhere_leaves_the_rows_it_was_made_on(kind, route):
    """A plan applies to copies and files of its state; its rows edit the
    rows of the estimator it was made on, which applying it elsewhere (or
    saving it) wrote into: that estimator then refused every later use."""
    est, Xc, yc = _rows_keeper(kind)
    rows = pickle.dumps(est.training_rows_)
    plan = est.plan_unlearn(Xc[:3], None, yc[:3])
    if route == "plan saved":
        other = copy.deepcopy(est).apply_unlearn(pickle.loads(pickle.dumps(plan)))
    elif route == "plan applied to a copy":
        other = copy.copy(est).apply_unlearn(plan)
    else:
        other = pickle.loads(pickle.dumps(est)).apply_unlearn(plan)
    assert pickle.dumps(est.training_rows_) == rows
    assert other.training_rows_.n_rows == 57
    assert not any(_holds(other.training_rows_, Xc[i]) for i in range(3))
    est.unlearn(Xc[3:5], None, yc[3:5])       # the original is as it was
    assert est.training_rows_.n_rows == 58 and _holds(est.training_rows_, Xc[0])
    est.apply_unlearn(est.plan_unlearn(Xc[:3], None, yc[:3]))
    assert est.training_rows_.n_rows == 55


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_lock_held_at_a_fork_is_free_in_the_child(monkeypatch):
    """The child of a fork made while another thread's request holds the
    lock has that thread no more: its lock starts free there (a pickle in
    the child waited for ever)."""
    est = UnlearnableRidge().fit(X, y)
    entered, release = threading.Event(), threading.Event()
    plan = UnlearnableRidge._unlearned_state

    def held(self, *args, **kwargs):
        entered.set()
        release.wait(10)
        return plan(self, *args, **kwargs)

    monkeypatch.setattr(UnlearnableRidge, "_unlearned_state", held)
    request = threading.Thread(target=est.unlearn, args=(X[:5], None, y[:5]))
    request.start()
    assert entered.wait(10)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)    # fork with threads
        pid = os.fork()
    if pid == 0:                                               # the child
        try:
            release.set()      # the child's own request need not wait either
            pickle.dumps(est)
            est.unlearn(X[5:10], None, y[5:10])
        finally:
            os._exit(0)
    try:
        for _ in range(200):
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                break
            time.sleep(0.05)
        else:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            pytest.fail("the child waited for a lock no thread of it holds")
        assert os.waitstatus_to_exitcode(status) == 0
    finally:
        release.set()
        request.join()


def test_a_pipeline_no_request_can_complete_is_copied_as_it_is(monkeypatch):
    """A commit cut short whose final step was changed since by a request of
    its own can be completed by no request (they ask for a refit): a copy or
    a file of it is taken as it is, not refused."""
    pipe = _pipe()
    apply = UnlearnableRidge.apply_unlearn

    def interrupted(self, plan, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(UnlearnableRidge, "apply_unlearn", interrupted)
    with pytest.raises(KeyboardInterrupt):
        pipe.unlearn(X[:5], None, y[:5])
    monkeypatch.setattr(UnlearnableRidge, "apply_unlearn", apply)
    pipe[-1].unlearn(pipe[:-1].transform(X[5:8]), None, y[5:8])
    saved = pickle.loads(pickle.dumps(pipe))
    assert _summary(copy.deepcopy(pipe))[:4] == _summary(saved)[:4] == _summary(pipe)[:4]
    for model in (pipe, saved):
        with pytest.raises(ValueError, match="Refit the pipeline"):
            model.unlearn(X[10:12], None, y[10:12])


def test_pipelines_not_yet_valid_are_copied():
    for pipe in (UnlearningPipeline("abc"), UnlearningPipeline([("only",)]),
                 UnlearningPipeline([("step", "passthrough")])):
        copy.copy(pipe)
        pickle.loads(pickle.dumps(pipe))


@pytest.mark.parametrize("make", [lambda: UnlearnableLogisticRegression(max_iter=500),
                                  UnlearnableRidge, lambda: UnlearnableMLPClassifier(
                                      hidden_layer_sizes=(3,), max_iter=20, random_state=0)])
@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_a_copy_made_while_a_fit_runs_waits_for_it(monkeypatch, make):
    """A fit sets the fitted attributes one by one: a pickle made meanwhile
    mixed two fits (the parameters of one, the cache of the other), and a
    request on it was accepted."""
    yc = (y > np.median(y)).astype(int)
    est = make().fit(X[:200], yc[:200])
    files = [_pickled_while_held(monkeypatch, est, type(est), "_new_unlearn_state",
                                 lambda: est.fit(X[200:], yc[200:]))]
    saved = pickle.loads(files[0])
    assert saved._unlearn_token == est._unlearn_token
    for a, b in zip(saved._published_parameters(vars(saved)),
                    est._published_parameters(vars(est))):
        np.testing.assert_array_equal(a, b)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_a_copy_of_a_pipeline_copies_its_final_steps_rows_once(monkeypatch):
    """The copy of the final step a pipeline's snapshot holds is not copied
    again when it is saved (its kept rows were copied twice)."""
    Xc, yc = make_classification(n_samples=100, n_features=4, random_state=0)
    pipe = make_unlearning_pipeline(
        FrozenEstimator(StandardScaler().fit(Xc)), UnlearnableMLPClassifier(hidden_layer_sizes=(3,), max_iter=10,
                                                   random_state=0)).fit(Xc, yc)
    calls = []
    store_copy = RowStore.copy
    monkeypatch.setattr(RowStore, "copy", lambda self, *a, **k: (
        calls.append(1), store_copy(self, *a, **k))[1])
    for make_copy in (pickle.dumps, copy.copy, copy.deepcopy):
        calls.clear()
        other = make_copy(pipe)
        assert len(calls) == 1
    # a copy takes requests, and is copied again, as any pipeline
    other = copy.copy(pipe)
    assert "_unlearn_snapshot" not in vars(other[-1])
    other.unlearn(Xc[:5], None, yc[:5])
    calls.clear()
    saved = pickle.loads(pickle.dumps(other))
    assert len(calls) == 1 and saved[-1].training_rows_.n_rows == 95
    assert pipe[-1].training_rows_.n_rows == 100


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_a_copy_made_while_a_partial_fit_runs_waits_for_it(monkeypatch):
    """partial_fit sets the network's weights, its optimiser's state and its
    counters one by one: a pickle made meanwhile mixed two states (it was
    not serialised with requests and copies, as fit is)."""
    yc = (y > np.median(y)).astype(int)
    est = UnlearnableMLPClassifier(hidden_layer_sizes=(3,), max_iter=20,
                                   random_state=0).fit(X[:200], yc[:200])
    saved = pickle.loads(_pickled_while_held(
        monkeypatch, est, type(est), "_fit", lambda: est.partial_fit(X[200:], yc[200:])))
    assert saved.t_ == est.t_ and saved.n_iter_ == est.n_iter_
    for a, b in zip(saved.coefs_ + saved.intercepts_, est.coefs_ + est.intercepts_):
        np.testing.assert_array_equal(a, b)
    assert not hasattr(UnlearnableMLPClassifier(solver="lbfgs"), "partial_fit")
    # it still trains on from the state a request leaves
    est.unlearn(X[:5], None, yc[:5]).partial_fit(X[5:200], yc[5:200])
    assert est.training_rows_.n_rows == 195


@pytest.mark.parametrize("solver", ["adam", "sgd"])
@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_a_state_taken_before_training_goes_on_is_not_changed_by_it(solver):
    """partial_fit and a warm-started fit update the weights and the
    optimiser's moments in place. A file is written from the state after
    the lock is given back, so a state sharing those arrays was written
    while the next call changed them (a tester saw 7 in 983 deep copies and
    20 in 910 pickles mix two calls). The state a copy or a file is made of
    holds arrays of its own."""
    yc = (y > np.median(y)).astype(int)
    est = UnlearnableMLPClassifier(hidden_layer_sizes=(4,), solver=solver, max_iter=5,
                                   random_state=0).fit(X[:200], yc[:200])
    state = est.__getstate__()
    saved = pickle.dumps(state)
    est.partial_fit(X[200:], yc[200:])
    est.set_params(warm_start=True).fit(X[:200], yc[:200])
    assert pickle.dumps(state) == saved
    copied = pickle.loads(saved)
    assert copied["t_"] != est.t_       # training went on meanwhile


def _nested():
    from sklearn.impute import SimpleImputer

    inner = make_unlearning_pipeline(StandardScaler(), UnlearnableRidge())
    return make_unlearning_pipeline(SimpleImputer(), inner).fit(X, y)


def test_a_pipeline_whose_final_step_is_a_pipeline_takes_requests():
    """The final step's part was applied only when its token equalled the
    plan's base, which for a pipeline is its own state name (with its
    final step's): never, so every request on such a pipeline committed
    its steps alone and then refused every later call. Both levels take
    it, and the model is scikit-learn's refit of the whole chain."""
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import make_pipeline

    pipe = _nested()
    pipe.unlearn(X[:3], None, y[:3])
    assert (len(pipe.unlearn_history_), len(pipe[-1].unlearn_history_),
            len(pipe[-1][-1].unlearn_history_)) == (1, 1, 1)
    ref = make_pipeline(SimpleImputer(), StandardScaler(), Ridge()).fit(X[3:], y[3:])
    np.testing.assert_allclose(pipe.predict(X[:5]), ref.predict(X[:5]), rtol=0, atol=1e-9)


def test_a_request_on_the_innermost_model_waits_for_a_nested_pipeline_s_request():
    """The outer pipeline held its own lock and its final step's (the inner
    pipeline), not the innermost model's: a request made on that model
    while the outer one sat before its commit went through, the outer
    steps then took their part and the inner ones refused theirs ('Refit
    the pipeline'), for good. It waits now, and lands after."""
    pipe = _nested()
    innermost = pipe[-1][-1]
    rows = pipe[-1][:-1].transform(pipe[:-1].transform(X[10:12]))
    paused, release = threading.Event(), threading.Event()
    check = pipe._check_applicable

    def held(plan):
        check(plan)
        paused.set()
        release.wait(10)

    pipe._check_applicable = held
    outer = threading.Thread(target=lambda: pipe.unlearn(X[:3], None, y[:3]))
    outer.start()
    assert paused.wait(10)
    errors = []

    def direct():
        try:
            innermost.unlearn(rows, None, y[10:12])
        except Exception as exc:        # noqa: BLE001 - reported below
            errors.append(exc)

    inner = threading.Thread(target=direct)
    inner.start()
    inner.join(0.5)
    assert inner.is_alive()             # waiting for the outer request
    release.set()
    outer.join(10)
    inner.join(10)
    del pipe._check_applicable
    assert not errors
    assert len(pipe.unlearn_history_) == 1 and len(innermost.unlearn_history_) == 2
    pipe.predict(X[:5])                 # a whole state, not a mixed one


def test_a_request_on_a_nested_final_step_refuses_an_older_plan_unchanged():
    """A request made on the innermost final step between a plan of the
    outer pipeline and its apply: the outer state name covered one level,
    so the plan went in over it. Refused, with nothing changed."""
    pipe = _nested()
    plan = pipe.plan_unlearn(X[:5], None, y[:5])
    ridge = pipe[-1][-1]
    ridge.unlearn(pipe[-1][:-1].transform(pipe[:-1].transform(X[10:12])), None, y[10:12])
    before = pickle.dumps(pipe)
    with pytest.raises(ValueError, match="another state"):
        pipe.apply_unlearn(plan)
    assert pickle.dumps(pipe) == before


def test_a_final_certified_removal_refuses_a_plan_of_another_policy_before_the_commit():
    """A certified removal as the final step, its budget policy changed
    between the pipeline's plan and its apply: the refusal came from the
    final step's part, after the pipeline's steps were in ("Nothing was
    changed", with the imputer moved); the next prediction then applied
    the plan once the policy was set back. Refused before the commit."""
    from sklearn.impute import SimpleImputer

    rng = np.random.default_rng(0)
    Xc = rng.normal(size=(150, 4))
    yc = (Xc @ [1.0, -1.0, 0.5, 2.0] + 0.5 * rng.normal(size=150) > 0).astype(int)
    removal = CertifiedRemoval(UnlearnableLogisticRegression(), budget=1e-9, epsilon=1.0,
                               on_budget_exceeded="retrain", random_state=0)
    pipe = make_unlearning_pipeline(SimpleImputer(), removal).fit(Xc, yc)
    plan = pipe.plan_unlearn(Xc[3:8], None, yc[3:8])
    pipe.set_params(certifiedremoval__on_budget_exceeded="warn")
    before = pickle.dumps(pipe)
    with pytest.raises(ValueError, match="plan the request again"):
        pipe.apply_unlearn(plan)
    assert pickle.dumps(pipe) == before
    pipe.set_params(certifiedremoval__on_budget_exceeded="retrain")
    pipe.predict_proba(Xc[:5])
    assert len(pipe[-1].unlearn_history_) == 0
