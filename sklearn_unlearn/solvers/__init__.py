"""Solvers and caches: the objective, its factored Hessian, and the state kept
from fit to unlearn."""

from ._cache import UnlearningCache
from ._design import LinearDesign
from ._factored import FactoredHessian, NotPositiveDefiniteError
from ._lowrank import LowRankHessian
from ._mode import LowRankModeWarning
from ._objective import LinearObjective
from ._pending import PendingMatrix
from ._phases import UnlearningWarning
from ._rows import RowCurvature

__all__ = [
    "FactoredHessian",
    "LinearDesign",
    "LinearObjective",
    "LowRankHessian",
    "LowRankModeWarning",
    "NotPositiveDefiniteError",
    "PendingMatrix",
    "RowCurvature",
    "UnlearningCache",
    "UnlearningWarning",
]
