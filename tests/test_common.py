"""scikit-learn's estimator checks over every estimator the package exports."""

from sklearn.utils.estimator_checks import parametrize_with_checks

import sklearn_unlearn
from sklearn_unlearn import UnlearnableRidge

from .registry import REGISTRY, registered

ESTIMATORS = registered("sklearn_checks")


def test_every_exported_estimator_is_registered():
    # tests/registry.py: one entry an estimator, with what every common test
    # (these checks, the unlearning checks, the no-trace scan, persistence)
    # runs it on
    exported = {
        name for name in sklearn_unlearn.__all__
        if isinstance(getattr(sklearn_unlearn, name), type)
    }
    assert exported == {cls.__name__ for cls in REGISTRY}
    for cls, entry in REGISTRY.items():
        for part in ("sklearn_checks", "unlearning_checks", "no_trace"):
            instances = getattr(entry, part)
            assert instances, f"{cls.__name__} has no {part} in tests/registry.py"
        for est in (*entry.sklearn_checks, *entry.unlearning_checks):
            assert type(est) is cls


def _expected_failed_checks(estimator):
    # The same entry scikit-learn keeps for Ridge itself: the direct solvers
    # (cholesky, svd) report n_iter_=None, and the subclass keeps the parent's
    # attribute unchanged.
    if isinstance(estimator, UnlearnableRidge):
        return {
            "check_non_transformer_estimators_n_iter": (
                "inherited from Ridge: n_iter_ is None for direct solvers"
            )
        }
    return {}


@parametrize_with_checks(ESTIMATORS, expected_failed_checks=_expected_failed_checks)
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)
