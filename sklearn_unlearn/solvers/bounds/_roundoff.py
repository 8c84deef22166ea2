"""Worst-case rounding of the quantities a residual bound is computed from.

The residual bound must hold for the exact gradient of the exact objective,
while every cached quantity is computed in float64. These functions bound the
difference with the standard model of floating-point arithmetic: every
operation is exact up to a factor ``1 + e`` with ``|e| <= u = 2**-53``, and a
sum of ``n`` products ``sum_i a_i b_i`` computed in any order is off by at
most ``gamma(n) sum_i |a_i b_i|`` with ``gamma(n) = n u / (1 - n u)``
(Higham, *Accuracy and Stability of Numerical Algorithms*, section 3.1). The
bounds are worst cases over every summation order, so they hold for any BLAS;
they are larger than typical errors by about ``sqrt(n)``. The user guide
derives each one.

With gradual underflow the model holds for sums and differences (exact when
their result is subnormal), but a product, a quotient, a square root or an
elementary function whose result is subnormal is off by up to half of
:data:`TINY` (or a few of it) in absolute terms, which no relative term
covers once the values are that small: each bound below adds that much per
such operation.
"""

import numpy as np
import scipy.sparse as sp

#: Unit round-off of float64.
UNIT = np.finfo(np.float64).eps / 2

#: The smallest subnormal float64: what underflow can lose in one operation
#: (twice its worst case, half of it).
TINY = float(np.finfo(np.float64).smallest_subnormal)


def gamma(n):
    """``n u / (1 - n u)``: the relative error bound of a sum of ``n`` terms
    (``inf`` when ``n u >= 1``)."""
    nu = float(n) * UNIT
    return nu / (1.0 - nu) if nu < 0.5 else np.inf


def absolute_predictor(design, X, theta):
    """``|X_aug| @ |theta|``: what the rounding of every predictor is
    proportional to (``|fl(x^T t) - x^T t| <= gamma(p) |x|^T |t|``)."""
    if sp.issparse(X):
        return np.asarray(design.predictor(abs(X), np.abs(theta)))
    return design.predictor(np.abs(X), np.abs(theta))


def norm_raise(n_params):
    """``(a, d)``: a row norm computed as ``sqrt(sum of squares)`` over
    ``n_params`` entries is at most ``(1 + a)`` times it plus ``d`` from the
    exact one: its rounding, and the square root of what the squares of
    entries near ``1e-162`` lose to underflow."""
    return 2.0 * gamma(n_params + 2), np.sqrt((n_params + 2) * TINY)


def upper_norms(norms, n_params):
    """Row norms computed as ``sqrt(sum of squares)`` raised by
    :func:`norm_raise`, so that they bound the exact norms."""
    a, d = norm_raise(n_params)
    return norms * (1.0 + a) + d


def norm_up(v):
    """An upper bound on the exact Euclidean norm of the entries of ``v``: the
    norm of ``v`` scaled by a power of two (exactly) towards one, so that no
    square underflows or overflows, raised by its rounding (``inf`` for a
    non-finite entry), as a NumPy float (whose arithmetic overflows to
    ``inf`` rather than raising)."""
    v = np.abs(np.asarray(v, dtype=np.float64)).ravel()
    top = np.float64(v.max(initial=0.0))
    if top == 0.0 or not np.isfinite(top):
        return np.float64(0.0) if top == 0.0 else np.float64(np.inf)
    exponent = int(np.frexp(top)[1])
    scaled = np.ldexp(v, -exponent)
    # entries that the scaling takes below the subnormals were each under
    # 2**(exponent - 1074)
    out = np.ldexp(float(np.linalg.norm(scaled)) * (1.0 + gamma(len(v) + 2))
                   + np.sqrt(len(v)) * TINY, exponent)
    return np.float64(out) + TINY


def gradient_coefficient_error(obj, Y, S, eta, abs_eta, coef):
    """Bound, per row, on ``|computed coefficient - exact coefficient|`` of the
    data gradient ``obj.gradient_coefficients(Y, S, eta)``.

    The predictor is off by at most ``gamma(p + 1) |x|^T |theta|``, which
    moves the coefficient by at most ``scale s curvature_max`` times that;
    the evaluation of the loss's derivative adds a few units of round-off of
    the values it combines (``|coef|``, the targets and the predictor).
    """
    p = obj.n_params
    weight = obj.scale * np.abs(S)
    kappa = obj.loss.curvature_max
    if not np.isfinite(kappa):
        # an unbounded curvature bounds nothing (inf, not inf * 0)
        return np.full(len(coef), np.inf)
    # underflow: of the predictor's p + 1 products, of the derivative's
    # evaluation, and of its product with the weights, which the scale
    # multiplies after it
    err = weight * (kappa * (gamma(p + 1) * abs_eta + (p + 1) * TINY)
                    + 8.0 * UNIT * (1.0 + kappa * np.abs(eta) + np.abs(Y)) + 8.0 * TINY)
    err = err + 8.0 * UNIT * np.abs(coef) + 8.0 * (1.0 + abs(obj.scale)) * TINY
    return err.sum(axis=1)


def data_gradient_error(obj, Y, S, eta, abs_eta, norms, coef):
    """Bound on ``||computed R^T coef - exact R^T coef(exact eta)||`` over the
    rows of a block: the coefficients' own error, then the sum over the
    ``n`` rows of each entry (``gamma(n) sum_i |coef_i| ||r_i||``)."""
    n = len(norms)
    if n == 0:
        return 0.0
    norms = upper_norms(norms, obj.n_params)
    coef_err = gradient_coefficient_error(obj, Y, S, eta, abs_eta, coef)
    total = (norms @ (coef_err + gamma(n + 1) * np.abs(coef).sum(axis=1))
             + product_underflow(n, obj.n_params * coef.shape[1]))
    return float(total) if np.isfinite(total) else np.inf


def product_underflow(n, entries):
    """Bound on the norm of what underflow loses in ``entries`` sums of
    ``n`` products each (a matrix times ``n`` columns' coefficients; a
    ``p x p`` matrix times ``k`` vectors is ``p`` products in each of
    ``p k`` entries)."""
    return float(n) * np.sqrt(entries) * TINY


def curvature_weight_error(obj, S, abs_eta):
    """Bound, per row, on the error of a computed curvature weight
    ``scale s curvature(eta)`` (one output; a coupled loss's matrix in
    operator norm): the predictor's rounding times the curvature's
    Lipschitz constant, plus a few units of round-off of its value."""
    p = obj.n_params
    gam = obj.loss.curvature_lipschitz or 0.0
    kappa = obj.loss.curvature_max
    weight = obj.scale * np.abs(S[:, :1])
    return (weight * (gam * (gamma(p + 1) * abs_eta.max(axis=1, keepdims=True)
                             + (p + 1) * TINY)
                      + 8.0 * UNIT * kappa + 8.0 * TINY)
            + 8.0 * (1.0 + abs(obj.scale)) * TINY).ravel()


def sum_error(*norms):
    """Bound on the rounding of a sum of vectors of the given norms."""
    return 2.0 * UNIT * float(sum(norms)) * max(len(norms), 1)


def fold_underflow(p, n_rows, mass):
    """Bound on the Frobenius norm of what underflow loses when ``n_rows``
    weighted rows of total ``mass`` (``sum_i |w_i| ||x_i||^2``) are summed
    into a ``p x p`` matrix as products of rows scaled by ``sqrt |w_i|``:
    each product loses up to ``TINY / 2``, and each scaled entry's own loss
    is multiplied by the entry it meets (``sum_i sqrt |w_i| ||x_i|| <=
    sqrt(n mass)``); twice that, for an edit's column products."""
    return 2.0 * p * (n_rows + np.sqrt(n_rows * mass)) * TINY


def sqrt_product(a, b):
    """An upper bound on ``sqrt(a b)`` for ``a, b >= 0``, taken as ``sqrt(a)
    sqrt(b)``: the product of two sums that each carry the sample weights
    (near ``1e-170`` each) underflows to zero where this does not."""
    with np.errstate(invalid="ignore", over="ignore"):
        out = np.sqrt(a) * np.sqrt(b) * (1.0 + 4.0 * UNIT)
    return out if out == out else np.inf
