"""One lock per estimator, so that concurrent requests on it serialise.

The lock lives beside the estimator (a weak mapping), not in it: it is not
pickled, copied or cloned with the estimator, and a copy gets a lock of its
own. Requests, fits and copies (``__getstate__``) hold it. A child process
made by ``fork`` starts with every lock free.
"""

import functools
import os
import threading
import weakref

_locks = weakref.WeakKeyDictionary()

if hasattr(os, "register_at_fork"):
    # a child process has the forking thread alone: a lock another thread
    # held at the fork would never be released there
    os.register_at_fork(after_in_child=_locks.clear)


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


def fit_serialised(fit):
    """``fit`` run holding the estimator's request lock: a request, a copy
    or a file made meanwhile by another thread waits for the whole fit
    (which sets the fitted attributes one by one). A fit that raises
    (rows refused after the parent's solver ran, or in a later pass over
    chunks) leaves the attributes as they were, not a mix of two fits."""
    @functools.wraps(fit)
    def locked(self, *args, **kwargs):
        def whole():
            before = dict(self.__dict__)
            try:
                return fit(self, *args, **kwargs)
            except BaseException:
                self.__dict__.clear()
                self.__dict__.update(before)
                raise

        return serialised(self, whole)

    return locked


def held_read(read):
    """The estimator method ``read`` (a parent's prediction) run holding the
    estimator's request lock: a request swaps the fitted attributes in
    together, and a prediction reading them one by one meanwhile mixed two
    states (``X @ coef_`` of one, ``intercept_`` of the next)."""
    @functools.wraps(read)
    def held(self, *args, **kwargs):
        return serialised(self, lambda: read(self, *args, **kwargs))

    return held
