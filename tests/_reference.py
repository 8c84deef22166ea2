"""An independent reference for the gradient residual, in extended precision.

Nothing here uses the code of ``sklearn_unlearn``: the objectives are written
from scikit-learn's documentation of the parent estimators, and evaluated at
the parameters a fitted estimator *publishes* (``coef_`` and ``intercept_``,
float32 when it was fitted on float32), on a data set the caller keeps.

The objectives, with sample weights ``s_i`` and ``p = d + 1`` parameters per
output (the intercept last, absent with ``fit_intercept=False``):

``LogisticRegression`` (L2 penalty, any solver but liblinear)
    ``C * sum_i s_i * log_loss(y_i, x_i W + w0) + ||W||_F^2 / 2``: binary
    with one column (the log loss of ``classes_[1]``, ``sigma(x w + w0)``),
    multinomial with one column per class (the softmax). The intercepts are
    not penalised. The objective, and so its gradient, does not change when
    the same constant is added to every class's intercept, so the centred
    intercepts scikit-learn reports give the same residual as any others.
``Ridge``
    ``sum_i s_i ||y_i - x_i W - w0||^2 + alpha ||W||_F^2`` (intercept not
    penalised). Its gradient is ``2 sum_i s_i x_i (x_i W + w0 - y_i) + 2 alpha
    W``. This is the objective whose gradient norm ``residual_bound_`` of
    :class:`~sklearn_unlearn.UnlearnableRidge` bounds (the user guide writes it
    ``c = 2`` times the half squared error plus ``alpha ||w||^2``): the tests
    confirm the scaling against a finite difference of the objective and
    against the ``gradient_norm`` each request reports.
Objective perturbation (certified removal)
    ``+ sum_jk B_jk theta_jk``: the gradient gains ``B``, an array of shape
    ``(p, n_outputs)`` in the layout above (the documented ``noise`` of the
    estimator's :class:`~sklearn_unlearn.solvers.UnlearningCache`).

The true residual is ``||grad||_F`` of the objective on the corrected data
at the published parameters. It is computed in ``np.longdouble`` (64-bit
significand on x86-64) together with a rigorous bound on the error of that
computation (:class:`Residual`): every floating-point sum and product is
charged ``gamma_k = k u / (1 - k u)`` times the sum of the magnitudes it
adds (Higham, *Accuracy and Stability of Numerical Algorithms*, ch. 3), and
the error of a predictor ``x_i^T theta`` is carried through the sigmoid or
softmax by the mean value theorem, with the derivative bounded over the
whole interval the exact predictor may lie in (so a saturated row with a
huge predictor is charged nothing, as it should). A bound below
:attr:`Residual.lower` is an under-report beyond doubt.

:func:`decimal_gradient` recomputes the same gradients with 80 significant
decimal digits (the standard library's :mod:`decimal`), slowly, to test the
long double values and their error bounds on small cases.
"""

from dataclasses import dataclass
from decimal import Decimal, localcontext

import numpy as np

LD = np.longdouble
#: unit round-off of the extended precision
U = LD(np.finfo(LD).eps) / 2


def _gamma(k):
    return LD(k) * U / (1 - LD(k) * U)


@dataclass
class Residual:
    """The norm of a gradient and a bracket of its exact value.

    Attributes
    ----------
    value : np.longdouble
        ``||grad||_F`` computed in extended precision (may exceed the float64
        range).
    lower, upper : np.longdouble
        The exact norm lies in ``[lower, upper]``.
    gradient : ndarray of shape (p, n_outputs), dtype longdouble
    error : ndarray of shape (p, n_outputs), dtype longdouble
        Bound on the error of each entry of ``gradient``.
    """

    value: LD
    lower: LD
    upper: LD
    gradient: np.ndarray
    error: np.ndarray

    @property
    def finite(self):
        return bool(np.isfinite(self.value))


def published_theta(est):
    """``(theta, fit_intercept)``: the published ``coef_`` and ``intercept_``
    of a linear estimator as a ``(p, n_outputs)`` long double array, the
    intercept in the last row (converted exactly, float32 included)."""
    if getattr(est, "solver", None) == "liblinear":
        raise NotImplementedError("the reference does not model liblinear's "
                                  "penalised intercept")
    coef = np.asarray(est.coef_)
    coef = coef.reshape(1, -1) if coef.ndim == 1 else coef
    fit_intercept = bool(est.fit_intercept)
    rows = [coef.T.astype(LD)]
    if fit_intercept:
        rows.append(np.atleast_1d(np.asarray(est.intercept_)).astype(LD)[None, :])
    return np.vstack(rows), fit_intercept


def _augment(X, fit_intercept):
    X = np.asarray(X)
    Xa = X.astype(LD)
    if fit_intercept:
        Xa = np.hstack([Xa, np.ones((X.shape[0], 1), dtype=LD)])
    return Xa


def _sigmoid(z):
    """``1 / (1 + exp(-z))`` without overflow, elementwise, long double."""
    out = np.empty_like(z)
    pos = z >= 0
    out[pos] = 1 / (1 + np.exp(-z[pos]))
    e = np.exp(z[~pos])
    out[~pos] = e / (1 + e)
    return out


def _sigmoid_slope(m):
    """``sigma'(m) = sigma(m) sigma(-m)`` for ``m >= 0``, without overflow."""
    q = np.exp(-m)
    return q / (1 + q) ** 2


def _binary_coefficients(eta, t, delta):
    """``rho = sigma(eta) - t`` and a bound on its error for a predictor
    known to within ``delta``: the slope ``sigma'`` decreases in ``|eta|``, so
    over ``[eta - delta, eta + delta]`` it is at most ``sigma'(max(|eta| -
    delta, 0))``. ``sigma(eta) - 1`` is computed as ``-sigma(-eta)`` (no
    cancellation)."""
    rho = np.where(t == 1, -_sigmoid(-eta), _sigmoid(eta))
    slope = _sigmoid_slope(np.maximum(np.abs(eta) - delta, 0))
    err = np.minimum(LD(1), delta * slope) + 8 * U * np.abs(rho)
    return rho, err


def _softmax_coefficients(eta, idx, delta):
    """``rho = softmax(eta) - onehot`` row by row, and a bound on its error for
    logits known to within ``delta`` each. Along the segment to the exact
    logits, ``|d p_k| <= 2 p_k (1 - p_k) max_j |d eta_j|``, with ``p_k <=
    exp(eta_k - max eta + 2 delta)`` and ``1 - p_k <= sum_{j != k}
    exp(eta_j - eta_k + 2 delta)`` everywhere on it."""
    n, K = eta.shape
    top = eta.max(axis=1, keepdims=True)
    E = np.exp(eta - top)
    S = E.sum(axis=1, keepdims=True)
    P = E / S
    rho = P.copy()
    rows = np.arange(n)
    # the true class: p - 1 = -(sum of the others) / S, summed without it
    mask = np.ones((n, K), dtype=bool)
    mask[rows, idx] = False
    others = np.where(mask, E, 0).sum(axis=1)
    rho[rows, idx] = -others / S[:, 0]
    d = delta[:, None]
    with np.errstate(over="ignore"):          # exp(+large) = inf, then min(1, inf)
        a = np.minimum(LD(1), np.exp(eta - top + 2 * d))
    # sum_{j != k} exp(eta_j - eta_k + 2 delta), computed without overflow
    diff = eta[:, None, :] - eta[:, :, None]          # [i, k, j] = eta_j - eta_k
    off = ~np.eye(K, dtype=bool)[None, :, :]
    expo = np.where(off, np.minimum(diff + 2 * d[:, :, None], LD(50)), LD(-np.inf))
    b = np.minimum(LD(1), np.exp(expo).sum(axis=2))
    slope = np.minimum(LD(0.5), 2 * a * b)
    err = np.minimum(LD(1), d * slope) + (K + 8) * U * np.abs(rho)
    return rho, err


def _predictors(Xa, theta):
    eta = Xa @ theta
    # |fl(x^T theta) - x^T theta| <= gamma_p |x|^T |theta|, any summation order
    scale = np.abs(Xa) @ np.abs(theta)
    delta = 2 * _gamma(Xa.shape[1] + 2) * scale.max(axis=1)
    return eta, delta


def _assemble(Xa, w, rho, rho_err, penalty, theta, noise):
    """``Xa^T (w * rho) + penalty * theta (+ noise)`` and its error bound."""
    V = w[:, None] * rho
    V_err = w[:, None] * rho_err + 2 * U * np.abs(V)
    absX = np.abs(Xa)
    G = Xa.T @ V + penalty[:, None] * theta
    mag = absX.T @ np.abs(V) + np.abs(penalty[:, None] * theta)
    if noise is not None:
        B = np.asarray(noise, dtype=np.float64).astype(LD).reshape(G.shape)
        G = G + B
        mag = mag + np.abs(B)
    # rounding of the sums and of the error terms themselves: a factor 2
    err = 2 * (absX.T @ V_err + _gamma(Xa.shape[0] + 4) * mag)
    return G, err


def _residual(G, err):
    value = np.sqrt(np.sum(G * G))
    e = np.sqrt(np.sum(err * err))
    g = _gamma(G.size + 4)
    lower = max(value * (1 - g) - e * (1 + g), LD(0))
    upper = value * (1 + g) + e * (1 + g)
    if not np.isfinite(value) or not np.isfinite(e):
        lower = upper = LD(np.nan)
    return Residual(value, LD(lower), LD(upper), G, err)


def logistic_residual(X, y, sample_weight, classes, C, theta, fit_intercept,
                      noise=None):
    """The residual of ``LogisticRegression``'s objective at ``theta``.

    Parameters
    ----------
    X : ndarray of shape (n, d)
        The corrected training rows (float64 or float32 values).
    y : ndarray of shape (n,)
        Their labels, among ``classes``.
    sample_weight : ndarray of shape (n,)
    classes : ndarray of shape (K,)
        Sorted class labels; ``K = 2`` is the binary model.
    C : float
    theta : ndarray of shape (p, 1) for K = 2, (p, K) otherwise
    fit_intercept : bool
    noise : ndarray of the shape of ``theta`` or None

    Returns
    -------
    Residual
    """
    classes = np.asarray(classes)
    idx = np.searchsorted(classes, np.asarray(y))
    if not np.all(classes[np.minimum(idx, len(classes) - 1)] == np.asarray(y)):
        raise ValueError("labels outside classes")
    Xa = _augment(X, fit_intercept)
    theta = np.asarray(theta).astype(LD)
    eta, delta = _predictors(Xa, theta)
    w = LD(C) * np.asarray(sample_weight, dtype=np.float64).astype(LD)
    if len(classes) == 2:
        rho, rho_err = _binary_coefficients(eta[:, 0], (idx == 1).astype(int), delta)
        rho, rho_err = rho[:, None], rho_err[:, None]
    else:
        rho, rho_err = _softmax_coefficients(eta, idx, delta)
    penalty = np.ones(Xa.shape[1], dtype=LD)
    if fit_intercept:
        penalty[-1] = 0
    G, err = _assemble(Xa, w, rho, rho_err, penalty, theta, noise)
    return _residual(G, err)


def ridge_residual(X, Y, sample_weight, alpha, theta, fit_intercept, noise=None):
    """The residual of ``Ridge``'s objective ``sum_i s_i ||y_i - x_i W -
    w0||^2 + alpha ||W||^2`` at ``theta`` (``Y`` of shape (n,) or (n, m)).

    Returns
    -------
    Residual
    """
    Xa = _augment(X, fit_intercept)
    theta = np.asarray(theta).astype(LD)
    Y = np.asarray(Y).astype(LD).reshape(Xa.shape[0], -1)
    eta, delta = _predictors(Xa, theta)
    rho = eta - Y
    # the subtraction of two long doubles is correctly rounded
    rho_err = delta[:, None] + U * np.abs(rho)
    w = 2 * np.asarray(sample_weight, dtype=np.float64).astype(LD)
    penalty = np.full(Xa.shape[1], 2 * LD(alpha), dtype=LD)
    if fit_intercept:
        penalty[-1] = 0
    G, err = _assemble(Xa, w, rho, rho_err, penalty, theta, noise)
    return _residual(G, err)


def residual_of(est, X, y, sample_weight, *, theta=None, noise="cache"):
    """The true residual of a fitted ``LogisticRegression`` or ``Ridge``
    (subclass) at its published parameters (or ``theta``) on ``X, y,
    sample_weight``. ``noise="cache"`` takes the objective perturbation from
    the documented ``unlearning_cache_.noise`` of an unlearnable estimator;
    pass an array or None to set it."""
    from sklearn.linear_model import LogisticRegression, Ridge

    if theta is None:
        theta, fit_intercept = published_theta(est)
    else:
        fit_intercept = bool(est.fit_intercept)
    if isinstance(noise, str):
        cache = getattr(est, "unlearning_cache_", None)
        noise = None if cache is None else cache.noise
    if isinstance(est, LogisticRegression):
        return logistic_residual(X, y, sample_weight, est.classes_, est.C, theta,
                                 fit_intercept, noise)
    if isinstance(est, Ridge):
        return ridge_residual(X, y, sample_weight, float(np.ravel(est.alpha)[0]),
                              theta, fit_intercept, noise)
    raise TypeError(f"no reference objective for {type(est).__name__}")


# -- objective values (for finite differences) ----------------------------------------
def logistic_objective(X, y, sample_weight, classes, C, theta, fit_intercept,
                       noise=None):
    """``C sum_i s_i log_loss_i + ||W||^2 / 2 (+ <B, theta>)`` in long double."""
    classes = np.asarray(classes)
    idx = np.searchsorted(classes, np.asarray(y))
    Xa = _augment(X, fit_intercept)
    theta = np.asarray(theta).astype(LD)
    eta = Xa @ theta
    s = np.asarray(sample_weight, dtype=np.float64).astype(LD)
    if len(classes) == 2:
        z = np.where(idx == 1, 1, -1) * eta[:, 0]
        # log(1 + exp(-z)), stably
        loss = np.where(z > 0, np.log1p(np.exp(-np.abs(z))),
                        -z + np.log1p(np.exp(-np.abs(z))))
    else:
        top = eta.max(axis=1)
        lse = top + np.log(np.exp(eta - top[:, None]).sum(axis=1))
        loss = lse - eta[np.arange(len(idx)), idx]
    W = theta[:-1] if fit_intercept else theta
    value = LD(C) * np.sum(s * loss) + np.sum(W * W) / 2
    if noise is not None:
        value += np.sum(np.asarray(noise).astype(LD) * theta)
    return value


def ridge_objective(X, Y, sample_weight, alpha, theta, fit_intercept):
    """``sum_i s_i ||y_i - x_i W - w0||^2 + alpha ||W||^2`` in long double."""
    Xa = _augment(X, fit_intercept)
    theta = np.asarray(theta).astype(LD)
    Y = np.asarray(Y).astype(LD).reshape(Xa.shape[0], -1)
    s = np.asarray(sample_weight, dtype=np.float64).astype(LD)
    R = Y - Xa @ theta
    W = theta[:-1] if fit_intercept else theta
    return np.sum(s[:, None] * R * R) + LD(alpha) * np.sum(W * W)


# -- 80-digit decimal gradients (slow; small cases only) --------------------------------
def _dec(v):
    return Decimal(float(v)) if not isinstance(v, Decimal) else v


def decimal_gradient(kind, X, y, sample_weight, theta, fit_intercept, *, C=1.0,
                     alpha=1.0, classes=None, noise=None, digits=80):
    """The gradient of the objective ``kind`` (``"logistic"`` or
    ``"ridge"``) with ``digits`` significant decimal digits, as a nested list
    of :class:`~decimal.Decimal` of the shape of ``theta``. Inputs are float64
    or float32 values, converted exactly."""
    X = np.asarray(X, dtype=np.float64)
    theta = np.asarray(theta, dtype=LD)
    n, d = X.shape
    p, m = theta.shape
    with localcontext() as ctx:
        ctx.prec = digits
        ctx.Emin, ctx.Emax = -10**8, 10**8
        if not np.all(theta.astype(np.float64).astype(LD) == theta):
            raise ValueError("theta must hold float64 values")
        T = [[Decimal(float(theta[j, k])) for k in range(m)] for j in range(p)]
        G = [[Decimal(0)] * m for _ in range(p)]
        for i in range(n):
            row = [_dec(v) for v in X[i]] + ([Decimal(1)] if fit_intercept else [])
            eta = [sum(row[j] * T[j][k] for j in range(p)) for k in range(m)]
            s = _dec(sample_weight[i])
            if kind == "ridge":
                yi = np.atleast_1d(np.asarray(y[i], dtype=np.float64))
                coef = [2 * s * (eta[k] - _dec(yi[k])) for k in range(m)]
            elif len(classes) == 2:
                t = 1 if y[i] == classes[1] else 0
                z = eta[0]
                sig = (1 / (1 + (-z).exp()) if z >= 0 else z.exp() / (1 + z.exp()))
                coef = [_dec(C) * s * (sig - t)]
            else:
                top = max(eta)
                e = [(v - top).exp() for v in eta]
                tot = sum(e)
                t = list(classes).index(y[i])
                coef = [_dec(C) * s * (e[k] / tot - (1 if k == t else 0))
                        for k in range(m)]
            for j in range(p):
                for k in range(m):
                    G[j][k] += row[j] * coef[k]
        lam = Decimal(1) if kind == "logistic" else 2 * _dec(alpha)
        for j in range(p - int(fit_intercept)):
            for k in range(m):
                G[j][k] += lam * T[j][k]
        if noise is not None:
            B = np.asarray(noise, dtype=np.float64).reshape(p, m)
            for j in range(p):
                for k in range(m):
                    G[j][k] += _dec(B[j, k])
        return G
