"""The phases of a request's plan (:meth:`UnlearningCache.plan`): the
request rows' gradients at the current parameters, how the request changes
the cached matrices, the step of the method and what follows it. Functions
of the cache the request is planned on; the cache gathers them into a plan.
"""

from typing import NamedTuple

import numpy as np
import scipy.sparse as sp
from scipy.linalg.lapack import dpotrf

from ..._warnings import warn_caller
from ..bounds import _bound
from ..fit._chunks import published_theta
from ..hessian import _third
from ..hessian._entry_sides import packed_sides
from ..hessian._rows_dense import prepare_fold
from ..objective._blocks import apply_all, corrected, feature_lines, matvec, solve
from ._auto import auto_method
from ._refine import refine
from ._request_change import RequestChange


class UnlearningWarning(UserWarning):
    """An update that is likely far from what retraining would give.

    Issued, for instance, when a ``method="second_order"`` step increases
    the cached quadratic model of the corrected objective: the request moves
    the optimum too far for one Newton step. ``method="refined"`` (which the
    default, ``method="auto"``, switches to by itself) or retraining is then
    the better choice. The update is still applied.

    Examples
    --------
    Turn it into an error to refuse such updates:

    >>> import warnings
    >>> from sklearn_unlearn.solvers import UnlearningWarning
    >>> warnings.simplefilter("error", UnlearningWarning)   # doctest: +SKIP
    >>> issubclass(UnlearningWarning, UserWarning)
    True
    """


#: Relative residual to which the Newton system of a non-quadratic loss is
#: solved.
_STEP_RTOL = 1e-8



class Step(NamedTuple):
    """The parameters after a step and what the request's figures need
    (``delta`` the step before rounding, ``res`` the residual of its solve,
    ``None`` when it was not one solve)."""

    theta_new: np.ndarray
    rounding: np.ndarray
    step: np.ndarray
    H_rest_step: np.ndarray
    eta_new_after: np.ndarray
    coef_after: np.ndarray
    grad_new_after: np.ndarray
    delta: np.ndarray
    res: np.ndarray | None


class Gradients(NamedTuple):
    """A request's rows at ``theta`` and the corrected objective's gradient:
    ``G_rest`` of the rows that stay (with the penalty's change ``shift``
    times ``theta``), ``G`` with the new rows; ``rest`` the cached blocks
    under the corrected data's penalty (``new_obj``); the corrected data's
    weight and count per class (``remaining``); the squared hinge's entry
    sides after the request and the sides the removed rows entered on."""

    eta_old: np.ndarray
    eta_new: np.ndarray
    coef_old: np.ndarray
    coef_new: np.ndarray
    grad_old: np.ndarray
    G_rest: np.ndarray
    G: np.ndarray
    shift_theta: np.ndarray | None
    new_obj: object
    rest: list
    remaining: object
    entry_sides: object
    inside_old: np.ndarray | None


class Changed(NamedTuple):
    """How a request changes the cached matrices, the corrected Hessian
    blocks, the bound on their error, the cubic term of the rows that stay
    (``None`` where not kept), whether rows are folded out, and the features
    the request leaves in no row (their lines set in the folds)."""

    change: object
    hessians: list
    hessian_error: float
    cubic: object
    fold: bool
    gone: np.ndarray


class StepInfo(NamedTuple):
    """The figures of a step: iterations, the first-order rate, auto's
    estimate of one step's error, and the cubic term the steps were taken on."""

    n_iter: int
    tau: float | None
    one_step_error: float | None
    stepped_on: object


def gradients(cache, r, remaining):
    """The request rows' predictors and gradients at ``theta``, the
    cached blocks under the corrected data's penalty, and the gradient of
    the corrected objective there (see :class:`Gradients`)."""
    obj = cache.objective
    theta = cache.theta
    # the predictors of the request rows at theta: every row leaves and
    # enters the cached matrices with its curvature here
    eta_old, eta_new = r.predictors(theta)
    entry_sides, inside_old = exchange_sides(cache, r, eta_new)
    coef_old = obj.gradient_coefficients(r.Y_old, r.S_old, eta_old)
    coef_new = obj.gradient_coefficients(r.Y_new, r.S_new, eta_new)
    grad_old, grad_new = r.transpose_products(coef_old, coef_new)
    remaining = cache.remaining(r) if remaining is None else remaining
    # ``rest``: the cached blocks under the penalty of the corrected data
    new_obj, rest, shift = cache._reweighted(remaining.totals)
    G_rest = cache.residual - grad_old
    shift_theta = None
    if shift is not None:
        shift_theta = shift[:, None] * theta
        G_rest = G_rest + shift_theta
    return Gradients(eta_old, eta_new, coef_old, coef_new, grad_old, G_rest,
                      G_rest + grad_new, shift_theta, new_obj, rest, remaining,
                      entry_sides, inside_old)

def changed(cache, r, g, gone=()):
    """How the request changes the cached matrices, and the Hessian blocks
    of the corrected data (solved here, adopted on commit): removed rows
    folded, with the lines of the features ``gone`` (that the request leaves
    in no row) set to the penalty alone in the same fold, the bound on their
    error, the cubic term of the rows that stay (see :class:`Changed`)."""
    obj = cache.objective
    fold = r.R_old.shape[0] > 0
    change = RequestChange(obj, r, cache.theta, g.eta_old, g.eta_new,
                            grams=cache.gram is not None, inside_old=g.inside_old)
    hessian_error = _bound.hessian_error_after(cache, r, g.eta_old)
    if fold:
        # every dense matrix folds the same rows: one buffer for their
        # scaled rows, the edited columns' products by one pass over them
        prepare_fold((change.hessian if cache.exact_hessian else [])
                     + [change.gram, change.norm_gram])
    # (the penalty of the corrected data, which the blocks in g.rest carry)
    lines = ([feature_lines(g.new_obj, gone, b) for b in range(len(g.rest))] if len(gone)
             else [None] * len(g.rest))
    hessians = [corrected(H, t, fold, hessian_error, line)
                for H, t, line in zip(g.rest, change.hessian, lines)]
    if fold and cache.exact_hessian and np.isfinite(hessian_error):
        warn_on_left_curvature(cache, r, g, change, hessians)
    cubic = None if cache.third is None else _third.CubicTerm(obj, _third.changed(
        obj, cache.third, r.R_old, r.Y_old, r.S_old, g.eta_old, -1.0), hessians)
    return Changed(change, hessians, hessian_error, cubic, fold, np.asarray(gone))

#: What removed rows may leave in the cached Hessian, as a share of the
#: curvature the remaining rows can give along them, by which it must pass
#: those rows' bounds to be warned of.
LEFT_CURVATURE_RTOL = 1e-2

#: The removed rows whose span the bounds are checked on: those whose own
#: leftover can be the largest against the curvature along them.
LEFT_CURVATURE_ROWS = 16


def warn_on_left_curvature(cache, r, g, change, hessians):
    """Warn when the removed rows leave in the corrected Hessian what no
    training rows give: each leaves its curvature where it entered (at the
    fit's parameters, or a later request's) minus the one where it leaves,
    along itself (:func:`~sklearn_unlearn.solvers.bounds._bound.left_behind`
    bounds it). The rows that stay give a data part ``H - P`` (``P`` the
    penalty) between 0 and ``U = c a_max K``, ``K`` the Gram matrix of the
    bound (which the rows leave exactly) and ``a_max`` the largest
    curvature of the loss (times the identity of the classes, for a
    coupled one). A leftover that takes it out of those bounds does so
    along the removed rows, and the saved model shows them there: a row far
    out, erased once the model had moved, left an eigenvalue of -3152 among
    others of 187 to 313, its eigenvector the row's direction (cosine
    0.99999). The bounds are checked on the span of the
    :data:`LEFT_CURVATURE_ROWS` removed rows whose own leftover bound
    (:func:`~sklearn_unlearn.solvers.bounds._bound.rows_left_behind`) is
    the largest against the curvature
    ``K``'s diagonal gives them (a hundred rows near one direction span it
    with a few of them; all of them cost a request's own products), scaled
    to the unit diagonal of ``U`` there (a column a hundred times the
    others', or a penalty that fills the trace, then hides nothing), with a
    margin of :data:`LEFT_CURVATURE_RTOL` and the matrices' rounding. A
    leftover within the bounds (curvature lowered but not below zero,
    raised but within the rows' bound) is not seen, nor one along rows
    outside those checked. Nothing is looked for while the model has not
    moved since its rows entered (no leftover). The message holds no figure
    (they are the rows')."""
    obj = cache.objective
    if len(hessians) != 1 or cache.gram is None or not np.isfinite(obj.loss.curvature_max):
        # one-vs-rest blocks weigh their rows by class (K holds one weight)
        return
    loss = obj.loss
    if loss.curvature_lipschitz is None:
        return
    R, norms = r.R_old, r.norms_old
    if not np.all(norms > 0):
        return
    own = _bound.rows_left_behind(cache, r, g.eta_old)
    if not np.any(own > 0):
        return
    curving = obj.scale * loss.curvature_max
    squares = R.multiply(R) if sp.issparse(R) else R**2
    along = curving * np.asarray(squares @ cache.gram.base_diagonal()).ravel() / norms**2
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(along > 0, own / along, np.inf)
    # nan (an undefined bound) sorts last: checked
    top = np.argsort(ratio)[-LEFT_CURVATURE_ROWS:]
    R = R[top].toarray() if sp.issparse(R) else R[top]
    norms = norms[top]
    H = hessians[0]
    # the removed rows, of unit norm: the bounds hold on their span if their
    # forms with the rows hold (no orthogonal basis needed)
    V = np.ascontiguousarray((R / norms[:, None]).T)
    K = H.shape[0] // V.shape[0]
    W = np.kron(np.eye(K), V) if K > 1 else V
    data = W.T @ (H.matvec(W) - obj._block_penalty(0)[:, None] * W)
    gram = V.T @ cache.gram.matvec(V, terms=change.gram)
    upper = curving * (np.kron(np.eye(K), gram) if K > 1 else gram)
    rounding = (H.error + H.rounding_scale()
                + curving * K * (cache.gram.error + cache.gram.rounding_scale()))
    scale = np.diagonal(upper).copy()
    scale = np.sqrt(np.maximum(scale, 1e-12 * scale.max(initial=0.0) + rounding))
    outer = np.outer(scale, scale)
    slack = np.diag(LEFT_CURVATURE_RTOL + rounding / scale**2)
    below = not _positive_semidefinite(data / outer + slack)
    above = not _positive_semidefinite((upper - data) / outer + slack)
    if below or above:
        warn_caller(
            "The rows this request removes changed their curvature since they "
            "entered the cached Hessian (the model has moved since), and what "
            "they leave there takes it "
            + ("below zero" if below else "above what the training rows can give")
            + " along their span: the saved model shows their direction. "
            "refresh_cache with the current training rows takes it out (the "
            "Hessian is then formed from them alone); or refit.",
            UnlearningWarning,
        )


def _positive_semidefinite(M):
    """Whether the symmetric ``M`` factors (LAPACK's Cholesky, its lower
    triangle read), with a finite diagonal."""
    L, info = dpotrf(0.5 * (M + M.T), lower=1, clean=0)
    return info == 0 and bool(np.all(np.isfinite(np.diagonal(L))))


def stepped(cache, r, g, c, method, tau, max_iter, tol):
    """The step of ``method`` (``"auto"`` choosing by the request's own
    rows): the method taken, the state after the step, and the step's
    figures (see :class:`StepInfo`)."""
    obj = cache.objective
    n_iter, used_tau, res, one_step_error, stepped_on = 1, None, None, None, None
    if method == "first_order":
        if tau == "auto":
            HG = matvec(obj, c.hessians, g.G)
            curv = float((g.G * HG).sum())
            used_tau = float((g.G * g.G).sum()) / curv if curv > 0 else 0.0
        else:
            used_tau = float(tau)
        delta = -used_tau * g.G
    else:
        # A curvature that changes along the step makes the step itself
        # approximate: its system is solved to 1e-8 of the gradient, two
        # orders below the step's own error. The true residual enters the
        # estimate, so the bound holds whatever the tolerance.
        x, res = solve(obj, c.hessians, g.G, residual=True,
                       rtol=0.0 if obj.loss.constant_curvature else _STEP_RTOL)
        delta = -x
    after = after_step(cache, r, cache.theta, g.G, g.G_rest, res, g.rest,
                       c.change.removed, c.change.added, delta)
    if method == "auto":
        method, one_step_error = auto_method(
            obj, g.G, g.G_rest + after.H_rest_step + after.grad_new_after, delta,
            after.theta_new, c.cubic)
    if method == "refined":
        rest, removed = rest_model(cache, g, c)
        delta, n_iter, stepped_on = refine(
            cache, r, cache.theta, g.G_rest, removed, delta,
            max_iter=max_iter, tol=tol, max_damping=c.hessian_error,
            hessians=rest, cubic=c.cubic)
        after = after_step(cache, r, cache.theta, g.G, g.G_rest, None, rest, removed,
                           c.change.added, delta)
    return method, after, StepInfo(n_iter, used_tau, one_step_error, stepped_on)

def rest_model(cache, g, c):
    """The cache's model of the Hessian blocks of the rows that stay: blocks
    and the row terms to add to them.

    A dense block less the removed rows' exact curvature is that model
    exactly. A low-rank one is not: its diagonal remainder holds the removed
    rows' squares and it misses their couplings outside the sketch, so the
    difference can be indefinite (refined iterations on it run off). The
    corrected blocks, with the removed rows folded out as the request
    commits them, less the new rows' curvature at the fitted parameters
    stand for it instead: the new rows' exact loss then adds only how their
    curvature changes along the step.
    """
    if cache.exact_hessian or not c.fold:
        return g.rest, c.change.removed
    return c.hessians, [t.negated() for t in c.change.added]


def after_step(cache, r, theta, G, G_rest, res, rest, removed, added, delta):
    """The published parameters after ``delta``, their rounding, the step,
    the remaining rows' Hessian times it (``rest`` plus the ``removed``
    terms, see :func:`rest_model`; from the solve's residual ``res`` when
    given: no product with the dense matrix), and the new rows' predictors,
    gradient coefficients and gradient there."""
    obj = cache.objective
    theta_new = published_theta(obj, theta + delta, cache.dtype)
    rounding = theta_new - (theta + delta)
    step = delta + rounding
    if res is not None:
        (added_delta,) = apply_all(obj, [(added, delta)])
        H_rest_step = res - G - added_delta
        if rounding.any():
            H_rest_step = H_rest_step + matvec(obj, rest, rounding, removed)
    else:
        H_rest_step = matvec(obj, rest, step, removed)
    eta_new_after = r.new_predictor(theta_new)
    coef_after = obj.gradient_coefficients(r.Y_new, r.S_new, eta_new_after)
    return Step(theta_new, rounding, step, H_rest_step, eta_new_after, coef_after,
                 r.new_transpose_product(coef_after), delta, res)

def exchange_sides(cache, r, eta_new):
    """The rows held after the request, and the side each removed row
    entered every block on (``None``, ``None`` for a loss whose
    curvature does not jump)."""
    sides = cache.entry_sides
    if sides is None:
        if cache.objective.loss.curvature_jumps and r.R_old.shape[0]:
            raise ValueError(
                "This cache does not record the side of the margin its rows "
                "entered on (it was made before that was kept): it cannot fold "
                "out removed rows without leaving a trace of them. Refit the "
                "model. Nothing was changed.")
        return None, None
    design = cache.objective.design
    d = r.R_old.shape[1] - int(design.fit_intercept)
    packed = packed_sides(cache.objective.loss, r.Y_new, eta_new)
    return sides.exchange(r.R_old[:, :d], r.Y_old, r.S_old,
                          r.R_new[:, :d], r.Y_new, r.S_new, packed)


def warn_on_overshoot(obj, r, G_rest, step, H_rest_step, eta_new, eta_new_after):
    """Warn when a second-order step increases the cached model of the
    corrected objective (quadratic in the remaining rows, exact in the new
    ones) by more than the rounding of its terms, which a tiny step leaves
    alone."""
    before = obj.loss_sum(r.Y_new, r.S_new, eta_new)
    linear = float((G_rest * step).sum())
    quadratic = 0.5 * float((step * H_rest_step).sum())
    after = linear + quadratic + obj.loss_sum(r.Y_new, r.S_new, eta_new_after)
    scale = max(abs(before), abs(after), abs(linear), abs(quadratic))
    if after > before + 1e-12 * scale:
        warn_caller(
            "The second-order step increases the cached model of the "
            "corrected objective: the request moves the optimum too far "
            "for one Newton step (typical of many flipped labels on nearly "
            "separable data). method='refined' (or the default, 'auto') "
            "iterates with a line search; retraining is safest.",
            UnlearningWarning,
        )
