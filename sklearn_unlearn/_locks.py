"""One lock per estimator, so that concurrent requests on it serialise.

The lock lives beside the estimator (a weak mapping), not in it: it is not
pickled, copied or cloned with the estimator, and a copy gets a lock of its
own.
"""

import threading
import weakref

_locks = weakref.WeakKeyDictionary()
_guard = threading.Lock()


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
    with _guard:
        lock = _locks.get(estimator)
        if lock is None:
            lock = _locks[estimator] = threading.RLock()
        return lock
