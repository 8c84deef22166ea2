"""The random stream of a perceptron's training call when the caller passes
a ``RandomState``."""

import contextlib

import numpy as np

#: Seeds drawn from a caller's ``RandomState`` lie below this (as
#: scikit-learn's liblinear draws them).
_MAX_SEED = np.iinfo(np.int32).max


def drawn_stream(random_state):
    """A generator seeded by one draw from ``random_state``.

    The draw advances ``random_state`` by one value, whatever the training
    does with the generator returned.
    """
    return np.random.RandomState(random_state.randint(_MAX_SEED))


@contextlib.contextmanager
def one_draw_per_training(model):
    """Train ``model`` on a stream drawn from its ``RandomState``, if it has one.

    The parent's solver draws from ``random_state`` as long as it trains:
    a caller's ``RandomState`` would be left at a position that counts the
    epochs the fit ran, which depends on every row, erased ones included,
    and a file of the model saves it as the parameter. The parent is given
    instead a generator seeded by one draw from it, so a training call
    advances the caller's object by one value (successive fits still
    differ). A call that fails puts the object back where it was. An
    integer or ``None`` is the parent's business, as before.
    """
    given = model.random_state
    if not isinstance(given, np.random.RandomState):
        yield
        return
    position = given.get_state()
    try:
        model.random_state = drawn_stream(given)
        yield
    except BaseException:
        given.set_state(position)
        raise
    finally:
        model.random_state = given
