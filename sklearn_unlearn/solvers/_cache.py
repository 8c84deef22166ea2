"""What a linear estimator keeps from fit to unlearn without its data, and the
updates that move it.

Conventions (see the user guide for the derivations):

- ``theta`` is the current parameter, ``anchor`` the point at which every
  curvature term in the cached Hessian was evaluated. The cached Hessian is
  therefore exactly the Hessian of the *current* data at ``anchor``: rows
  leave and enter it with their curvature at ``anchor``.
- ``residual`` is an estimate of the gradient of the current objective at
  ``theta``; ``residual_error`` bounds its distance to the true gradient.
  ``||residual|| + residual_error`` bounds the true gradient residual.
"""

import warnings
from dataclasses import dataclass, field, replace

import numpy as np
import scipy.sparse as sp
from sklearn.exceptions import ConvergenceWarning

from ._factored import FactoredHessian, NotPositiveDefiniteError
from ._pending import PendingMatrix
from ._rows import RowCurvature, apply_terms

#: Relative residual to which the Newton system of a non-quadratic loss is
#: solved.
_STEP_RTOL = 1e-8
_EPS = np.finfo(float).eps


class UnlearningWarning(UserWarning):
    """An update that is likely far from what retraining would give.

    Issued, for instance, when a second-order step increases the cached
    quadratic model of the corrected objective: the request moves the
    optimum too far for one Newton step. ``method="refined"`` or retraining
    is then the better choice. The update is still applied.

    Examples
    --------
    Turn it into an error to refuse such updates:

    >>> import warnings
    >>> from sklearn_unlearn.solvers import UnlearningWarning
    >>> warnings.simplefilter("error", UnlearningWarning)   # doctest: +SKIP
    >>> issubclass(UnlearningWarning, UserWarning)
    True
    """


@dataclass
class RequestReport:
    """Figures of one unlearning request.

    Attributes
    ----------
    method : str
        The update used.
    n_removed, n_added : int
        Rows leaving and entering the training data.
    tau : float or None
        The rate of a first-order step.
    n_iter : int
        Newton iterations (1 for the plain second-order step).
    step_norm : float
        ``||theta_new - theta_old||``.
    gradient_norm : float
        ``||G||``, the gradient of the corrected objective before the step.
    residual_estimate : float
        Norm of the estimated gradient residual after the step.
    bound_increment : float
        What the step adds to the bound on the residual estimate's error:
        ``gamma * scale * R * (sqrt(q(step) q(drift)) + q(step) / 2)`` plus
        round-off, with ``q`` the quadratic form of the remaining rows' Gram
        matrix, ``R`` the largest row norm and ``drift`` the distance of the
        previous parameters from the anchor of the Hessian.
    residual_bound : float
        Upper bound on the true gradient residual of the model after the step
        (``inf`` when the loss admits none).

    Notes
    -----
    ``residual_estimate`` uses the curvature of the remaining rows at the
    point where the cached Hessian was evaluated. After a long step (a
    label flip, a large request) the true residual can be much larger than
    the estimate; ``residual_bound`` covers the difference.

    Examples
    --------
    >>> from sklearn.datasets import load_diabetes
    >>> from sklearn_unlearn import UnlearnableRidge
    >>> X, y = load_diabetes(return_X_y=True)
    >>> reg = UnlearnableRidge().fit(X, y).unlearn(X[:5], None, y[:5])
    >>> report = reg.unlearn_history_[-1]
    >>> report.method, report.n_removed, report.n_added
    ('second_order', 5, 0)
    >>> report.residual_bound < 1e-6      # ridge unlearns exactly
    True
    """

    method: str
    n_removed: int
    n_added: int
    tau: float | None
    n_iter: int
    step_norm: float
    gradient_norm: float
    residual_estimate: float
    bound_increment: float
    residual_bound: float


@dataclass
class _Plan:
    theta: np.ndarray
    residual: np.ndarray
    error_increment: float
    hessians: list
    gram: object
    norm_gram: object
    weight_totals: np.ndarray
    counts: np.ndarray
    max_row_norm: float
    hessian_drift: np.ndarray | None
    norm_gram_drift: np.ndarray | None
    report: RequestReport


@dataclass
class UnlearningCache:
    """State kept at fit time for closed-form unlearning.

    Attributes
    ----------
    objective : LinearObjective
    theta : ndarray of shape (n_params, n_outputs)
        Current parameters (intercept weight in the last row).
    anchor : ndarray of shape (n_params, n_outputs)
        Where the cached curvature was evaluated.
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
        Largest augmented row norm ever trained on (an upper bound for the
        current data).
    weight_totals, counts : ndarray of shape (n_groups,)
        Trained weight and number of rows per class (one group for regressors).
    hessian_drift, norm_gram_drift : ndarray of shape (n_params, n_outputs) or None
        The cached Hessian and ``K_R`` times ``theta - anchor``, kept up to
        date by every request from products it computes anyway (``None``
        without an exact Hessian or without the bound).
    n_requests : int
        Number of requests applied.
    history : list of RequestReport
        The report of every request.

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
    anchor: np.ndarray
    noise: np.ndarray | None
    hessians: list
    residual: np.ndarray
    residual_error: float
    gram: PendingMatrix | None
    norm_gram: PendingMatrix | None
    max_row_norm: float
    weight_totals: np.ndarray
    counts: np.ndarray
    hessian_drift: np.ndarray | None = None
    norm_gram_drift: np.ndarray | None = None
    n_requests: int = 0
    history: list = field(default_factory=list)

    # -- construction --------------------------------------------------------
    @classmethod
    def from_fit(cls, objective, X, Y, S, theta, *, noise=None, groups, n_groups,
                 row_weight, max_newton=100, mode="dense", rank=None, bound=True,
                 hessians=None):
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
        every ``theta``, and no Gram matrix for the bound).
        """
        gamma = objective.loss.curvature_lipschitz
        exact = mode == "dense"
        theta = theta.copy()
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
        anchor = theta.copy()
        theta, g, eta, far, converged = _polish(
            objective, X, Y, S, theta, noise, hessians, max_newton=max_newton,
            row_norms=row_norms, start=start)
        if not converged:
            if noise is not None:
                # with a linear noise term the objective may have no minimum
                raise NotPositiveDefiniteError(
                    "The polish did not reach the optimum of the perturbed "
                    f"objective (gradient norm {np.linalg.norm(g):.3g})."
                )
            warnings.warn(
                "The Newton polish did not reach the optimum to round-off "
                f"(gradient norm {np.linalg.norm(g):.3g}); unlearning starts from "
                "this residual, which the bound includes.",
                ConvergenceWarning,
            )
        drift = np.linalg.norm(theta - anchor) > 1e-9 * np.linalg.norm(theta)
        if objective.loss.constant_curvature:
            # the same Hessian at every theta: no drift to carry
            anchor = theta.copy()
        elif far or (noise is not None and gamma and drift):
            # The start was too far from the optimum for its curvature to
            # describe the optimum, or (certified use) the bound would carry
            # the drift from it in every request: anchor the cache there.
            if not exact:
                hessians = None     # release the first sketch before the second
            try:
                # the polish's last predictor is at theta: no pass of its own
                hessians, _ = objective.hessian(X, Y, S, theta, mode=mode, rank=rank,
                                                eta=eta if exact else None)
                anchor = theta.copy()
            except NotPositiveDefiniteError:
                if not exact:
                    raise
                # no curvature left at the optimum (e.g. one class carries
                # all the weight): keep the Hessian where it was computed
        # Round-off of the gradient sums, so the bound covers a residual
        # recomputed from the data in floating point.
        terms = np.abs(objective.gradient_coefficients(Y, S, eta)).sum(axis=1)
        roundoff = 64 * _EPS * (
            terms @ row_norms * np.sqrt(objective.n_params)
            + np.linalg.norm(objective.penalty[:, None] * theta)
            + (np.linalg.norm(noise) if noise is not None else 0.0)
        )
        drift = theta - anchor
        norm_gram = None if grams is None else PendingMatrix(grams[1])
        return cls(
            objective=objective,
            theta=theta,
            anchor=anchor,
            noise=noise,
            hessians=hessians,
            residual=g,
            residual_error=(roundoff if gamma is not None and exact
                            and (bound or gamma == 0) else np.inf),
            gram=None if grams is None else PendingMatrix(grams[0]),
            norm_gram=norm_gram,
            hessian_drift=_matvec(objective, hessians, drift) if exact else None,
            norm_gram_drift=None if norm_gram is None else norm_gram.matvec(drift),
            max_row_norm=float(row_norms.max(initial=0.0)),
            weight_totals=np.bincount(groups, weights=row_weight, minlength=n_groups),
            counts=np.bincount(groups, minlength=n_groups).astype(float),
        )

    @property
    def exact_hessian(self):
        """Whether the cached Hessian blocks are exact (dense mode)."""
        return all(isinstance(H, FactoredHessian) for H in self.hessians)

    @property
    def residual_bound(self):
        """Upper bound on ``||grad L(theta; current data)||``."""
        return float(np.linalg.norm(self.residual) + self.residual_error)

    # -- a request -------------------------------------------------------------
    def plan(self, request, *, method="second_order", tau="auto", max_iter=10,
             tol=1e-10, remaining=None):
        """Compute the update of ``request`` without changing the cache.

        ``request`` is a :class:`~sklearn_unlearn.solvers._request_rows.RequestRows`:
        augmented rows ``R_old``, ``R_new`` (arrays, or sparse matrices with
        low-rank Hessian blocks, which then keep the request's corrections
        sparse), encoded targets ``Y_old``, ``Y_new``, weights ``S_old``,
        ``S_new`` (shape ``(k, 1)`` or ``(k, m)``), row weights ``w_old``,
        ``w_new`` and class groups ``g_old``, ``g_new``. ``remaining`` is
        :meth:`remaining` of the request, if the caller has it.
        """
        obj = self.objective
        r = request
        theta = self.theta
        drift = theta - self.anchor
        moved = bool(drift.any())
        # the predictors of the request rows at theta and at the anchor
        eta_old, eta_new = r.predictors(theta)
        anchor_old, anchor_new = (r.predictors(self.anchor) if moved
                                  else (eta_old, eta_new))
        grad_old, grad_new = r.transpose_products(
            obj.gradient_coefficients(r.Y_old, r.S_old, eta_old),
            obj.gradient_coefficients(r.Y_new, r.S_new, eta_new))
        G_rest = self.residual - grad_old
        G = G_rest + grad_new

        change = _RequestChange(obj, r, self.anchor, anchor_old, anchor_new,
                                grams=self.gram is not None)
        # The Hessian of the corrected data at the anchor: solved here and
        # adopted by the cache on commit.
        hessians = [H.corrected(t) for H, t in zip(self.hessians, change.hessian)]

        n_iter = 1
        used_tau = None
        if method == "first_order":
            if tau == "auto":
                HG = _matvec(obj, hessians, G)
                curv = float((G * HG).sum())
                used_tau = float((G * G).sum()) / curv if curv > 0 else 0.0
            else:
                used_tau = float(tau)
            delta = -used_tau * G
        else:
            # A curvature that changes along the step makes the step itself
            # approximate: its system is solved to 1e-8 of the gradient, two
            # orders below the step's own error (a residual estimate of 3.5e-6
            # of it for one dense row of 100,000, more for larger requests).
            # The true residual enters the estimate, so the bound holds
            # whatever the tolerance.
            x, res = _solve(obj, hessians, G, residual=True,
                            rtol=0.0 if obj.loss.constant_curvature else _STEP_RTOL)
            delta = -x
            if method == "refined":
                delta, n_iter = self._refine(
                    r, theta, G_rest, change.removed, delta, max_iter=max_iter, tol=tol
                )
        theta_new = theta + delta
        concordant = (self.exact_hessian and moved
                      and getattr(obj.loss, "self_concordant", False))
        H_drift, KR_drift = self._drift_products(drift)
        drift_after = drift + delta
        norm_out = self._removed_norm_gram(r)
        # Every product of the request's rows with the step and the drift, in
        # one pass over each array of rows: the added rows' Hessian times the
        # step (the Hessian of the remaining rows times the step is then
        # res - G - that, from the residual of the solve, without a product
        # with the dense matrix), the removed rows' times the drift, the
        # change of the kept drift products, and K_R of the removed rows
        # (times a drift of zero, on a model that has not moved, nothing).
        added_delta, removed_drift, change_drift, norm_change, norm_removed = _apply_all(
            obj, [(change.added, delta) if method == "second_order" else None,
                  (change.removed, drift) if concordant else None,
                  (change.hessian, drift) if H_drift is not None and moved else None,
                  (change.norm_gram, drift_after) if KR_drift is not None else None,
                  (norm_out, np.column_stack([delta, drift]) if moved else delta)
                  if norm_out is not None else None])
        if method == "second_order":
            H_rest_delta = res - G - added_delta
        else:
            H_rest_delta = _matvec(obj, self.hessians, delta, change.removed)
        H_rest_drift = H_drift + removed_drift if concordant else None
        eta_new_after = r.new_predictor(theta_new)
        if method == "second_order" and obj.loss.curvature_lipschitz != 0:
            # The cached model of the corrected objective (quadratic in the
            # remaining rows, exact in the new ones) must not go up.
            before = obj.loss_sum(r.Y_new, r.S_new, eta_new)
            after = (float((G_rest * delta).sum()) + 0.5 * float((delta * H_rest_delta).sum())
                     + obj.loss_sum(r.Y_new, r.S_new, eta_new_after))
            if after > before:
                warnings.warn(
                    "The second-order step increases the cached model of the "
                    "corrected objective: the request moves the optimum too far "
                    "for one Newton step (typical of many flipped labels on nearly "
                    "separable data). method='refined' iterates with a line "
                    "search; retraining is safest.",
                    UnlearningWarning,
                )
        grad_new_after = _new_rows_gradient(obj, r, eta_new_after)
        residual = G_rest + H_rest_delta + grad_new_after

        # K_R times the step, for the bound and the drift product it keeps
        KR_delta = None if self.norm_gram is None else self.norm_gram.matvec(delta)
        if self.exact_hessian:
            KR_rest = None
            if norm_out is not None:
                m = delta.shape[1]
                KR_rest = (KR_delta + norm_removed[:, :m],
                           KR_drift + norm_removed[:, m:] if moved else KR_drift)
            increment = self._error_increment(r, delta, drift, H_rest_delta,
                                              H_rest_drift, KR_rest)
        else:
            # The cached Hessian is an approximation: its error times the
            # step is not bounded by anything the cache keeps.
            increment = np.inf
        increment += 64 * _EPS * np.sqrt(obj.n_params) * (
            np.linalg.norm(G_rest) + np.linalg.norm(H_rest_delta)
            + np.linalg.norm(grad_new_after) + np.linalg.norm(grad_old)
        )

        totals, counts = self.remaining(r) if remaining is None else remaining
        # the maintained products at the new theta: (M + change)(drift + step)
        hessian_drift = norm_gram_drift = None
        if H_drift is not None:
            H_delta = (res - G if method == "second_order"
                       else _matvec(obj, hessians, delta))
            hessian_drift = H_drift + H_delta
            if change_drift is not None:
                hessian_drift += change_drift
        if KR_drift is not None:
            norm_gram_drift = KR_drift + KR_delta + norm_change

        error = self.residual_error + increment
        report = RequestReport(
            method=method,
            n_removed=r.R_old.shape[0],
            n_added=len(r.Y_new),
            tau=used_tau,
            n_iter=n_iter,
            step_norm=float(np.linalg.norm(delta)),
            gradient_norm=float(np.linalg.norm(G)),
            residual_estimate=float(np.linalg.norm(residual)),
            bound_increment=float(increment),
            residual_bound=float(np.linalg.norm(residual) + error),
        )
        return _Plan(
            theta=theta_new,
            residual=residual,
            error_increment=increment,
            hessians=hessians,
            gram=None if self.gram is None else self.gram.corrected(change.gram),
            norm_gram=(None if self.norm_gram is None
                       else self.norm_gram.corrected(change.norm_gram)),
            weight_totals=totals,
            counts=counts,
            max_row_norm=float(max(self.max_row_norm, r.norms_new.max(initial=0.0))),
            hessian_drift=hessian_drift,
            norm_gram_drift=norm_gram_drift,
            report=report,
        )

    def _drift_products(self, drift):
        """The cached Hessian and ``K_R`` times ``drift``: the kept products,
        or computed (a cache saved before it kept them)."""
        H_drift, KR_drift = self.hessian_drift, self.norm_gram_drift
        if H_drift is None and self.exact_hessian:
            H_drift = _matvec(self.objective, self.hessians, drift)
        if KR_drift is None and self.norm_gram is not None:
            KR_drift = self.norm_gram.matvec(drift)
        return H_drift, KR_drift

    def remaining(self, r):
        """Weight and row count per group after the request ``r``."""
        n = len(self.counts)

        def per_group(g, w=None):
            return np.bincount(g, weights=w, minlength=n)

        totals = (self.weight_totals - per_group(r.g_old, r.w_old)
                  + per_group(r.g_new, r.w_new))
        counts = self.counts - per_group(r.g_old) + per_group(r.g_new)
        return totals, counts

    def _refine(self, r, theta, G_rest, removed, delta, *, max_iter, tol):
        """Newton iterations on the cached quadratic model of the remaining
        rows plus the exact loss of the new rows (the plain step is the first)."""
        obj = self.objective

        def model(d):
            val = float((G_rest * d).sum())
            val += 0.5 * float((d * _matvec(obj, self.hessians, d, removed)).sum())
            return val + obj.loss_sum(r.Y_new, r.S_new, r.new_predictor(theta + d))

        def model_grad(d):
            return (G_rest + _matvec(obj, self.hessians, d, removed)
                    + _new_rows_gradient(obj, r, r.new_predictor(theta + d)))

        scale = max(np.linalg.norm(
            G_rest + _new_rows_gradient(obj, r, r.new_predictor(theta))), 1e-300)
        f = model(delta)
        n_iter = 1
        for _ in range(max_iter - 1):
            g = model_grad(delta)
            if np.linalg.norm(g) <= tol * scale:
                break
            added = obj.row_curvature(r.R_new, r.Y_new, r.S_new, theta + delta)
            step = -_solve(obj, [H.corrected(RowCurvature.concat([t_old, t_new]))
                                 for H, t_old, t_new
                                 in zip(self.hessians, removed, added)], g)
            slope = float((g * step).sum())
            t = 1.0
            while t > 1e-10:
                f_c = model(delta + t * step)
                if f_c <= f + 1e-4 * t * slope:
                    break
                t *= 0.5
            else:
                break
            delta, f = delta + t * step, f_c
            n_iter += 1
        return delta, n_iter

    def _removed_norm_gram(self, r):
        """``K_R``'s change from the rows the request removes, when the bound
        needs it (``None`` otherwise)."""
        gamma = self.objective.loss.curvature_lipschitz
        if not self.exact_hessian or self.gram is None or not gamma:
            return None
        return _removed_gram(r, 1)

    def _error_increment(self, r, delta, drift, H_rest_delta, H_rest_drift, KR_rest):
        """Bound on how far the step moves the true residual from its estimate.

        The estimate treats the remaining rows with their curvature at the
        anchor. With ``u_i = x_i^T step`` and ``v_i = x_i^T drift`` (drift =
        ``theta - anchor``), the error is ``||sum_i s_i (c_i - a_i) x_i u_i||``
        over the remaining rows, where ``c_i`` is the curvature averaged along
        the step and ``a_i`` the one at the anchor. Two bounds hold, the
        smaller is used:

        - Lipschitz curvature: ``|c_i - a_i| <= gamma (|v_i| + |u_i| / 2)``
          and Cauchy-Schwarz with weights ``s_i ||x_i||`` give
          ``gamma (sqrt(q_R(step) q_R(drift)) + q_R(step) / 2)``;
        - bounded curvature, ``|c_i - a_i| <= cap``: ``cap sqrt(q(step) tr K)``;
        - self-concordant curvature (binary logistic, whose third derivative
          is at most its second): ``|c_i - a_i| <= a_i (|v_i| + |u_i| / 2)
          exp(m_v + m_u)`` with ``m_u = R ||step|| >= |u_i|`` and
          ``m_v = R ||drift||``, which gives ``exp(m_v + m_u) R (sqrt(h(step)
          h(drift)) + h(step) / 2)`` with ``h`` the quadratic form of the
          cached loss Hessian of the remaining rows: the tightest for small
          steps of confident models,

        with ``q`` and ``q_R`` the quadratic forms of ``K`` and ``K_R`` over
        the remaining rows (for several outputs, ``u_i`` is a vector and the
        same holds with its norm and the operator norm of the curvature).
        ``KR_rest`` holds ``K_R`` of the remaining rows times the step and
        times the drift.
        """
        gamma = self.objective.loss.curvature_lipschitz
        if gamma is None:
            return np.inf
        if gamma == 0:
            return 0.0
        if self.gram is None:
            # fitted without the bound's Gram matrices
            return np.inf
        obj = self.objective
        # K of the remaining rows: the current one minus the removed rows
        gram_out = _removed_gram(r, 0)
        KR_rest_delta, KR_rest_drift = KR_rest
        qr_step = max(float((delta * KR_rest_delta).sum()), 0.0)
        qr_drift = max(float((drift * KR_rest_drift).sum()), 0.0)
        lipschitz = gamma * (np.sqrt(qr_step * qr_drift) + 0.5 * qr_step)
        cap = obj.loss.curvature_cap
        trace = max(self.gram.trace(gram_out), 0.0)
        # K >= K_R / R for rows of norm at most R: the bounded form is at
        # least cap sqrt(q_R tr K / R), and K's own product (a read of one
        # more p x p matrix) is needed only when it could be the smaller
        R_max = self.max_row_norm
        floor = cap * np.sqrt(qr_step * trace / R_max) if R_max > 0 else 0.0
        if lipschitz <= floor:
            best = obj.scale * lipschitz
        else:
            q_step = max(self.gram.quadratic_form(delta, gram_out), 0.0)
            best = obj.scale * min(lipschitz, cap * np.sqrt(q_step * trace))
        if getattr(obj.loss, "self_concordant", False):
            pen = obj.penalty[:, None]

            def h_rest(V, HV):
                return max(float((V * HV).sum() - (pen * V**2).sum()), 0.0)

            exponent = R_max * (np.linalg.norm(delta) + np.linalg.norm(drift))
            if exponent < 50:
                h_step = h_rest(delta, H_rest_delta)
                h_drift = 0.0 if H_rest_drift is None else h_rest(drift, H_rest_drift)
                concordant = np.exp(exponent) * R_max * (
                    np.sqrt(h_step * h_drift) + 0.5 * h_step)
                best = min(best, concordant)
        return float(best)

    def committed(self, plan):
        """The cache after a plan computed by :meth:`plan`, as a new object.

        This one is unchanged, so a caller can build the whole new state of
        an estimator first and swap it in with one assignment.
        """
        return replace(
            self,
            hessians=plan.hessians,
            gram=plan.gram,
            norm_gram=plan.norm_gram,
            theta=plan.theta,
            residual=plan.residual,
            residual_error=self.residual_error + plan.error_increment,
            weight_totals=plan.weight_totals,
            counts=plan.counts,
            max_row_norm=plan.max_row_norm,
            hessian_drift=plan.hessian_drift,
            norm_gram_drift=plan.norm_gram_drift,
            n_requests=self.n_requests + 1,
            history=[*self.history, plan.report],
        )


class _RequestChange:
    """How a request changes the cached matrices, as weighted rows.

    ``removed`` holds the curvature of the rows leaving the data (negative
    weights), per Hessian block, and ``added`` that of the rows entering it.
    ``hessian`` holds the whole change per block, and ``gram``, ``norm_gram``
    that of the bound's Gram matrices. A request
    that corrects rows (``X_old`` and ``X_new`` row by row) enters as one row
    each: dense rows with the columns they change (see
    :class:`~sklearn_unlearn.solvers.RowCurvature`), sparse rows merged when
    their features are unchanged. Rows whose change is zero everywhere (a
    label correction of a logistic model, whose curvature does not depend on
    the label) are left out. All terms share one array of rows.
    """

    def __init__(self, obj, r, anchor, eta_old, eta_new, *, grams):
        self.removed = obj.row_curvature(r.R_old, r.Y_old, -r.S_old, anchor, eta_old)
        # (an edit's rows enter below as edits of the old ones)
        added = obj.row_curvature(r.R_old if r.edit is not None else r.R_new,
                                  r.Y_new, r.S_new, anchor, eta_new)
        self.added = added
        w_old = [t.weights for t in self.removed]
        w_new = [t.weights for t in added]
        if grams:
            s_old, s_new = r.S_old[:, 0], r.S_new[:, 0]
            w_old += [-s_old, -s_old * r.norms_old]
            w_new += [s_new, s_new * r.norms_new]
        k_old, k_new = len(r.Y_old), len(r.Y_new)
        if r.edit is not None:
            cols, delta = r.edit
            if len(cols):
                # the added rows as edits of the removed ones: products with
                # them then read the same array as every other term
                self.added = [RowCurvature(r.R_old, t.weights, edit=(cols, delta, t.weights))
                              for t in added]
            weights = [wo + wn for wo, wn in zip(w_old, w_new)]
            keep = np.any(delta != 0, axis=1)
            for w in weights:
                keep |= (w != 0).reshape(len(w), -1).any(axis=1)
            if keep.all():
                rows = r.R_old
            else:
                rows, delta = r.R_old[keep], delta[keep]
                weights = [w[keep] for w in weights]
                w_new = [w[keep] for w in w_new]
            terms = [RowCurvature(rows, w, edit=(cols, delta, wn) if len(cols) else None)
                     for w, wn in zip(weights, w_new)]
        else:
            same = (_same_rows(r.R_old, r.R_new) if k_old == k_new
                    else np.zeros(k_old, dtype=bool))
            both = np.flatnonzero(same)
            only_old = np.flatnonzero(~same)
            only_new = only_old if k_old == k_new else np.arange(k_new)
            weights = [np.concatenate([wo[only_old], wn[only_new], wo[both] + wn[both]])
                       for wo, wn in zip(w_old, w_new)]
            nonzero = np.zeros(len(weights[0]), dtype=bool)
            for w in weights:
                nonzero |= (w != 0).reshape(len(w), -1).any(axis=1)
            # positions in R_all (old rows, then new rows)
            order = np.concatenate([only_old, k_old + only_new, both])[nonzero]
            if len(order) == r.R_all.shape[0] and np.all(order == np.arange(len(order))):
                rows = r.R_all          # nothing merged or dropped: no copy
            else:
                rows = r.R_all[order]
            terms = [RowCurvature(rows, w[nonzero]) for w in weights]
        n_blocks = len(self.removed)
        self.hessian = terms[:n_blocks]
        self.gram, self.norm_gram = terms[n_blocks:] if grams else (None, None)
        if grams:
            # the Gram matrices' traces from the row norms: O(k), not O(k p)
            sq_old, sq_new = r.norms_old**2, r.norms_new**2
            self.gram.known_trace = float(s_new @ sq_new - s_old @ sq_old)
            self.norm_gram.known_trace = float((s_new * r.norms_new) @ sq_new
                                               - (s_old * r.norms_old) @ sq_old)


def _new_rows_gradient(obj, r, eta_new):
    """Gradient of the loss of the request's new rows at their predictors
    ``eta_new`` (an edit reads the old rows)."""
    return r.new_transpose_product(obj.gradient_coefficients(r.Y_new, r.S_new, eta_new))


def _removed_gram(r, power):
    """The change of ``sum_i s_i ||x_i||^power x_i x_i^T`` (``K`` for 0,
    ``K_R`` for 1) from the rows the request removes; its trace from the row
    norms."""
    w = -r.S_old[:, 0] * r.norms_old**power
    return RowCurvature(r.R_old, w, trace=float(w @ r.norms_old**2))


def _same_rows(A, B):
    """Whether row ``i`` of ``A`` equals row ``i`` of ``B``."""
    if sp.issparse(A) or sp.issparse(B):
        return np.asarray((sp.csr_matrix(A) != sp.csr_matrix(B)).getnnz(axis=1)) == 0
    return np.all(A == B, axis=1)


def _solve(obj, hessians, g, rtol=0.0, residual=False):
    """Solve with every block; with ``residual`` also ``g - H x``."""
    out = [H.solve(obj.to_block(g, b), rtol=rtol, residual=residual)
           for b, H in enumerate(hessians)]
    if not residual:
        return obj.from_blocks(out)
    return obj.from_blocks([o[0] for o in out]), obj.from_blocks([o[1] for o in out])


def _apply_all(obj, jobs):
    """The row changes ``terms`` times ``v`` for every ``(terms, v)`` of
    ``jobs`` (``None`` gives ``None``), with one pass over each array of
    rows the terms share; a single RowCurvature acts on the whole ``(p, m)``
    array (a Gram matrix of the bound), a list holds one term per Hessian
    block."""
    pairs, spans = [], []
    for job in jobs:
        if job is None:
            spans.append(None)
            continue
        terms, v = job
        start = len(pairs)
        if isinstance(terms, RowCurvature):
            pairs.append((terms, v))
        else:
            pairs += [(t, obj.to_block(v, b)) for b, t in enumerate(terms)]
        spans.append((start, len(pairs), isinstance(terms, RowCurvature)))
    outs = apply_terms(pairs)
    return [None if span is None else outs[span[0]] if span[2]
            else obj.from_blocks(outs[span[0]:span[1]]) for span in spans]


def _matvec(obj, hessians, v, terms=None):
    return obj.from_blocks([
        H.matvec(obj.to_block(v, b), None if terms is None else terms[b])
        for b, H in enumerate(hessians)
    ])


def _polish(objective, X, Y, S, theta, noise, hessians, *, max_newton, row_norms,
            start=None, cg_tol=1e-4, cg_max_iter=100):
    """Newton iterations to the optimum, stopping at the round-off of the
    gradient's sum.

    While the cached Hessian is exact and its steps (chord steps: one solve
    and one pass over the data each) reduce the gradient fourfold, they are
    taken as they are. Otherwise each step solves the Newton system with exact
    Hessian-vector products (one pass over the data each), preconditioned by
    the cached Hessian, and takes an Armijo line search: the iteration
    converges from any start of a strongly convex objective, however far (a
    large objective noise). ``start`` is ``(value, gradient, predictor)`` at
    ``theta`` if already computed. Returns the polished parameters, the
    gradient and the predictor there, whether some step made slow progress
    (the start was too far for its Hessian to stand for the optimum's), and
    whether the gradient reached round-off.
    """
    if start is None:
        start = objective.value_and_gradient(X, Y, S, theta, noise,
                                             return_predictor=True)
    f, g, eta = start
    floor = 1e3 * _EPS * (
        np.abs(objective.gradient_coefficients(Y, S, eta)).sum(axis=1) @ row_norms
        + np.linalg.norm(objective.penalty[:, None] * theta)
    )
    chord = all(isinstance(H, FactoredHessian) for H in hessians)
    far = False
    near = 0
    for it in range(max_newton):
        gnorm = np.linalg.norm(g)
        if gnorm <= floor:
            return theta, g, eta, far, True
        if chord:
            step = -_solve(objective, hessians, g)
            cand = theta + step
            f_c, g_c, eta_c = objective.value_and_gradient(X, Y, S, cand, noise,
                                                           return_predictor=True)
            ratio = np.linalg.norm(g_c) / gnorm
            if ratio <= 0.25 and (
                    f_c <= f + 1e-4 * float((g * step).sum()) or gnorm <= 1e6 * floor):
                theta, g, f, eta = cand, g_c, f_c, eta_c
                continue
            if gnorm <= 1e3 * floor:
                # round-off level: no step resolves the gradient any further
                if ratio < 1:
                    theta, g, f, eta = cand, g_c, f_c, eta_c
                return theta, g, eta, far, True
            # too far from the start for its Hessian: exact Newton steps
            chord = False
            far = far or ratio > 0.5
        hvps = objective.hessian_products(X, Y, S, theta)
        step = -objective.from_blocks([
            _pcg(hvp, H.solve, objective.to_block(g, b), cg_tol, cg_max_iter,
                 H._project)
            for b, (hvp, H) in enumerate(zip(hvps, hessians))
        ])
        slope = float((g * step).sum())
        t = 1.0
        accepted = False
        while t >= 1e-10:
            cand = theta + t * step
            f_c, g_c, eta_c = objective.value_and_gradient(X, Y, S, cand, noise,
                                                           return_predictor=True)
            # Armijo; close to round-off the objective no longer resolves
            # differences, and a smaller gradient is accepted instead.
            if f_c <= f + 1e-4 * t * slope or (
                gnorm <= 1e6 * floor and np.linalg.norm(g_c) < gnorm
            ):
                accepted = True
                break
            t *= 0.5
        if not accepted:
            break
        if np.linalg.norm(g_c) > 0.5 * gnorm:
            far = True
        theta, g, f, eta = cand, g_c, f_c, eta_c
        if np.linalg.norm(g) <= 1e3 * floor:
            near += 1
            if near >= 3:
                return theta, g, eta, far, True
    return theta, g, eta, far, np.linalg.norm(g) <= 1e6 * floor


def _pcg(hvp, precond, b, tol, max_iter, project=None):
    """Preconditioned conjugate gradients for ``H x = b``, column by column.

    Starts from ``precond(b)``, stops at ``||H x - b|| <= tol ||b||`` and
    returns the iterate of smallest residual (at round-off level the
    recursion stops making progress), projected by ``project``.
    """
    if b.ndim == 2:
        return np.column_stack([
            _pcg(hvp, lambda v: precond(v[:, None])[:, 0], b[:, j], tol, max_iter,
                 project)
            for j in range(b.shape[1])
        ])
    bnorm = np.linalg.norm(b)
    if bnorm == 0:
        return np.zeros_like(b)
    x = precond(b)
    r = b - hvp(x)
    best, best_norm = x.copy(), np.linalg.norm(r)
    since_best = 0
    z = precond(r)
    d = z.copy()
    rz = float(r @ z)
    for _ in range(max_iter):
        if best_norm <= tol * bnorm or rz <= 0:
            break
        Hd = hvp(d)
        dHd = float(d @ Hd)
        if dHd <= 0:
            break
        alpha = rz / dHd
        x += alpha * d
        r -= alpha * Hd
        rnorm = np.linalg.norm(r)
        if not np.isfinite(rnorm):
            break
        if rnorm < best_norm:
            best, best_norm, since_best = x.copy(), rnorm, 0
        else:
            since_best += 1
            if since_best >= 3:
                break
        z = precond(r)
        rz_new = float(r @ z)
        d = z + (rz_new / rz) * d
        rz = rz_new
    return best if project is None else project(best)
