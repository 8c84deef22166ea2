"""The announcement of the low-rank mode, when ``hessian="auto"`` picks it."""

import numpy as np

from . import _lowrank


class LowRankModeWarning(UserWarning):
    """``hessian="auto"`` chose the low-rank mode: what it keeps and what it
    costs.

    Issued when a fit with ``hessian="auto"`` finds the dense Hessian blocks
    too large (above ``8000**2`` entries) and keeps
    :class:`~sklearn_unlearn.solvers.LowRankHessian` blocks instead: the updates are approximate,
    ``residual_bound_`` is ``inf`` and the model cannot be certified. Python
    shows it once per message; ``hessian="low_rank"`` chooses the mode
    explicitly and issues none.

    Examples
    --------
    >>> import warnings
    >>> import scipy.sparse as sp
    >>> from sklearn_unlearn import UnlearnableLogisticRegression
    >>> from sklearn_unlearn.solvers import LowRankModeWarning
    >>> X = sp.random(60, 9000, density=0.002, random_state=0, format="csr")
    >>> y = [0, 1] * 30
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     clf = UnlearnableLogisticRegression().fit(X, y)
    >>> [w.category.__name__ for w in caught]
    ['LowRankModeWarning']
    >>> clf.residual_bound_
    inf
    """

    @classmethod
    def of(cls, objective):
        """The warning for a fit of ``objective``.

        Parameters
        ----------
        objective : LinearObjective
            The objective of the fit, whose blocks set the sketch's size.

        Returns
        -------
        warning : LowRankModeWarning

        Examples
        --------
        >>> from sklearn_unlearn.losses import BinaryLogLoss
        >>> from sklearn_unlearn.solvers import (LinearDesign, LinearObjective,
        ...                                      LowRankModeWarning)
        >>> obj = LinearObjective(BinaryLogLoss(), LinearDesign(True), scale=1.0,
        ...                       l2=1.0, penalize_intercept=False,
        ...                       n_features=2**18, n_outputs=1)
        >>> print(str(LowRankModeWarning.of(obj))[:66])
        hessian='auto' keeps the Hessian in the low-rank mode: 262145 para
        """
        sizes = [len(objective.to_block(np.zeros((objective.n_params,
                                                  objective.n_outputs)), b))
                 for b in range(len(objective.block_columns))]
        columns = _lowrank.DEFAULT_RANK + (objective.n_outputs if objective.loss.coupled
                                  else 1) * objective.design.fit_intercept
        stored = sum(8 * size * columns for size in sizes)
        if objective.loss.coupled and objective.n_outputs > 1:
            # the class blocks, their inverses and their factors' inverses
            stored += 24 * objective.n_outputs**2 * objective.n_params
        return cls(
            f"hessian='auto' keeps the Hessian in the low-rank mode: "
            f"{max(sizes)} parameters per block are above the dense mode's "
            f"8000. The cache keeps a sketch of rank {columns} ({stored / 2**20:.0f} "
            "MiB); updates are approximate Newton steps, residual_bound_ is inf "
            "and the model cannot be certified. Set hessian='low_rank' to choose "
            "this mode (no warning), or fewer features (e.g. a smaller "
            "HashingVectorizer n_features) for the dense mode's exact updates "
            "and bound: see 'Low-rank mode' in the user guide."
        )
