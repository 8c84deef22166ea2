"""What the parent's training left of the old data, replaced after a request."""

import copy
import numbers
import secrets

import numpy as np
from sklearn.neural_network._stochastic_optimizers import AdamOptimizer, SGDOptimizer

from ._random_state import drawn_stream


def fresh_training_state(model, coefs, intercepts):
    """Replacements for the parent's state that the training on the old
    data left: parameters and gradients of the data before the request.

    The stochastic optimiser's moments (adam) and velocities (sgd) are
    running averages of mini-batch gradients, which hold the erased rows'
    terms ``x delta^T`` (with one row per batch and no momentum, a
    velocity's columns are the last row itself, up to scale); the copy of
    the best parameters kept by early stopping is the model before the
    request, from which the erased rows' gradient can be read off the
    kept rows. The record of the fit (``loss_``, ``loss_curve_``, the best
    loss, the validation scores) holds the losses of the erased rows summed
    with the others', epoch by epoch: replaying the fit on the kept rows
    solves for an erased row from them; the epochs it ran (``n_iter_``, the
    samples seen ``t_``, the position of its random state) depend on when
    the losses stopped falling. All are replaced by what they would be at
    the start of a training that begins at the new parameters (``loss_`` is
    ``None``: no epoch has run on the corrected data; the random state is
    the one a training would start with: seeded by an integer
    ``random_state``, from the system's entropy when it is ``None``, by the
    next draw from a caller's ``RandomState``, read off a copy so that the
    caller's object does not move; the fit moved it by one draw alone).
    """
    state = {}
    optimizer = model.__dict__.get("_optimizer")
    params = list(coefs) + list(intercepts)
    if isinstance(optimizer, AdamOptimizer):
        state["_optimizer"] = AdamOptimizer(
            params, model.learning_rate_init, model.beta_1, model.beta_2, model.epsilon
        )
    elif isinstance(optimizer, SGDOptimizer):
        state["_optimizer"] = SGDOptimizer(
            params, model.learning_rate_init, model.learning_rate, model.momentum,
            model.nesterovs_momentum, model.power_t,
        )
    elif optimizer is not None:
        raise TypeError(
            f"Cannot reset the state of the optimiser {type(optimizer).__name__}: "
            "it may hold gradients of the rows to erase. Retrain instead."
        )
    stopping = bool(model.early_stopping)
    record = {
        "loss_": None,
        "loss_curve_": [],
        "best_loss_": None if stopping else np.inf,
        "validation_scores_": [] if stopping else None,
        "best_validation_score_": -np.inf if stopping else None,
        "_no_improvement_count": 0,
        "n_iter_": 0,
        "t_": 0,
    }
    seed = model.random_state
    if isinstance(seed, np.random.RandomState):
        record["_random_state"] = drawn_stream(copy.deepcopy(seed))
    elif seed is None or isinstance(seed, numbers.Integral):
        record["_random_state"] = np.random.RandomState(
            secrets.randbits(32) if seed is None else seed)
    state.update({name: value for name, value in record.items() if name in model.__dict__})
    if "_best_coefs" in model.__dict__:
        state["_best_coefs"] = [c.copy() for c in coefs]
    if "_best_intercepts" in model.__dict__:
        state["_best_intercepts"] = [b.copy() for b in intercepts]
    return state
