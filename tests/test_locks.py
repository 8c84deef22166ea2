"""The request lock: concurrent requests on one estimator serialise, and an
interrupt landing at any line of taking or giving back the lock leaves it as
a request with no interrupt would (held by an outer request that holds it,
free otherwise)."""

import sys
import threading

import numpy as np
import pytest

from sklearn_unlearn import (UnlearnableLogisticRegression, UnlearnableMLPClassifier,
                             UnlearnableRidge)
from sklearn_unlearn._locks import request_lock, serialised
from sklearn_unlearn.certified import CertifiedRemoval

from .test_training_rows import _interrupting


def _free_for_another_thread(lock):
    taken = []

    def probe():
        got = lock.acquire(timeout=0.2)
        taken.append(got)
        if got:
            lock.release()

    thread = threading.Thread(target=probe)
    thread.start()
    thread.join()
    return taken == [True]


@pytest.mark.parametrize("nested", [False, True])
def test_an_interrupt_at_any_line_leaves_the_lock_as_it_found_it(nested):
    """Nested: an outer request (a pipeline's, holding its final step's
    lock) must still hold the lock after an inner call was interrupted;
    another thread taking it then would run a request inside the outer
    one. Outermost: the lock must be free again."""
    est = UnlearnableRidge()
    lock = request_lock(est)
    n = 0
    while True:
        n += 1
        tracer, _ = _interrupting(n, names=("_locks.py",))
        if nested:
            lock.acquire()
        sys.settrace(tracer)
        try:
            serialised(est, lambda: None)
            interrupted = False
        except KeyboardInterrupt:
            interrupted = True
        finally:
            sys.settrace(None)
        if nested:
            assert lock._is_owned(), f"an interrupt at line {n} released the outer hold"
            assert not _free_for_another_thread(lock)
            lock.release()
        assert _free_for_another_thread(lock), f"an interrupt at line {n} left it taken"
        if not interrupted:
            break
    assert n > 2


@pytest.mark.parametrize("call", ["verify", "fit"])
def test_an_interrupt_in_a_certified_removal_s_verify_or_fit_frees_the_lock(call):
    """verify() and fit() took the lock in a ``with`` block: an interrupt at
    its exit (the line event of the ``with`` as it leaves) skipped the
    release, and every later request, copy or file from another thread
    waited for good. They hold it through ``serialised`` now."""
    rng = np.random.default_rng(0)
    X = rng.standard_normal((120, 3))
    y = (X[:, 0] > 0).astype(int)
    model = CertifiedRemoval(UnlearnableLogisticRegression(), budget=5.0,
                             random_state=0).fit(X, y)
    run = (model.verify if call == "verify" else lambda: model.fit(X, y))
    n = 0
    while True:
        n += 1
        tracer, _ = _interrupting(n, names=("_locks.py", "_removal.py"))
        sys.settrace(tracer)
        try:
            run()
            interrupted = False
        except KeyboardInterrupt:
            interrupted = True
        finally:
            sys.settrace(None)
        assert _free_for_another_thread(request_lock(model)), (
            f"an interrupt at line {n} left the lock taken")
        if not interrupted:
            break
    assert n > 3


@pytest.mark.parametrize("make", ["ridge", "logistic", "mlp"])
def test_a_prediction_during_another_thread_s_request_reads_one_state(make):
    """scikit-learn's predictions read ``coef_``, run the product (the GIL
    released), then read ``intercept_``: during another thread's requests,
    4 of 45 ridge predictions were ``X @ coef_`` of one state plus
    ``intercept_`` of the next (an MLP's probabilities up to 0.73 off any
    state). The predictions hold the request lock now, as a pipeline's do."""
    rng = np.random.default_rng(0)
    X = rng.standard_normal((3000, 10))
    score = X @ rng.standard_normal(10) + 3

    def fitted():
        if make == "ridge":
            return UnlearnableRidge().fit(X, y)
        if make == "logistic":
            return UnlearnableLogisticRegression().fit(X, y)
        return UnlearnableMLPClassifier(hidden_layer_sizes=(4,), solver="lbfgs",
                                        max_iter=30, random_state=0).fit(X, y)

    y = (score + rng.standard_normal(3000) if make == "ridge"
         else (score + rng.logistic(size=3000) > 3).astype(int))
    est = fitted()
    read = est.predict if make == "ridge" else est.predict_proba
    Xt = rng.standard_normal((20000, 10))
    seen, done = [], threading.Event()

    def predictor():
        while not done.is_set():
            seen.append(read(Xt))

    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)
    thread = threading.Thread(target=predictor)
    try:
        thread.start()
        for i in range(20):
            est.unlearn(X[20 * i:20 * (i + 1)], None, y[20 * i:20 * (i + 1)])
        done.set()
        thread.join()
    finally:
        sys.setswitchinterval(interval)
        done.set()
    # the states the requests went through, made again one by one
    # (requests on one model are deterministic)
    again = fitted()
    again_read = again.predict if make == "ridge" else again.predict_proba
    states = [again_read(Xt)]
    for i in range(20):
        again.unlearn(X[20 * i:20 * (i + 1)], None, y[20 * i:20 * (i + 1)])
        states.append(again_read(Xt))
    mixed = [p for p in seen
             if min(np.abs(p - s).max() for s in states) > 1e-9]
    assert seen and not mixed, (len(mixed), len(seen))
