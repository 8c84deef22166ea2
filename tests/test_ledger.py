"""The ledger of CertifiedRemoval cannot be bypassed or torn.

Fail closed on non-finite bounds, the exact step checked against its budget,
ownership of the final step, detection of changes made behind the ledger,
kept rows that are copies, all-or-nothing state changes under interrupts,
requests from several threads, consistent parameters, the regressors'
prediction agreement, and what ``spent`` means.
"""

import dataclasses
import linecache
import os
import pickle
import sys
import threading
import warnings

import joblib
import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.base import clone
from sklearn.datasets import make_classification, make_regression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer

import sklearn_unlearn
from sklearn_unlearn import UnlearnableLogisticRegression, UnlearnableRidge
from sklearn_unlearn.certified import (
    BudgetExceededError,
    Certificate,
    CertifiedRemoval,
    LedgerEntry,
    LedgerIntegrityError,
)


def _state(model):
    return pickle.dumps(model.__dict__)


def _classification(n=150, d=5, seed=4):
    X, y = make_classification(n_samples=n, n_features=d, n_informative=3,
                               n_redundant=0, flip_y=0.1, random_state=seed)
    return X, y


def _regression(n=120, d=4, seed=5):
    X, y = make_regression(n_samples=n, n_features=d, noise=2.0, random_state=seed)
    return X, y


def _logistic(**kw):
    params = dict(budget=1.0, random_state=0)
    params.update(kw)
    return CertifiedRemoval(UnlearnableLogisticRegression(), **params)


# -- fail closed -------------------------------------------------------------------


def _overflowing_correction(X, value=1e100):
    # finite values whose bound overflows (powers of the row norm): the
    # request passes validation
    return np.full((1, X.shape[1]), value)


def test_a_bound_that_is_not_finite_is_over_any_budget():
    X, y = _classification()
    model = _logistic(budget=10.0, on_budget_exceeded="raise").fit(X, y)
    before = _state(model)
    with pytest.raises(BudgetExceededError, match="not finite.*nothing was changed"):
        model.unlearn(X[:1], _overflowing_correction(X), y[:1])
    assert _state(model) == before
    # values whose squares overflow make the update itself non-finite: refused
    with pytest.raises(ValueError, match="non-finite.*Nothing was changed"):
        model.unlearn(X[:1], _overflowing_correction(X, 1e155), y[:1])
    assert _state(model) == before

    model = _logistic(budget=10.0, on_budget_exceeded="warn").fit(X, y)
    with pytest.warns(UserWarning, match="not finite"):
        model.unlearn(X[:1], _overflowing_correction(X), y[:1])
    cert = model.certificate_
    assert cert.void and not cert.valid and "not finite" in cert.void_reason
    assert cert.spent == np.inf and cert.ledger[-1].bound == np.inf
    assert all(entry.spent >= 0 for entry in cert.ledger)

    # retraining on rows that overflow either fails, changing nothing, or gives
    # a model with a finite bound: never a certificate that hides the overflow
    model = _logistic(budget=10.0, on_budget_exceeded="retrain").fit(X, y)
    before = _state(model)
    try:
        model.unlearn(X[:1], _overflowing_correction(X), y[:1])
    except ValueError:
        assert _state(model) == before
    else:
        cert = model.certificate_
        assert cert.n_retrains == 1 and np.isfinite(cert.spent)
        assert cert.valid or cert.void_reason


def test_a_fit_without_a_finite_bound_is_void_with_its_reason(monkeypatch):
    X, y = _classification()
    monkeypatch.setattr(UnlearnableLogisticRegression, "residual_bound_",
                        property(lambda self: np.nan))
    cert = _logistic().fit(X, y).certificate_
    assert cert.void and "not finite" in cert.void_reason
    assert cert.spent == np.inf and cert.ledger[0].bound == np.inf


def _far_row(X):
    row = np.zeros((1, X.shape[1]))
    row[0, 0] = 1e7
    return row


@pytest.mark.parametrize("policy", ["raise", "retrain", "warn"])
def test_an_exact_step_is_checked_against_its_budget(policy):
    X, y = _regression()
    model = CertifiedRemoval(UnlearnableRidge(alpha=1.0), budget=1e-4,
                             on_budget_exceeded=policy).fit(X, y)
    assert model.certificate_.exact and model.certificate_.valid
    before = _state(model)
    request = (None, _far_row(X), None, [3.0])
    if policy == "raise":
        with pytest.raises(BudgetExceededError, match="over the budget"):
            model.unlearn(*request)
        assert _state(model) == before
        return
    if policy == "warn":
        with pytest.warns(UserWarning, match="void"):
            model.unlearn(*request)
        cert = model.certificate_
        assert cert.void and "over the budget" in cert.void_reason
        assert cert.spent > cert.budget and not cert.valid
        return
    model.unlearn(*request)
    cert = model.certificate_
    assert cert.n_retrains == 1 and cert.ledger[-1].kind == "retrain"
    assert cert.spent <= cert.budget and cert.valid
    assert model.training_rows_.n_rows == len(y) + 1


# -- ownership -----------------------------------------------------------------------


@pytest.mark.parametrize("pipeline", [False, True])
def test_the_final_step_refuses_requests_of_its_own(pipeline, tmp_path):
    X, y = _classification()
    final = UnlearnableLogisticRegression()
    est = make_pipeline(FunctionTransformer(np.tanh), final) if pipeline else final
    model = CertifiedRemoval(est, random_state=0).fit(X, y)
    Xt = np.tanh(X) if pipeline else X
    joblib.dump(model, tmp_path / "m.joblib")
    for m in (model, pickle.loads(pickle.dumps(model)),
              joblib.load(tmp_path / "m.joblib")):
        inner = m.estimator_[-1] if pipeline else m.estimator_
        before = _state(m)
        with pytest.raises(ValueError, match=r"final step of a CertifiedRemoval.*"
                                             r"CertifiedRemoval\.unlearn"):
            inner.unlearn(Xt[:3], None, y[:3])
        assert _state(m) == before
        m.unlearn(X[:3], None, y[:3])                   # through the ledger
        assert m.certificate_.n_requests == 1


def test_ownership_is_no_parameter_and_does_not_follow_clones():
    X, y = _classification()
    template = UnlearnableLogisticRegression()
    model = CertifiedRemoval(template, random_state=0).fit(X, y)
    owned = model.estimator_
    assert "_unlearn_owner" not in template.__dict__
    assert not any("owner" in key for key in owned.get_params())
    assert not any("owner" in key for key in model.get_params())
    free = clone(owned).fit(X, y)
    free.unlearn(X[:3], None, y[:3])                    # not owned: accepted
    assert len(free.unlearn_history_) == 1
    refit = clone(model).fit(X, y)
    with pytest.raises(ValueError, match="final step of a CertifiedRemoval"):
        refit.estimator_.unlearn(X[:3], None, y[:3])


# -- changes behind the ledger ------------------------------------------------------


def _set_coef(m, X, y):
    m.estimator_.coef_ = m.estimator_.coef_ * 1.5


def _edit_coef(m, X, y):
    m.estimator_.coef_[0, 0] += 1e-12


def _refit(m, X, y):
    m.estimator_.fit(X[50:], y[50:])


def _swap(m, X, y):
    m.estimator_ = UnlearnableLogisticRegression().fit(X, y)


def _hyper_parameter(m, X, y):
    m.estimator_.set_params(C=5.0)


def _direct_request(m, X, y):
    # the marker removed by hand, then a request behind the ledger
    m.estimator_.__dict__.pop("_unlearn_owner", None)
    m.estimator_.unlearn(X[:5], None, y[:5])


def _edit_cached_parameters(m, X, y):
    # the next request starts from them: the released model would follow
    m.estimator_.unlearning_cache_.theta[0, 0] += 0.5


@pytest.mark.parametrize("change", [_set_coef, _edit_coef, _refit, _swap,
                                    _hyper_parameter, _direct_request,
                                    _edit_cached_parameters],
                         ids=lambda f: f.__name__.strip("_"))
def test_a_change_behind_the_ledger_is_refused(change):
    X, y = _classification()
    model = _logistic().fit(X, y)
    model.unlearn(X[10:12], None, y[10:12])
    change(model, X, y)
    before = _state(model)
    with pytest.raises(LedgerIntegrityError, match="no longer matches its certificate"):
        model.unlearn(X[20:22], None, y[20:22])
    with pytest.raises(LedgerIntegrityError, match="fit again"):
        model.verify()
    assert _state(model) == before
    model.fit(X, y)                                    # a new ledger
    model.unlearn(X[20:22], None, y[20:22])
    assert model.certificate_.n_requests == 1


@pytest.mark.parametrize("fmt", ["pickle", "skops"])
def test_the_digest_survives_a_round_trip(fmt, tmp_path):
    X, y = _regression()
    # a numpy scalar hyper-parameter: skops may give it back as another type
    model = CertifiedRemoval(UnlearnableRidge(alpha=np.float64(2.0)), budget=1.0)
    model.fit(X, y).unlearn(X[:4], None, y[:4])
    if fmt == "pickle":
        loaded = pickle.loads(pickle.dumps(model))
    else:
        sio = pytest.importorskip("skops.io")
        sio.dump(model, tmp_path / "m.skops")
        path = tmp_path / "m.skops"
        loaded = sio.load(path, trusted=sio.get_untrusted_types(file=path))
    assert loaded.certificate_ == model.certificate_
    assert loaded.training_rows_.X.flags.writeable is False
    loaded.unlearn(X[4:6], None, y[4:6])
    assert loaded.verify().true_residual <= loaded.certificate_.spent
    with pytest.raises(ValueError, match="final step of a CertifiedRemoval"):
        loaded.estimator_.unlearn(X[6:7], None, y[6:7])


# -- kept rows ---------------------------------------------------------------------------


@pytest.mark.parametrize("sparse", [False, True])
def test_kept_rows_are_read_only_copies(sparse):
    X, y = _classification()
    X_fit = sp.csr_matrix(X) if sparse else X.copy()
    y_fit = y.copy()
    model = _logistic().fit(X_fit, y_fit)
    kept = model.training_rows_
    # the caller edits its arrays in place after fit
    if sparse:
        X_fit.data[:] = 0.0
    else:
        X_fit[:10, 1] = 0.0
    y_fit[:] = 0
    dense = kept.X.toarray() if sparse else kept.X
    np.testing.assert_array_equal(dense, X)
    np.testing.assert_array_equal(kept.y, y)
    # the rows as trained on are still found
    model.unlearn(X[:10], None, y[:10])
    assert model.training_rows_.n_rows == len(y) - 10
    for rows in (model.training_rows_, pickle.loads(pickle.dumps(model)).training_rows_):
        arrays = ([rows.X.data, rows.X.indices, rows.X.indptr] if sparse else [rows.X])
        for a in [*arrays, rows.y, rows.sample_weight]:
            with pytest.raises(ValueError, match="read-only"):
                a[0] = a[0]


# -- all or nothing ---------------------------------------------------------------------

_LIB = os.path.dirname(sklearn_unlearn.__file__) + os.sep


class _InterruptAt:
    """A trace function raising KeyboardInterrupt at the n-th line executed in
    the library's own frames.

    The line event of a ``with`` statement is left out: after a block it
    precedes the call of ``__exit__`` outside the block's handler, a point that
    only a trace function reaches (a signal is delivered at a call or a jump,
    inside the block), and an exception there would leave a lock held.
    """

    def __init__(self, n):
        self.n = n
        self.fired = False

    def calls(self, frame, event, arg):
        if frame.f_code.co_filename.startswith(_LIB):
            return self.lines
        return None

    def lines(self, frame, event, arg):
        if event == "line":
            text = linecache.getline(frame.f_code.co_filename, frame.f_lineno)
            if not text.lstrip().startswith("with "):
                self.n -= 1
                if self.n == 0:
                    self.fired = True
                    raise KeyboardInterrupt
        return self.lines


def _interrupt_everywhere(saved, request):
    """Interrupt ``request(model)`` at every line, on a fresh copy each time."""
    with pytest.MonkeyPatch.context() as patch:
        # a retraining's fit draws a random name for the final step's
        # states: the same one every time, so that states compare whole
        patch.setattr("sklearn_unlearn.base._new_lineage", lambda: "0" * 32)
        return _interrupted_everywhere(saved, request)


def _interrupted_everywhere(saved, request):
    model = pickle.loads(saved)
    old = _state(model)
    request(model)
    new = _state(model)
    assert new != old
    seen = {"old": 0, "new": 0}
    n = 0
    while True:
        n += 1
        model = pickle.loads(saved)
        interrupt = _InterruptAt(n)
        sys.settrace(interrupt.calls)
        try:
            request(model)
        except KeyboardInterrupt:
            pass
        finally:
            sys.settrace(None)
        if not interrupt.fired:
            break                                        # the call completed
        state = _state(model)
        assert state in (old, new), f"torn state after an interrupt at line {n}"
        if state == old:
            seen["old"] += 1
            request(model)                               # the same request again
            assert _state(model) == new
        else:
            seen["new"] += 1
            with pytest.raises(ValueError, match="not among the training rows"):
                request(model)                           # the rows are gone
            assert _state(model) == new
    assert seen["old"] > 100 and seen["new"] >= 1
    return n


def test_an_interrupt_anywhere_in_a_request_leaves_old_or_new_state():
    X, y = _classification(n=100, d=3)
    # within the budget: the request is an update, not a retraining
    model = _logistic(budget=5.0, on_budget_exceeded="raise").fit(X, y)
    saved = pickle.dumps(model)

    def request(m):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            m.unlearn(X[:2], None, y[:2])

    lines = _interrupt_everywhere(saved, request)
    assert lines > 500


def test_an_interrupt_anywhere_in_a_retraining_leaves_old_or_new_state():
    X, y = _regression(n=40, d=3)
    X[0] *= 100.0                     # a row whose deletion costs round-off
    def request(m):
        m.unlearn(X[:1], None, y[:1])

    # a budget between the fit's own bound and the request's
    probe = CertifiedRemoval(UnlearnableRidge(), budget=1.0).fit(X, y)
    fitted = probe.certificate_.spent
    request(probe)
    budget = np.sqrt(fitted * probe.certificate_.spent)
    # (measuring the exact update's residual would fit the budget: retrain)
    model = CertifiedRemoval(UnlearnableRidge(), budget=budget,
                             measure_residual="never").fit(X, y)
    saved = pickle.dumps(model)
    request(model)
    assert model.certificate_.n_retrains == 1 and model.certificate_.valid
    _interrupt_everywhere(saved, request)


def test_an_interrupt_anywhere_in_a_measured_request_leaves_old_or_new_state():
    # a request over the budget whose measured residual fits it: the pass
    # over the kept rows, the re-based final step and the ledger entry
    X, y = _classification(n=60, d=3, seed=1)

    def request(m):
        m.unlearn(X[:3], None, y[:3])

    model = _logistic(budget=0.03).fit(X, y)
    saved = pickle.dumps(model)
    request(model)
    assert [e.kind for e in model.certificate_.ledger] == ["fit", "measured"]
    _interrupt_everywhere(saved, request)


# -- threads ----------------------------------------------------------------------------


@pytest.mark.filterwarnings("ignore:The request raises the residual bound")
def test_concurrent_requests_serialise():
    X, y = _classification(n=1500, d=80, seed=7)
    # "warn": every request is applied, whatever its bound
    saved = pickle.dumps(_logistic(budget=2.0, on_budget_exceeded="warn").fit(X, y))
    blocks = [np.arange(20 * i, 20 * i + 20) for i in range(4)]
    for trial in range(3):
        model = pickle.loads(saved)
        barrier = threading.Barrier(len(blocks))
        errors = []

        def work(rows, model=model, barrier=barrier, errors=errors):
            barrier.wait()
            try:
                model.unlearn(X[rows], None, y[rows])
            except Exception as exc:  # pragma: no cover - reported below
                errors.append(exc)

        threads = [threading.Thread(target=work, args=(b,)) for b in blocks]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert not errors
        cert = model.certificate_
        assert cert.n_requests == len(blocks) and len(cert.ledger) == 1 + len(blocks)
        assert model.estimator_.unlearning_cache_.n_requests == len(blocks)
        removed = np.concatenate(blocks)
        assert model.training_rows_.n_rows == len(y) - len(removed)
        assert model.estimator_.unlearning_cache_.counts.sum() == len(y) - len(removed)
        # every removed row left the kept rows, every other one stayed
        with pytest.raises(ValueError, match="not among the training rows"):
            model.unlearn(X[removed[:1]], None, y[removed[:1]])
        model.unlearn(X[100:101], None, y[100:101])
        report = model.verify()
        assert report.true_residual <= report.bound


# -- consistent parameters ---------------------------------------------------------


def test_retrain_without_kept_rows_is_refused_whenever_it_is_set():
    X, y = _classification()
    model = _logistic(keep_data=False, on_budget_exceeded="raise").fit(X, y)
    with pytest.raises(ValueError, match="'retrain' needs the training data"):
        model.set_params(on_budget_exceeded="retrain")
    assert model.on_budget_exceeded == "raise"
    # turning keep_data on does not give the fitted model its rows
    with pytest.raises(ValueError, match="keeps no rows"):
        model.set_params(keep_data=True, on_budget_exceeded="retrain")
    assert model.keep_data is False
    # set by assignment, around set_params: refused at the request
    model.on_budget_exceeded = "retrain"
    before = _state(model)
    with pytest.raises(ValueError, match="'retrain' needs the training data"):
        model.unlearn(X[:2], None, y[:2])
    assert _state(model) == before
    # and at fit
    with pytest.raises(ValueError, match="'retrain' needs the training data"):
        _logistic(keep_data=False, on_budget_exceeded="retrain").fit(X, y)
    # a consistent change is accepted, and set_params before fit never raises
    model.set_params(on_budget_exceeded="warn")
    _logistic().set_params(keep_data=False)


# -- verification of a regressor ---------------------------------------------------


def test_prediction_agreement_of_a_regressor_has_a_tolerance():
    X, y = _regression(n=200, d=6)
    model = CertifiedRemoval(UnlearnableRidge(alpha=0.5)).fit(X, y)
    model.unlearn(X[:3], None, y[:3])
    report = model.verify()
    assert report.parameter_distance <= 1e-12
    assert report.prediction_agreement == 1.0
    # rtol=0 is the exact comparison
    rows = model.training_rows_
    refit = clone(model.estimator_).fit(rows.X, rows.y)
    exact = np.mean(model.predict(rows.X) == refit.predict(rows.X))
    assert model.verify(rtol=0.0).prediction_agreement == pytest.approx(exact)
    with pytest.raises(ValueError, match="rtol"):
        model.verify(rtol=-1.0)


# -- what spent means --------------------------------------------------------------------


def test_spent_never_decreases_and_no_entry_is_negative():
    # a first-order step leaves a residual that a refined request then
    # lowers: the bound goes down, spent does not
    X, y = _classification()
    model = _logistic(budget=5.0).fit(X, y)
    bounds = [model.estimator_.residual_bound_]
    spent = [model.certificate_.spent]
    for i, method in enumerate(["first_order", "refined", "second_order", "refined"]):
        model.unlearn(X[3 * i: 3 * i + 3], None, y[3 * i: 3 * i + 3], method=method)
        bounds.append(model.estimator_.residual_bound_)
        spent.append(model.certificate_.spent)
    cert = model.certificate_
    assert np.any(np.diff(bounds) < 0)          # a request that lowered the bound
    assert np.all(np.diff(spent) >= 0)
    assert np.all(np.asarray(spent) >= np.maximum.accumulate(bounds))
    assert all(entry.spent >= 0 for entry in cert.ledger)
    assert sum(entry.spent for entry in cert.ledger) == pytest.approx(cert.spent,
                                                                     rel=1e-12)


def test_certificates_are_immutable_and_void_ones_say_why():
    X, y = _classification()
    cert = _logistic().fit(X, y).certificate_
    with pytest.raises(dataclasses.FrozenInstanceError):
        cert.spent = 0.0
    with pytest.raises(ValueError, match="void_reason"):
        dataclasses.replace(cert, void=True)
    with pytest.raises(ValueError, match="non-negative"):
        dataclasses.replace(cert, spent=-1.0)
    with pytest.raises(ValueError, match="non-negative"):
        dataclasses.replace(cert, spent=np.nan)
    with pytest.raises(ValueError, match="non-negative"):
        LedgerEntry("request", 1, 0, 1.0, -0.5)
    assert isinstance(cert, Certificate) and isinstance(cert.ledger, tuple)
