"""Generalised linear models (Poisson, Gamma, Tweedie) that can unlearn.

scikit-learn minimises the weighted mean of half the deviance plus an L2
penalty, ``(1 / W) sum_i s_i l_i + alpha / 2 ||w||^2`` with ``W = sum_i s_i``
(the intercept unpenalised). Times ``W`` this is the cache's objective with
the loss unscaled and the L2 weight ``alpha W``: a request that deletes or
inserts rows changes ``W`` and with it the penalty, which the cache takes as a
diagonal change of the Hessian and of the gradient (see
:meth:`~sklearn_unlearn.solvers.LinearObjective.for_total_weight`).
"""

import numpy as np
from sklearn.linear_model import GammaRegressor, PoissonRegressor, TweedieRegressor
from sklearn.linear_model._glm.glm import _GeneralizedLinearRegressor

from .._locks import held_read
from .._request import UNLEARN_METHODS
from ..base import UnlearnTags
from ..losses import HalfGammaLoss, HalfPoissonLoss, HalfSquaredError, HalfTweedieLoss
from ..solvers import LinearDesign, LinearObjective
from ._base import UnlearnableLinearMixin
from ._chunked import check_target_shape


class UnlearnableGLMMixin(UnlearnableLinearMixin):
    """The objective, targets and tags shared by the unlearnable GLMs.

    A subclass says which loss its parent minimises (``_glm_loss``); the rest
    (the mean-deviance scaling, the target range, the tags) is here. The
    parameters, their constraints and ``__init__`` are the parent's: the GLMs
    add none.

    Examples
    --------
    >>> from sklearn_unlearn import UnlearnablePoissonRegressor
    >>> from sklearn_unlearn.linear_model import UnlearnableGLMMixin
    >>> issubclass(UnlearnablePoissonRegressor, UnlearnableGLMMixin)
    True
    """

    # predict reads coef_ and intercept_ through it
    _linear_predictor = held_read(_GeneralizedLinearRegressor._linear_predictor)

    def _glm_loss(self):  # pragma: no cover
        raise NotImplementedError

    def _check_unlearnable(self):
        self._glm_loss()

    def _unlearn_objective(self, n_features, n_outputs):
        return LinearObjective(
            self._glm_loss(), LinearDesign(self.fit_intercept), scale=1.0, l2=0.0,
            l2_per_weight=float(self.alpha), penalize_intercept=False,
            n_features=n_features, n_outputs=n_outputs,
        )

    def _hessian_mode(self, objective):
        return "dense"

    def _needs_positive_target(self):
        """Whether the objective has a minimum only while a row of positive
        weight has a positive target: a log link with an intercept, whose
        intercept goes to minus infinity when every target is 0."""
        return self.fit_intercept and not self._glm_loss().constant_curvature

    def _unlearn_targets(self, y, sample_weight):
        Y = np.asarray(y, dtype=np.float64).reshape(-1, 1)
        if not self._needs_positive_target():
            return Y, sample_weight[:, None], sample_weight, np.zeros(len(Y), dtype=int), 1
        # the rows of target 0 and of positive target are counted and weighed
        # apart, exactly (as a classifier's classes): a request that leaves
        # no positive target is refused as a fit refuses such data
        groups = (Y[:, 0] > 0).astype(int)
        return Y, sample_weight[:, None], sample_weight, groups, 2

    def _unlearn_n_groups(self, classes):
        return 2 if self._needs_positive_target() else 1

    def _group_name(self, g):
        if len(self.unlearning_cache_.counts) == 1:
            return super()._group_name(g)
        return ("the rows of target 0", "the rows of positive target")[g]

    def _check_remaining_data(self, totals, counts):
        if len(totals) == 1:
            super()._check_remaining_data(totals, counts)
            return
        self._check_removed_weight(totals, counts)
        if not totals[1] > 0:
            raise ValueError(
                f"The request leaves the training data with {self._no_positive_target()}, "
                "which a fit refuses. Nothing was changed.")

    def _no_positive_target(self):
        return ("no row with a positive target and a positive sample_weight: with "
                f"no target above 0, the objective of {type(self).__name__} has no "
                "finite minimum (its intercept goes to minus infinity)")

    def _unlearn_check_request(self, request):
        for name, y in (("y_old", request.y_old), ("y_new", request.y_new)):
            if y is not None:
                self._check_target_range(y, name)

    def _check_target_range(self, y, name):
        # the parent's own check, as at fit
        loss = self._get_loss()
        if not loss.in_y_true_range(np.asarray(y, dtype=float)):
            raise ValueError(
                f"Some value(s) of {name} are out of the valid range of the loss "
                f"{type(loss).__name__!r} (as scikit-learn refuses them at fit)."
            )

    # -- fit by chunks: one target, the parent's attributes --------------------
    def _unlearn_n_outputs(self, y_shape):
        check_target_shape(y_shape, ())
        return 1

    def _init_fitted_attributes(self, n_features, y_shape):
        self.coef_ = np.zeros(n_features)
        self.intercept_ = 0.0

    def _chunked_n_iter(self, n_iter):
        return n_iter

    def _chunked_start(self, theta, y, w):
        # the parent's start: the intercept at the link of the weighted mean
        # target. From zero, a log link's exp(eta) overflows in every step
        # towards a mean far from 1 (1e11, 1e-11), and the iterations stall.
        if not self.fit_intercept or self._glm_loss().constant_curvature:
            return theta            # the identity link: zero is as good a start
        import dask
        import dask.array as da

        w = da.ones_like(y, dtype=np.float64) if w is None else w.reshape(y.shape)
        total, weighted = (float(v) for v in dask.compute(w.sum(), (w * y).sum()))
        if not (total > 0 and np.isfinite(weighted)):
            return theta            # the first pass refuses the rows by what is wrong
        mean = weighted / total
        if not mean > 0:
            return theta            # the first pass refuses them (no positive target)
        design = self._unlearn_objective(len(theta) - 1, 1).design
        theta = theta.copy()
        theta[-1] = np.log(mean) / design.intercept_value
        return theta

    def _check_group_totals(self, totals):
        # rows of no weight at all are refused as such, later
        if len(totals) > 1 and totals.sum() > 0 and not totals[1] > 0:
            raise ValueError(f"The training data has {self._no_positive_target()}.")

    def _check_targets_as_parent(self, y):
        # their shape is the chunk pass's to check (one target per row)
        self._check_target_range(y, "y")

    def _unlearn_tags(self):
        try:
            exact = self._glm_loss().constant_curvature
        except ValueError:
            exact = False
        # The log link's curvature exp(eta) has no Lipschitz constant: no
        # residual bound, so no certified removal (see the user guide).
        return UnlearnTags(certifiable=False, exact=exact, residual_bound=exact,
                           methods=UNLEARN_METHODS, feature_changes=True)


_PARAMS_DOC = """\
    alpha, fit_intercept, solver, max_iter, tol, warm_start, verbose
        As in the parent. The intercept is not penalised.

    Attributes
    ----------
    coef_, intercept_, n_features_in_, feature_names_in_, n_iter_
        As in the parent.
    unlearning_cache_ : :class:`~sklearn_unlearn.solvers.UnlearningCache`
        The factored Hessian of ``sum_i s_i l_i + alpha W / 2 ||w||^2`` at the
        optimum (``W`` the total sample weight) and the residual gradient.
        The training data is not kept.
"""


class UnlearnablePoissonRegressor(UnlearnableGLMMixin, PoissonRegressor):
    __doc__ = """Poisson regression (log link) with closed-form unlearning.

    A drop-in :class:`~sklearn.linear_model.PoissonRegressor`: the same fit,
    polished to the exact optimum, and :meth:`unlearn`, which moves the model
    to where retraining on the corrected data would put it (a Newton step of
    the objective of the corrected data, whose penalty follows its total
    weight). The curvature ``exp(eta)`` has no Lipschitz constant, so
    ``residual_bound_`` is ``inf`` and the model is not certifiable.

    Parameters
    ----------
""" + _PARAMS_DOC + """
    See Also
    --------
    sklearn.linear_model.PoissonRegressor : The parent estimator.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.linear_model import PoissonRegressor
    >>> from sklearn_unlearn import UnlearnablePoissonRegressor
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(200, 3))
    >>> y = rng.poisson(np.exp(X @ [0.3, -0.2, 0.1]))
    >>> reg = UnlearnablePoissonRegressor(alpha=0.01).fit(X, y)
    >>> reg = reg.unlearn(X[:10], None, y[:10])         # delete ten rows
    >>> refit = PoissonRegressor(alpha=0.01, tol=1e-12).fit(X[10:], y[10:])
    >>> bool(np.abs(reg.coef_ - refit.coef_).max() < 1e-4)
    True
    """

    _adopted_class = PoissonRegressor

    def _glm_loss(self):
        return HalfPoissonLoss()


class UnlearnableGammaRegressor(UnlearnableGLMMixin, GammaRegressor):
    __doc__ = """Gamma regression (log link) with closed-form unlearning.

    A drop-in :class:`~sklearn.linear_model.GammaRegressor` with
    :meth:`unlearn` (see :class:`UnlearnablePoissonRegressor`). The curvature
    ``y exp(-eta)`` depends on the target: a target correction changes the
    Hessian. ``residual_bound_`` is ``inf``; not certifiable.

    Parameters
    ----------
""" + _PARAMS_DOC + """
    See Also
    --------
    sklearn.linear_model.GammaRegressor : The parent estimator.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.linear_model import GammaRegressor
    >>> from sklearn_unlearn import UnlearnableGammaRegressor
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(200, 3))
    >>> y = rng.gamma(2.0, np.exp(X @ [0.3, -0.2, 0.1]) / 2.0)
    >>> reg = UnlearnableGammaRegressor(alpha=0.01).fit(X, y)
    >>> reg = reg.unlearn(None, X[:5], y_new=y[:5])     # insert five rows
    >>> refit = GammaRegressor(alpha=0.01, tol=1e-12).fit(
    ...     np.vstack([X, X[:5]]), np.r_[y, y[:5]])
    >>> bool(np.abs(reg.coef_ - refit.coef_).max() < 1e-4)
    True
    """

    _adopted_class = GammaRegressor

    def _glm_loss(self):
        return HalfGammaLoss()


class UnlearnableTweedieRegressor(UnlearnableGLMMixin, TweedieRegressor):
    __doc__ = """Tweedie regression with closed-form unlearning.

    A drop-in :class:`~sklearn.linear_model.TweedieRegressor` with
    :meth:`unlearn` (see :class:`UnlearnablePoissonRegressor`), for the
    powers and links whose loss is convex in the linear predictor:

    - ``power=0`` with the identity link (the default): half the squared
      error, quadratic, so an update equals a refit up to round-off and
      ``residual_bound_`` is finite (``exact`` in the tags): a bound on the
      gradient of the objective the cache keeps, ``W`` times scikit-learn's
      mean (``W`` the total sample weight);
    - ``1 <= power <= 2`` with the log link (Poisson to Gamma, compound
      Poisson-Gamma between): no residual bound, as for Poisson.

    Other settings are refused at fit with a ``ValueError``: with the log
    link, a power outside ``[1, 2]`` gives a loss whose curvature is negative
    for some targets and predictions, so the cached Hessian need not be
    positive definite and the update need not exist; the identity link with
    ``power != 0`` keeps the predictions in ``(0, inf)``, a constraint the
    closed-form step does not respect.

    Parameters
    ----------
    power : float, default=0
        The Tweedie power: 0, or between 1 and 2 with the log link.
    link : {"auto", "identity", "log"}, default="auto"
        As in the parent: ``"auto"`` is the identity for ``power <= 0`` and
        the log otherwise.
""" + _PARAMS_DOC + """
    See Also
    --------
    sklearn.linear_model.TweedieRegressor : The parent estimator.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.linear_model import TweedieRegressor
    >>> from sklearn_unlearn import UnlearnableTweedieRegressor
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(200, 3))
    >>> y = rng.poisson(np.exp(X @ [0.3, -0.2, 0.1])) * 1.5
    >>> reg = UnlearnableTweedieRegressor(power=1.5, alpha=0.01).fit(X, y)
    >>> reg = reg.unlearn(X[:10], X[:10], y[:10], y[:10] + 1)   # correct targets
    >>> y_fixed = y.copy()
    >>> y_fixed[:10] += 1
    >>> refit = TweedieRegressor(power=1.5, alpha=0.01, tol=1e-12).fit(X, y_fixed)
    >>> bool(np.abs(reg.coef_ - refit.coef_).max() < 1e-3)
    True
    """

    _adopted_class = TweedieRegressor

    def _glm_loss(self):
        link = self.link
        if link == "auto":
            link = "identity" if self.power <= 0 else "log"
        if link == "identity":
            if self.power == 0:
                return HalfSquaredError()
            raise ValueError(
                f"UnlearnableTweedieRegressor supports the identity link only with "
                f"power=0 (got power={self.power!r}): for other powers the "
                "predictions must stay positive, a constraint the closed-form "
                "update does not keep. Use link='log'."
            )
        if 1 <= self.power <= 2:
            return HalfTweedieLoss(self.power)
        raise ValueError(
            "UnlearnableTweedieRegressor supports the log link only for "
            f"1 <= power <= 2 (got power={self.power!r}): outside it the loss is "
            "not convex in the linear predictor (its curvature is negative for "
            "some targets and predictions), so the cached Hessian need not be "
            "positive definite and the update need not exist. Use a power in "
            "[1, 2], or power=0 with the identity link."
        )
