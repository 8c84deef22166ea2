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

    Only the outermost of nested calls on one estimator (a pipeline's
    request holds its final step's lock while that step applies its part)
    takes the lock; the inner ones run inside its hold. So a hold still
    taken when an exception leaves the outermost call is that call's: an
    interrupt (a KeyboardInterrupt between two lines) that landed after
    ``work`` returned and before the lock's exit ran. It is released then,
    and no other hold can be released in its place.
    """
    lock = request_lock(estimator)
    if lock._is_owned():
        return work()
    try:
        with lock:
            return work()
    except BaseException:
        if lock._is_owned():
            lock.release()
        raise
