"""The unlearning checks over every exported estimator, and on broken
unlearners, which they must catch."""

import numpy as np
import pytest

from sklearn_unlearn import UnlearnableRidge
from sklearn_unlearn.utils import check_unlearning, parametrize_with_unlearning_checks
from sklearn_unlearn.utils import estimator_checks as ec
from sklearn_unlearn.utils._check_state import TRUSTED_TYPES

from .registry import registered

ESTIMATORS = registered("unlearning_checks")


@parametrize_with_unlearning_checks(ESTIMATORS)
def test_unlearning_checks(estimator, check):
    check(estimator)


def test_trusted_types_are_the_persistence_guide_s():
    from pathlib import Path
    import re

    doc = (Path(__file__).parents[1] / "doc" / "persistence.rst").read_text()
    section = doc.split("Types to trust, estimator by estimator")[1]
    listed = set(re.findall(r"^   (sklearn[\w.]+)", section, re.M))
    assert listed == set(TRUSTED_TYPES)


# -- broken unlearners ----------------------------------------------------------------
class DoesNothing(UnlearnableRidge):
    def unlearn(self, X_old, X_new, y_old=None, y_new=None, *, sample_weight=None,
                **options):
        return self


class PlanMutates(UnlearnableRidge):
    def plan_unlearn(self, *args, **kwargs):
        self.coef_ = self.coef_ + 1e-3
        return super().plan_unlearn(*args, **kwargs)


class KeepsErasedRows(UnlearnableRidge):
    def unlearn(self, X_old, X_new, y_old=None, y_new=None, *, sample_weight=None,
                **options):
        super().unlearn(X_old, X_new, y_old, y_new, sample_weight=sample_weight,
                        **options)
        self.audit_log_ = np.array(X_old, dtype=float, copy=True)
        return self


class HalfApplies(UnlearnableRidge):
    def unlearn(self, X_old, X_new, y_old=None, y_new=None, *, sample_weight=None,
                **options):
        self.intercept_ = self.intercept_ * 0.5 + 0.0
        return super().unlearn(X_old, X_new, y_old, y_new, sample_weight=sample_weight,
                               **options)


@pytest.mark.parametrize(("broken", "check", "message"), [
    (DoesNothing(), ec.check_unlearn_moves_towards_refit, "from a refit"),
    (PlanMutates(), ec.check_unlearn_plan_apply, "plan_unlearn changed"),
    (KeepsErasedRows(), ec.check_unlearn_no_trace, "trace"),
    (HalfApplies(), ec.check_unlearn_all_or_nothing, "changed the estimator's state"),
], ids=["does nothing", "plan mutates", "keeps erased rows", "half applies"])
def test_checks_catch_a_broken_unlearner(broken, check, message):
    with pytest.raises(AssertionError, match=message):
        check(broken)
    # all the checks together may catch it earlier (a plan_unlearn that
    # mutates also changes the state behind a refused request)
    with pytest.raises(AssertionError, match=message + "|changed"):
        check_unlearning(broken)


def test_an_estimator_that_cannot_unlearn_is_refused():
    from sklearn.linear_model import Ridge

    with pytest.raises(AssertionError, match="declares no unlearning tags"):
        check_unlearning(Ridge())
