"""Solvers and caches: the objective, its factored Hessian, and the state kept
from fit to unlearn."""

from ._cache import RequestReport, UnlearningCache, UnlearningWarning
from ._design import LinearDesign
from ._factored import FactoredHessian, NotPositiveDefiniteError
from ._lowrank import LowRankHessian
from ._objective import LinearObjective

__all__ = [
    "FactoredHessian",
    "LinearDesign",
    "LinearObjective",
    "LowRankHessian",
    "NotPositiveDefiniteError",
    "RequestReport",
    "UnlearningCache",
    "UnlearningWarning",
]
