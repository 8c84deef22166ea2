"""Common checks of unlearnable estimators.

Every estimator that implements the unlearning contract
(:class:`~sklearn_unlearn.base.UnlearnerMixin`: ``unlearn``,
``plan_unlearn``, ``apply_unlearn``, ``unlearn_history_`` and the tags of
:func:`~sklearn_unlearn.base.get_unlearn_tags`), of this package or written
elsewhere, should pass them. Each check takes an unfitted estimator, fits
clones of it on a small problem of the kind its tags ask for (classes or
targets, binary or multiclass, positive targets) and raises an
``AssertionError`` that says what failed and by how much.
"""

import copy
import warnings

import numpy as np
from sklearn.base import is_classifier

from . import _check_data as data
from ._check_state import distance, outputs, parameters, round_trips, state_hash
from ._trace_probe import trace_requests
from ._trace_scan import report, scan

__all__ = [
    "check_unlearn_all_or_nothing",
    "check_unlearn_insert_then_delete",
    "check_unlearn_moves_towards_refit",
    "check_unlearn_no_trace",
    "check_unlearn_persistence",
    "check_unlearn_plan_apply",
    "check_unlearning",
    "parametrize_with_unlearning_checks",
]

#: Largest ``distance(update, refit) / distance(original, refit)`` accepted:
#: round-off for an exact estimator, "much smaller" for a convex one, and for
#: a non-convex one an update that moves towards it at all (one that does
#: nothing stays at 1). A non-convex model is measured on its outputs only:
#: its parameters are defined up to symmetries.
TOWARDS_REFIT = {"exact": 1e-6, "convex": 0.25, "non-convex": 0.99}
#: Largest ``distance(insert then delete, original) / distance(insert,
#: original)`` accepted, by the same kinds.
ROUND_TRIP = {"exact": 1e-6, "convex": 0.05, "non-convex": 0.9}


def _kind(tags):
    return "exact" if tags.exact else "convex" if tags.convex else "non-convex"


def _name(estimator):
    return type(estimator).__name__


def check_unlearn_moves_towards_refit(estimator):
    """A deletion, an insertion, a feature edit and a label change each move
    the model towards a refit on the corrected data.

    ``distance(updated, refit)`` must be at most :data:`TOWARDS_REFIT` times
    ``distance(original, refit)``, on the outputs and, where the estimator's
    base class declares them, the parameters. The refit of a non-convex
    estimator continues training from the fitted parameters.
    """
    tags = data.unlearn_tags(estimator)
    limit = TOWARDS_REFIT[_kind(tags)]
    problem = data.make_problem(estimator)
    fitted = data.fit(estimator, problem.X, problem.y)
    probe = np.vstack([problem.X, problem.X_extra])
    for kind, (request, (X_fix, y_fix)) in data.requests(estimator, problem).items():
        reference = data.refit(estimator, fitted, X_fix, y_fix)
        updated = data.unlearn(copy.deepcopy(fitted), request)
        before = distance(fitted, reference, probe, with_parameters=tags.convex)
        after = distance(updated, reference, probe, with_parameters=tags.convex)
        for what, d0 in before.items():
            ratio = after[what] / d0 if d0 > 0 else (0.0 if after[what] == 0 else np.inf)
            assert ratio <= limit, (
                f"{_name(estimator)}: after a {kind} the {what} are "
                f"{after[what]:.3g} from a refit on the corrected data, "
                f"{ratio:.3g} times the {d0:.3g} of the model before the request "
                f"(at most {limit:g} for a {_kind(tags)} estimator)."
            )


def _bad_requests(estimator, problem):
    X, y, k = problem.X, problem.y, 3
    nan = X[:k].copy()
    nan[1, 2] = np.nan
    unknown = y[:k].copy()
    if np.issubdtype(unknown.dtype, np.number):
        unknown = unknown.astype(np.float64)
        unknown[0] = np.nan if not is_classifier(estimator) else unknown.max() + 7
    else:
        unknown[0] = "never seen"
    return {
        "NaN in the removed rows": ((nan, None, y[:k], None), {}),
        "NaN in the inserted rows": ((None, nan, None, y[:k]), {}),
        "rows of the wrong width": ((X[:k, :-1], None, y[:k], None), {}),
        "unknown labels" if is_classifier(estimator) else "NaN targets":
            ((X[:k], X[:k], y[:k], unknown), {}),
        "more targets than rows": ((X[:k], None, y[:k + 1], None), {}),
        "X_old and X_new of different lengths": ((X[:k], X[:k + 1], y[:k], None), {}),
        "the deletion of more weight than trained on":
            ((X[:k], None, y[:k], None), {"sample_weight": np.full(k, 1e6)}),
    }


def check_unlearn_all_or_nothing(estimator):
    """A bad request raises ``ValueError`` from ``unlearn`` and
    ``plan_unlearn``, and leaves every attribute as it was (by
    :func:`joblib.hash`)."""
    problem = data.make_problem(estimator)
    est = data.unlearn(data.fit(estimator, problem.X, problem.y),
                       data.requests(estimator, problem)["deletion"][0])
    for what, ((X_old, X_new, y_old, y_new), kw) in _bad_requests(estimator, problem).items():
        for verb in ("unlearn", "plan_unlearn"):
            before = state_hash(est)
            call = est.unlearn if verb == "unlearn" else est.plan_unlearn
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    call(X_old, X_new, y_old, y_new, **kw)
            except ValueError:
                pass
            else:
                raise AssertionError(
                    f"{_name(estimator)}.{verb} accepted a request with {what}: "
                    "it must raise ValueError.")
            assert state_hash(est) == before, (
                f"{_name(estimator)}.{verb} refused a request with {what} but "
                "changed the estimator's state: a refused request must leave "
                "every attribute as it was.")


def check_unlearn_plan_apply(estimator):
    """``plan_unlearn`` changes nothing; ``apply_unlearn`` of its plan gives
    what ``unlearn`` gives; a plan made on another state is refused."""
    problem = data.make_problem(estimator)
    reqs = data.requests(estimator, problem)
    est = data.fit(estimator, problem.X, problem.y)
    before = state_hash(est)
    plan = data.plan(est, reqs["feature edit"][0])
    assert state_hash(est) == before, (
        f"{_name(estimator)}.plan_unlearn changed the estimator's state: a plan "
        "must leave every attribute as it was.")
    direct = data.unlearn(copy.deepcopy(est), reqs["feature edit"][0])
    est.apply_unlearn(plan)
    gap = np.max(np.abs(outputs(est, problem.X) - outputs(direct, problem.X)))
    assert gap == 0, (
        f"{_name(estimator)}: apply_unlearn of a plan and unlearn of the same "
        f"request give outputs that differ by up to {gap:.3g}.")
    p, q = parameters(est), parameters(direct)
    assert p is None or np.array_equal(p, q), (
        f"{_name(estimator)}: apply_unlearn of a plan and unlearn of the same "
        f"request give parameters that differ by {np.max(np.abs(p - q)):.3g}.")
    assert len(est.unlearn_history_) == len(direct.unlearn_history_) == 1, (
        f"{_name(estimator)}: after one request unlearn_history_ holds "
        f"{len(est.unlearn_history_)} reports (apply_unlearn) and "
        f"{len(direct.unlearn_history_)} (unlearn), not 1.")
    # rows the edit above did not touch
    X, y, k = problem.X, problem.y, data.N_REQUEST
    other = (X[k:2 * k], None, y[k:2 * k], None)
    for what, stale in [("already applied", plan),
                        ("made before another request", data.plan(est, reqs["insertion"][0]))]:
        if what != "already applied":
            data.unlearn(est, other)
        before = state_hash(est)
        try:
            est.apply_unlearn(stale)
        except ValueError:
            pass
        else:
            raise AssertionError(
                f"{_name(estimator)}.apply_unlearn applied a plan {what}: a plan "
                "made on another state must be refused with ValueError.")
        assert state_hash(est) == before, (
            f"{_name(estimator)}.apply_unlearn refused a plan {what} but changed "
            "the estimator's state.")


def check_unlearn_persistence(estimator):
    """A fitted and unlearned estimator, saved and loaded (pickle, joblib,
    skops when installed), predicts the same and unlearns on to the same
    outputs (to 1e-10 relative)."""
    problem = data.make_problem(estimator)
    reqs = data.requests(estimator, problem)
    est = data.unlearn(data.fit(estimator, problem.X, problem.y), reqs["feature edit"][0])
    expected = outputs(est, problem.X)
    further = outputs(data.unlearn(copy.deepcopy(est), reqs["insertion"][0]), problem.X)
    for fmt, loaded in round_trips(est):
        gap = np.max(np.abs(outputs(loaded, problem.X) - expected))
        assert gap == 0, (
            f"{_name(estimator)} saved with {fmt} and loaded predicts differently "
            f"(by up to {gap:.3g}).")
        got = outputs(data.unlearn(loaded, reqs["insertion"][0]), problem.X)
        gap = np.max(np.abs(got - further)) / max(np.max(np.abs(further)), 1e-300)
        assert gap <= 1e-10, (
            f"{_name(estimator)} saved with {fmt} and loaded unlearns differently: "
            f"after the same request its outputs differ by {gap:.3g} (relative; "
            "at most 1e-10).")


def check_unlearn_insert_then_delete(estimator):
    """Inserting rows and then deleting them returns to the original model:
    the outputs' distance to the original is at most :data:`ROUND_TRIP`
    times the distance the insertion moved them."""
    tags = data.unlearn_tags(estimator)
    limit = ROUND_TRIP[_kind(tags)]
    problem = data.make_problem(estimator)
    fitted = data.fit(estimator, problem.X, problem.y)
    probe = np.vstack([problem.X, problem.X_extra])
    inserted = data.unlearn(copy.deepcopy(fitted), data.requests(estimator, problem)["insertion"][0])
    moved = distance(inserted, fitted, probe, with_parameters=tags.convex)
    back = data.unlearn(copy.deepcopy(inserted),
                        (problem.X_extra, None, problem.y_extra, None))
    left = distance(back, fitted, probe, with_parameters=tags.convex)
    for what, d0 in moved.items():
        assert left[what] <= limit * d0, (
            f"{_name(estimator)}: inserting {len(problem.X_extra)} rows moved the "
            f"{what} by {d0:.3g}; deleting them again left them {left[what]:.3g} "
            f"from the original ({left[what] / d0 if d0 else np.inf:.3g} times; at "
            f"most {limit:g} for a {_kind(tags)} estimator).")


def check_unlearn_no_trace(estimator):
    """After deletions and feature edits, no serialization and no reachable
    array of the estimator holds an erased row or value, or anything from
    which one can be read back (see :mod:`sklearn_unlearn.utils._trace_scan`)."""
    for what, est, erased in trace_requests(estimator):
        findings = scan(est, erased)
        assert not findings, (
            f"{_name(estimator)}: after {what}, {len(findings)} trace(s) of erased "
            f"data remain:\n{report(findings)}")


CHECKS = (
    check_unlearn_moves_towards_refit,
    check_unlearn_all_or_nothing,
    check_unlearn_plan_apply,
    check_unlearn_persistence,
    check_unlearn_insert_then_delete,
    check_unlearn_no_trace,
)


def check_unlearning(estimator):
    """Run every unlearning check on an unfitted estimator.

    Parameters
    ----------
    estimator : estimator object
        An unfitted estimator that implements the unlearning contract; it is
        cloned, never changed.

    Raises
    ------
    AssertionError
        The first check that fails, with what failed and by how much.

    Examples
    --------
    >>> from sklearn_unlearn import UnlearnableRidge
    >>> from sklearn_unlearn.utils import check_unlearning
    >>> check_unlearning(UnlearnableRidge())
    """
    for check in CHECKS:
        check(estimator)


def parametrize_with_unlearning_checks(estimators):
    """A ``pytest.mark.parametrize`` of ``(estimator, check)`` over every
    check of every estimator, as scikit-learn's ``parametrize_with_checks``.

    Parameters
    ----------
    estimators : list of estimator objects
        Unfitted estimators that implement the unlearning contract.

    Returns
    -------
    decorator : pytest.mark.parametrize
        Parametrises a test of ``estimator`` and ``check`` that calls
        ``check(estimator)``.

    Examples
    --------
    >>> from sklearn_unlearn import UnlearnableRidge
    >>> from sklearn_unlearn.utils import parametrize_with_unlearning_checks
    >>> @parametrize_with_unlearning_checks([UnlearnableRidge()])
    ... def test_unlearning(estimator, check):
    ...     check(estimator)
    """
    import pytest

    cases = [(est, check) for est in estimators for check in CHECKS]
    ids = [f"{est!r}-{check.__name__}" for est, check in cases]
    return pytest.mark.parametrize("estimator, check", cases, ids=ids)
