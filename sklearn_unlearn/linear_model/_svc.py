"""Linear SVC (squared hinge) that can unlearn features, labels and rows."""

import numpy as np
from sklearn.svm import LinearSVC
from sklearn.utils._param_validation import StrOptions

from .._request import UNLEARN_METHODS
from ..base import UnlearnTags
from ..losses import SquaredHinge
from ..solvers import LinearDesign, LinearObjective
from ._classifier import UnlearnableClassifierMixin


class UnlearnableLinearSVC(UnlearnableClassifierMixin, LinearSVC):
    """Linear support vector classifier with closed-form unlearning.

    A drop-in :class:`~sklearn.svm.LinearSVC` for its default loss, the squared
    hinge with an L2 penalty: ``C * sum_i s_i max(0, 1 - y_i x_i^T w)^2 +
    ||w||^2 / 2``, where liblinear treats the intercept as one more feature of
    value ``intercept_scaling`` (so it is penalised). Binary, or one-vs-rest
    for more classes (one independent problem per class).

    The update uses the generalised Hessian ``2 C sum_{margin < 1} x x^T``.
    Its curvature jumps at the margin, so no residual bound exists: the
    update is approximate and cannot be certified (``residual_bound_`` is
    ``inf``).

    Parameters
    ----------
    penalty : {"l2"}, default="l2"
        Only the L2 penalty can be unlearned.
    loss : {"squared_hinge"}, default="squared_hinge"
        Only the squared hinge is differentiable.
    dual, tol, C, fit_intercept, intercept_scaling, class_weight, verbose, \
random_state, max_iter
        As in :class:`~sklearn.svm.LinearSVC`. With
        ``class_weight="balanced"`` only edits of features are unlearned,
        as in :class:`~sklearn_unlearn.UnlearnableLogisticRegression`.
    multi_class : {"ovr"}, default="ovr"
        Crammer-Singer is not supported.
    hessian : {"auto", "dense", "low_rank"}, default="auto"
        How the cache keeps the Hessian: one factored ``p x p`` block per
        binary problem (``"dense"``), or a Nystrom sketch in ``O(p)`` memory
        for very wide data (``"low_rank"``). ``"auto"`` is dense while the
        blocks hold at most ``8000**2`` entries; see :ref:`low-rank`.

    Attributes
    ----------
    coef_, intercept_, classes_, n_features_in_, feature_names_in_, n_iter_
        As in :class:`~sklearn.svm.LinearSVC`.
    unlearning_cache_ : :class:`~sklearn_unlearn.solvers.UnlearningCache`
        One factored Hessian per binary problem and the residual gradient.

    See Also
    --------
    sklearn.svm.LinearSVC : The parent estimator.

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from sklearn_unlearn import UnlearnableLinearSVC
    >>> X, y = load_iris(return_X_y=True)
    >>> svc = UnlearnableLinearSVC(C=0.1).fit(X, y)
    >>> svc = svc.unlearn(X[:5], None, y[:5])   # delete five rows
    >>> svc.coef_.shape
    (3, 4)
    """

    _parameter_constraints: dict = {
        **LinearSVC._parameter_constraints,
        "hessian": [StrOptions({"auto", "dense", "low_rank"})],
    }
    _multiclass_scheme = "ovr"

    def __init__(
        self,
        *,
        penalty="l2",
        loss="squared_hinge",
        dual="auto",
        tol=1e-4,
        C=1.0,
        multi_class="ovr",
        fit_intercept=True,
        intercept_scaling=1,
        class_weight=None,
        verbose=0,
        random_state=None,
        max_iter=1000,
        hessian="auto",
    ):
        super().__init__(
            penalty=penalty,
            loss=loss,
            dual=dual,
            tol=tol,
            C=C,
            multi_class=multi_class,
            fit_intercept=fit_intercept,
            intercept_scaling=intercept_scaling,
            class_weight=class_weight,
            verbose=verbose,
            random_state=random_state,
            max_iter=max_iter,
        )
        self.hessian = hessian

    _adopted_class = LinearSVC

    def _init_fitted_attributes(self, n_features, y_shape):
        m = self._unlearn_n_outputs(y_shape)
        self.coef_ = np.zeros((m, n_features))
        self.intercept_ = np.zeros(m) if self.fit_intercept else 0.0

    def _chunked_n_iter(self, n_iter):
        return int(n_iter)

    def _published_dtype(self, X_dtype):
        return np.float64           # liblinear's, whatever the data

    def _check_unlearnable(self):
        if self.penalty != "l2" or self.loss != "squared_hinge":
            raise ValueError(
                "UnlearnableLinearSVC supports only penalty='l2' with "
                f"loss='squared_hinge' (got penalty={self.penalty!r}, "
                f"loss={self.loss!r}): the update needs a differentiable loss."
            )
        if self.multi_class != "ovr":
            raise ValueError(
                "UnlearnableLinearSVC supports only multi_class='ovr' (got "
                f"{self.multi_class!r})."
            )

    def _unlearn_tags(self):
        # the squared hinge's curvature jumps at the margin: no bound
        return UnlearnTags(methods=UNLEARN_METHODS, measures_residual=True)

    def _unlearn_objective(self, n_features, n_outputs):
        design = LinearDesign(self.fit_intercept, self.intercept_scaling)
        return LinearObjective(
            SquaredHinge(), design, scale=self.C, l2=1.0, penalize_intercept=True,
            n_features=n_features, n_outputs=n_outputs,
        )
