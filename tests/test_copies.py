"""Copies and files of an estimator are taken between requests: one made
while another thread's request runs holds the state before it or after it,
never a mix, and what later requests write in place (kept rows, a
pipeline's final step) is not shared with it."""

import copy
import pickle
import sys
import threading

import numpy as np
import pytest
from sklearn.datasets import load_diabetes, make_classification
from sklearn.linear_model import Ridge
from sklearn.preprocessing import StandardScaler

from sklearn_unlearn import (
    CertifiedRemoval,
    UnlearnableLogisticRegression,
    UnlearnableMLPClassifier,
    UnlearnableRidge,
)
from sklearn_unlearn.pipeline import UnlearningPipeline, make_unlearning_pipeline

X, y = load_diabetes(return_X_y=True)


def _pipe():
    return make_unlearning_pipeline(StandardScaler(), UnlearnableRidge()).fit(X, y)


def _summary(pipe):
    """What a consistent pipeline state is told apart by: its final model,
    the scaler it passes rows through, and both histories."""
    return (tuple(pipe[-1].coef_), tuple(pipe[0].mean_), len(pipe.unlearn_history_),
            len(pipe[-1].unlearn_history_), pipe.__dict__.get("_final_plan"))


def test_a_copy_made_while_a_request_commits_waits_for_it(monkeypatch):
    """The request is held between the pipeline's swap and its final step's
    part; a pickle made then waits, and holds the state after the request
    (a pickle taken there held the new scaler and history with the final
    step's old model, and a pending plan)."""
    pipe = _pipe()
    entered, release = threading.Event(), threading.Event()
    complete = UnlearningPipeline._complete_unlearn

    def held(self, *, copied):
        if self.__dict__.get("_final_plan") is not None and not entered.is_set():
            entered.set()
            release.wait(10)
        return complete(self, copied=copied)

    monkeypatch.setattr(UnlearningPipeline, "_complete_unlearn", held)
    request = threading.Thread(target=pipe.unlearn, args=(X[:20], None, y[:20]))
    request.start()
    assert entered.wait(10)
    files = []
    grab = threading.Thread(target=lambda: files.append(pickle.dumps(pipe)))
    grab.start()
    grab.join(0.3)
    assert grab.is_alive(), "the pickle did not wait for the request"
    release.set()
    request.join()
    grab.join()
    saved = pickle.loads(files[0])
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
