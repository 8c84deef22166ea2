"""Adversarial property tests: the residual bound never under-reports.

After every request, either

* ``residual_bound_`` is at least the true gradient residual of the model,
  computed independently in extended precision (``tests/_reference.py``)
  from scikit-learn's objective at the *published* parameters (``coef_``,
  ``intercept_``) on the corrected data set, which the test keeps itself; or
* the request raised a ``ValueError`` (a subclass included) and the model is
  bit-identical to what it was before (its pickle is the same).

For :class:`~sklearn_unlearn.certified.CertifiedRemoval`, whenever the
certificate says ``valid``, ``certificate_.spent`` is at least the true
residual of the released model (its noise included); and a certificate is
never left not ``valid`` without being ``void`` with a reason (a request over
the budget is refused, retrained, or voids the certificate, as documented
for ``on_budget_exceeded``; a NaN counts as over the budget).

The data and requests are adversarial: far-out rows (norms up to 1e8),
heavy sample weights (up to 1e12), uncentred features (offsets up to 1e6),
exact fits (ridge with ``y = X w + c`` exactly, ``|w|`` up to 1e6), float32
input, finite values whose squared norm overflows float64, values whose
products underflow (weights near 1e-310, features near 1e-160), long request
streams (200+ requests), interleaved insertions and deletions of the same
high-leverage rows, label flips of confidently classified rows, multinomial
models of 3 to 5 classes, with and without intercept.

A violation is declared only when the bound is below the *lower* end of the
reference's rigorous error bracket (or is NaN): the reference's own
round-off never makes a test fail.

Settings (environment variables):

``SKLEARN_UNLEARN_ADVERSARIAL_EXAMPLES``
    Total number of generated cases, shared between the tests (default 300,
    the CI setting). ``10000`` or more for a local run.
``SKLEARN_UNLEARN_ADVERSARIAL_COLLECT``
    When set (to anything but ``0``), a test does not stop at its first
    violation: it runs all its cases, records every violation, and fails at
    the end with a summary by class. Without it, hypothesis stops at the
    first violation and shrinks it to a minimal case.
``SKLEARN_UNLEARN_ADVERSARIAL_REPORT``
    Path of a JSON file to which each test writes its counts: cases,
    requests, refusals, violations by class (with examples), and the worst
    (smallest) bound / true residual ratio with the case where it occurs.
    A summary is printed in any case (visible with ``pytest -s``).

Each case is a :class:`Case` (the data recipe and the requests); a case
printed by a failure replays with ``replay(Case(...))``.
"""

import json
import os
import pickle
import time
import warnings
from collections import Counter
from dataclasses import asdict, dataclass, field
from decimal import localcontext

import numpy as np
import pytest
from hypothesis import HealthCheck, Phase, example, given, note, settings
from hypothesis import strategies as st
from hypothesis.control import currently_in_test_context
from sklearn.linear_model import LogisticRegression, Ridge

from sklearn_unlearn import UnlearnableLogisticRegression, UnlearnableRidge
from sklearn_unlearn.certified import CertifiedRemoval

from ._reference import (
    LD,
    decimal_gradient,
    logistic_objective,
    logistic_residual,
    published_theta,
    residual_of,
    ridge_objective,
    ridge_residual,
)

# -- settings -------------------------------------------------------------------------
PROFILE = "sklearn-unlearn-adversarial"
settings.register_profile(
    PROFILE,
    deadline=None,
    database=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                           HealthCheck.filter_too_much],
)
CI_EXAMPLES = 300
TOTAL_EXAMPLES = int(os.environ.get("SKLEARN_UNLEARN_ADVERSARIAL_EXAMPLES", CI_EXAMPLES))
COLLECT = os.environ.get("SKLEARN_UNLEARN_ADVERSARIAL_COLLECT", "0") not in ("", "0")
REPORT = os.environ.get("SKLEARN_UNLEARN_ADVERSARIAL_REPORT")

# share of the total number of cases of each property test (a long stream
# costs about as much as fifty short cases)
SHARES = {
    "logistic": 0.30,
    "ridge": 0.20,
    "certified": 0.18,
    "far_row_deletion": 0.12,
    "interleaved": 0.08,
    "overflow": 0.10,
    "underflow": 0.06,
    "long_stream": 0.02,
    "erasure_stream": 0.02,
}


def _settings(name):
    n = max(2, round(TOTAL_EXAMPLES * SHARES[name]))
    if name in ("long_stream", "erasure_stream"):
        # a replay costs 200+ requests: report the failing stream as drawn
        # (its compact repr replays it) instead of shrinking it for minutes
        return settings(settings.get_profile(PROFILE), max_examples=n,
                        phases=[Phase.explicit, Phase.generate])
    return settings(settings.get_profile(PROFILE), max_examples=n)


# -- the recipe of a case ---------------------------------------------------------------
@dataclass(frozen=True)
class Data:
    """How the training set is generated (see :func:`training_set`).

    ``model`` is ``"logistic"`` (``outputs`` classes) or ``"ridge"``
    (``outputs`` targets); ``reg`` is ``C`` or ``alpha``; features are
    ``scale * z + offset`` with ``z`` standard normal (integers in [-8, 8]
    with ``exact``); ``signal`` scales the class separation or the ridge
    coefficients; ``weights`` is ``"unit"``, ``"uniform"`` or ``"heavy"``
    (a tenth of the rows weigh ``heavy``); ``far_rows`` rows of norm
    ``far_norm`` are added, labelled as the generating model says.
    """

    model: str = "logistic"
    seed: int = 0
    n: int = 40
    d: int = 3
    outputs: int = 2
    fit_intercept: bool = True
    reg: float = 1.0
    scale: float = 1.0
    offset: float = 0.0
    signal: float = 1.0
    exact: bool = False
    weights: str = "unit"
    heavy: float = 1e6
    far_rows: int = 0
    far_norm: float = 1e4
    float32: bool = False
    noise: float = 0.0
    solver: str = "newton-cholesky"


@dataclass(frozen=True)
class Req:
    """One request: its ``kind`` (see :data:`KINDS`), ``k`` rows, the update
    ``method`` and a ``magnitude`` in 0..8 whose meaning depends on the kind
    (a norm ``10**m``, a weight ``10**(1.5 m)``, an overflowing value
    ``10**(155 + 18 m)``)."""

    kind: str
    k: int = 1
    method: str = "second_order"
    magnitude: int = 4


@dataclass(frozen=True)
class Stream:
    """A long request sequence, drawn from ``seed``: ``length`` requests of
    the kinds in ``mix`` (1 to 3 rows each, mostly second-order)."""

    seed: int
    mix: tuple
    length: int

    def __iter__(self):
        rng = np.random.default_rng(self.seed)
        for _ in range(self.length):
            yield Req(str(rng.choice(self.mix)), k=int(rng.integers(1, 4)),
                      method=str(rng.choice(METHODS, p=[0.6, 0.2, 0.2])),
                      magnitude=int(rng.integers(0, 9)))


@dataclass(frozen=True)
class Case:
    """A training set, a request sequence (a tuple of :class:`Req` or a
    :class:`Stream`) and, for certified removal, the budget and policy
    (``certified=False``: the bare estimator)."""

    data: Data
    requests: tuple
    certified: bool = False
    budget: float = 1.0
    policy: str = "raise"


COMMON_KINDS = ("delete", "delete_far", "insert", "insert_far", "insert_heavy",
                "reinsert", "edit_zero", "edit_replace")
LOGISTIC_KINDS = COMMON_KINDS + ("delete_confident", "flip_confident", "flip")
RIDGE_KINDS = COMMON_KINDS + ("target_shift",)
KINDS = tuple(dict.fromkeys(LOGISTIC_KINDS + RIDGE_KINDS + ("overflow",)))
METHODS = ("second_order", "refined", "first_order")


# -- the corrected data set, kept by the test --------------------------------------------
class Corrected:
    """``D~``: the training rows as the model should now have them, with
    what is needed to make new rows like them."""

    def __init__(self, data, X, y, sw, new_rows):
        self.data = data
        self.X = X.copy()
        self.y = y.copy()
        self.sw = sw.copy()
        self.new_rows = new_rows
        self.removed = []            # rows deleted on purpose, to reinsert

    @property
    def n(self):
        return len(self.sw)

    def delete(self, rows):
        keep = np.ones(self.n, dtype=bool)
        keep[rows] = False
        self.X, self.y, self.sw = self.X[keep], self.y[keep], self.sw[keep]

    def insert(self, X, y, sw):
        self.X = np.vstack([self.X, X])
        self.y = np.concatenate([self.y, y])
        self.sw = np.concatenate([self.sw, sw])


def _round(a, float32):
    a = np.asarray(a, dtype=np.float64)
    return a.astype(np.float32).astype(np.float64) if float32 else a


def _unit(rng, d):
    u = rng.normal(size=d)
    return u / np.linalg.norm(u)


def training_set(data):
    """``X`` (float64 holding the values trained on), ``y``, ``sw`` and a
    function ``new_rows(k, rng) -> (X, y)`` that draws rows like them."""
    rng = np.random.default_rng(data.seed)
    n, d, m = data.n, data.d, data.outputs
    f32 = data.float32
    offset = data.offset * rng.uniform(0.5, 1.5, d)
    if data.model == "logistic":
        W = rng.normal(size=(d, m)) * data.signal

        def new_rows(k, rng):
            Z = rng.normal(size=(k, d))
            y = (Z @ W + rng.gumbel(size=(k, m))).argmax(axis=1)
            return _round(Z * data.scale + offset, f32), y

        X, y = new_rows(n, rng)
        y[: 2 * m] = np.arange(2 * m) % m        # two rows of every class at least
        far_X, far_y = [], []
        for _ in range(data.far_rows):
            u = _unit(rng, d)
            far_X.append(offset + data.far_norm * u)
            far_y.append(int(np.argmax(u @ W)))   # the side the model puts it on
    else:
        if data.exact:
            W = rng.integers(-int(data.signal), int(data.signal) + 1, size=(d, m))
            c = rng.integers(-1000, 1001, size=m)
            off = np.round(offset)

            def new_rows(k, rng):
                X = rng.integers(-8, 9, size=(k, d)) + off
                # integers far below 2**53: y = X W + c holds exactly
                return _round(X, f32), _round(X @ W + c, f32)
        else:
            W = rng.normal(size=(d, m)) * data.signal

            def new_rows(k, rng):
                Z = rng.normal(size=(k, d))
                return (_round(Z * data.scale + offset, f32),
                        _round(Z @ W + 0.1 * rng.normal(size=(k, m)), f32))

        X, y = new_rows(n, rng)
        far_X, far_y = [], []
        for _ in range(data.far_rows):
            u = _unit(rng, d)
            far_X.append(offset + data.far_norm * u)
            # on the generating model's line, or far off it
            t = data.far_norm * u / max(data.scale, 1e-300) @ W
            far_y.append(t if rng.random() < 0.5 else t + 10.0 * (1 + np.abs(t)))
    if far_X:
        X = np.vstack([X, _round(np.array(far_X), f32)])
        far_y = np.array(far_y)
        y = np.concatenate([y, far_y if data.model == "logistic"
                            else _round(far_y.reshape(-1, m), f32)])
    if data.model == "ridge" and m == 1:
        y = y.reshape(-1)
    N = len(X)
    if data.weights == "unit":
        sw = np.ones(N)
    elif data.weights == "uniform":
        sw = rng.uniform(0.5, 2.0, N)
    elif data.weights == "tiny":
        # every weight near the subnormals (``heavy`` holds it)
        sw = data.heavy * rng.uniform(1.0, 4.0, N)
    else:
        sw = np.ones(N)
        sw[rng.random(N) < 0.1] = data.heavy
    # weights stay float64 with float32 rows: a float32 model is bound for
    # the weights as given, at fit and in every request
    if data.model == "ridge" and m == 1:
        plain = new_rows

        def new_rows(k, rng):
            X, y = plain(k, rng)
            return X, y.reshape(-1)

    return X, y, sw, new_rows


# -- models -------------------------------------------------------------------------------
def make_model(case):
    data = case.data
    if data.model == "logistic":
        est = UnlearnableLogisticRegression(
            C=data.reg, fit_intercept=data.fit_intercept, solver=data.solver,
            objective_noise=0.0 if case.certified else data.noise,
            random_state=data.seed % 1000)
    else:
        est = UnlearnableRidge(alpha=data.reg, fit_intercept=data.fit_intercept)
    if not case.certified:
        return est
    return CertifiedRemoval(est, budget=case.budget, on_budget_exceeded=case.policy,
                            random_state=data.seed % 1000)


def final_of(model):
    return model.estimator_ if isinstance(model, CertifiedRemoval) else model


def _theta64(model):
    theta, fit_intercept = published_theta(final_of(model))
    return theta.astype(np.float64), fit_intercept


def _augment(X, fit_intercept):
    return np.hstack([X, np.ones((len(X), 1))]) if fit_intercept else X


def _scores(model, X):
    """Linear predictors of rows under the published parameters (float64)."""
    theta, fi = _theta64(model)
    with np.errstate(all="ignore"):
        return _augment(X, fi) @ theta


# -- requests -----------------------------------------------------------------------------
@dataclass
class Built:
    """A concrete request and how it changes ``D~``."""

    X_old: object
    X_new: object
    y_old: object
    y_new: object
    sw: np.ndarray
    apply: object
    what: str


def _deletable(data, rows):
    """Drop rows whose removal would leave a class with fewer than two rows."""
    if data.data.model != "logistic":
        return rows[: max(0, min(len(rows), data.n - data.X.shape[1] - 3))]
    counts = np.bincount(data.y, minlength=data.data.outputs)
    keep = []
    for r in rows:
        if counts[data.y[r]] > 2:
            counts[data.y[r]] -= 1
            keep.append(r)
    return np.array(keep, dtype=int)


def _delete(data, rows, what, remember=False):
    rows = np.asarray(rows, dtype=int)
    if len(rows) == 0:
        return None
    X, y, sw = data.X[rows], data.y[rows], data.sw[rows]

    def apply(data):
        if remember:
            data.removed.extend((X[i], y[i], sw[i]) for i in range(len(rows)))
        data.delete(rows)

    return Built(X, None, y, None, sw, apply, f"{what} rows {rows.tolist()}")


def _insert(X, y, sw, what):
    def apply(data):
        data.insert(X, y, sw)

    return Built(None, X, None, y, sw, apply, what)


def _edit(data, rows, X_new=None, y_new=None, what="edit"):
    """Correct rows of ``D~``: their features (``X_new``), their targets
    (``y_new``), or both."""
    rows = np.asarray(rows, dtype=int)
    X_old, y_old, sw = data.X[rows].copy(), data.y[rows].copy(), data.sw[rows].copy()
    Xn = X_old.copy() if X_new is None else X_new

    def apply(data):
        data.X[rows] = Xn
        if y_new is not None:
            data.y[rows] = y_new

    return Built(X_old, Xn, y_old, y_new, sw, apply, f"{what} rows {rows.tolist()}")


def _margins(model, data):
    """How confidently each row of ``D~`` is classified (its true class's
    predictor minus the largest other one)."""
    eta = _scores(model, data.X)
    if eta.shape[1] == 1:
        return np.where(data.y == 1, 1.0, -1.0) * eta[:, 0]
    true = eta[np.arange(data.n), data.y]
    other = np.where(np.eye(eta.shape[1], dtype=bool)[data.y], -np.inf, eta).max(axis=1)
    return true - other


def _wrong_label(model, X):
    """The class the model finds least likely for each row."""
    eta = _scores(model, X)
    if eta.shape[1] == 1:
        return (eta[:, 0] < 0).astype(int)
    return eta.argmin(axis=1)


def _norms(data):
    with np.errstate(over="ignore"):
        return np.sqrt(np.sum(data.X.astype(LD) ** 2, axis=1))


def build_request(model, data, req, rng):
    """The concrete request ``req`` on the current ``D~`` (or None when it
    does not apply)."""
    recipe = data.data
    logistic = recipe.model == "logistic"
    f32 = recipe.float32
    n, d = data.X.shape
    kind = req.kind
    k = int(req.k)
    mag = int(req.magnitude)
    low = data.n <= 2 * recipe.outputs + 2 * d + 6
    if low and kind in ("delete", "delete_far", "delete_confident"):
        kind = "insert"                      # keep enough rows to delete from
    if kind == "reinsert" and not data.removed:
        kind = "delete_far"
    if kind == "overflow" and f32:
        kind, mag = "insert_far", 8

    if kind == "delete":
        rows = _deletable(data, rng.permutation(n)[: 3 * k])[:k]
        return _delete(data, rows, "delete")
    if kind == "delete_far":
        rows = _deletable(data, np.argsort(-_norms(data))[: 3 * k])[:k]
        return _delete(data, rows, "delete far", remember=True)
    if kind == "delete_confident":
        rows = _deletable(data, np.argsort(-_margins(model, data))[: 3 * k])[:k]
        return _delete(data, rows, "delete confident", remember=True)
    if kind == "reinsert":
        x, y, s = data.removed[-1]

        def apply(data, x=x, y=y, s=s):
            data.removed.pop()
            data.insert(x[None, :], np.asarray([y]).reshape((1,) + np.shape(y)),
                        np.array([s]))

        return Built(None, x[None, :].copy(), None,
                     np.asarray([y]).reshape((1,) + np.shape(y)), np.array([s]),
                     apply, f"reinsert a row of norm {np.linalg.norm(x):.3g}")
    if kind in ("insert", "insert_heavy"):
        X, y = data.new_rows(k, rng)
        if kind == "insert_heavy":
            sw = np.full(k, 10.0 ** (1.5 * mag))
        else:
            sw = np.ones(k) if recipe.weights == "unit" else rng.uniform(0.5, 2.0, k)
        return _insert(X, y, _round(sw, f32), f"{kind} {k} rows, weight {sw.max():.3g}")
    if kind == "insert_far":
        norm = 10.0 ** max(mag, 2)
        x = _round(data.X.mean(axis=0) + norm * _unit(rng, d), f32)[None, :]
        if logistic:
            # on the side the model puts it (confidently classified), or not
            wrong = _wrong_label(model, x)
            if rng.random() < 0.5:
                y = wrong
            else:
                y = 1 - wrong if recipe.outputs == 2 else _scores(model, x).argmax(axis=1)
        else:
            pred = _scores(model, x)
            y = pred if rng.random() < 0.5 else pred + 10.0 * (1 + np.abs(pred))
            y = _round(y.reshape(1, -1) if recipe.outputs > 1 else y.reshape(1), f32)
        sw = np.ones(1)
        return _insert(x, y, sw, f"insert a row of norm {norm:.0e}")
    if kind == "overflow":
        value = 10.0 ** (155 + 18 * mag) * rng.choice([-1.0, 1.0])
        if mag % 2 == 0 or n == 0:
            x = data.new_rows(1, rng)[0]
            x[0, rng.integers(d)] = value
            if logistic:
                y = rng.integers(recipe.outputs, size=1)
            else:
                y = data.new_rows(1, rng)[1]
                if mag % 4 == 0:
                    y = np.full_like(y, value)
            return _insert(x, y, np.ones(1), f"insert a row holding {value:.0e}")
        row = int(rng.integers(n))
        Xn = data.X[[row]].copy()
        Xn[0, rng.integers(d)] = value
        return _edit(data, np.array([row]), X_new=Xn, what=f"write {value:.0e} into")
    if kind in ("edit_zero", "edit_replace"):
        rows = rng.permutation(n)[:k]
        cols = rng.permutation(d)[: int(rng.integers(1, d + 1))]
        Xn = data.X[rows].copy()
        if kind == "edit_zero":
            Xn[:, cols] = 0.0
            what = f"zero columns {cols.tolist()} of"
        else:
            value = 10.0 ** mag * rng.choice([-1.0, 1.0])
            Xn[:, cols] = value
            what = f"write {value:.0e} in columns {cols.tolist()} of"
        return _edit(data, rows, X_new=_round(Xn, f32), what=what)
    if kind in ("flip", "flip_confident"):
        if kind == "flip":
            rows = rng.permutation(n)[:k]
            y_new = (data.y[rows] + rng.integers(1, recipe.outputs, size=len(rows))) \
                % recipe.outputs
        else:
            rows = np.argsort(-_margins(model, data))[:k]
            y_new = _wrong_label(model, data.X[rows])
            y_new = np.where(y_new == data.y[rows], (y_new + 1) % recipe.outputs, y_new)
        # a flip must not empty a class
        counts = np.bincount(data.y, minlength=recipe.outputs)
        ok = []
        for r, t in zip(rows, y_new):
            if counts[data.y[r]] > 2:
                counts[data.y[r]] -= 1
                counts[t] += 1
                ok.append(True)
            else:
                ok.append(False)
        ok = np.array(ok, dtype=bool)
        if not ok.any():
            return None
        return _edit(data, rows[ok], y_new=y_new[ok], what=kind)
    if kind == "target_shift":
        rows = rng.permutation(n)[:k]
        shift = 10.0 ** mag * rng.normal(size=data.y[rows].shape)
        return _edit(data, rows, y_new=_round(data.y[rows] + shift, f32),
                     what=f"shift the targets by ~{10.0 ** mag:.0e} of")
    raise ValueError(kind)


# -- the record of a test ----------------------------------------------------------------
def case_flags(case):
    """The adversarial features of a case, for grouping violations."""
    d = case.data
    flags = [d.model]
    if d.model == "logistic" and d.outputs > 2:
        flags.append("multinomial")
    if d.model == "ridge" and d.outputs > 1:
        flags.append("multi-target")
    flags += [name for name, on in [
        ("float32", d.float32), ("offset", d.offset > 0), ("scaled", d.scale != 1),
        ("heavy", d.weights == "heavy"), ("far-at-fit", d.far_rows > 0),
        ("exact", d.exact), ("noise", d.noise > 0 and not case.certified),
        ("no-intercept", not d.fit_intercept), ("certified", case.certified),
    ] if on]
    return flags


@dataclass
class Survey:
    """Counts of one property test, and its violations."""

    name: str
    cases: int = 0
    unique: set = field(default_factory=set)
    fit_refused: int = 0
    requests: int = 0
    refused: int = 0
    retrained: int = 0
    checks: int = 0
    refusals: Counter = field(default_factory=Counter)
    classes: Counter = field(default_factory=Counter)
    examples: dict = field(default_factory=dict)
    worst: dict | None = None
    worst_request: dict | None = None
    records: list = field(default_factory=list)
    started: float = field(default_factory=time.perf_counter)

    @property
    def violations(self):
        return sum(self.classes.values())

    def start(self, case):
        self.cases += 1
        self.unique.add(repr(case))

    def ratio(self, case, step, what, bound, res):
        """Track the smallest bound / true residual, where the reference
        knows the true residual to within a factor 2."""
        true = res.value
        if not (np.isfinite(true) and res.lower >= true / 2 and true > 0
                and np.isfinite(bound)):
            return
        r = float(LD(bound) / true)
        entry = dict(ratio=r, bound=float(bound), true=float(true), step=step,
                     request=what, case=repr(case))
        if self.worst is None or r < self.worst["ratio"]:
            self.worst = entry
        if step and (self.worst_request is None or r < self.worst_request["ratio"]):
            self.worst_request = entry       # after a request, not the fit

    def violation(self, label, case, step, what, message, req=None):
        """Record a violation (the first of its case: later checks of the
        case would mostly repeat it) and raise, unless in COLLECT mode."""
        self.classes[label] += 1
        examples = self.examples.setdefault(label, [])
        if len(examples) < 3:
            examples.append(dict(step=step, request=what, message=message,
                                 case=repr(case)))
        if len(self.records) < 20000:
            self.records.append(dict(
                label=label, flags=case_flags(case), step=step, request=what,
                kind=None if req is None else req.kind,
                method=None if req is None else req.method, message=message,
                case=repr(case)))
        if not COLLECT:
            raise AssertionError(f"{label} at step {step} ({what}): {message}")

    def summary(self):
        worst = self.worst or {}
        return dict(
            test=self.name, cases=self.cases, unique_cases=len(self.unique),
            fit_refused=self.fit_refused, requests=self.requests,
            refused=self.refused, retrained=self.retrained, checks=self.checks,
            violations=self.violations, by_class=dict(self.classes),
            refusal_messages=dict(self.refusals.most_common(8)),
            worst_ratio=worst.get("ratio"), worst_case=worst,
            examples=self.examples, seconds=round(time.perf_counter() - self.started, 2),
            records=self.records,
        )

    def report(self):
        s = self.summary()
        worst = s["worst_case"]
        print(f"\n[{self.name}] {s['cases']} cases ({s['unique_cases']} distinct), "
              f"{s['fit_refused']} fits refused, {s['requests']} requests "
              f"({s['refused']} refused, {s['retrained']} retrained), "
              f"{s['checks']} checks, {s['violations']} cases violating "
              f"{s['by_class']}, {s['seconds']} s")
        if worst:
            print(f"[{self.name}] worst bound / true = {worst['ratio']:.4g} "
                  f"(bound {worst['bound']:.4g}, true {worst['true']:.4g}) at step "
                  f"{worst['step']} ({worst['request']}) of {worst['case']}")
        if self.worst_request and self.worst_request is not worst:
            w = self.worst_request
            print(f"[{self.name}] after a request: worst bound / true = "
                  f"{w['ratio']:.4g} at step {w['step']} ({w['request']})")
        if REPORT:
            try:
                with open(REPORT) as f:
                    everything = json.load(f)
            except (OSError, ValueError):
                everything = {}
            everything[self.name] = s
            with open(REPORT, "w") as f:
                json.dump(everything, f, indent=1, default=str)


def _truth(model, data):
    return residual_of(final_of(model), data.X, data.y, data.sw)


def check_state(model, case, data, survey, step, what, req=None):
    """The property after fit (step 0) or a request; returns whether it was
    violated."""
    survey.checks += 1
    res = _truth(model, data)
    n_before = survey.violations

    def violated(label, message):
        survey.violation(label, case, step, what, message, req)

    if isinstance(model, CertifiedRemoval):
        cert = model.certificate_
        spent = cert.spent
        if cert.valid:
            if not spent >= res.lower:
                violated("valid certificate under-reports",
                         f"spent {spent!r} < true residual {float(res.value):.6g} "
                         f"(at least {float(res.lower):.6g}), budget {cert.budget}")
            survey.ratio(case, step, what, spent, res)
        elif not (cert.void and cert.void_reason):
            violated("certificate over budget, not void",
                     f"valid False with void={cert.void}, reason "
                     f"{cert.void_reason!r}: spent {spent!r}, budget {cert.budget}, "
                     f"policy {case.policy}")
        return survey.violations > n_before
    bound = model.residual_bound_
    if np.isnan(bound):
        violated("NaN bound",
                 f"residual_bound_ is NaN; true residual {float(res.value):.6g}")
    elif not res.finite:
        if bound != np.inf:
            violated("finite bound, non-finite model",
                     f"bound {bound!r} but the published parameters are not finite")
    elif bound < res.lower:
        violated("bound under-reports",
                 f"residual_bound_ {bound!r} < true residual {float(res.value):.6g} "
                 f"(at least {float(res.lower):.6g}; ratio "
                 f"{float(LD(bound) / res.value):.3g})")
    survey.ratio(case, step, what, bound, res)
    return survey.violations > n_before


def _fit_input(data, X):
    return X.astype(np.float32) if data.data.float32 else X


def run_case(case, survey):
    """Fit, then apply every request, checking the property each time. A
    case stops at its first violation (the later ones mostly repeat it)."""
    survey.start(case)
    X, y, sw, new_rows = training_set(case.data)
    data = Corrected(case.data, X, y, sw, new_rows)
    model = make_model(case)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            model.fit(_fit_input(data, X), y, sample_weight=sw)
        except ValueError as exc:
            # e.g. noise outweighing the data term: fit says so
            survey.fit_refused += 1
            survey.refusals[f"fit: {str(exc)[:70]}"] += 1
            return
        if check_state(model, case, data, survey, 0, "fit"):
            return
        for step, req in enumerate(case.requests, start=1):
            rng = np.random.default_rng([case.data.seed, step])
            built = build_request(model, data, req, rng)
            if built is None:
                continue
            if currently_in_test_context():           # not in replay()
                note(f"request {step}: {req.kind} -> {built.what} ({req.method})")
            survey.requests += 1
            before = pickle.dumps(model)
            retrains = (model.certificate_.n_retrains
                        if isinstance(model, CertifiedRemoval) else 0)
            args = [None if a is None else (_fit_input(data, a) if i < 2 else a)
                    for i, a in enumerate((built.X_old, built.X_new, built.y_old,
                                           built.y_new))]
            try:
                model.unlearn(*args, sample_weight=built.sw, method=req.method)
            except ValueError as exc:
                survey.refused += 1
                survey.refusals[f"{type(exc).__name__}: {str(exc)[:70]}"] += 1
                if pickle.dumps(model) != before:
                    survey.violation("refused request changed the model", case, step,
                                     built.what, f"{type(exc).__name__}: {exc}", req)
                    return
                continue
            built.apply(data)
            if isinstance(model, CertifiedRemoval):
                survey.retrained += model.certificate_.n_retrains - retrains
            if check_state(model, case, data, survey, step, built.what, req):
                return


def replay(case, name="replay"):
    """Run one case (as printed by a failure) and return its survey."""
    survey = Survey(name)
    run_case(case, survey)
    return survey


def run_property(name, strategy, examples=()):
    """Run ``run_case`` over ``strategy`` under the profile's settings; in
    COLLECT mode, fail at the end if any case violated the property."""
    survey = Survey(name)

    def body(case):
        run_case(case, survey)

    test = given(strategy)(body)
    for case in examples:
        test = example(case)(test)
    test = _settings(name)(test)
    try:
        test()
    finally:
        survey.report()
    assert survey.violations == 0, json.dumps(
        {k: v for k, v in survey.summary().items() if k in ("by_class", "examples")},
        indent=1, default=str)[:6000]
    return survey


# -- strategies -----------------------------------------------------------------------------
def _requests(kinds, max_size=10, magnitudes=(4, 0, 2, 6, 8, 1, 3, 5, 7)):
    return st.lists(
        st.builds(Req, kind=st.sampled_from(kinds), k=st.integers(1, 5),
                  method=st.sampled_from(METHODS),
                  magnitude=st.sampled_from(magnitudes)),
        min_size=1, max_size=max_size).map(tuple)


@st.composite
def logistic_data(draw, n=(12, 200), d=(1, 8), classes=(2, 2, 3, 4, 5)):
    return Data(
        model="logistic",
        seed=draw(st.integers(0, 2**32 - 1)),
        n=draw(st.integers(*n)),
        d=draw(st.integers(*d)),
        outputs=draw(st.sampled_from(classes)),
        fit_intercept=draw(st.booleans()),
        reg=draw(st.sampled_from([1.0, 0.01, 100.0])),
        scale=draw(st.sampled_from([1.0, 1e-3, 1e3])),
        offset=draw(st.sampled_from([0.0, 1e3, 1e6])),
        signal=draw(st.sampled_from([1.0, 0.3, 5.0, 30.0])),
        weights=draw(st.sampled_from(["unit", "uniform", "heavy"])),
        heavy=10.0 ** draw(st.integers(3, 12)),
        far_rows=draw(st.integers(0, 2)),
        far_norm=10.0 ** draw(st.integers(2, 8)),
        float32=draw(st.sampled_from([False, False, True])),
        noise=draw(st.sampled_from([0.0, 0.0, 0.1, 1.0])),
        solver=draw(st.sampled_from(["newton-cholesky", "newton-cholesky", "lbfgs"])),
    )


@st.composite
def ridge_data(draw, n=(12, 200), d=(1, 8)):
    exact = draw(st.booleans())
    return Data(
        model="ridge",
        seed=draw(st.integers(0, 2**32 - 1)),
        n=draw(st.integers(*n)),
        d=draw(st.integers(*d)),
        outputs=draw(st.sampled_from([1, 1, 2])),
        fit_intercept=draw(st.booleans()),
        reg=draw(st.sampled_from([1.0, 1e-8, 1e-2, 100.0])),
        scale=1.0 if exact else draw(st.sampled_from([1.0, 1e-3, 1e3])),
        offset=draw(st.sampled_from([0.0, 1e3, 1e6])),
        signal=10.0 ** draw(st.integers(0, 6)),
        exact=exact,
        weights=draw(st.sampled_from(["unit", "uniform", "heavy"])),
        heavy=10.0 ** draw(st.integers(3, 12)),
        far_rows=draw(st.integers(0, 2)),
        far_norm=10.0 ** draw(st.integers(2, 8)),
        float32=draw(st.sampled_from([False, False, True])),
    )


# -- the property tests ------------------------------------------------------------------------
def test_logistic_bound_adversarial():
    """Binary and multinomial logistic regression, adversarial data and
    requests: the bound covers the true residual after every request."""
    run_property("logistic", st.builds(Case, data=logistic_data(),
                                       requests=_requests(LOGISTIC_KINDS)))


def test_ridge_bound_adversarial():
    """Ridge (one or two targets), exact fits included: the bound covers the
    true residual after every request."""
    run_property("ridge", st.builds(Case, data=ridge_data(),
                                    requests=_requests(RIDGE_KINDS)))


@st.composite
def certified_cases(draw):
    model = draw(st.sampled_from(["logistic", "logistic", "ridge"]))
    if model == "logistic":
        data = draw(logistic_data(n=(30, 200)))
        data = Data(**{**asdict(data), "reg": draw(st.sampled_from([10.0, 100.0, 1.0])),
                       "noise": 0.0})
        kinds = LOGISTIC_KINDS
    else:
        data = draw(ridge_data(n=(30, 200)))
        kinds = RIDGE_KINDS
    return Case(data=data, requests=draw(_requests(kinds, max_size=8)), certified=True,
                budget=draw(st.sampled_from([1.0, 0.1, 10.0, 1e-3])),
                policy=draw(st.sampled_from(["raise", "retrain", "warn"])))


def test_certified_spent_adversarial():
    """CertifiedRemoval: a valid certificate's ``spent`` covers the true
    residual of the released model; a certificate over its budget is void
    and says why."""
    run_property("certified", certified_cases())


FAR_DELETION_EXAMPLES = [
    # a row of norm 1e7, confidently classified, deleted; then the labels of
    # confidently classified rows flipped
    Case(Data(model="logistic", seed=1, n=150, d=4, outputs=2, signal=5.0,
              far_rows=1, far_norm=1e7),
         (Req("delete_far"), Req("flip_confident", k=5, method="refined"))),
    Case(Data(model="logistic", seed=2, n=150, d=4, outputs=3, signal=5.0,
              far_rows=1, far_norm=1e7),
         (Req("delete_far"), Req("flip_confident", k=5, method="refined"))),
    Case(Data(model="logistic", seed=3, n=150, d=4, outputs=2, signal=5.0,
              far_rows=1, far_norm=1e7),
         (Req("delete_far"), Req("flip_confident", k=5, method="refined")),
         certified=True, budget=1.0, policy="raise"),
    # ridge: the same far row leaves the exact solve's matrix
    Case(Data(model="ridge", seed=4, n=150, d=4, far_rows=1, far_norm=1e8),
         (Req("delete_far"), Req("delete", k=5))),
]


@st.composite
def far_row_cases(draw):
    model = draw(st.sampled_from(["logistic", "logistic", "ridge"]))
    base = draw(logistic_data(n=(40, 200)) if model == "logistic"
                else ridge_data(n=(40, 200)))
    data = Data(**{**asdict(base), "far_rows": draw(st.integers(1, 2)),
                   "far_norm": 10.0 ** draw(st.integers(4, 8)),
                   "signal": base.signal if model == "ridge"
                   else draw(st.sampled_from([5.0, 30.0]))})
    kinds = LOGISTIC_KINDS if model == "logistic" else RIDGE_KINDS
    first = Req("delete_far", k=draw(st.integers(1, 2)))
    if model == "logistic" and draw(st.booleans()):
        first = Req("delete_confident", k=1)
    rest = draw(_requests(kinds, max_size=6))
    certified = draw(st.booleans())
    if certified and model == "logistic":
        data = Data(**{**asdict(data), "noise": 0.0,
                       "reg": draw(st.sampled_from([10.0, 1.0]))})
    return Case(data=data, requests=(first,) + rest, certified=certified,
                budget=draw(st.sampled_from([1.0, 10.0])), policy="raise")


def test_far_row_deletion_then_requests():
    """Deleting a far-out, confidently classified row (its curvature and
    Gram terms nearly cancel what the cache holds), then further requests."""
    run_property("far_row_deletion", far_row_cases(), examples=FAR_DELETION_EXAMPLES)


INTERLEAVED_EXAMPLES = [
    # ridge: insert then delete one row of norm 1e8, then delete ordinary rows
    Case(Data(model="ridge", seed=5, n=150, d=4),
         (Req("insert_far", magnitude=8), Req("delete_far"), Req("delete", k=5))),
]


@st.composite
def interleaved_cases(draw):
    model = draw(st.sampled_from(["logistic", "ridge"]))
    base = draw(logistic_data(n=(30, 150)) if model == "logistic"
                else ridge_data(n=(30, 150)))
    data = Data(**{**asdict(base), "far_rows": draw(st.integers(0, 2)),
                   "far_norm": 10.0 ** draw(st.integers(3, 8))})
    ordinary = ("delete", "insert", "edit_zero") + (
        ("flip",) if model == "logistic" else ("target_shift",))
    n_cycles = draw(st.integers(2, 15))
    magnitude = draw(st.integers(3, 8))
    extra = draw(st.lists(st.sampled_from(ordinary), min_size=n_cycles,
                          max_size=n_cycles))
    method = draw(st.sampled_from(METHODS))
    reqs = []
    for kind in extra:
        # the same high-leverage rows leave and come back
        reqs += [Req("insert_far", magnitude=magnitude, method=method),
                 Req("delete_far", method=method), Req("reinsert", method=method),
                 Req("delete_far", method=method), Req(kind, k=2, method=method)]
    return Case(data=data, requests=tuple(reqs))


def test_interleaved_high_leverage_rows():
    """The same high-leverage rows inserted and deleted again and again,
    between ordinary requests."""
    run_property("interleaved", interleaved_cases(), examples=INTERLEAVED_EXAMPLES)


OVERFLOW_EXAMPLES = [
    # correct one row into a row holding 1e160: its squared norm overflows
    Case(Data(model="logistic", seed=6, n=60, d=3), (Req("overflow", magnitude=1),)),
    Case(Data(model="logistic", seed=7, n=60, d=3), (Req("overflow", magnitude=1),),
         certified=True, budget=1.0, policy="raise"),
]


@st.composite
def overflow_cases(draw):
    model = draw(st.sampled_from(["logistic", "logistic", "ridge"]))
    base = draw(logistic_data(n=(30, 150)) if model == "logistic"
                else ridge_data(n=(30, 150)))
    data = Data(**{**asdict(base), "float32": False, "noise": 0.0})
    kinds = LOGISTIC_KINDS if model == "logistic" else RIDGE_KINDS
    before = draw(_requests(kinds, max_size=2)) if draw(st.booleans()) else ()
    over = tuple(Req("overflow", magnitude=m)
                 for m in draw(st.lists(st.integers(0, 8), min_size=1, max_size=2)))
    after = draw(_requests(kinds, max_size=3)) if draw(st.booleans()) else ()
    certified = draw(st.booleans())
    if certified and model == "logistic":
        data = Data(**{**asdict(data), "reg": 10.0})
    return Case(data=data, requests=before + over + after, certified=certified,
                budget=1.0, policy=draw(st.sampled_from(["raise", "retrain", "warn"])))


def test_overflowing_values():
    """Finite values whose squared norm overflows float64: the bound is then
    infinite or the request refused, never NaN or a small number."""
    run_property("overflow", overflow_cases(), examples=OVERFLOW_EXAMPLES)


@st.composite
def underflow_cases(draw):
    """Values whose products underflow: features and targets near 1e-160
    (their squares are subnormal), or every sample weight between 1e-165 and
    1e-320, the penalty scaled with them or not."""
    model = draw(st.sampled_from(["logistic", "ridge"]))
    tiny_weights = draw(st.booleans())
    data = draw(logistic_data(n=(12, 80), d=(1, 5)) if model == "logistic"
                else ridge_data(n=(12, 80), d=(1, 5)))
    tiny = 10.0 ** -draw(st.integers(165, 320) if tiny_weights else st.just(300))
    # the weights' scale undone by the penalty's (C = 1 / w, alpha = w): the
    # same model as unit weights, whose sums of two weighted terms underflow
    balanced = tiny_weights and tiny > 1e-300 and draw(st.booleans())
    reg = data.reg if not balanced else (data.reg / tiny if model == "logistic"
                                         else data.reg * tiny)
    data = Data(**{**asdict(data),
                   "scale": 1.0 if tiny_weights else 10.0 ** -draw(st.integers(150, 170)),
                   "offset": 0.0, "exact": False, "float32": False, "noise": 0.0,
                   "far_rows": 0, "signal": 1.0, "reg": reg,
                   "weights": "tiny" if tiny_weights else "unit", "heavy": tiny})
    return Case(data=data, requests=draw(_requests(
        ("delete", "insert", "reinsert", "edit_zero"), max_size=4)))


def test_underflowing_values():
    """Products that underflow (a subnormal result is off by an absolute
    amount, which no relative rounding term covers): the bound still
    covers the true residual."""
    run_property("underflow", underflow_cases())


@pytest.mark.parametrize("model", ["ridge", "logistic"])
def test_float32_rows_with_weights_float32_cannot_hold(model):
    """Float32 rows, weights float32 rounds (1e6 + 0.03 is stored as 1e6 in
    float32): a row leaves with the weight it entered with, and the bound
    covers the residual for the weights as given, at fit, after deleting
    heavy rows and after inserting one."""
    rng = np.random.default_rng(0)
    X = rng.standard_normal((200, 5)).astype(np.float32)
    score = X.astype(np.float64) @ rng.standard_normal(5)
    if model == "ridge":
        y = score + 30.0 * rng.standard_normal(200)
        est = UnlearnableRidge(alpha=1.0)
    else:
        y = (score + rng.logistic(size=200) > 0).astype(int)
        est = UnlearnableLogisticRegression()
    sw = np.ones(200)
    sw[:20] = 1e6 + 0.03
    est.fit(X, y, sample_weight=sw)
    assert est.residual_bound_ >= residual_of(est, X, y, sw).lower
    est.unlearn(X[:5], None, y[:5], sample_weight=sw[:5])
    X, y, sw = X[5:], y[5:], sw[5:]
    assert est.residual_bound_ >= residual_of(est, X, y, sw).lower
    est.unlearn(None, X[:1], y_new=y[:1], sample_weight=[3e6 + 0.1])
    X, y, sw = np.vstack([X, X[:1]]), np.r_[y, y[:1]], np.r_[sw, 3e6 + 0.1]
    assert est.residual_bound_ >= residual_of(est, X, y, sw).lower


@st.composite
def long_streams(draw):
    model = draw(st.sampled_from(["logistic", "ridge"]))
    base = draw(logistic_data(n=(40, 120), d=(1, 5)) if model == "logistic"
                else ridge_data(n=(40, 120), d=(1, 5)))
    kinds = LOGISTIC_KINDS if model == "logistic" else RIDGE_KINDS
    mix = draw(st.lists(st.sampled_from(kinds), min_size=2, max_size=6, unique=True))
    reqs = Stream(seed=draw(st.integers(0, 2**32 - 1)), mix=tuple(mix),
                  length=draw(st.integers(200, 260)))
    certified = draw(st.booleans())
    if certified and model == "logistic":
        base = Data(**{**asdict(base), "noise": 0.0, "reg": 10.0})
    return Case(data=base, requests=reqs, certified=certified,
                budget=draw(st.sampled_from([1.0, 100.0])),
                policy=draw(st.sampled_from(["retrain", "raise"])))


def test_long_request_streams():
    """200 to 260 requests on one model: the bound accumulates, it never
    falls behind the true residual."""
    run_property("long_stream", long_streams())


@st.composite
def erasure_streams(draw):
    base = draw(logistic_data(n=(60, 200), d=(1, 6)))
    reqs = tuple(
        Req(kind, k=1, method=method) for kind, method in draw(st.lists(
            st.tuples(st.sampled_from(("delete", "delete", "delete_confident",
                                       "delete_far")),
                      st.sampled_from(METHODS[:2])),
            min_size=20, max_size=60)))
    return Case(data=base, requests=reqs)


def test_single_row_erasure_streams():
    """Single rows erased one request at a time, the far and confidently
    classified ones among them: the drift grows request by request and what
    each erased row leaves in the cached Hessian is bounded row by row; the
    bound never falls behind the true residual."""
    run_property("erasure_stream", erasure_streams())


# -- the reference itself --------------------------------------------------------------------
# These tests check the reference before the property tests trust it: its
# gradients against finite differences of its own objectives, against 80-digit
# decimal arithmetic (value and error bracket), its objectives against
# scikit-learn's own optimum, and its residuals against what the library
# reports on ordinary data.

def _problem(seed, n, d, K, *, offset=0.0, far=0.0, heavy=1.0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d)) + offset
    if far:
        X[0] = offset + far * _unit(rng, d)
    sw = rng.uniform(0.5, 2.0, n)
    sw[1] *= heavy
    y = rng.integers(K, size=n)
    y[:K] = np.arange(K)
    return rng, X, y, sw


@pytest.mark.parametrize("K", [2, 3, 5])
@pytest.mark.parametrize("fit_intercept", [True, False])
def test_reference_logistic_gradient_is_the_derivative(K, fit_intercept):
    """Central finite differences of the objective (step 1e-6, long double)
    agree with the gradient to 1e-7 relative (truncation ~h^2, round-off
    ~u / h, both far below)."""
    rng, X, y, sw = _problem(K, 40, 3, K)
    m = 1 if K == 2 else K
    theta = rng.normal(size=(3 + fit_intercept, m))
    B = rng.normal(size=theta.shape)
    C = 0.7
    res = logistic_residual(X, y, sw, np.arange(K), C, theta, fit_intercept, B)
    h = LD(1e-6)
    fd = np.zeros_like(res.gradient)
    for j in range(theta.shape[0]):
        for k in range(m):
            tp, tm = theta.astype(LD), theta.astype(LD)
            tp[j, k] += h
            tm[j, k] -= h
            fd[j, k] = (logistic_objective(X, y, sw, np.arange(K), C, tp, fit_intercept, B)
                        - logistic_objective(X, y, sw, np.arange(K), C, tm,
                                             fit_intercept, B)) / (2 * h)
    err = float(np.abs(fd - res.gradient).max() / np.abs(res.gradient).max())
    assert err < 1e-7


@pytest.mark.parametrize("n_targets", [1, 2])
@pytest.mark.parametrize("fit_intercept", [True, False])
def test_reference_ridge_gradient_is_the_derivative(n_targets, fit_intercept):
    """The ridge gradient is the derivative of ``sum s (y - xw - w0)^2 +
    alpha ||w||^2`` (finite differences, 1e-7 relative): the scaling the
    bound is about (a factor 2 off would be an error of 0.5)."""
    rng, X, _, sw = _problem(11, 40, 3, 2)
    Y = rng.normal(size=(40, n_targets))
    theta = rng.normal(size=(3 + fit_intercept, n_targets))
    res = ridge_residual(X, Y, sw, 0.3, theta, fit_intercept)
    h = LD(1e-6)
    fd = np.zeros_like(res.gradient)
    for j in range(theta.shape[0]):
        for k in range(n_targets):
            tp, tm = theta.astype(LD), theta.astype(LD)
            tp[j, k] += h
            tm[j, k] -= h
            fd[j, k] = (ridge_objective(X, Y, sw, 0.3, tp, fit_intercept)
                        - ridge_objective(X, Y, sw, 0.3, tm, fit_intercept)) / (2 * h)
    err = float(np.abs(fd - res.gradient).max() / np.abs(res.gradient).max())
    assert err < 1e-7


DECIMAL_CASES = [
    # (kind, K or targets, offset, far-row norm, heavy weight, float32 theta)
    ("logistic", 2, 0.0, 0.0, 1.0, False),
    ("logistic", 3, 0.0, 0.0, 1.0, False),
    ("logistic", 2, 1e6, 0.0, 1.0, False),
    ("logistic", 2, 0.0, 1e8, 1e12, False),
    ("logistic", 4, 1e3, 1e7, 1e6, True),
    ("logistic", 2, 0.0, 1e160, 1.0, False),
    ("logistic", 3, 0.0, 1e160, 1.0, False),
    ("ridge", 1, 0.0, 0.0, 1.0, False),
    ("ridge", 2, 1e6, 1e8, 1e12, False),
    ("ridge", 1, 1e3, 0.0, 1.0, True),
    ("ridge", 1, 0.0, 1e200, 1.0, False),
]


@pytest.mark.parametrize("case", DECIMAL_CASES)
@pytest.mark.parametrize("fit_intercept", [True, False])
@pytest.mark.parametrize("near_optimum", [False, True])
def test_reference_against_80_digits(case, fit_intercept, near_optimum):
    """Every gradient entry computed in long double lies within its claimed
    error of the same entry computed with 80 decimal digits, on ordinary and
    adversarial inputs (offsets, far rows, heavy weights, overflowing
    squares, float32 data and parameters), at random parameters and near an
    optimum (where the sums cancel); the bracket of the norm holds the
    80-digit norm, and it is narrow (1e-12, or 1e-12 relative) on ordinary
    inputs."""
    kind, K, offset, far, heavy, f32 = case
    rng, X, y, sw = _problem(int(far % 97) + K, 25, 3, max(K, 2), offset=offset,
                             far=far, heavy=heavy)
    m = 1 if (kind == "logistic" and K == 2) else K
    p = 3 + fit_intercept
    if kind == "logistic":
        theta = rng.normal(size=(p, m)) / (1 + offset)
        if near_optimum and not far and not offset:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                model = LogisticRegression(C=2.0, fit_intercept=fit_intercept)
                model.fit(X, y, sample_weight=sw)
            theta = published_theta(model)[0].astype(np.float64)
        Y = y
    else:
        W = rng.normal(size=(3, K)) * 1e3
        Y = X @ W + 5.0
        theta = (np.vstack([W, np.full((1, K), 5.0)])[:p] if near_optimum
                 else rng.normal(size=(p, K)))
    if f32:
        X = X.astype(np.float32).astype(np.float64)
        theta = theta.astype(np.float32).astype(np.float64)
    if kind == "logistic":
        noise = rng.normal(size=(p, m))
        classes = np.arange(max(K, 2))
        res = logistic_residual(X, Y, sw, classes, 2.0, theta, fit_intercept, noise)
        dec = decimal_gradient("logistic", X, Y, sw, theta, fit_intercept, C=2.0,
                               classes=classes, noise=noise)
    else:
        res = ridge_residual(X, Y, sw, 1e-8, theta, fit_intercept)
        dec = decimal_gradient("ridge", X, Y, sw, theta, fit_intercept, alpha=1e-8)
    exact = np.array([[LD(str(v)) for v in row] for row in dec])
    gap = np.abs(exact - res.gradient)
    assert np.all(gap <= res.error), float((gap / res.error).max())
    with localcontext() as ctx:
        ctx.prec = 80
        norm = LD(str(sum(v * v for row in dec for v in row).sqrt()))
    assert res.lower <= norm <= res.upper
    if not far and not offset:
        assert res.upper - res.lower <= 1e-12 * max(norm, 1)


def test_reference_float32_parameters_are_exact():
    """Published float32 parameters enter the reference exactly."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(50, 3)).astype(np.float32)
    y = (X[:, 0] > 0).astype(int)
    clf = LogisticRegression().fit(X, y)
    theta, _ = published_theta(clf)
    assert clf.coef_.dtype == np.float32
    assert np.all(theta[:3, 0] == clf.coef_[0].astype(LD))
    assert theta[3, 0] == LD(clf.intercept_[0])


@pytest.mark.parametrize("K", [2, 3, 4])
@pytest.mark.parametrize("fit_intercept", [True, False])
def test_reference_vanishes_at_scikit_learns_optimum(K, fit_intercept):
    """At scikit-learn's own optimum (newton-cholesky, tol=1e-12) the
    reference residual is ~0: below 1e-9 of the gradient's scale ``C sum_i
    s_i ||x_i||``. A wrong scaling of the loss or the penalty, or a
    penalised intercept, would leave a residual of the order of the scale."""
    rng, X, y, sw = _problem(20 + K, 120, 4, K)
    X[:, 0] *= 3
    clf = LogisticRegression(C=3.0, fit_intercept=fit_intercept, solver="newton-cholesky",
                             tol=1e-12, max_iter=1000).fit(X, y, sample_weight=sw)
    res = residual_of(clf, X, y, sw, noise=None)
    scale = 3.0 * np.sum(sw * np.linalg.norm(X, axis=1))
    assert res.value <= 1e-9 * scale
    # with C doubled the data term is -2 W, the gradient -W: the residual
    # sees a wrong scaling
    theta, _ = published_theta(clf)
    other = logistic_residual(X, y, sw, clf.classes_, 6.0, theta, fit_intercept)
    np.testing.assert_allclose(float(other.value), np.linalg.norm(clf.coef_), rtol=1e-6)


@pytest.mark.parametrize("fit_intercept", [True, False])
@pytest.mark.parametrize("n_targets", [1, 3])
def test_reference_vanishes_at_scikit_learns_ridge(fit_intercept, n_targets):
    rng, X, _, sw = _problem(30, 80, 5, 2, offset=2.0)
    Y = X @ rng.normal(size=(5, n_targets)) + rng.normal(size=(80, n_targets))
    Y = Y[:, 0] if n_targets == 1 else Y
    reg = Ridge(alpha=0.7, fit_intercept=fit_intercept, solver="cholesky").fit(
        X, Y, sample_weight=sw)
    res = residual_of(reg, X, Y, sw, noise=None)
    scale = 2 * np.sum(sw * np.linalg.norm(X, axis=1) * np.abs(Y).max())
    assert res.value <= 1e-12 * scale
    # with alpha doubled the gradient is 2 alpha W
    theta, _ = published_theta(reg)
    other = ridge_residual(X, Y, sw, 1.4, theta, fit_intercept)
    np.testing.assert_allclose(float(other.value), 1.4 * np.linalg.norm(reg.coef_),
                               rtol=1e-6)


def _ordinary(model, seed, n=150, d=4, K=2, targets=1):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d)) * rng.uniform(0.5, 2.0, d)
    sw = rng.uniform(0.5, 2.0, n)
    if model == "logistic":
        y = (X @ rng.normal(size=(d, K)) + rng.gumbel(size=(n, K))).argmax(axis=1)
        y[:K] = np.arange(K)
    else:
        y = X @ rng.normal(size=(d, targets)) + 0.3 * rng.normal(size=(n, targets))
        y = y[:, 0] if targets == 1 else y
    return X, y, sw


ESTIMATORS = [
    ("logistic", dict(K=2), dict(C=1.0)),
    ("logistic", dict(K=2), dict(C=10.0, objective_noise=0.5, random_state=0)),
    ("logistic", dict(K=3), dict(C=1.0, objective_noise=0.5, random_state=1)),
    ("logistic", dict(K=4), dict(C=1.0, fit_intercept=False)),
    ("ridge", dict(targets=1), dict(alpha=0.5)),
    ("ridge", dict(targets=2), dict(alpha=0.5, fit_intercept=False)),
]


def _estimator(model, params):
    cls = UnlearnableLogisticRegression if model == "logistic" else UnlearnableRidge
    return cls(**params)


@pytest.mark.parametrize("model, shape, params", ESTIMATORS)
def test_reference_vanishes_at_a_fresh_fit(model, shape, params):
    """A freshly fitted, polished model on ordinary data: the true residual
    (noise included) is ~0, below 1e-9 of the gradient's scale, and within
    the bound; without its noise the residual is the noise's norm."""
    X, y, sw = _ordinary(model, 0, **shape)
    est = _estimator(model, params).fit(X, y, sample_weight=sw)
    res = residual_of(est, X, y, sw)
    scale = np.sum(sw * np.linalg.norm(X, axis=1)) * (1 + np.abs(y).max())
    assert res.value <= 1e-9 * scale
    assert res.upper <= est.residual_bound_
    noise = est.unlearning_cache_.noise
    if noise is not None:
        without = residual_of(est, X, y, sw, noise=None)
        np.testing.assert_allclose(float(without.value), np.linalg.norm(noise),
                                   rtol=1e-6)


@pytest.mark.parametrize("model, shape, params", ESTIMATORS)
def test_reference_matches_reported_gradient(model, shape, params):
    """The first request after fit reports ``gradient_norm = ||grad
    L(theta_fit; D~)||`` (computed from the fit's true gradient; later requests
    start from the cache's estimate of it): the reference, at the parameters
    published before the request and on the corrected data, agrees to 1e-9
    relative, for a deletion and for an edit. This pins the scaling of the
    objective the bound is about (ridge's factor 2, C, the noise)."""
    X, y, sw = _ordinary(model, 1, **shape)
    Xc = X.copy()
    Xc[:10, 0] = 0.0                    # forget feature 0 of ten rows
    keep = np.arange(8, len(sw))
    requests = [
        ((X[:8], None, y[:8]), sw[:8], (X[keep], y[keep], sw[keep])),
        ((X[:10], Xc[:10], y[:10]), sw[:10], (Xc, y, sw)),
    ]
    for args, weights, corrected in requests:
        est = _estimator(model, params).fit(X, y, sample_weight=sw)
        before, _ = published_theta(est)
        plan = est.plan_unlearn(*args, sample_weight=weights)
        est.apply_unlearn(plan)
        ref = residual_of(est, *corrected, theta=before)
        np.testing.assert_allclose(plan.report.gradient_norm, float(ref.value), rtol=1e-9)


@pytest.mark.parametrize("model, K", [("logistic", 2), ("logistic", 3), ("ridge", 1)])
def test_reference_matches_verify(model, K):
    """``CertifiedRemoval.verify()`` measures the true residual in float64
    with the kept rows; on ordinary data, after a first-order request (a
    residual far above round-off), the reference at the published
    parameters agrees to 1e-8 relative, noise included."""
    X, y, sw = _ordinary(model, 2, n=300, K=K)
    est = _estimator(model, dict(C=10.0) if model == "logistic" else dict(alpha=1.0))
    cr = CertifiedRemoval(est, budget=1.0, on_budget_exceeded="warn",
                          random_state=0).fit(X, y, sample_weight=sw)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cr.unlearn(X[:10], None, y[:10], sample_weight=sw[:10], method="first_order")
    ref = residual_of(cr.estimator_, X[10:], y[10:], sw[10:])
    assert ref.value > 1e-6
    np.testing.assert_allclose(cr.verify().true_residual, float(ref.value), rtol=1e-8)
