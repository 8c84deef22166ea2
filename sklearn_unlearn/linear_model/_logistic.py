"""Logistic regression that can unlearn features, labels and rows."""

from numbers import Real

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions

from .._request import UNLEARN_METHODS
from ..base import UnlearnTags
from ..losses import BinaryLogLoss, MultinomialLogLoss
from ..solvers import LinearDesign, LinearObjective
from ._classifier import UnlearnableClassifierMixin


class UnlearnableLogisticRegression(UnlearnableClassifierMixin, LogisticRegression):
    """Logistic regression with closed-form unlearning.

    A drop-in :class:`~sklearn.linear_model.LogisticRegression`: it fits with
    the same solver to the same optimum (polished with Newton steps to round-off
    level), and adds :meth:`unlearn`, which moves the model to where retraining
    on corrected data would put it, from a cache made at fit time and the
    affected rows alone. Binary and multinomial, L2 penalty, dense or CSR input.

    The objective is ``C * sum_i s_i log_loss_i + ||w||^2 / 2`` (liblinear
    also penalises the intercept, as one more feature of value
    ``intercept_scaling``), plus ``b^T theta`` when ``objective_noise > 0``.

    Parameters
    ----------
    penalty : {"l2", "deprecated"}, default="deprecated"
        Only the L2 penalty can be unlearned (``l1_ratio=0``, finite ``C``).
    C, l1_ratio, dual, tol, fit_intercept, intercept_scaling, class_weight, \
solver, max_iter, verbose, warm_start, n_jobs
        As in :class:`~sklearn.linear_model.LogisticRegression`.
        With ``class_weight="balanced"`` only edits of features are
        unlearned (every weight depends on the class counts, which a
        deletion, an insertion or a label change moves): fix the weights
        with a dict for the others.
    random_state : int, RandomState instance or None, default=None
        Seeds the solver as in the parent, and the objective noise.
    objective_noise : float, default=0.0
        Standard deviation ``sigma`` of the objective perturbation
        ``b ~ N(0, sigma^2 I)`` over all parameters, intercepts included, used
        by certified removal (:class:`~sklearn_unlearn.certified.CertifiedRemoval`
        sets it). For a multinomial model with an intercept, the component of
        ``b`` along the unidentifiable common shift of the intercepts is
        removed.
    hessian : {"auto", "dense", "low_rank"}, default="auto"
        How the cache keeps the Hessian: factored ``p x p`` blocks
        (``"dense"``; ``K p`` for a multinomial model), or a Nystrom sketch in
        ``O(p)`` memory for very wide data (``"low_rank"``: approximate updates,
        ``residual_bound_`` is ``inf``). ``"auto"`` is dense while the blocks
        hold at most ``8000**2`` entries; see :ref:`low-rank`.
    residual_bound : bool, default=True
        Whether to keep what the bound on the gradient residual needs (the
        Gram matrices ``K = sum_i s_i x_i x_i^T`` and ``K_R = sum_i s_i
        ||x_i|| x_i x_i^T``, two more ``p x p`` matrices, each an ``O(n p^2)``
        pass at fit, about as long as the Hessian's) and to bound every
        request. With ``False`` the cache costs a third at fit, each
        request skips the bound's products, and ``residual_bound_`` is
        ``inf``; the update is the same.
        :class:`~sklearn_unlearn.certified.CertifiedRemoval` sets it to
        ``True``.

    Attributes
    ----------
    coef_, intercept_, classes_, n_features_in_, feature_names_in_, n_iter_
        As in :class:`~sklearn.linear_model.LogisticRegression`.
    unlearning_cache_ : :class:`~sklearn_unlearn.solvers.UnlearningCache`
        What unlearning needs: the factored Hessian at the optimum, the
        residual gradient, the Gram matrix and row norms for the bound. The
        training data is not kept.

    See Also
    --------
    sklearn.linear_model.LogisticRegression : The parent estimator.
    UnlearnableLinearSVC : Squared hinge loss, not certifiable.

    Examples
    --------
    >>> from sklearn.datasets import load_breast_cancer
    >>> from sklearn.preprocessing import scale
    >>> from sklearn_unlearn import UnlearnableLogisticRegression, zero_features
    >>> X, y = load_breast_cancer(return_X_y=True)
    >>> X = scale(X)
    >>> clf = UnlearnableLogisticRegression().fit(X, y)
    >>> # forget feature 0 of the first 20 training rows
    >>> clf = clf.unlearn(X[:20], zero_features(X[:20], [0]), y[:20])
    >>> clf.score(X, y) > 0.95
    True
    """

    _parameter_constraints: dict = {
        **LogisticRegression._parameter_constraints,
        "hessian": [StrOptions({"auto", "dense", "low_rank"})],
        "objective_noise": [Interval(Real, 0, None, closed="left")],
        "residual_bound": ["boolean"],
    }

    def __init__(
        self,
        *,
        penalty="deprecated",
        C=1.0,
        l1_ratio=0.0,
        dual=False,
        tol=1e-4,
        fit_intercept=True,
        intercept_scaling=1,
        class_weight=None,
        random_state=None,
        solver="lbfgs",
        max_iter=100,
        verbose=0,
        warm_start=False,
        n_jobs=None,
        objective_noise=0.0,
        hessian="auto",
        residual_bound=True,
    ):
        super().__init__(
            penalty=penalty,
            C=C,
            l1_ratio=l1_ratio,
            dual=dual,
            tol=tol,
            fit_intercept=fit_intercept,
            intercept_scaling=intercept_scaling,
            class_weight=class_weight,
            random_state=random_state,
            solver=solver,
            max_iter=max_iter,
            verbose=verbose,
            warm_start=warm_start,
            n_jobs=n_jobs,
        )
        self.objective_noise = objective_noise
        self.hessian = hessian
        self.residual_bound = residual_bound

    _adopted_class = LogisticRegression

    def _init_fitted_attributes(self, n_features, y_shape):
        m = self._unlearn_n_outputs(y_shape)
        self.coef_ = np.zeros((m, n_features))
        self.intercept_ = np.zeros(m)

    def _chunked_n_iter(self, n_iter):
        return np.array([n_iter], dtype=np.int32)

    def _check_unlearnable(self):
        if self.penalty not in ("deprecated", "l2") or self.l1_ratio not in (0, 0.0):
            raise ValueError(
                "UnlearnableLogisticRegression supports only the L2 penalty "
                f"(got penalty={self.penalty!r}, l1_ratio={self.l1_ratio!r}): the "
                "closed-form update needs a twice-differentiable objective. Use "
                "l1_ratio=0."
            )
        if not np.isfinite(self.C):
            raise ValueError(
                "UnlearnableLogisticRegression needs a finite C: without the L2 "
                "penalty the objective is not strongly convex and the update is "
                "not well defined."
            )

    def _unlearn_objective(self, n_features, n_outputs):
        liblinear = self.solver == "liblinear"
        design = LinearDesign(
            self.fit_intercept, self.intercept_scaling if liblinear else 1.0
        )
        loss = BinaryLogLoss() if len(self.classes_) == 2 else MultinomialLogLoss()
        return LinearObjective(
            loss, design, scale=self.C, l2=1.0, penalize_intercept=liblinear,
            n_features=n_features, n_outputs=n_outputs,
        )

    def _keeps_residual_bound(self):
        return self.residual_bound

    def _unlearn_tags(self):
        dense = self.hessian != "low_rank"
        return UnlearnTags(certifiable=dense, residual_bound=dense and self.residual_bound,
                           objective_noise=True, methods=UNLEARN_METHODS,
                           measures_residual=True,
                           feature_changes=dense and self.objective_noise == 0)

    def _unlearn_noise(self, objective):
        if self.objective_noise == 0:
            return None
        rng = check_random_state(self.random_state)
        B = self.objective_noise * rng.standard_normal(
            (objective.n_params, objective.n_outputs)
        )
        null = objective.null_basis
        if null is not None:
            b = B.ravel(order="F")
            b -= null @ (null.T @ b)
            B = b.reshape(B.shape, order="F")
        return B
