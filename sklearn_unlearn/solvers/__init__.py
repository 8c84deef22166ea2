"""Solvers and caches: the state kept from fit to unlearn (``_cache.py``) and
the parts it is made of, one folder a job: ``objective/`` (the training
objective and its Hessian blocks), ``hessian/`` (how the Hessian and the
bound's Gram matrices are stored and changed), ``steps/`` (the update steps
of a request), ``bounds/`` (the residual bound) and ``fit/`` (what a fit
computes for the cache)."""

import importlib
import sys

from ._cache import UnlearningCache
from .hessian._factored import FactoredHessian, NotPositiveDefiniteError
from .hessian._lowrank import LowRankHessian
from .hessian._mode import LowRankModeWarning
from .hessian._pending import PendingMatrix
from .hessian._rows import RowCurvature
from .objective._design import LinearDesign
from .objective._objective import LinearObjective
from .steps._phases import UnlearningWarning

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

# Files saved before the modules moved into their folders name them by their
# old paths (``sklearn_unlearn.solvers._factored``, ...): those names stay
# importable, as the same modules, so that such files still load.
_MOVED = {
    "objective": ("_blocks", "_design", "_objective", "_operators"),
    "hessian": ("_columns", "_entry_sides", "_factored", "_fold", "_lowrank", "_mode",
                "_pending", "_rows", "_rows_columns", "_rows_dense", "_sketch", "_third"),
    "steps": ("_auto", "_coordinates", "_phases", "_refine", "_request_change",
              "_request_rows"),
    "bounds": ("_bound", "_drift", "_roundoff"),
    "fit": ("_chunked_newton", "_chunks", "_polish"),
}
for _folder, _names in _MOVED.items():
    for _name in _names:
        sys.modules.setdefault(f"{__name__}.{_name}",
                               importlib.import_module(f".{_folder}.{_name}", __name__))
