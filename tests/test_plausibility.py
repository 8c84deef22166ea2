"""Without fingerprints: implausible removals are flagged from the training
losses, and honest requests rarely are (Cantelli's bound, 1%)."""

import warnings

import numpy as np
import pytest
from sklearn.base import clone

from sklearn_unlearn import (
    UnlearnableLinearSVC,
    UnlearnableLogisticRegression,
    UnlearnableRidge,
)
from sklearn_unlearn._plausibility import ALARM_RATE, LossProfile
from sklearn_unlearn.solvers import UnlearningWarning


def _flagged(model, X_old, y_old, y_new=None, X_new=None):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model.plan_unlearn(X_old, X_new, y_old, y_new)
    return any(issubclass(w.category, UnlearningWarning) and "summed loss" in str(w.message)
               for w in caught)


def _three_classes(X, y, data):
    """Digits cut to three classes: a multinomial model that fits quickly."""
    if data != "digits":
        return X, y
    keep = y < 3
    return X[keep], y[keep]


CASES = {
    "logistic-breast_cancer": (UnlearnableLogisticRegression(), "breast_cancer"),
    "multinomial-digits": (UnlearnableLogisticRegression(C=0.1), "digits"),
    "svc-breast_cancer": (UnlearnableLinearSVC(C=0.1), "breast_cancer"),
    "ridge-diabetes": (UnlearnableRidge(alpha=1.0), "diabetes"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_honest_requests_are_rarely_flagged(case, request):
    # Uniformly drawn rows, deleted with their true targets: Cantelli's
    # inequality bounds the share flagged by ALARM_RATE (1%); over 150
    # requests at most 5 may be (a chance of about 0.05% at a true 1%).
    est, data = CASES[case]
    X, y = _three_classes(*request.getfixturevalue(data), data)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = clone(est).fit(X, y)
    rng = np.random.default_rng(0)
    flagged = 0
    for k in (1, 10, 50):
        for _ in range(50):
            rows = rng.choice(len(y), k, replace=False)
            flagged += _flagged(model, X[rows], y[rows])
    print(case, f"{flagged} of 150 honest requests flagged")
    assert flagged <= 5


def test_deleting_rows_with_wrong_labels_is_flagged(breast_cancer, digits):
    X, y = breast_cancer
    model = UnlearnableLogisticRegression().fit(X, y)
    rows = np.arange(0, 100, 5)
    assert _flagged(model, X[rows], 1 - y[rows])
    assert not _flagged(model, X[rows], y[rows])
    # a label repair that names the wrong old labels too
    assert _flagged(model, X[rows], 1 - y[rows], y_new=y[rows], X_new=X[rows])
    Xd, yd = _three_classes(*digits, "digits")
    multi = UnlearnableLogisticRegression(C=0.1).fit(Xd, yd)
    rows = np.arange(20)
    assert _flagged(multi, Xd[rows], (yd[rows] + 1) % 3)


def test_deleting_rows_with_wrong_targets_is_flagged(diabetes):
    X, y = diabetes
    model = UnlearnableRidge().fit(X, y)
    rows = np.arange(10)
    assert _flagged(model, X[rows], y[rows] + 3 * y.std())
    assert not _flagged(model, X[rows], y[rows])


def test_the_profile_follows_the_requests(breast_cancer):
    # an insertion moves the profile to the corrected rows at the parameters
    # of the request; a deletion drops it (it summed the removed rows' losses
    # at the fitted parameters), and a measurement on the rows takes it again
    X, y = breast_cancer
    model = UnlearnableLogisticRegression().fit(X[:400], y[:400])
    before = model.training_loss_profile_
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.unlearn(None, X[400:420], y_new=y[400:420])
    after = model.training_loss_profile_
    assert after.n_rows == 420 and after.total != before.total
    fresh = clone(model).fit(X[:420], y[:420])
    # the parameters moved by the request: the sums agree to the drift
    assert after.total == pytest.approx(fresh.training_loss_profile_.total, rel=0.05)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.unlearn(X[:10], None, y[:10])
    assert model.training_loss_profile_ is None
    # no profile, no judgement: a request of implausible rows is not warned of
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        # (the step is far: its own warning says so, not the profile's)
        warnings.filterwarnings("ignore", message="The request may land far")
        model.plan_unlearn(X[10:30], None, 1 - y[10:30])
    model.rebase_residual_bound(X[10:420], y[10:420])
    assert model.training_loss_profile_.n_rows == 410


def test_cantelli_threshold_and_its_rate():
    # the bound holds whatever the distribution: a heavy-tailed population,
    # subsets drawn uniformly, the empirical rate at most ALARM_RATE
    rng = np.random.default_rng(0)
    values = rng.pareto(2.5, size=2000)
    profile = LossProfile.of(values)
    for k in (1, 5, 40):
        sums = np.array([values[rng.choice(2000, k, replace=False)].sum()
                         for _ in range(4000)])
        rate = np.mean(sums > profile.threshold(k))
        assert rate <= ALARM_RATE + 0.005, (k, rate)
    assert profile.threshold(2000) == np.inf
    assert LossProfile(10.0, -1.0, 0.0).threshold(2) == np.inf


def test_the_flag_holds_no_figure_of_the_rows(breast_cancer):
    """The warning printed the removed rows' summed loss (to 3 digits), a
    figure of the rows that logs and Python's warnings registry keep after
    they are gone: it names the threshold they pass, a figure of the
    training profile."""
    from sklearn.metrics import log_loss

    X, y = breast_cancer
    model = UnlearnableLogisticRegression().fit(X, y)
    wrong = 1 - y[:3]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model.plan_unlearn(X[:3], None, wrong)
    (message,) = [str(w.message) for w in caught if "summed loss" in str(w.message)]
    loss = log_loss(wrong, model.predict_proba(X[:3]), normalize=False, labels=[0, 1])
    assert f"{loss:.3g}" not in message and "above" in message
