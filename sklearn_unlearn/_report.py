"""The report of one unlearning request, the same for every estimator."""

from dataclasses import dataclass, replace


@dataclass
class RequestReport:
    """Figures of one unlearning request (an entry of ``unlearn_history_``).

    Figures, never rows. The figures are functions of the request's rows:
    with every other training row known, an erased value can be solved
    for from them (see :ref:`persistence`).

    Attributes
    ----------
    method : str
        The update used.
    n_removed, n_added : int
        Rows leaving and entering the training data (an edited row counts
        on both sides).
    tau : float or None
        The rate of a first-order step.
    n_iter : int
        Newton iterations (1 for a plain second-order or first-order step).
    one_step_error : float or None
        With ``method="auto"``, the estimated distance from one second-order
        step to the optimum of the cache's model of the corrected objective
        (the length of the next Newton step, from the gradient the request's
        rows give after the step); the choice of ``method`` follows from it.
        ``None`` for the other methods.
    step_norm : float
        ``||theta_new - theta_old||``.
    gradient_norm : float or None
        ``||G||``, the gradient of the corrected objective before the step
        (``None`` where it cannot be computed: a network whose training rows
        are not kept).
    residual_estimate : float or None
        Norm of the gradient of the corrected objective after the step: the
        estimate from the cache of a linear model, the measured gradient of a
        network whose rows are kept (``None`` otherwise).
    bound_increment : float
        What the step adds to the bound on the residual estimate's error (see
        :doc:`/certified_removal`); ``inf`` without a bound.
    residual_bound : float
        Upper bound on the true gradient residual of the model after the
        step; ``inf`` when the estimator admits none (the squared hinge, a
        low-rank Hessian, a network).
    curvature : str or None
        The curvature a matrix-free step used (``"gauss_newton"`` or
        ``"exact"`` for a network), ``None`` for a cached Hessian.
    damping : float or None
        The damping of a matrix-free step.
    cg_iterations : int or None
        Conjugate-gradient iterations of a matrix-free step.
    cg_status : str or None
        How they ended (``"converged"``, ``"max_iter"``, ...).
    cg_relative_residual : float or None
        ``||G - H x|| / ||G||`` where they ended.
    seconds : float or None
        Wall time of the update's computation.
    change_error : float or None
        An estimate (not a bound) of the distance from the parameters after
        the request to the optimum of the corrected data's objective, where
        the cache gives one: from the size of the cubic term along the step
        where the cache keeps it (a smooth loss of at most 32 parameters)
        and the predictors move little (at most 1 in root mean square;
        ``inf`` where they move further or the cubic model does not hold
        over the step), otherwise from the request's bound increment (the
        next Newton step's length with it as the gradient after the step,
        scaled by the smaller of the curvatures along ``G`` to first order
        and of the remaining rows along the step);
        and, for a change of every row's features (a
        pipeline's scaler unlearned, ``feature_change``,
        ``forget_features`` from the cache alone), the change's own: the
        same, or the bound on how far the curvature can move (``None`` for
        a log-link GLM, whose cubic model is no guide and which has no
        bound; ``0`` for a loss of constant curvature, whose step is exact).
        Where no bound covers the request, what the Hessian's rounding can
        move the step by is added. From half to 2,000 times the truth in
        the tests; of this request's step only (what earlier requests left is
        not in it). ``None`` where the cache gives no estimate.

    Notes
    -----
    ``residual_estimate`` of a linear model uses the curvature of the
    remaining rows at the point where the cached Hessian was evaluated. After
    a long step (a label flip, a large request) the true residual can be much
    larger than the estimate; ``residual_bound`` covers the difference.

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
    step_norm: float | None
    gradient_norm: float | None
    residual_estimate: float | None
    bound_increment: float
    residual_bound: float
    curvature: str | None = None
    damping: float | None = None
    cg_iterations: int | None = None
    cg_status: str | None = None
    cg_relative_residual: float | None = None
    seconds: float | None = None
    one_step_error: float | None = None
    change_error: float | None = None

    #: Figures computed from the request's rows (and, for a removal, from the
    #: model they were part of): :meth:`kept` leaves them out.
    ROW_FIGURES = ("step_norm", "gradient_norm", "residual_estimate",
                   "one_step_error", "change_error", "cg_relative_residual", "tau")

    def kept(self):
        """The report as a history keeps it: what the request did (its
        method, rows, iterations, the residual bound it reached), without
        the figures computed from its rows (:attr:`ROW_FIGURES`, ``None``).

        One who knows every other training row and the hyper-parameters can
        solve for an erased value from such a figure. The plan's report
        (:meth:`~sklearn_unlearn.base.UnlearnerMixin.plan_unlearn`), which
        the caller holds with the rows, keeps them.

        Examples
        --------
        >>> from sklearn_unlearn.base import RequestReport
        >>> report = RequestReport(method="second_order", n_removed=1, n_added=0,
        ...                        tau=None, n_iter=1, step_norm=0.3, gradient_norm=2.0,
        ...                        residual_estimate=1e-9, bound_increment=1e-6,
        ...                        residual_bound=1e-6)
        >>> kept = report.kept()
        >>> kept.n_removed, kept.step_norm, kept.residual_bound
        (1, None, 1e-06)
        """
        return replace(self, **dict.fromkeys(self.ROW_FIGURES))
