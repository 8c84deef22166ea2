"""What a linear estimator keeps from fit to unlearn without its data, and the
updates that move it.

Conventions (see the user guide for the derivations):

- ``theta`` is the current (published) parameter. Every row's curvature
  entered the cached Hessian where the parameters were at the time (the fit's
  anchor, or the request that inserted it); a row leaves with its curvature at
  the request's ``theta``. Only scalar bounds on the drift since are kept
  (:class:`Drift`): a stored vector of earlier parameters would, with the
  Hessian, reveal the rows a request removed.
- ``residual`` is an estimate of the gradient of the current objective at
  ``theta``; ``residual_error`` bounds its distance to the true gradient.
  ``||residual|| + residual_error`` bounds the true gradient residual.
"""

import logging
from dataclasses import dataclass, field, replace

import numpy as np

from .._report import RequestReport
from .hessian._factored import FactoredHessian
from .hessian._pending import PendingMatrix
from . import _feature_counts, _weight_totals
from .bounds import _bound, _roundoff
from .steps import _phases
from .hessian import _third
from .fit._chunks import published_theta, row_sums
from .hessian._entry_sides import EntrySides, new_key
from .bounds._drift import Drift
from ._target_moment import moment_after, moment_rounding
from .fit._polish import anchored, polish, unconverged_polish
from .objective._blocks import exact_columns_spared, feature_lines

logger = logging.getLogger("sklearn_unlearn")


@dataclass
class _Plan:
    objective: object
    theta: np.ndarray
    residual: np.ndarray
    error_increment: float
    hessians: list
    gram: object
    norm_gram: object
    weight_totals: np.ndarray
    counts: np.ndarray
    max_row_norm: float
    drift: "Drift"
    report: RequestReport
    entry_sides: object = None
    third: list | None = None
    weight_residue: np.ndarray | None = None
    target_moment: np.ndarray | None = None
    target_moment_error: float | None = None
    feature_counts: np.ndarray | None = None
    #: ``step^T H_rest step / ||step||^2``: the curvature of the cache's model
    #: of the remaining rows' objective along the step (``None`` for no step)
    step_curvature: float | None = None

    @property
    def finite(self):
        """Whether the state the plan commits is finite: its parameters and
        the norms the report gives of them, every cached matrix a fold or a
        pending row changes (a value that overflowed there would poison every
        later request) and the cubic term. (The largest row norm is infinite
        once it is unknown.)"""
        rep = self.report
        matrices = [M for M in (*self.hessians, self.gram, self.norm_gram)
                    if isinstance(M, PendingMatrix)]
        return bool(
            np.isfinite(rep.step_norm + rep.gradient_norm + rep.residual_estimate)
            and all(M.finite for M in matrices)
            and all(np.all(np.isfinite(T)) for T in self.third or ()))


#: Why a request whose arithmetic overflows is refused.
_TOO_LARGE = ("The request gives non-finite parameters, gradients or cached "
              "matrices: its rows, targets or weights are too large for float64 "
              "arithmetic, or its step goes so far that the predictions overflow "
              "(a log-link model whose cached curvature is tiny where it stands, "
              "as a Poisson model of targets almost all zero, an intercept of -19, "
              "when one target goes from 0 to 1). Nothing was changed. Rescale "
              "the data, or refit on the corrected data.")


def _largest_norm_after(largest, r, n_params):
    """The bound on the row norms after request ``r``: the new rows' norms
    raise it; ``inf`` when a row whose values leave could have been the
    largest (a kept scalar would still be its norm, and no sum over the rows
    that stay bounds their largest as tightly)."""
    new = _roundoff.upper_norms(r.norms_new, n_params).max(initial=0.0)
    after = max(largest, float(new))
    leaving = r.norms_old[r.changed_rows()]
    if len(leaving) and (_roundoff.upper_norms(leaving, n_params).max()
                         * (1.0 + _NORM_MATCH) >= after):
        return np.inf
    return after


def _curvature_along(step, H_step):
    """``step^T H step / ||step||^2`` from ``H step`` (``None`` for a zero
    step)."""
    squared = float((step * step).sum())
    return float((step * H_step).sum()) / squared if squared > 0.0 else None


#: Relative rounding by which two computations of a row's norm (at fit and in
#: a request, over differently laid-out copies of it) may differ.
_NORM_MATCH = 1e-12


@dataclass
class UnlearningCache:
    """State kept at fit time for closed-form unlearning.

    Attributes
    ----------
    objective : LinearObjective
    theta : ndarray of shape (n_params, n_outputs)
        Current parameters (intercept weight in the last row).
    noise : ndarray of shape (n_params, n_outputs) or None
        The objective perturbation ``B``.
    hessians : list of FactoredHessian
        One per independent block of outputs.
    residual : ndarray of shape (n_params, n_outputs)
        Estimated gradient of the current objective at ``theta``.
    residual_error : float
        Bound on the error of ``residual``.
    gram : PendingMatrix or None
        ``K = sum_i s_i x_i x_i^T`` over the current data, for the bound.
    norm_gram : PendingMatrix or None
        ``K_R = sum_i s_i ||x_i|| x_i x_i^T`` over the current data, for the
        bound.
    max_row_norm : float
        Largest augmented row norm trained on since the rows' largest last
        left (an upper bound for the current data; ``inf`` once a request
        takes out a row that may have been the largest, which would leave
        its norm here, or a change of the features in every row leaves it
        unknown; the residual bound then does without it).
    weight_totals, counts : ndarray of shape (n_groups,)
        Trained weight and number of rows per class (one group for regressors).
    weight_residue : ndarray of shape (n_groups, m) or None
        What the exact weight per class holds beyond ``weight_totals``, its
        rounding: requests keep the totals exactly (see
        ``solvers._weight_totals``; ``None`` while they are exact).
    drift : Drift
        Scalar bounds on how far the curvature of the current rows has moved
        since the cached Hessian took it in, and on the Hessian's error.
        Only scalars: a stored vector of the old parameters would, with the
        Hessian, reveal the gradient of the rows a request removed.
    entry_sides : EntrySides or None
        For a loss whose curvature jumps, the digest of every row held and
        the side it entered each block on
        (:mod:`~sklearn_unlearn.solvers.hessian._entry_sides`).
    n_requests : int
        Number of requests applied.
    third : list of ndarray of shape (p, p, p) or None
        The third derivatives of the rows' loss, one tensor per Hessian
        block, with their terms taken where the rows' curvature was (the
        cubic term of the cache's model; see ``solvers.hessian._third``). ``None``
        for more than ``_third.MAX_PARAMS`` parameters per block, low-rank
        blocks, and losses without a smooth curvature.
    history : list of RequestReport
        The report of every request.
    zero_features : tuple of int
        Features zero in every current row: those forgotten with
        ``forget_features`` (see ``linear_model._forget``) that no row added
        since holds. Rows given as the current ones must be zero there.
    target_moment : ndarray of shape (n_params, n_outputs) or None
        ``sum_i x_i (s_i y_i)^T`` over the current rows (augmented rows,
        encoded targets, weights), which every request updates and rows
        given as the current ones must have (see ``solvers._target_moment``);
        ``None`` in a cache saved before it was kept, or after a change of
        every row's features other than zeroing some.
    target_moment_error : float or None
        A bound on every entry's difference between ``target_moment`` and
        the exact sum over the current rows.
    feature_counts : ndarray of shape (n_features,) or None
        The number of current rows whose value in each feature is not zero
        (``-1``: unknown); a feature whose count a request takes to zero is
        taken out of the cache as a refit would not have it
        (:meth:`without_features`). ``None`` in a cache saved before it was
        kept.

    Examples
    --------
    Every unlearnable estimator keeps one in ``unlearning_cache_``; its size
    depends on the number of parameters, not on the number of rows:

    >>> from sklearn.datasets import load_breast_cancer
    >>> from sklearn.preprocessing import scale
    >>> from sklearn_unlearn import UnlearnableLogisticRegression
    >>> X, y = load_breast_cancer(return_X_y=True)
    >>> cache = UnlearnableLogisticRegression().fit(scale(X), y).unlearning_cache_
    >>> cache.theta.shape                    # 30 weights and the intercept
    (31, 1)
    >>> [H.matrix.shape for H in cache.hessians]
    [(31, 31)]
    >>> cache.gram.shape
    (31, 31)
    """

    objective: object
    theta: np.ndarray
    noise: np.ndarray | None
    hessians: list
    residual: np.ndarray
    residual_error: float
    gram: PendingMatrix | None
    norm_gram: PendingMatrix | None
    max_row_norm: float
    weight_totals: np.ndarray
    counts: np.ndarray
    drift: "Drift" = None
    dtype: type = np.float64
    entry_sides: EntrySides | None = None
    n_requests: int = 0
    history: list = field(default_factory=list)
    third: list | None = None
    weight_residue: np.ndarray | None = None
    zero_features: tuple = ()
    target_moment: np.ndarray | None = None
    target_moment_error: float | None = None
    feature_counts: np.ndarray | None = None

    # -- construction --------------------------------------------------------
    @classmethod
    def from_fit(cls, objective, X, Y, S, theta, *, noise=None, groups, n_groups,
                 row_weight, max_newton=100, mode="dense", rank=None, bound=True,
                 hessians=None, dtype=np.float64, return_sums=False,
                 at_optimum=False):
        """Polish ``theta`` to the exact optimum and cache what unlearning needs.

        ``mode="dense"`` keeps factored ``p x p`` Hessian blocks and the Gram
        matrices of the residual bound; ``mode="low_rank"`` keeps
        :class:`~sklearn_unlearn.solvers.LowRankHessian` blocks of rank
        ``rank`` and no Gram matrix (the bound is then ``inf``).

        The polish takes chord steps with the Hessian cached at the start (one
        solve and one pass over the data each) while they make fast progress,
        and Newton steps solved by conjugate gradients with exact
        Hessian-vector products otherwise; when a step makes slow progress
        (the start was far from the optimum), the cached Hessian is recomputed
        once at the polished optimum. ``bound=False`` keeps no Gram matrix:
        the residual bound is then ``inf``. ``hessians``: blocks already
        made for this data, for a loss of constant curvature (the same at
        every ``theta``, and no Gram matrix for the bound). ``dtype``: that
        of the published parameters; with float32 the cached ``theta`` is
        their float32 rounding, so the bound is about the model that
        predicts. ``return_sums``: also return the
        :class:`~sklearn_unlearn.solvers.fit._chunks.RowSums` of the rows at the
        cached ``theta`` (the loss profile of the rows is among them).
        ``at_optimum``: take the Hessian (a low-rank sketch included) at the
        polished optimum whenever the polish moved, not only when it moved
        far: the cache then depends on the rows alone, not on the start.
        """
        # a penalty that grows with the total weight takes the training data's
        objective = objective.for_total_weight(float(np.sum(row_weight)))
        gamma = objective.loss.curvature_lipschitz
        exact = mode == "dense"
        theta = theta.copy()
        if not np.all(np.isfinite(theta)):
            # the parent's solver failed (scikit-learn's sparse_cg gives NaN
            # on some float32 sparse rows): the polish reaches the optimum of
            # a strongly convex objective from any start
            theta = np.zeros_like(theta)
        row_norms = objective.design.row_norms(X)
        gram_weights = None
        if exact and bound and gamma is not None and gamma > 0:
            gram_weights = np.column_stack([S[:, 0], S[:, 0] * row_norms])
        start = objective.value_and_gradient(X, Y, S, theta, noise,
                                             return_predictor=True)
        if hessians is None:
            hessians, grams = objective.hessian(
                X, Y, S, theta, gram_weights=gram_weights, mode=mode, rank=rank,
                eta=start[2] if exact else None)
        elif objective.loss.constant_curvature and gram_weights is None:
            grams = None
        else:
            raise ValueError("Hessian blocks made at another theta are exact only "
                             "for a loss of constant curvature.")
        anchor, eta_anchor = theta.copy(), start[2]
        theta, g, eta, far, converged = polish(
            objective, X, Y, S, theta, noise, hessians,
            # a noisy objective starts from the noise-free optimum, far out
            max_newton=max_newton if noise is None else 5 * max_newton,
            row_norms=row_norms, start=start)
        if not converged:
            unconverged_polish(g, noise)
        published = published_theta(objective, theta, dtype)
        if published is not theta:
            # the bound is about the parameters the estimator publishes
            theta = published
            _, g, eta = objective.value_and_gradient(X, Y, S, theta, noise,
                                                     return_predictor=True)
        # handed over in a list, so that a sketch taken again can release the
        # first one before the second is made
        held, hessians = [hessians], None
        hessians, anchor, eta_anchor = anchored(
            objective, X, Y, S, theta, eta, held, anchor, eta_anchor,
            far=far or at_optimum, exact=exact, noisy=noise is not None, mode=mode,
            rank=rank)
        third = (_third.fit_tensors(objective, X, Y, S, eta_anchor)
                 if _third.keeps_third(objective, exact) else None)
        sums = row_sums(objective, X, Y, S, theta, groups=groups, n_groups=n_groups,
                        row_weight=row_weight, gradient=False, eta=eta,
                        row_norms=row_norms, anchor=anchor, eta_anchor=eta_anchor,
                        sides_key=new_key() if objective.loss.curvature_jumps else None,
                        target_moment=True, column_masses=False)
        cache = cls.from_sums(objective, theta, g, sums, hessians=hessians, grams=grams,
                              noise=noise, anchor=anchor, exact=exact, bound=bound,
                              dtype=dtype, third=third)
        return (cache, sums) if return_sums else cache

    @staticmethod
    def keeps_bound(objective, exact, bound):
        """Whether a cache of ``objective`` made from rows bounds its
        residual's rounding (``residual_error`` finite for finite rows): a
        loss whose curvature has a Lipschitz constant, exact Hessian blocks,
        and ``bound`` asked for (or a constant curvature, which costs
        nothing to bound)."""
        gamma = objective.loss.curvature_lipschitz
        return gamma is not None and exact and (bound or gamma == 0)

    @classmethod
    def from_sums(cls, objective, theta, gradient, sums, *, hessians, grams, noise,
                  anchor, exact, bound, dtype=np.float64, third=None):
        """The cache at the polished ``theta`` from the sums over the
        training rows (:class:`~sklearn_unlearn.solvers.fit._chunks.RowSums`,
        of one chunk or added over many): ``gradient`` of the objective
        there, the Hessian ``hessians`` with its curvature taken at
        ``anchor``, and ``grams`` (``K`` and ``K_R``, or ``None``)."""
        drift = Drift.from_sums(objective, sums, theta, anchor, exact)
        roundoff = np.inf
        if cls.keeps_bound(objective, exact, bound):
            roundoff = _bound.gradient_roundoff(objective, theta, gradient, sums, noise)
        grams_error = sums.gram_errors(objective.n_params)
        return cls(
            objective=objective,
            theta=theta,
            noise=noise,
            hessians=hessians,
            residual=gradient,
            residual_error=roundoff,
            gram=None if grams is None else PendingMatrix(grams[0], error=grams_error[0]),
            norm_gram=(None if grams is None
                       else PendingMatrix(grams[1], error=grams_error[1])),
            max_row_norm=sums.max_norm,
            weight_totals=sums.weight_totals,
            weight_residue=sums.weight_residue,
            counts=sums.counts,
            drift=drift,
            dtype=np.dtype(dtype).type,
            entry_sides=EntrySides.from_sums(sums, objective.n_outputs),
            third=third,
            target_moment=sums.target_moment,
            target_moment_error=(None if sums.target_moment is None else moment_rounding(
                sums.n_rows, sums.target_moment_scale, sums.max_norm)),
            feature_counts=sums.column_counts,
        )

    def measured(self, sums):
        """The cache with its residual measured on the current training rows:
        ``sums`` (:class:`~sklearn_unlearn.solvers.fit._chunks.RowSums` of every
        row at ``theta``) give the gradient, which becomes the residual, and
        its rounding, which becomes the residual's error (the allowance the
        fit takes for its own residual), and their largest norm the bound on
        the rows' norms. This one is unchanged."""
        _, gradient = self.objective.penalized(sums.value, sums.gradient.copy(),
                                               self.theta, self.noise)
        error = _bound.gradient_roundoff(self.objective, self.theta, gradient, sums,
                                   self.noise)
        return replace(self, residual=gradient, residual_error=error,
                       max_row_norm=sums.max_norm)

    @property
    def exact_hessian(self):
        """Whether the cached Hessian blocks are exact (dense mode)."""
        return all(isinstance(H, FactoredHessian) for H in self.hessians)

    @property
    def residual_bound(self):
        """Upper bound on ``||grad L(theta; current data)||``."""
        return float(_roundoff.norm_up(self.residual) + self.residual_error)

    # -- a request -------------------------------------------------------------
    def plan(self, request, *, method="second_order", tau="auto", max_iter=10,
             tol=1e-10, remaining=None):
        """Compute the update of ``request`` without changing the cache.

        ``request`` is a :class:`~sklearn_unlearn.solvers.steps._request_rows.RequestRows`:
        augmented rows ``R_old``, ``R_new`` (arrays, or sparse matrices with
        low-rank Hessian blocks, which then keep the request's corrections
        sparse), encoded targets ``Y_old``, ``Y_new``, weights ``S_old``,
        ``S_new`` (shape ``(k, 1)`` or ``(k, m)``), row weights ``w_old``,
        ``w_new`` and class groups ``g_old``, ``g_new``. ``remaining`` is
        :meth:`remaining` of the request, if the caller has it.

        A request that removes or edits rows folds every cached matrix (the
        Hessian blocks, refactored, and the bound's Gram matrices): the new
        state holds no removed row. Rows that are only inserted may stay
        pending beside the matrices; they belong to the corrected data.
        """
        r = request
        # refused before any work: rows holding a feature more often than the
        # current data does were not trained on
        counts = _feature_counts.counts_after(self.feature_counts, r,
                                              self.objective.n_features)
        g = _phases.gradients(self, r, remaining)
        # the Hessian blocks take out the features the request leaves in no
        # row in the fold that takes its rows out (see without_features)
        c = _phases.changed(self, r, g, _feature_counts.gone(self.feature_counts, counts))
        requested = method
        method, after, info = _phases.stepped(self, r, g, c, method, tau, max_iter, tol)
        residual = g.G_rest + after.H_rest_step + after.grad_new_after
        if requested == "second_order" and self.objective.loss.curvature_lipschitz != 0:
            _phases.warn_on_overshoot(self.objective, r, g.G_rest, after.step, after.H_rest_step,
                               g.eta_new, after.eta_new_after)
        cubic_norm = 0.0
        if info.stepped_on is not None:
            # the estimate of a step taken on the cubic model takes its cubic
            # term; the bound adds the term's norm
            cubic_step = info.stepped_on.gradient(after.step)
            cubic_norm = float(np.linalg.norm(cubic_step))
            residual = residual + cubic_step
        # a new row whose squared norm overflows is too large as well, even
        # where nothing else overflows (a row its loss ignores)
        if not (np.all(np.isfinite(after.theta_new)) and np.all(np.isfinite(residual))
                and np.all(np.isfinite(r.squares_new))):
            raise ValueError(_TOO_LARGE)
        drift, increment = _bound.increment(self, r, g, c.hessians, c.hessian_error,
                                            c.change, after, cubic_norm)
        report = RequestReport(
            method=method,
            one_step_error=info.one_step_error,
            n_removed=r.R_old.shape[0],
            n_added=len(r.Y_new),
            tau=info.tau,
            n_iter=info.n_iter,
            step_norm=float(np.linalg.norm(after.step)),
            gradient_norm=float(_roundoff.norm_up(g.G)),
            residual_estimate=float(np.linalg.norm(residual)),
            bound_increment=float(increment),
            residual_bound=float(_roundoff.norm_up(residual)
                                 + (self.residual_error + increment)),
        )
        plan = self._planned(r, g, c, after, residual, increment, drift, report)
        plan.feature_counts = counts
        if not plan.finite:
            raise ValueError(_TOO_LARGE)
        return plan

    def _planned(self, r, g, c, after, residual, increment, drift, report):
        """The :class:`_Plan` of a request from its phases."""
        obj = self.objective
        # the bound's Gram matrices set the gone features' lines in their fold
        lines = (c.gone, 0.0) if len(c.gone) else None
        moment, moment_error = moment_after(self.target_moment, self.target_moment_error,
                                            r, obj.n_params)
        third, hessians, drift = _third.after_request(
            obj, c.cubic, r, g.eta_new, c.hessians, after.step, drift,
            # after a change of the features (a loss of unbounded curvature
            # never bounds the error, and keeps its pending rows)
            follow=(not np.isfinite(self.drift.hessian_error)
                    and obj.loss.curvature_lipschitz is not None))
        return _Plan(
            objective=g.new_obj,
            theta=after.theta_new,
            residual=residual,
            error_increment=increment,
            hessians=hessians,
            gram=(None if self.gram is None
                  else self.gram.corrected(c.change.gram, fold=c.fold, lines=lines)),
            norm_gram=(None if self.norm_gram is None
                       else self.norm_gram.corrected(c.change.norm_gram, fold=c.fold,
                                                     lines=lines)),
            weight_totals=g.remaining.totals,
            counts=g.remaining.counts,
            weight_residue=g.remaining.residue,
            max_row_norm=_largest_norm_after(self.max_row_norm, r, obj.n_params),
            drift=drift,
            report=report,
            entry_sides=g.entry_sides,
            third=third,
            target_moment=moment,
            target_moment_error=moment_error,
            step_curvature=_curvature_along(after.step, after.H_rest_step),
        )

    def remaining(self, r):
        """The :class:`~._weight_totals.Remaining` weight and row count per
        group after the request ``r``, its weights summed exactly."""
        return _weight_totals.remaining(self.weight_totals, self.weight_residue,
                                        self.counts, r.g_old, r.w_old, r.g_new, r.w_new)

    def _reweighted(self, totals):
        """The objective of the corrected data (of total weight
        ``totals.sum()``), the cached Hessian blocks under its penalty, and
        the change of the penalty (``None`` when there is none: only a
        penalty that grows with the total weight changes)."""
        obj = self.objective
        new = obj.for_total_weight(float(totals.sum()))
        shift = new.penalty - obj.penalty
        if new is obj or not shift.any():
            return new, self.hessians, None
        full = np.repeat(shift[:, None], obj.n_outputs, axis=1)
        blocks = [obj.to_block(full, b) for b in range(len(self.hessians))]
        return new, [H.shifted(d if d.ndim == 1 else d[:, 0])
                     for H, d in zip(self.hessians, blocks)], shift

    def committed(self, plan):
        """The cache after a plan computed by :meth:`plan`, as a new object.

        This one is unchanged, so a caller can build the whole new state of
        an estimator first and swap it in with one assignment. Features the
        plan leaves in no current row are taken out
        (:meth:`without_features`).
        """
        new = replace(
            self,
            objective=plan.objective,
            hessians=plan.hessians,
            gram=plan.gram,
            norm_gram=plan.norm_gram,
            theta=plan.theta,
            residual=plan.residual,
            residual_error=self.residual_error + plan.error_increment,
            weight_totals=plan.weight_totals,
            counts=plan.counts,
            max_row_norm=plan.max_row_norm,
            weight_residue=plan.weight_residue,
            drift=plan.drift,
            entry_sides=plan.entry_sides,
            third=plan.third,
            target_moment=plan.target_moment,
            target_moment_error=plan.target_moment_error,
            n_requests=self.n_requests + 1,
            history=[*self.history, plan.report.kept()],
            feature_counts=plan.feature_counts,
        )
        gone = _feature_counts.gone(self.feature_counts, plan.feature_counts)
        return new.without_features(gone) if len(gone) else new

    def without_features(self, features):
        """The cache with the ``features`` that no current row holds taken
        out as a fit on the current rows would have them, as a new object
        (this one is unchanged): the weights, the residual, the cubic term
        and the targets' moment. (The request that left them in no row set
        their lines in the Hessian blocks and the Gram matrices as it folded
        its rows out: the penalty alone, and zero.)

        The objective is separable in such a feature's weights: the data
        term does not depend on them, so their optimum is where the penalty
        meets the noise (``-b_j / lambda_j``; zero without noise), and
        setting them there changes no other weight's gradient. The gradient
        there is the penalty's and the noise's alone, and the cubic term and
        the targets' moment are zero on them: exact values, where the rows
        that left had left the difference between the curvature they entered
        with and the one they left with, in their other features. The drift
        bound grows by the weights' move (the rows' predictors do not change
        with them).
        """
        obj = self.objective
        features = np.asarray(features, dtype=np.intp)
        pen = obj.penalty[features]
        theta = self.theta.copy()
        with np.errstate(divide="ignore", invalid="ignore"):
            theta[features] = (0.0 if self.noise is None else
                               np.where(pen[:, None] > 0,
                                        -self.noise[features] / pen[:, None], 0.0))
        theta = published_theta(obj, theta, self.dtype)
        residual = self.residual.copy()
        residual[features] = pen[:, None] * theta[features]
        error = self.residual_error
        if self.noise is not None:
            residual[features] += self.noise[features]
            # the penalty's product and the sum, each rounded once
            error += 2.0 * _roundoff.UNIT * float(_roundoff.norm_up(
                np.abs(pen[:, None] * theta[features]) + np.abs(self.noise[features])))
        third = None
        if self.third is not None:
            third = []
            for b, T in enumerate(self.third):
                lines, _ = feature_lines(obj, features, b)
                T = T.copy()
                T[lines], T[:, lines], T[:, :, lines] = 0.0, 0.0, 0.0
                third.append(T)
        moment = self.target_moment
        if moment is not None:
            moment = moment.copy()
            moment[features] = 0.0
        moved = float(np.linalg.norm(theta - self.theta))
        hessians = self.hessians
        if self.feature_counts is not None:
            hessians = exact_columns_spared(obj, hessians, features,
                                            np.flatnonzero(self.feature_counts == 0))
        return replace(
            self, theta=theta, residual=residual, residual_error=error, third=third,
            hessians=hessians,
            target_moment=moment,
            drift=replace(self.drift, norm=self.drift.norm + moved * (1.0 + 4.0 * _roundoff.UNIT)))


#: The name of :class:`~._drift.Drift` in files saved before it had a module
#: of its own (pickle and skops find it here).
_Drift = Drift
