"""Gone means gone: after ``unlearn`` returns, nothing in the estimator, in
memory or in any file it is saved to, holds an erased row, an old value of an
edited row, or anything from which one can be read back.

Every exported estimator (and :class:`~sklearn_unlearn.CertifiedRemoval`) is
fit on Gaussian rows plus a few rows whose values are distinctive random
numbers (no value shared with any other row, none round), then asked to
delete one row, delete three rows, zero two columns of three rows, replace
two columns of three rows, and to carry out a sequence (an edit, an
insertion, a deletion, then the deletion of an edited and of an inserted
row). After every request, :func:`sklearn_unlearn.utils._trace_scan.scan`
searches the bytes of every serialization and every array reachable from the
estimator for the erased values, for stored vectors parallel to an erased or
old row, and for pairs of stored objects whose difference reveals one (see
that module).

With ``d >= 10`` features and values drawn at random, a byte match or a
``|cos| > 1 - 1e-9`` cannot be a coincidence; that the scan finds nothing on
a model that never saw the erased rows (but was asked the same kinds of
requests about other rows) is checked for every recipe, and that it finds
what is planted, on hand-made states.
"""

import copy
import dataclasses
import inspect
import pickle
import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from scipy.linalg import cholesky
from sklearn.base import BaseEstimator
from threadpoolctl import threadpool_limits

import sklearn_unlearn
from sklearn_unlearn import replace_features, zero_features

from sklearn_unlearn.utils._trace_scan import Erased, report, scan

from .registry import REGISTRY, hessian_modes

pytest.importorskip("skops.io")

pytestmark = pytest.mark.filterwarnings("ignore")


@pytest.fixture(autouse=True)
def _one_blas_thread():
    # The matrices here are small (at most a few hundred on a side): BLAS
    # threads only add their synchronisation, which on a loaded machine costs
    # a hundred times the work (an eigvalsh of 241 x 241: 4 ms on one thread,
    # 0.7 s on two).
    with threadpool_limits(1, user_api="blas"):
        yield


N_SMALL, D_SMALL = 120, 10
# wider than the rank (200) of the low-rank Hessian's sketch
N_WIDE, D_WIDE = 320, 240


# -- recipes -----------------------------------------------------------------------
#: The estimators and problems the scan runs on, from tests/registry.py.
RECIPES = {cls.__name__: list(entry.no_trace) for cls, entry in REGISTRY.items()}


def exported_estimators():
    return sorted(
        name for name in sklearn_unlearn.__all__
        if inspect.isclass(getattr(sklearn_unlearn, name))
        and issubclass(getattr(sklearn_unlearn, name), BaseEstimator)
    )


# every exported estimator: one with no recipe gives a failing case below
CASES = [(name, recipe) for name in exported_estimators()
         for recipe in RECIPES.get(name, [None])]


@pytest.mark.parametrize("name", exported_estimators())
def test_every_exported_estimator_has_a_recipe(name):
    assert RECIPES.get(name), (
        f"{name} is exported by sklearn_unlearn but has no recipe in "
        "tests/registry.py: add one, so that the no-trace scan covers it."
    )
    cls = getattr(sklearn_unlearn, name)
    if "hessian" in getattr(cls, "_parameter_constraints", {}):
        covered = {r.params.get("hessian") for r in RECIPES[name]}
        missing = hessian_modes(cls) - covered
        assert not missing, f"{name}: no recipe for hessian={sorted(missing)}."


# -- data ---------------------------------------------------------------------
#: Row groups of the bank: ``(name, count, in the training data)``.
GROUPS = [
    ("D1", 1, True),    # delete one row
    ("D3", 3, True),    # delete three rows
    ("Z", 3, True),     # zero two columns
    ("R", 3, True),     # replace two columns
    ("QE", 2, True),    # sequence: edited, then one of them deleted
    ("QD", 2, True),    # sequence: deleted
    ("QB", 2, False),   # sequence: inserted, then one of them deleted
    ("CB", 2, False),   # control: inserted
]


def _distinctive(rng, shape, low, high):
    """Random values of random sign in ``[low, high)``: full mantissas."""
    return rng.uniform(low, high, shape) * rng.choice([-1.0, 1.0], shape)


class Bank:
    """Training rows by id, their targets, and the requests' replacement values."""

    def __init__(self, recipe, seed=0):
        rng = np.random.default_rng(seed)
        n, d = (N_WIDE, D_WIDE) if recipe.wide else (N_SMALL, D_SMALL)
        self.recipe, self.d = recipe, d
        X = {f"o{i}": x for i, x in enumerate(rng.standard_normal((n, d)))}
        if recipe.sparse:
            for x in X.values():
                x[rng.random(d) < 0.5] = 0.0
        self.training = list(X)
        for g, k, trained in GROUPS:
            for i, x in enumerate(_distinctive(rng, (k, d), 0.6, 1.9)):
                X[f"{g}{i}"] = x
                if trained:
                    self.training.append(f"{g}{i}")
        self.replacement = _distinctive(rng, (3, 2), 2.1, 2.9)
        if recipe.float32:
            X = {k: x.astype(np.float32).astype(np.float64) for k, x in X.items()}
            self.replacement = self.replacement.astype(np.float32).astype(np.float64)
        # no value of a distinctive row is shared with any other value
        secret = np.abs(np.concatenate([x for k, x in X.items() if not k.startswith("o")]))
        rest = np.abs(np.concatenate([x for k, x in X.items() if k.startswith("o")]
                                     + [self.replacement.ravel()]))
        assert len(np.unique(secret)) == len(secret)
        assert not np.isin(secret, rest).any()
        w = rng.standard_normal((d, 3)) * 2.0 / np.sqrt(d)
        Y = {}
        for k, x in X.items():
            t = (recipe.transform or (lambda v: v))(x) @ w + 0.3 * rng.standard_normal(3)
            # the distinctive rows are misclassified: inside the margin of a
            # hinge loss, of high curvature for a logistic one
            wrong = not k.startswith("o")
            if recipe.task == "binary":
                Y[k] = int((t[0] > 0) != wrong)
            elif recipe.task == "multiclass":
                Y[k] = int(np.argmin(t) if wrong else np.argmax(t))
            elif recipe.task == "regression":
                Y[k] = float(t[0])
            elif recipe.task == "positive":
                Y[k] = float(np.exp(t[0] / 2))
            else:
                Y[k] = t[:2].copy()
        self.X, self.Y = X, Y

    def matrix(self, rows):
        A = np.array(rows, dtype=np.float64).reshape(-1, self.d)
        if self.recipe.float32:
            A = A.astype(np.float32)
        return sp.csr_matrix(A) if self.recipe.sparse else A

    def targets(self, ys):
        return np.array(ys)


# -- requests -------------------------------------------------------------------
SCENARIOS = {
    "delete one row": [("delete", ["D10"])],
    "delete three rows": [("delete", ["D30", "D31", "D32"])],
    "zero two columns of three rows": [("zero", ["Z0", "Z1", "Z2"], [1, 6])],
    "replace two columns of three rows": [("replace", ["R0", "R1", "R2"], [0, 4])],
    "sequence": [
        ("zero", ["QE0", "QE1"], [2]),
        ("insert", ["QB0", "QB1"]),
        ("delete", ["QD0", "QD1"]),
        ("delete", ["QE0", "QB0"]),
    ],
}
# the same kinds of requests on rows that are not erased anywhere else
DECOYS = [
    ("zero", ["o0", "o1"], [3]),
    ("insert", ["CB0", "CB1"]),
    ("delete", ["o2", "o3", "o4"]),
    ("delete", ["o0", "CB0"]),
]


class Session:
    """The current training data (by id) and what the requests erased."""

    def __init__(self, bank, **options):
        self.bank = bank
        self.options = options          # of every request (the defaults: none)
        self.rows = {k: bank.X[k].copy() for k in bank.training}
        self.erased = Erased(bank.d, float32=bank.recipe.float32)
        self.n_requests = 0

    def _forms(self, x):
        """``x`` as given and, behind a stateless first step, as the final
        step sees it."""
        transform = self.bank.recipe.transform
        if transform is None:
            return [("", x)]
        return [(" (raw)", x), (" (as the final step sees it)", transform(x))]

    def _erase_row(self, key, x, what, columns=None):
        """Record row ``x`` as erased: the row itself, and its values in
        ``columns`` (all of them, and its target, for a deleted row)."""
        cols = range(self.bank.d) if columns is None else columns
        for suffix, v in self._forms(x):
            label = f"{what} row {key}{suffix}"
            # a request's rows span a space of their own in each form
            self.erased.add_row(v, label, (self.n_requests, suffix))
            cs = [c for c in cols if v[c] != 0]
            self.erased.add_values(v[cs], [f"{what} row {key} column {c}{suffix}"
                                           for c in cs])
        if columns is None and self.bank.recipe.task in ("regression", "multi-target",
                                                                   "positive"):
            y = np.atleast_1d(self.bank.Y[key])
            self.erased.add_values(y, [f"target {j} of {what} row {key}"
                                       for j in range(len(y))])

    def apply(self, est, step):
        """Carry out one request on ``est`` (``None``: on the data only)."""
        op, keys = step[0], step[1]
        bank = self.bank
        y = bank.targets([bank.Y[k] for k in keys])
        if op == "insert":
            X_new = bank.matrix([bank.X[k] for k in keys])
            if est is not None:
                est.unlearn(None, X_new, y_new=y, **self.options)
            for k in keys:
                self.rows[k] = bank.X[k].copy()
        elif op == "delete":
            X_old = bank.matrix([self.rows[k] for k in keys])
            if est is not None:
                est.unlearn(X_old, None, y, **self.options)
            for k in keys:
                self._erase_row(k, self.rows.pop(k), "deleted")
        else:
            cols = step[2]
            X_old = bank.matrix([self.rows[k] for k in keys])
            if op == "zero":
                X_new = zero_features(X_old, cols)
            else:
                X_new = replace_features(X_old, cols, bank.replacement[:len(keys)])
            if est is not None:
                est.unlearn(X_old, X_new, y, **self.options)
            new = X_new.toarray() if sp.issparse(X_new) else np.asarray(X_new)
            what = f"old version (before the edit of columns {cols}) of"
            for k, x in zip(keys, new, strict=True):
                self._erase_row(k, self.rows[k], what, cols)
                x = x.astype(np.float64)
                for suffix, v in self._forms(x):
                    self.erased.add_new_row(v, f"new version of row {k}{suffix}",
                                            (self.n_requests, suffix))
                self.rows[k] = x
        self.n_requests += 1

    def fit(self, recipe):
        keys = list(self.rows)
        X = self.bank.matrix([self.rows[k] for k in keys])
        y = self.bank.targets([self.bank.Y[k] for k in keys])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return recipe.make().fit(X, y)


_FITTED = {}


def _fitted(recipe):
    """The recipe's model fit on the bank's training rows (fit once, copied)."""
    if recipe.name not in _FITTED:
        bank = Bank(recipe)
        _FITTED[recipe.name] = (bank, Session(bank).fit(recipe))
    bank, est = _FITTED[recipe.name]
    return bank, copy.deepcopy(est)


def _run(est, session, steps, scanned, title):
    """Apply ``steps``, scan after each for what ``scanned()`` returns, and
    return the failure report (empty when nothing was found)."""
    failures = []
    for i, step in enumerate(steps):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            session.apply(est, step)
        findings = scan(est, scanned())
        if findings:
            failures.append(f"after request {i + 1} of {title} ({step[0]} "
                            f"{', '.join(step[1])}):\n{report(findings)}")
    return "\n\n".join(failures)


#: Traces this scan finds and the library does not yet remove, each with the
#: request options under which it shows and the reason; a case listed here is
#: also scanned with the default options (as every other case), and fails
#: once its trace is gone.
KNOWN_OPEN = {}

#: Cases scanned again with other request options, each with why: the
#: default method's refined iterations once hid a trace that one
#: second-order step showed.
RESCANNED = {
    (f"UnlearnableLinearSVC-multiclass-{mode}", "sequence"): (
        {"method": "second_order"},
        "one-vs-rest squared hinge: deleted rows that sat on the margin cross "
        "it after the insertion; they must leave on the side they entered on")
    for mode in ("dense", "low_rank")
}


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
@pytest.mark.parametrize(("name", "recipe"), CASES,
                         ids=[str(r) if r else n for n, r in CASES])
def test_no_trace_after_request(name, recipe, scenario):
    assert recipe is not None, f"{name} has no recipe (see the test above)."
    bank, est = _fitted(recipe)
    session = Session(bank)
    failures = _run(est, session, SCENARIOS[scenario], lambda: session.erased,
                    f"'{scenario}'")
    known = KNOWN_OPEN.get((str(recipe), scenario))
    if known is not None:
        options, reason = known
        if not failures:
            bank, est = _fitted(recipe)
            session = Session(bank, **options)
            failures = _run(est, session, SCENARIOS[scenario], lambda: session.erased,
                            f"'{scenario}' with {options}")
        if failures:
            pytest.xfail(f"with {options}: {reason}")
        pytest.fail(f"{recipe} {scenario!r}: the known trace is gone; take the "
                    "case out of KNOWN_OPEN", pytrace=False)
    if (str(recipe), scenario) in RESCANNED:
        options, why = RESCANNED[str(recipe), scenario]
        bank, est = _fitted(recipe)
        session = Session(bank, **options)
        failures += _run(est, session, SCENARIOS[scenario], lambda: session.erased,
                         f"'{scenario}' with {options} ({why})")
    if failures:
        pytest.fail(f"{recipe}: erased data left a trace\n{failures}", pytrace=False)


@pytest.mark.parametrize(("name", "recipe"), [c for c in CASES if c[1]],
                         ids=[str(r) for _, r in CASES if r])
def test_scan_finds_nothing_in_a_model_that_never_saw_the_rows(name, recipe):
    # The data every scenario leaves behind (the edited rows in their new
    # version included), fit from scratch, then asked the same kinds of
    # requests about other rows: the erased rows and old values of every
    # scenario must not be found.
    bank = Bank(recipe)
    corrected = Session(bank)
    for steps in SCENARIOS.values():
        for step in steps:
            corrected.apply(None, step)
    secrets = corrected.erased
    est = corrected.fit(recipe)
    findings = scan(est, secrets)
    if findings:
        pytest.fail(f"{recipe}: false positives of the scan on the fitted "
                    f"model\n{report(findings)}", pytrace=False)
    decoys = Session(bank)
    decoys.rows = dict(corrected.rows)
    failures = _run(est, decoys, DECOYS, lambda: secrets, "the decoy requests")
    if failures:
        pytest.fail(f"{recipe}: false positives of the scan\n{failures}", pytrace=False)


# -- the scan finds what is planted -------------------------------------------------------
class _State:
    """A stand-in for an estimator's state."""

    def __init__(self, **kw):
        self.__dict__.update(kw)


@pytest.fixture
def planted():
    rng = np.random.default_rng(7)
    d = 9
    x = _distinctive(rng, d, 0.6, 1.9)
    others = rng.standard_normal((50, d))
    erased = Erased(d)
    erased.add_row(x, "deleted row s", 0)
    erased.add_values(x, [f"deleted row s column {j}" for j in range(d)])
    A = np.hstack([others, np.ones((50, 1))])
    H = A.T @ A + np.eye(d + 1)
    xa = np.r_[x, 1.0]
    return rng, x, xa, A, H, erased


def _checks(findings):
    return {f.check for f in findings}


def test_scan_of_a_clean_state_finds_nothing(planted):
    rng, x, xa, A, H, erased = planted
    theta = rng.standard_normal(len(xa))
    state = _State(H=H, chol=np.linalg.cholesky(H), theta=theta, rows=A,
                   theta_copy=theta.copy(), sparse_rows=sp.csr_matrix(A),
                   gram=A.T @ A, seed=np.random.RandomState(0))
    assert not scan(state, erased), report(scan(state, erased))


@pytest.mark.parametrize("where", ["float attribute", "dict", "tuple in a list",
                                   "object array", "float32 array", "closure", "text"])
def test_scan_finds_an_erased_value(planted, where):
    rng, x, xa, A, H, erased = planted
    v = x[3]
    erased.float32 = where == "float32 array"
    held = {
        "float attribute": lambda: _State(norm=float(v)),
        "dict": lambda: _State(stats={"m": np.array([0.5, -v])}),
        "tuple in a list": lambda: _State(hist=[(1, np.float64(v))]),
        "object array": lambda: _State(a=np.array([None, np.array([v, 2.0])], dtype=object)),
        "float32 array": lambda: _State(c=np.array([0.25, v], dtype=np.float32)),
        "closure": lambda: _State(f=(lambda: v * 1.0)),   # in memory only
        "text": lambda: _State(note=f"refused {v!r}"),
    }[where]()
    findings = scan(held, erased, serialize=where != "closure")
    assert "value" in _checks(findings), report(findings)
    if where != "closure":
        assert "bytes" in _checks(findings), report(findings)


@pytest.mark.parametrize("form", ["row", "scaled column", "augmented", "sparse row",
                                  "class block", "span"])
def test_scan_finds_a_parallel_row(planted, form):
    rng, x, xa, A, H, erased = planted
    t = rng.standard_normal(len(x))
    if form == "span":
        # two rows erased by one request: a combination of them reveals both
        erased = Erased(len(x))
        erased.add_row(x, "deleted row s", 0)
        erased.add_row(t, "deleted row t", 0)
    held = {
        "row": lambda: np.vstack([A[:3, :-1], -2.5 * x]),
        "scaled column": lambda: np.column_stack([rng.standard_normal(len(xa)), 0.37 * xa]),
        "augmented": lambda: np.r_[0.01 * x, 4.0],
        "sparse row": lambda: sp.csr_matrix(np.vstack([A[:2, :-1], 3.0 * x])),
        "class block": lambda: np.r_[rng.standard_normal(len(xa)), -0.2 * xa, 0.1 * xa],
        "span": lambda: 0.3 * x - 1.7 * t,
    }[form]()
    findings = scan(_State(kept=held), erased, serialize=False)
    expected = "span" if form == "span" else "parallel"
    assert expected in _checks(findings), report(findings)


@pytest.mark.parametrize("pair", ["hessians", "factor beside the corrected matrix",
                                  "class blocks", "one low-rank matrix"])
def test_scan_finds_a_revealing_difference(planted, pair):
    rng, x, xa, A, H, erased = planted
    H_new = H - 0.21 * np.outer(xa, xa)
    if pair == "hessians":
        state = _State(base=H, corrected=H_new)
    elif pair == "factor beside the corrected matrix":
        state = _State(factor=cholesky(H, lower=True), corrected=H_new)
    elif pair == "class blocks":
        P = np.array([[0.2, -0.1], [-0.1, 0.15]])
        state = _State(H=np.kron(np.eye(2), H),
                       H_new=np.kron(np.eye(2), H) - np.kron(P, np.outer(xa, xa)))
    else:
        t = rng.standard_normal(len(xa))
        state = _State(change=0.4 * np.outer(xa, xa) - 0.1 * np.outer(t, t))
    findings = scan(state, erased, serialize=False)
    assert "difference" in _checks(findings), report(findings)


def test_scan_finds_an_old_optimum_beside_the_new_one(planted):
    rng, x, xa, A, H, erased = planted
    # a deletion's Newton step: H_new (theta_new - theta_old) = -G, parallel
    # to the erased row for one row of a GLM
    H_new = H - 0.21 * np.outer(xa, xa)
    theta_old = rng.standard_normal(len(xa))
    theta_new = theta_old + np.linalg.solve(H_new, 0.8 * xa)
    state = _State(theta=theta_new[:, None], anchor=theta_old[:, None], H=H_new)
    findings = scan(state, erased, serialize=False)
    assert "product" in _checks(findings), report(findings)
    # through an object with matvec (a Hessian that is never formed)
    op = _State(shape=H_new.shape, matvec=_Matvec(H_new))
    state = _State(theta=theta_new, anchor=theta_old, H=op)
    findings = scan(state, erased, serialize=False)
    assert "product" in _checks(findings), report(findings)


class _Matvec:
    """A product with a matrix that is held only as a flat vector."""

    def __init__(self, M):
        self.flat, self.p = M.ravel(), M.shape[0]

    def __call__(self, v):
        return self.flat.reshape(self.p, self.p) @ v


def test_scan_finds_an_edits_gradient_but_not_the_new_rows(planted):
    rng, x, xa, A, H, erased = planted
    # x edited in columns 2 and 5; the new version is training data
    x_new = x.copy()
    x_new[[2, 5]] = [0.0, 2.37]
    edited = Erased(len(x))
    edited.add_row(x, "old version of row s", 0)
    edited.add_new_row(x_new, "new version of row s", 0)
    new_a = np.r_[x_new, 1.0]
    legit = _State(row=x_new, scaled=-3.1 * new_a,
                   on_edited_columns=np.eye(len(x))[[2, 5]].sum(axis=0) * 0.7)
    assert not scan(legit, edited), report(scan(legit, edited))
    # the gradient difference of the edit: with the new row, the old one
    gradient = 0.31 * new_a - 0.12 * xa
    findings = scan(_State(gradient=gradient), edited, serialize=False)
    assert "span" in _checks(findings), report(findings)


def test_scan_leaves_the_estimator_as_it_was():
    recipe = RECIPES["UnlearnableLogisticRegression"][0]
    bank, est = _fitted(recipe)
    session = Session(bank)
    session.apply(est, SCENARIOS["delete three rows"][0])
    before = pickle.dumps(est)
    scan(est, session.erased)
    assert pickle.dumps(est) == before


@pytest.mark.parametrize("make", [sklearn_unlearn.UnlearnableLogisticRegression,
                                  sklearn_unlearn.UnlearnableRidge])
def test_the_largest_row_norm_does_not_outlive_its_row(make):
    """The cache keeps a bound on the rows' norms. A row far larger than the
    others leaves no number of its norm's size behind, deleted or edited
    down; a label change, or a deletion of another row, keeps the bound."""
    from sklearn_unlearn.utils._trace_scan._reach import walk

    rng = np.random.default_rng(3)
    X = rng.standard_normal((200, 8))
    X[7] *= 4e3
    y = (X[:, 0] + rng.standard_normal(200) > 0).astype(int)
    y = y if make is sklearn_unlearn.UnlearnableLogisticRegression else X[:, 0] + y
    norm = np.linalg.norm(np.r_[X[7], 1.0])

    def near_norm(model):
        return [(path, v) for path, v in walk(model).floats
                if abs(v - norm) <= 1e-6 * norm]

    fitted = make().fit(X, y)
    assert near_norm(fitted)           # the bound is that row's norm at fit
    kept = copy.deepcopy(fitted).unlearn(X[[3]], None, y[[3]])
    assert kept.unlearning_cache_.max_row_norm == fitted.unlearning_cache_.max_row_norm
    flipped = y.copy()
    flipped[7] = 1 - y[7] if make is sklearn_unlearn.UnlearnableLogisticRegression else 0.0
    relabelled = copy.deepcopy(fitted).unlearn(X[[7]], X[[7]], y[[7]], flipped[[7]])
    assert relabelled.unlearning_cache_.max_row_norm == fitted.unlearning_cache_.max_row_norm
    deleted = copy.deepcopy(fitted).unlearn(X[[7]], None, y[[7]])
    edited = copy.deepcopy(fitted).unlearn(X[[7]], X[[7]] / 4e3, y[[7]], y[[7]])
    for model in (deleted, edited):
        assert not near_norm(model), near_norm(model)
        assert model.unlearning_cache_.max_row_norm == np.inf
    # measured on the current rows, the bound is theirs again
    rest = np.delete(np.column_stack([X, np.ones(len(X))]), 7, axis=0)
    deleted.rebase_residual_bound(np.delete(X, 7, axis=0), np.delete(y, 7))
    largest = np.linalg.norm(rest, axis=1).max()
    assert largest <= deleted.unlearning_cache_.max_row_norm <= largest * (1 + 1e-12)



@pytest.mark.parametrize("make, target", [
    (lambda: sklearn_unlearn.UnlearnableRidge(alpha=1.0), lambda t: t),
    (lambda: sklearn_unlearn.UnlearnableLogisticRegression(), lambda t: (t > 0).astype(int)),
    (lambda: sklearn_unlearn.UnlearnablePoissonRegressor(), lambda t: np.exp(t / 4)),
], ids=["ridge", "logistic", "poisson"])
def test_history_and_loss_profile_hold_no_figure_of_the_erased_row(make, target):
    # The reports' step and gradient norms, and the loss profile's sums,
    # were exact functions of the erased row: with the other rows known, a
    # ridge row of one feature and its target were solved for from them to
    # 6e-15. Two models that differ only in the erased row must keep the
    # same history (but for the residual bound, a bound scalar the
    # persistence guide lists), and no profile.
    rng = np.random.default_rng(0)
    X = rng.standard_normal((60, 3))
    y = X @ np.array([1.0, -0.5, 0.25]) + 0.1 * rng.standard_normal(60)
    kept = []
    for value in (4.2, -3.0):
        Xv, yv = X.copy(), y.copy()
        Xv[0, 1], yv[0] = value, value
        yv = target(yv)
        model = make().fit(Xv, yv)
        plan = model.plan_unlearn(Xv[:1], None, yv[:1])
        assert plan.report.step_norm > 0
        model.apply_unlearn(plan)
        assert model.training_loss_profile_ is None
        kept.append(dataclasses.replace(model.unlearn_history_[-1], residual_bound=None,
                                        bound_increment=None))
    assert kept[0] == kept[1] and kept[0].step_norm is None
    # the profile is taken again with the remaining rows
    if not isinstance(model, sklearn_unlearn.UnlearnablePoissonRegressor):
        model.rebase_residual_bound(Xv[1:], yv[1:])
        assert model.training_loss_profile_.n_rows == 59


def _one_row_feature_problem(make, classes):
    """Sparse non-negative rows (30 features) and targets for ``make``; the
    feature 7 is held by row 5 alone, with a distinctive value."""
    rng = np.random.default_rng(3)
    X = (rng.random((200, 30)) < 0.2) * rng.random((200, 30))
    X[:, 7] = 0.0
    X[5, 7] = 0.123456789
    score = X @ rng.standard_normal(30)
    if make is sklearn_unlearn.UnlearnableRidge:
        return X, score
    if make is sklearn_unlearn.UnlearnablePoissonRegressor:
        return X, rng.poisson(np.exp(0.3 * score)).astype(float)
    return X, np.digitize(score, np.quantile(score, np.linspace(0, 1, classes + 1)[1:-1]))


@pytest.mark.parametrize("make, classes", [
    (sklearn_unlearn.UnlearnableLogisticRegression, 2),
    (sklearn_unlearn.UnlearnableLogisticRegression, 3),
    (sklearn_unlearn.UnlearnableRidge, 1),
    (sklearn_unlearn.UnlearnableLinearSVC, 2),
    (sklearn_unlearn.UnlearnablePoissonRegressor, 1),
], ids=["logistic", "multinomial", "ridge", "svc", "poisson"])
@pytest.mark.parametrize("mode", ["dense", "low_rank"])
def test_a_feature_no_row_holds_any_more_leaves_the_cache(make, classes, mode):
    """Row 5 alone held feature 7 (a word only one document used). After a
    deletion elsewhere moved the model, erasing row 5 left, in dense mode,
    a weight of -1.8e-3 on the feature where the refit has 0, and its
    Hessian column held the difference between the curvature row 5 entered
    with and the one it left with, in row 5's other features: 94% of the
    column's norm on them (they are 5% of the columns), 20 of its 21
    largest entries (400 features, 5% dense); low-rank 42%, and a weight of
    8e-4. The cache now counts the rows holding each feature, and takes a
    feature whose count reaches zero out as a fit on the current rows has
    it: weight 0, a Hessian line of the penalty alone, zero lines in the
    bound's Gram matrices and in the targets' moment. The residual bound
    still holds (long double, at the published parameters)."""
    from ._reference import residual_of

    X, y = _one_row_feature_problem(make, classes)
    modes = hessian_modes(make) if "hessian" in make._parameter_constraints else {"dense"}
    if mode not in modes:
        pytest.skip(f"{make.__name__} has no {mode} Hessian")
    est = make(**({"hessian": mode} if len(modes) > 1 else {})).fit(X, y)
    est.unlearn(X[10:20], None, y[10:20])
    est.unlearn(X[5:6], None, y[5:6])
    cache = est.unlearning_cache_
    assert cache.feature_counts[7] == 0
    assert np.all(np.asarray(est.coef_).reshape(-1, 30)[:, 7] == 0.0)
    obj = cache.objective
    for b, H in enumerate(cache.hessians):
        mask = np.zeros(cache.theta.shape, dtype=bool)
        mask[7] = True
        part = obj.to_block(mask, b)
        lines = np.flatnonzero(part if part.ndim == 1 else part.any(axis=1))
        for line in lines:
            unit = np.zeros(H.shape[0])
            unit[line] = 1.0
            column = H.matvec(unit)
            assert column[line] == obj.penalty[7]
            column[line] = 0.0
            assert not np.any(column), np.abs(column).max()
    for G in (cache.gram, cache.norm_gram):
        if G is not None:
            assert not np.any(G.matrix[7]) and not np.any(G.matrix[:, 7])
    if cache.target_moment is not None:
        assert not np.any(cache.target_moment[7])
    keep = np.setdiff1d(np.arange(200), np.r_[5, 10:20])
    if np.isfinite(est.residual_bound_) and make in (
            sklearn_unlearn.UnlearnableLogisticRegression, sklearn_unlearn.UnlearnableRidge):
        true = residual_of(est, X[keep], y[keep], np.ones(len(keep)))
        assert true.upper <= est.residual_bound_


def _exact_features(est):
    """The features a low-rank cache's sketches take exactly."""
    cache = est.unlearning_cache_
    obj = cache.objective
    rows = np.repeat(np.arange(obj.n_params)[:, None], obj.n_outputs, axis=1)
    out = set()
    for b, H in enumerate(cache.hessians):
        feature = obj.to_block(rows, b)
        feature = feature[:, 0] if feature.ndim == 2 else feature
        core = H.sketch_core
        out |= set(feature[np.r_[core.J, core.minus[core.minus >= 0]]].tolist())
    return out


@pytest.mark.parametrize("make, classes", [
    (sklearn_unlearn.UnlearnableLogisticRegression, 2),
    (sklearn_unlearn.UnlearnableLogisticRegression, 3),
    (sklearn_unlearn.UnlearnableRidge, 1),
    (sklearn_unlearn.UnlearnableLinearSVC, 2),
], ids=["logistic", "multinomial", "ridge", "svc"])
def test_a_sketch_names_no_column_that_only_erased_rows_held(make, classes):
    """A low-rank sketch takes the columns of largest curvature exactly, and
    kept their indices as the fit chose them: after erasing the only row
    holding a column (a 3-word document's rare word in hashed text), the
    pickle still named it, a column no current row holds, which a fit on
    the remaining rows never names. The emptied exact column is renamed to
    an empty column drawn at random (the erased one as likely as any
    other), and the exact columns are put back in a fit's order (where the
    renamed one stood would tell where the erased column lay). The renamed
    sketch is the sketch of the same matrix: the row inserted back lands
    where the fit on all rows is (1e-8, relative)."""
    rng = np.random.default_rng(0)
    X = (rng.random((200, 60)) < 0.25) * rng.standard_normal((200, 60))
    X[:, 40:] = 0.0             # held by no row
    X[:, 7] = 0.0
    X[5, 7] = 3.0               # held by row 5 alone
    score = X @ rng.standard_normal(60)
    y = (score if make is sklearn_unlearn.UnlearnableRidge else
         np.digitize(score, np.quantile(score, np.linspace(0, 1, classes + 1)[1:-1])))
    fitted = make(hessian="low_rank").fit(X, y)
    exact_at_fit = _exact_features(fitted)
    assert 7 in exact_at_fit
    named = []
    for _ in range(5):
        est = pickle.loads(pickle.dumps(fitted))
        est.unlearn(X[5:6], None, y[5:6])
        for model in (est, pickle.loads(pickle.dumps(est))):
            renamed = _exact_features(model) - (exact_at_fit - {7})
            assert len(renamed) == 1 and renamed <= {7, *range(40, 60)}
            J = model.unlearning_cache_.hessians[0].sketch_core.J
            features = J % 61
            features = features[features != 60]               # the intercept first
            assert np.all(np.diff(features) >= 0)             # then a fit's order
            assert np.all(J[:len(J) - len(features)] % 61 == 60)
        named.append(7 in renamed)
    assert not all(named)
    est.unlearn(None, X[5:6], None, y[5:6])
    refit = make(hessian="low_rank").fit(X, y)
    np.testing.assert_allclose(est.coef_, refit.coef_, rtol=0,
                               atol=1e-8 * np.abs(refit.coef_).max())


@pytest.mark.parametrize("seed", range(4))
def test_a_sketch_projected_off_an_emptied_column_stays_its_core_s_sketch(seed):
    """A 3-class low-rank model, row 5 alone holding feature 7 (4.0, an
    exact column): its erasure projects the sketch off feature 7 and shifts
    the core (the row leaves with more curvature than it entered with). The
    projection took the lines' entries from the factor's form, the shift
    included, and the core then differed from ``Omega^T Y`` by 1e-4 to 0.16
    along the random signs' rows on feature 7: from the pickle alone, with
    the seed's signs drawn again, that named feature 7 in 8 of 8 seeds,
    renamed or not. With the unshifted core's pseudo-inverse the two agree
    to round-off, as in a fit."""
    from sklearn_unlearn.solvers.hessian._sketch import _sign_vectors

    rng = np.random.default_rng(seed)
    X = (rng.random((200, 60)) < 0.25) * rng.standard_normal((200, 60))
    X[:, 40:] = 0.0
    X[:, 7] = 0.0
    X[5, 7] = 4.0
    score = X @ rng.standard_normal(60)
    y = np.digitize(score, np.quantile(score, [1 / 3, 2 / 3]))
    est = sklearn_unlearn.UnlearnableLogisticRegression(hessian="low_rank").fit(X, y)
    est.unlearn(X[5:6], None, y[5:6])
    H = pickle.loads(pickle.dumps(est)).unlearning_cache_.hessians[0]
    core = H.sketch_core
    p, s = H.W.shape
    e = len(core.J)
    Y = H.W @ core.L.T
    G = _sign_vectors(p, core.J, core.seed, e, s)
    C = core.L @ core.L.T - core.nu * np.eye(s)
    D = C[e:, e:] - G.T @ Y[:, e:]
    assert np.abs(D).max() <= 1e-12 * np.abs(C).max()


@pytest.mark.parametrize("mode", ["dense", "low_rank"])
def test_rows_holding_a_feature_more_often_than_the_data_are_refused(mode):
    """A request whose rows hold a feature in more rows than the current
    data does (rows never trained on, or erased already) is refused before
    any work, with the model unchanged: the feature's count would go below
    zero."""
    X, y = _one_row_feature_problem(sklearn_unlearn.UnlearnableLogisticRegression, 2)
    est = sklearn_unlearn.UnlearnableLogisticRegression(hessian=mode).fit(X, y)
    est.unlearn(X[5:6], None, y[5:6])
    before = pickle.dumps(est)
    with pytest.raises(ValueError, match=r"feature\(s\) \[7\] in more rows than the "
                                         r"current training data.*Nothing was changed"):
        est.unlearn(X[5:6], None, y[5:6])
    assert pickle.dumps(est) == before


def _first_order_candidates(model, d):
    """The attack on a step's stored residual ``r = (tau H - I) g`` (a
    first-order step's, ``g`` the erased row's gradient, a multiple of the
    row and its intercept's 1): every ``tau`` with ``tau = g.g / g.H.g`` for
    ``g = (tau H - I)^-1 r`` gives a candidate row ``g[:d] / g[d]``, from
    the saved model alone."""
    from scipy.optimize import brentq

    cache = pickle.loads(pickle.dumps(model)).unlearning_cache_
    r, H = np.ravel(cache.residual), np.asarray(cache.hessians[0].matrix)
    eye = np.eye(len(r))

    def f(t):
        g = np.linalg.solve(t * H - eye, r)
        return t - (g @ g) / (g @ H @ g)

    ev = np.linalg.eigvalsh(H)
    grid = np.linspace(0.999 / ev.max(), 1.001 / ev.min(), 2000)
    out = []
    with np.errstate(invalid="ignore", divide="ignore"):
        for a, b in zip(grid[:-1], grid[1:]):
            if np.any((1 / ev > a) & (1 / ev < b)):
                continue
            fa, fb = f(a), f(b)
            if np.isfinite(fa) and np.isfinite(fb) and np.sign(fa) != np.sign(fb):
                g = np.linalg.solve(brentq(f, a, b) * H - eye, r)
                out.append(g[:d] / g[d])
    return out


@pytest.mark.parametrize("model", ["logistic", "ridge"])
def test_a_second_order_step_s_residual_gives_no_row_back(model):
    """A first-order step's residual, ``(tau H - I) g``, which the cache
    keeps for later requests to correct, gives a single erased row back
    from the saved model (documented: a first-order step is no erasure;
    the control below). The second-order step's (the default's) is the
    cubic term's and the solve's rounding: the same attack finds nothing."""
    from sklearn_unlearn import UnlearnableLogisticRegression, UnlearnableRidge

    rng = np.random.default_rng(0)
    n, d = 80, 6
    X = rng.standard_normal((n + 1, d))
    X[n] = [1.2345678, -1.3960443, 0.7, 1.1, -0.9, 1.6]
    if model == "ridge":
        est, y = UnlearnableRidge(), X @ rng.standard_normal(d) + rng.standard_normal(n + 1)
    else:
        est = UnlearnableLogisticRegression()
        y = (X[:, 0] + 0.5 * rng.standard_normal(n + 1) > 0).astype(int)
    est.fit(X, y)

    def recovered(method):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            m = copy.deepcopy(est).unlearn(X[[n]], None, y[[n]], method=method)
        return [c for c in _first_order_candidates(m, d) if np.max(np.abs(c - X[n])) < 1e-3]

    assert recovered("first_order")
    for method in ("second_order", "auto", "refined"):
        assert not recovered(method)


def _far_row_then_moved(seed, n_classes=2, big=None):
    """A logistic model on 1,500 rows and one of norm 300 (orthogonal to
    the true coefficients), moved by a deletion of 15 rows along it before
    it is erased: the setting in which its curvature changes most between
    fit and erasure."""
    from sklearn_unlearn import UnlearnableLogisticRegression

    rng = np.random.default_rng(seed)
    if n_classes == 2:
        n, d = 1500, 5
        X = rng.standard_normal((n, d))
        beta = rng.standard_normal(d)
        y = (X @ beta + rng.logistic(size=n) > 0).astype(int)
        far = rng.standard_normal(d)
        far -= (far @ beta) / (beta @ beta) * beta
        label, reach = 1, 150.0
    else:
        n, d = 1500, 20
        X = rng.standard_normal((n, d))
        B = rng.standard_normal((d, n_classes))
        y = np.argmax(X @ B + rng.gumbel(size=(n, n_classes)), axis=1)
        far = rng.standard_normal(d)
        Q, _ = np.linalg.qr(B)
        far -= Q @ (Q.T @ far)
        label, reach = 0, 37.5
    X[0] = far * 300.0 / np.linalg.norm(far)
    y[0] = label
    if big is not None:
        # an uninformative column of another scale, zero in the far row
        X = np.column_stack([X, big * rng.standard_normal(n)])
        X[0, -1] = 0.0
    model = UnlearnableLogisticRegression().fit(X, y)
    moved = np.flatnonzero((X[1:] @ X[0] > reach * np.linalg.norm(X[0]) / 300.0)
                           & (y[1:] == label))[:15] + 1
    model.unlearn(X[moved], None, y[moved])
    keep = np.setdiff1d(np.arange(1, n), moved)
    return model, X, y, keep


def _outlying_cosine(model, rows):
    """The largest |cos| of an eigenvector of the Hessian, or of the right
    factor of one reshaped per class, with a row ``[x, 1]``."""
    values, vectors = np.linalg.eigh(model.unlearning_cache_.hessians[0].matrix)
    best = 0.0
    for v in vectors.T:
        right = np.linalg.svd(v.reshape(-1, rows.shape[1] + 1))[2][0]
        for x in rows:
            x = np.r_[x, 1.0]
            best = max(best, abs(right @ x) / np.linalg.norm(x))
    return best


@pytest.mark.parametrize("seed, n_classes, big", [(0, 2, None), (2, 2, None),
                                                 (0, 3, None), (0, 2, 100.0)])
def test_a_far_row_erased_after_the_model_moved_is_warned_of_and_refreshed_out(
        seed, n_classes, big):
    """A row enters the cached Hessian with its curvature where it entered
    and leaves with the one where it leaves: far rows erased after the
    model moved left their difference along themselves, an eigenvalue of
    -3152 among others of 187 to 313 whose eigenvector was the erased row's
    direction (|cos| 0.99999; in one class block of a multinomial model),
    read from the saved model alone and not warned of (nor, by a margin
    taken from the whole matrix's mean curvature, beside a column of scale
    100).
    What they leave takes the Hessian's data part out of the bounds the
    rows that stay give it (below zero, or above the loss's largest
    curvature times their Gram matrix): such a request now warns, and
    refresh_cache with the current rows takes it out (|cos| as a fit
    without the rows shows). Ordinary deletions that moved the model
    do not warn."""
    from sklearn_unlearn import UnlearnableLogisticRegression

    model, X, y, keep = _far_row_then_moved(seed, n_classes, big)
    far = X[:1]
    control = UnlearnableLogisticRegression().fit(X[keep], y[keep])
    level = _outlying_cosine(control, far) + 0.1
    with pytest.warns(UserWarning, match="what they leave there takes it"):
        model.unlearn(far, None, y[:1])
    assert _outlying_cosine(model, far) > 0.99
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.refresh_cache(X[keep], y[keep])
    assert _outlying_cosine(model, far) < level
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for i in range(20):
            rows = keep[10 * i:10 * i + 10]
            model.unlearn(X[rows], None, y[rows])
    assert not [w for w in caught if "what they leave there" in str(w.message)]


def test_many_rows_near_one_direction_erased_after_the_model_moved_are_warned_of():
    """A hundred rows near one direction (norm 10) of one label, erased
    after the hundred beside them of the other label moved the model: each
    leaves a little, together an eigenvalue of 1241 above what the rows that
    stay can give (their spectrum 200 to 1620) along their direction
    (|cos| 0.99998). A gate that weighed each row's leftover alone let it
    pass unwarned; the rows checked are those whose leftover can be the
    largest, and a few of them span the direction."""
    from sklearn_unlearn import UnlearnableLogisticRegression

    rng = np.random.default_rng(0)
    n, d, k = 1500, 5, 100
    X = rng.standard_normal((n, d))
    beta = rng.standard_normal(d)
    beta[0] = 0.0
    y = (X @ beta + rng.logistic(size=n) > 0).astype(int)
    A = 10.0 * np.eye(d)[0] + 0.05 * rng.standard_normal((k, d))
    B = 10.0 * np.eye(d)[0] + 0.05 * rng.standard_normal((k, d))
    model = UnlearnableLogisticRegression().fit(np.vstack([X, A, B]),
                                                np.r_[y, np.ones(k, int), np.zeros(k, int)])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.unlearn(B, None, np.zeros(k, int))
    with pytest.warns(UserWarning, match="what they leave there takes it above"):
        model.unlearn(A, None, np.ones(k, int))
    H = model.unlearning_cache_.hessians[0].matrix
    K = model.unlearning_cache_.gram.matrix
    values, vectors = np.linalg.eigh(H - np.diag(model.unlearning_cache_.objective.penalty)
                                     - 0.25 * K)
    u = np.r_[np.eye(d)[0], 0.0]
    assert values[-1] > 100.0 and abs(vectors[:, -1] @ u) > 0.99
