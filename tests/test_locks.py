"""The request lock: concurrent requests on one estimator serialise, and an
interrupt landing at any line of taking or giving back the lock leaves it as
a request with no interrupt would (held by an outer request that holds it,
free otherwise)."""

import sys
import threading

import pytest

from sklearn_unlearn import UnlearnableRidge
from sklearn_unlearn._locks import request_lock, serialised

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
    import numpy as np

    from sklearn_unlearn import UnlearnableLogisticRegression
    from sklearn_unlearn.certified import CertifiedRemoval

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
