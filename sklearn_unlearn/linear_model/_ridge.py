"""Ridge regression that unlearns exactly."""

import numpy as np
from sklearn.base import _fit_context
from sklearn.linear_model import Ridge
from sklearn.utils._param_validation import StrOptions

from ..losses import HalfSquaredError
from ..solvers import LinearDesign, LinearObjective
from ._base import UnlearnableLinearMixin


class UnlearnableRidge(UnlearnableLinearMixin, Ridge):
    """Ridge regression with exact closed-form unlearning.

    A drop-in :class:`~sklearn.linear_model.Ridge` whose objective
    ``sum_i s_i (y_i - x_i^T w - w_0)^2 + alpha ||w||^2`` is quadratic, so the
    second-order update of :meth:`unlearn` equals refitting on the corrected
    data up to round-off. Single and multi-target, dense or CSR input.

    Parameters
    ----------
    alpha, fit_intercept, copy_X, max_iter, tol, solver, random_state
        As in :class:`~sklearn.linear_model.Ridge`. ``alpha`` must be a single
        number.
    positive : bool, default=False
        Must be False: a constrained optimum has no closed-form update.
    hessian : {"auto", "dense", "low_rank"}, default="auto"
        How the cache keeps the Hessian of the training objective.
        ``"dense"``: factored ``p x p`` blocks (``p`` parameters, shared by all
        targets), exact second-order updates and a residual bound.
        ``"low_rank"``: a Nystrom sketch of rank 200 of the data part (exact
        on the columns of the 150 coordinates of largest curvature and of the
        intercept), its exact diagonal remainder and the penalty, in ``O(p)`` memory, for
        hashed text and other very wide data; the update is approximate and
        ``residual_bound_`` is ``inf``. ``"auto"`` is ``"dense"`` while the
        dense blocks hold at most ``8000**2`` entries in all, ``"low_rank"``
        otherwise.

    Attributes
    ----------
    coef_, intercept_, n_features_in_, feature_names_in_, n_iter_, solver_
        As in :class:`~sklearn.linear_model.Ridge`.
    unlearning_cache_ : :class:`~sklearn_unlearn.solvers.UnlearningCache`
        The factored Hessian ``2 (X^T S X + alpha I)`` (intercept row
        unpenalised) and the residual gradient. The data is not kept.

    See Also
    --------
    sklearn.linear_model.Ridge : The parent estimator.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.datasets import load_diabetes
    >>> from sklearn.linear_model import Ridge
    >>> from sklearn_unlearn import UnlearnableRidge
    >>> X, y = load_diabetes(return_X_y=True)
    >>> reg = UnlearnableRidge(alpha=0.1).fit(X, y)
    >>> reg = reg.unlearn(X[:10], None, y[:10])   # delete ten rows
    >>> refit = Ridge(alpha=0.1).fit(X[10:], y[10:])
    >>> bool(np.allclose(reg.coef_, refit.coef_))
    True
    """

    _parameter_constraints: dict = {
        **Ridge._parameter_constraints,
        "hessian": [StrOptions({"auto", "dense", "low_rank"})],
    }

    def __init__(
        self,
        *,
        alpha=1.0,
        fit_intercept=True,
        copy_X=True,
        max_iter=None,
        tol=1e-4,
        solver="auto",
        positive=False,
        random_state=None,
        hessian="auto",
    ):
        super().__init__(
            alpha=alpha,
            fit_intercept=fit_intercept,
            copy_X=copy_X,
            max_iter=max_iter,
            tol=tol,
            solver=solver,
            positive=positive,
            random_state=random_state,
        )
        self.hessian = hessian

    def _check_unlearnable(self):
        if self.positive:
            raise ValueError(
                "UnlearnableRidge does not support positive=True: the constrained "
                "optimum has no closed-form update."
            )
        if np.ndim(self.alpha) > 0 and np.size(self.alpha) > 1:
            raise ValueError(
                "UnlearnableRidge needs a single alpha for all targets; fit one "
                "model per target to use different penalties."
            )

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y, sample_weight=None):
        """Fit the model with the parent's solver and cache what unlearning needs.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Training data.
        y : array-like of shape (n_samples,) or (n_samples, n_targets)
            Target values.
        sample_weight : float or array-like of shape (n_samples,), default=None
            Weights of the samples.

        Returns
        -------
        self : object
            The fitted estimator.
        """
        self._check_unlearnable()
        super().fit(X, y, sample_weight=sample_weight)
        self._fit_unlearning_cache(X, y, sample_weight)
        return self

    def _unlearn_n_targets(self):
        return None if np.ndim(self.coef_) == 1 else np.shape(self.coef_)[0]

    def _unlearn_objective(self, n_features, n_outputs):
        return LinearObjective(
            HalfSquaredError(), LinearDesign(self.fit_intercept),
            scale=2.0, l2=2.0 * float(np.ravel(self.alpha)[0]),
            penalize_intercept=False, n_features=n_features, n_outputs=n_outputs,
        )

    def _unlearn_targets(self, y, sample_weight):
        Y = np.asarray(y, dtype=np.float64)
        Y = Y.reshape(len(Y), -1)
        n = len(Y)
        return Y, sample_weight[:, None], sample_weight, np.zeros(n, dtype=int), 1
