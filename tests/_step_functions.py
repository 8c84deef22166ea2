"""Step functions for tests/test_step_digest.py, importable by a fresh
process: one reads a set constant and a table keyed by a function (their
order and ``repr`` change between processes), one reads a module's
attribute."""

import numpy as np

SCALE = 1.0


def _key():
    pass


TABLE = {_key: 1.0, "b": 2.0}
# longer than a short table, in an order that string hashing sets
WEIGHTS = {word: 1.0 for word in {f"word{i}" for i in range(100)}}


def by_name(X, how="tanh"):
    if how in {"tanh", "th", "hyperbolic", "t"}:
        return np.tanh(X) * TABLE[_key] * WEIGHTS["word1"]
    return X


def scaled(X):
    return X * SCALE
