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
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp
from sklearn.exceptions import ConvergenceWarning

from ._factored import FactoredHessian, NotPositiveDefiniteError
from . import _lowrank

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
    gram_change: tuple
    weight_totals: np.ndarray
    counts: np.ndarray
    max_row_norm: float
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
    gram : ndarray of shape (n_params, n_params) or None
        ``K = sum_i s_i x_i x_i^T`` over the current data, for the bound.
    norm_gram : ndarray of shape (n_params, n_params) or None
        ``K_R = sum_i s_i ||x_i|| x_i x_i^T`` over the current data, for the
        bound.
    max_row_norm : float
        Largest augmented row norm ever trained on (an upper bound for the
        current data).
    weight_totals, counts : ndarray of shape (n_groups,)
        Trained weight and number of rows per class (one group for regressors).
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
    gram: np.ndarray | None
    norm_gram: np.ndarray | None
    max_row_norm: float
    weight_totals: np.ndarray
    counts: np.ndarray
    n_requests: int = 0
    history: list = field(default_factory=list)

    # -- construction --------------------------------------------------------
    @classmethod
    def from_fit(cls, objective, X, Y, S, theta, *, noise=None, groups, n_groups,
                 row_weight, max_newton=100, mode="dense", rank=None):
        """Polish ``theta`` to the exact optimum and cache what unlearning needs.

        ``mode="dense"`` keeps factored ``p x p`` Hessian blocks and the Gram
        matrices of the residual bound; ``mode="low_rank"`` keeps
        :class:`~sklearn_unlearn.solvers.LowRankHessian` blocks of rank
        ``rank`` and no Gram matrix (the bound is then ``inf``).

        The polish takes Newton steps whose systems are solved by conjugate
        gradients with exact Hessian-vector products (one pass over the data
        each), preconditioned by the Hessian cached at the start; when a step
        makes slow progress (the start was far from the optimum), the cached
        Hessian is recomputed once at the polished optimum.
        """
        gamma = objective.loss.curvature_lipschitz
        exact = mode == "dense"
        theta = theta.copy()
        row_norms = objective.design.row_norms(X)
        gram_weights = None
        if exact and gamma is not None and gamma > 0:
            gram_weights = np.column_stack([S[:, 0], S[:, 0] * row_norms])
        hessians, grams = objective.hessian(X, Y, S, theta, gram_weights=gram_weights,
                                            mode=mode, rank=rank)
        anchor = theta.copy()
        theta, g, far, converged = _polish(objective, X, Y, S, theta, noise, hessians,
                                           max_newton=max_newton, row_norms=row_norms)
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
        if far or (noise is not None and gamma and drift):
            # The start was too far from the optimum for its curvature to
            # describe the optimum, or (certified use) the bound would carry
            # the drift from it in every request: anchor the cache there.
            if not exact:
                hessians = None     # release the first sketch before the second
            try:
                hessians, _ = objective.hessian(X, Y, S, theta, mode=mode, rank=rank)
                anchor = theta.copy()
            except NotPositiveDefiniteError:
                if not exact:
                    raise
                # no curvature left at the optimum (e.g. one class carries
                # all the weight): keep the Hessian where it was computed
                pass
        # Round-off of the gradient sums, so the bound covers a residual
        # recomputed from the data in floating point.
        eta = objective.design.predictor(X, theta)
        terms = objective.scale * np.abs(S * objective.loss.gradient(Y, eta)).sum(axis=1)
        roundoff = 64 * _EPS * (
            terms @ row_norms * np.sqrt(objective.n_params)
            + np.linalg.norm(objective.penalty[:, None] * theta)
            + (np.linalg.norm(noise) if noise is not None else 0.0)
        )
        return cls(
            objective=objective,
            theta=theta,
            anchor=anchor,
            noise=noise,
            hessians=hessians,
            residual=g,
            residual_error=roundoff if gamma is not None and exact else np.inf,
            gram=None if grams is None else grams[0],
            norm_gram=None if grams is None else grams[1],
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
             tol=1e-10):
        """Compute the update of ``request`` without changing the cache.

        ``request`` has augmented rows ``R_old``, ``R_new`` (arrays, or sparse
        matrices with low-rank Hessian blocks, which then keep the request's
        corrections sparse), encoded targets
        ``Y_old``, ``Y_new``, weights ``S_old``, ``S_new`` (shape ``(k, 1)`` or
        ``(k, m)``), row weights ``w_old``, ``w_new`` and class groups
        ``g_old``, ``g_new``.
        """
        obj = self.objective
        r = request
        theta = self.theta
        grad_old = obj.loss_gradient(r.R_old, r.Y_old, r.S_old, theta)
        grad_new = obj.loss_gradient(r.R_new, r.Y_new, r.S_new, theta)
        G_rest = self.residual - grad_old
        G = G_rest + grad_new

        corr_old = obj.corrections(r.R_old, r.Y_old, -r.S_old, self.anchor)
        corr_new = obj.corrections(r.R_new, r.Y_new, r.S_new, self.anchor)
        # The Hessian of the corrected data at the anchor: solved here and
        # adopted by the cache on commit.
        hessians = [H.corrected(U, sg)
                    for H, (U, sg) in zip(self.hessians, _join(corr_old, corr_new))]

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
            delta = -_solve(obj, hessians, G)
            if method == "refined":
                delta, n_iter = self._refine(
                    r, theta, G_rest, corr_old, delta, max_iter=max_iter, tol=tol
                )
        theta_new = theta + delta
        H_rest_delta = _matvec(obj, self.hessians, delta, corr_old)
        if method == "second_order" and obj.loss.curvature_lipschitz != 0:
            # The cached model of the corrected objective (quadratic in the
            # remaining rows, exact in the new ones) must not go up.
            before = obj.loss_value(r.R_new, r.Y_new, r.S_new, theta)
            after = (float((G_rest * delta).sum()) + 0.5 * float((delta * H_rest_delta).sum())
                     + obj.loss_value(r.R_new, r.Y_new, r.S_new, theta_new))
            if after > before:
                warnings.warn(
                    "The second-order step increases the cached model of the "
                    "corrected objective: the request moves the optimum too far "
                    "for one Newton step (typical of many flipped labels on nearly "
                    "separable data). method='refined' iterates with a line "
                    "search; retraining is safest.",
                    UnlearningWarning,
                )
        grad_new_after = obj.loss_gradient(r.R_new, r.Y_new, r.S_new, theta_new)
        residual = G_rest + H_rest_delta + grad_new_after

        if self.exact_hessian:
            increment = self._error_increment(r, delta, theta, corr_old, H_rest_delta)
        else:
            # The cached Hessian is an approximation: its error times the
            # step is not bounded by anything the cache keeps.
            increment = np.inf
        increment += 64 * _EPS * np.sqrt(obj.n_params) * (
            np.linalg.norm(G_rest) + np.linalg.norm(H_rest_delta)
            + np.linalg.norm(grad_new_after) + np.linalg.norm(grad_old)
        )

        totals, counts = self.remaining(r)

        new_norms = _row_norms(r.R_new)
        error = self.residual_error + increment
        report = RequestReport(
            method=method,
            n_removed=r.R_old.shape[0],
            n_added=r.R_new.shape[0],
            tau=used_tau,
            n_iter=n_iter,
            step_norm=float(np.linalg.norm(delta)),
            gradient_norm=float(np.linalg.norm(G)),
            residual_estimate=float(np.linalg.norm(residual)),
            bound_increment=float(increment),
            residual_bound=float(np.linalg.norm(residual) + error),
        )
        gram_change = (r.R_old, r.S_old[:, 0], r.R_new, r.S_new[:, 0])
        return _Plan(
            theta=theta_new,
            residual=residual,
            error_increment=increment,
            hessians=hessians,
            gram_change=gram_change,
            weight_totals=totals,
            counts=counts,
            max_row_norm=float(max(self.max_row_norm, new_norms.max(initial=0.0))),
            report=report,
        )

    def remaining(self, r):
        """Weight and row count per group after the request ``r``."""
        totals = self.weight_totals.copy()
        counts = self.counts.copy()
        np.subtract.at(totals, r.g_old, r.w_old)
        np.add.at(totals, r.g_new, r.w_new)
        np.subtract.at(counts, r.g_old, 1)
        np.add.at(counts, r.g_new, 1)
        return totals, counts

    def _refine(self, r, theta, G_rest, corr_old, delta, *, max_iter, tol):
        """Newton iterations on the cached quadratic model of the remaining
        rows plus the exact loss of the new rows (the plain step is the first)."""
        obj = self.objective

        def model(d):
            val = float((G_rest * d).sum())
            val += 0.5 * float((d * _matvec(obj, self.hessians, d, corr_old)).sum())
            return val + obj.loss_value(r.R_new, r.Y_new, r.S_new, theta + d)

        def model_grad(d):
            return (G_rest + _matvec(obj, self.hessians, d, corr_old)
                    + obj.loss_gradient(r.R_new, r.Y_new, r.S_new, theta + d))

        scale = max(np.linalg.norm(G_rest + obj.loss_gradient(
            r.R_new, r.Y_new, r.S_new, theta)), 1e-300)
        f = model(delta)
        n_iter = 1
        for _ in range(max_iter - 1):
            g = model_grad(delta)
            if np.linalg.norm(g) <= tol * scale:
                break
            corr_t = _join(
                corr_old, obj.corrections(r.R_new, r.Y_new, r.S_new, theta + delta)
            )
            step = -_solve(obj, [H.corrected(U, sg) for H, (U, sg)
                                 in zip(self.hessians, corr_t)], g)
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

    def _error_increment(self, r, delta, theta, corr_old, H_rest_delta):
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
        """
        gamma = self.objective.loss.curvature_lipschitz
        if gamma is None:
            return np.inf
        if gamma == 0:
            return 0.0
        obj = self.objective
        R = r.R_old
        s_old = r.S_old[:, 0]
        norms_old = np.linalg.norm(R, axis=1)

        def q_rest(gram, weights, V):
            removed = (weights * ((R @ V) ** 2).sum(axis=1)).sum()
            return max(obj.quadratic_form(gram, V) - removed, 0.0)

        drift = theta - self.anchor
        qr_step = q_rest(self.norm_gram, s_old * norms_old, delta)
        qr_drift = q_rest(self.norm_gram, s_old * norms_old, drift)
        lipschitz = gamma * (np.sqrt(qr_step * qr_drift) + 0.5 * qr_step)
        cap = obj.loss.curvature_cap
        trace = max(np.trace(self.gram) - (s_old * norms_old**2).sum(), 0.0)
        bounded = cap * np.sqrt(q_rest(self.gram, s_old, delta) * trace)
        best = obj.scale * min(lipschitz, bounded)
        if getattr(obj.loss, "self_concordant", False):
            pen = obj.penalty[:, None]

            def h_rest(V, HV):
                return max(float((V * HV).sum() - (pen * V**2).sum()), 0.0)

            R_max = self.max_row_norm
            exponent = R_max * (np.linalg.norm(delta) + np.linalg.norm(drift))
            if exponent < 50:
                h_step = h_rest(delta, H_rest_delta)
                h_drift = h_rest(drift, _matvec(obj, self.hessians, drift, corr_old))
                concordant = np.exp(exponent) * R_max * (
                    np.sqrt(h_step * h_drift) + 0.5 * h_step)
                best = min(best, concordant)
        return float(best)

    def commit(self, plan):
        """Apply a plan computed by :meth:`plan`."""
        self.hessians = plan.hessians
        if self.gram is not None:
            R_old, s_old, R_new, s_new = plan.gram_change
            n_old, n_new = np.linalg.norm(R_old, axis=1), np.linalg.norm(R_new, axis=1)
            self.gram = (self.gram + (R_new.T * s_new) @ R_new
                         - (R_old.T * s_old) @ R_old)
            self.norm_gram = (self.norm_gram + (R_new.T * (s_new * n_new)) @ R_new
                              - (R_old.T * (s_old * n_old)) @ R_old)
        self.theta = plan.theta
        self.residual = plan.residual
        self.residual_error += plan.error_increment
        self.weight_totals = plan.weight_totals
        self.counts = plan.counts
        self.max_row_norm = plan.max_row_norm
        self.n_requests += 1
        self.history.append(plan.report)


def _join(a, b):
    return [
        (_lowrank.hstack_columns(Ua, Ub), np.concatenate([sa, sb]))
        for (Ua, sa), (Ub, sb) in zip(a, b)
    ]


def _row_norms(R):
    if sp.issparse(R):
        return np.sqrt(np.asarray(R.multiply(R).sum(axis=1)).ravel())
    return np.linalg.norm(R, axis=1)


def _solve(obj, hessians, g):
    return obj.from_blocks([H.solve(obj.to_block(g, b)) for b, H in enumerate(hessians)])


def _matvec(obj, hessians, v, corrections=None):
    parts = []
    for b, H in enumerate(hessians):
        U, signs = corrections[b] if corrections is not None else (None, None)
        parts.append(H.matvec(obj.to_block(v, b), U, signs))
    return obj.from_blocks(parts)


def _polish(objective, X, Y, S, theta, noise, hessians, *, max_newton, row_norms,
            cg_tol=1e-4, cg_max_iter=100):
    """Damped Newton iterations to the optimum, with conjugate-gradient solves.

    Each step solves the Newton system with exact Hessian-vector products
    (one pass over the data each), preconditioned by the cached Hessian, and
    takes an Armijo line search: the iteration converges from any start of a
    strongly convex objective, however far (a large objective noise). It stops
    at the round-off of the gradient's sum. Returns the polished parameters,
    the gradient there, whether some step made slow progress (the start was
    too far for its Hessian to stand for the optimum's), and whether the
    gradient reached round-off.
    """
    f, g = objective.value_and_gradient(X, Y, S, theta, noise)
    eta = objective.design.predictor(X, theta)
    floor = 1e3 * _EPS * (
        objective.scale * np.abs(S * objective.loss.gradient(Y, eta)).sum(axis=1)
        @ row_norms + np.linalg.norm(objective.penalty[:, None] * theta)
    )
    far = False
    near = 0
    for it in range(max_newton):
        gnorm = np.linalg.norm(g)
        if gnorm <= floor:
            return theta, g, far, True
        if it == 0 and all(isinstance(H, FactoredHessian) for H in hessians):
            # the cached Hessian is exact here: a direct Newton step
            step = -_solve(objective, hessians, g)
        else:
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
            f_c, g_c = objective.value_and_gradient(X, Y, S, cand, noise)
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
        theta, g, f = cand, g_c, f_c
        if np.linalg.norm(g) <= 1e3 * floor:
            near += 1
            if near >= 3:
                return theta, g, far, True
    return theta, g, far, np.linalg.norm(g) <= 1e6 * floor


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
