"""One lock per estimator, so that concurrent requests on it serialise.

The lock lives beside the estimator (a weak mapping), not in it: it is not
pickled, copied or cloned with the estimator, and a copy gets a lock of its
own.
"""

import threading
import weakref

_locks = weakref.WeakKeyDictionary()


def request_lock(estimator):
    """The re-entrant lock that serialises the requests on ``estimator``.

    Examples
    --------
    >>> from sklearn_unlearn import UnlearnableRidge
    >>> from sklearn_unlearn._locks import request_lock
    >>> est = UnlearnableRidge()
    >>> request_lock(est) is request_lock(est)
    True
    """
    # one dictionary operation: two threads asking at once get the same lock
    return _locks.setdefault(estimator, threading.RLock())


def serialised(estimator, work):
    """``work()`` while holding the request lock of ``estimator``.

    An interrupt that lands after ``work`` returned but before the lock's
    exit ran (a KeyboardInterrupt between two lines) would leave the lock
    taken and every later request waiting: the lock is released then.
    """
    lock = request_lock(estimator)
    done = exited = False
    try:
        with lock:
            out = work()
            done = True
        exited = True
    except BaseException:
        if done and not exited:
            try:
                lock.release()
            except RuntimeError:    # the exit had released it
                pass
        raise
    return out
