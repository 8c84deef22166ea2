"""Gradients and exact Hessian-vector products of a multilayer perceptron.

The network is scikit-learn's: ``z_{l+1} = a_l W_l + b_l``, ``a_{l+1} =
f(z_{l+1})`` for the hidden layers and ``a_L = out(z_L)`` for the output, with
``out`` the canonical link of the loss (identity for the squared error, exp
for the Poisson deviance, logistic for the binary log loss, softmax for the
multinomial log loss). For these pairs the gradient of the per-sample loss in
the output pre-activation is ``a_L - y`` and its Hessian is the Jacobian of
``out``.

Everything here works on the **sum** of the weighted per-sample losses,
``F(theta) = sum_i s_i loss_i(theta)``, without the penalty; the caller adds
``alpha * W`` and divides by the total weight (see ``_base.py``).

The Hessian-vector product is the exact R-operator (Pearlmutter, 1994): one
forward pass of the directional derivatives and one backward pass, about
three times the cost of a gradient. ``gauss_newton=True`` drops the terms
that involve the output residual and gives the generalised Gauss-Newton
product ``J^T H_out J``, which is positive semi-definite.

Parameters are packed into one vector as ``[W_0.ravel(), ..., W_{L-1}.ravel(),
b_0, ..., b_{L-1}]`` (row-major), the order scikit-learn uses.
"""

import functools

import numpy as np
from sklearn.utils.extmath import safe_sparse_dot


class MLPLayout:
    """Shapes of the layers and how they pack into one parameter vector."""

    def __init__(self, coef_shapes):
        self.coef_shapes = [tuple(s) for s in coef_shapes]
        sizes = [a * b for a, b in self.coef_shapes]
        self.n_coef = int(sum(sizes))
        self.coef_slices = []
        start = 0
        for (a, b), size in zip(self.coef_shapes, sizes):
            self.coef_slices.append(slice(start, start + size))
            start += size
        self.intercept_slices = []
        for _, b in self.coef_shapes:
            self.intercept_slices.append(slice(start, start + b))
            start += b
        self.n_params = start

    @classmethod
    def from_coefs(cls, coefs):
        return cls([np.shape(c) for c in coefs])

    def pack(self, coefs, intercepts):
        theta = np.empty(self.n_params)
        for s, c in zip(self.coef_slices, coefs):
            theta[s] = np.ravel(c)
        for s, b in zip(self.intercept_slices, intercepts):
            theta[s] = np.ravel(b)
        return theta

    def unpack(self, theta):
        coefs = [theta[s].reshape(shape) for s, shape in zip(self.coef_slices, self.coef_shapes)]
        intercepts = [theta[s] for s in self.intercept_slices]
        return coefs, intercepts

    def coef_mask(self):
        """1 on the weights (penalised), 0 on the intercepts (not penalised)."""
        mask = np.zeros(self.n_params)
        mask[: self.n_coef] = 1.0
        return mask


# Derivatives of the hidden activations, written in terms of a = f(z) as
# scikit-learn does: (f'(z), f''(z)).
def _d_identity(a):
    return np.ones_like(a), None


def _d_logistic(a):
    d1 = a * (1.0 - a)
    return d1, d1 * (1.0 - 2.0 * a)


def _d_tanh(a):
    d1 = 1.0 - a * a
    return d1, -2.0 * a * d1


def _d_relu(a):
    # f'' = 0 away from the kink; at a kink the Hessian does not exist and the
    # one-sided derivative scikit-learn uses for the gradient (0 at z <= 0) is
    # taken.
    return (a > 0).astype(a.dtype), None


_DERIVATIVES = {
    "identity": _d_identity,
    "logistic": _d_logistic,
    "tanh": _d_tanh,
    "relu": _d_relu,
}


def _apply_hidden(name, z):
    if name == "identity":
        return z
    if name == "logistic":
        return 0.5 * (1.0 + np.tanh(0.5 * z))
    if name == "tanh":
        return np.tanh(z)
    if name == "relu":
        return np.maximum(z, 0.0)
    raise ValueError(f"Unknown activation {name!r}.")


def _apply_output(name, z):
    if name == "identity":
        return z
    if name == "exp":
        return np.exp(z)
    if name == "logistic":
        return 0.5 * (1.0 + np.tanh(0.5 * z))
    if name == "softmax":
        z = z - z.max(axis=1, keepdims=True)
        e = np.exp(z)
        return e / e.sum(axis=1, keepdims=True)
    raise ValueError(f"Unknown output activation {name!r}.")


def _output_jvp(name, a_out, r):
    """Jacobian of the output activation at ``a_out`` times ``r`` (row-wise)."""
    if name == "identity":
        return r
    if name == "exp":
        return a_out * r
    if name == "logistic":
        return a_out * (1.0 - a_out) * r
    if name == "softmax":
        return a_out * r - a_out * np.sum(a_out * r, axis=1, keepdims=True)
    raise ValueError(f"Unknown output activation {name!r}.")


def outputs_overflow(activation, out_activation, X, coefs, intercepts):
    """Whether the network's forward pass overflows on the rows ``X``.

    The pass is made as ``predict`` makes it, in the dtype of the parameters
    (the rows cast to it): a float32 network overflows at about ``3.4e38``.
    An overflow is a pre-activation of any layer, or an output, that is not
    finite; a saturating activation would hide one of the pre-activation.
    Every overflow is expected and checked: none is warned of.

    Parameters
    ----------
    activation : str
        Hidden activation, as scikit-learn's ``activation``.
    out_activation : str
        Output activation, as scikit-learn's ``out_activation_``.
    X : {ndarray, sparse matrix} of shape (n, d)
    coefs, intercepts : list of ndarray
        The parameters as the model publishes them.

    Returns
    -------
    overflows : bool
    """
    A = X.astype(coefs[0].dtype, copy=False)
    last = len(coefs) - 1
    with np.errstate(over="ignore", invalid="ignore"):
        for i, (W, b) in enumerate(zip(coefs, intercepts)):
            z = safe_sparse_dot(A, W) + b
            if not np.isfinite(z).all():
                return True
            A = (_apply_hidden(activation, z) if i < last
                 else _apply_output(out_activation, z))
        return not np.isfinite(A).all()


class MLPFunction:
    """The summed weighted loss of an MLP on fixed rows, its gradient and HVPs.

    Parameters
    ----------
    layout : MLPLayout
    activation : str
        Hidden activation, as scikit-learn's ``activation``.
    out_activation : str
        Output activation, as scikit-learn's ``out_activation_``.
    X : {ndarray, sparse matrix} of shape (n, d)
    Y : ndarray of shape (n, n_outputs)
        Targets in the network's encoding (one-hot or 0/1 for classifiers).
    s : ndarray of shape (n,)
        Sample weights.
    theta : ndarray of shape (n_params,)
        Point at which the forward pass is made (kept for repeated HVPs).
    """

    def __init__(self, layout, activation, out_activation, X, Y, s, theta):
        self.layout = layout
        self.activation = activation
        self.out_activation = out_activation
        self.X = X
        self.Y = np.asarray(Y, dtype=np.float64)
        self.s = np.asarray(s, dtype=np.float64)
        self.theta = theta
        self.coefs, self.intercepts = layout.unpack(theta)
        self._forward()

    @property
    def n_layers(self):
        return len(self.coefs)

    def _forward(self):
        A = [self.X]
        for i, (W, b) in enumerate(zip(self.coefs, self.intercepts)):
            z = safe_sparse_dot(A[-1], W) + b
            if i < self.n_layers - 1:
                A.append(_apply_hidden(self.activation, z))
            else:
                A.append(_apply_output(self.out_activation, z))
                self.z_out = z
        self.A = A

    # the derivatives and the backward pass are made on first use: a line
    # search reads only the loss's value
    @functools.cached_property
    def _deriv(self):
        d = [None] * (self.n_layers + 1)
        for i in range(1, self.n_layers):
            d[i] = _DERIVATIVES[self.activation](self.A[i])
        return d

    @functools.cached_property
    def D(self):
        """The backward pass of the gradient: ``D[i] = dF/dz_i`` (weighted)."""
        D = [None] * (self.n_layers + 1)
        D[-1] = self.s[:, None] * (self.A[-1] - self.Y)
        for i in range(self.n_layers - 1, 0, -1):
            D[i] = (D[i + 1] @ self.coefs[i].T) * self._deriv[i][0]
        return D

    def value(self):
        """``sum_i s_i loss_i`` at ``theta``: the loss whose derivative in the
        output's pre-activation is ``s (a - y)``, as :meth:`gradient` takes
        it (half the squared error summed over the outputs; the log-loss of
        a logistic or a softmax output; the Poisson deviance's half of an
        exponential one, up to a constant), from the pre-activation (no
        probability is clipped)."""
        z, Y = self.z_out, self.Y
        if self.out_activation == "identity":
            per_row = 0.5 * ((z - Y) ** 2).sum(axis=1)
        elif self.out_activation == "logistic":
            per_row = (np.logaddexp(0.0, z) - Y * z).sum(axis=1)
        elif self.out_activation == "softmax":
            top = z.max(axis=1, keepdims=True)
            log_total = top[:, 0] + np.log(np.exp(z - top).sum(axis=1))
            per_row = log_total - (Y * z).sum(axis=1)
        elif self.out_activation == "exp":
            per_row = (np.exp(z) - Y * z).sum(axis=1)
        else:
            raise ValueError(f"Unknown output activation {self.out_activation!r}.")
        return float(self.s @ per_row)

    def gradient(self):
        """``sum_i s_i grad loss_i`` at ``theta`` (no penalty), packed."""
        g = np.empty(self.layout.n_params)
        for i in range(self.n_layers):
            g[self.layout.coef_slices[i]] = np.ravel(
                safe_sparse_dot(self.A[i].T, self.D[i + 1], dense_output=True)
            )
            g[self.layout.intercept_slices[i]] = self.D[i + 1].sum(axis=0)
        return g

    def hvp(self, v, gauss_newton=False):
        """``sum_i s_i Hess loss_i`` at ``theta`` times ``v`` (no penalty).

        Exact (R-operator) unless ``gauss_newton``; for ``relu`` the second
        derivative of the activation is taken as zero (exact wherever no
        pre-activation sits on the kink).
        """
        V, c = self.layout.unpack(np.asarray(v, dtype=np.float64))
        L = self.n_layers
        A, D, W, d = self.A, self.D, self.coefs, self._deriv
        # forward: RZ[i] = directional derivative of z_i, RA[i] of a_i
        RZ = [None] * (L + 1)
        RA = [None] * (L + 1)
        for i in range(L):
            rz = safe_sparse_dot(A[i], V[i]) + c[i]
            if i > 0:
                rz += RA[i] @ W[i]
            RZ[i + 1] = rz
            if i + 1 < L:
                RA[i + 1] = d[i + 1][0] * rz
        # backward
        RD = self.s[:, None] * _output_jvp(self.out_activation, A[L], RZ[L])
        out = np.empty(self.layout.n_params)
        for i in range(L - 1, -1, -1):
            gW = safe_sparse_dot(A[i].T, RD, dense_output=True)
            if i > 0 and not gauss_newton:
                gW = gW + RA[i].T @ D[i + 1]
            out[self.layout.coef_slices[i]] = np.ravel(gW)
            out[self.layout.intercept_slices[i]] = RD.sum(axis=0)
            if i > 0:
                back = RD @ W[i].T
                if not gauss_newton:
                    back += D[i + 1] @ V[i].T
                back *= d[i][0]
                if not gauss_newton and d[i][1] is not None:
                    back += (D[i + 1] @ W[i].T) * d[i][1] * RZ[i]
                RD = back
        return out


class MeanObjective:
    """scikit-learn's MLP objective on fixed rows, its gradient and HVPs.

    ``J(theta) = (1 / S) [sum_i s_i loss_i(theta) + (alpha / 2) sum_l ||W_l||^2]``
    with ``S`` the total weight of the rows (``weight_total``): the mean loss
    and the penalty divided by ``S``, as in scikit-learn's ``_backprop``.

    Parameters
    ----------
    net : MLPFunction
        The summed loss on the rows, at the point ``net.theta``.
    alpha : float
        L2 penalty of the weights (the intercepts are not penalised).
    weight_total : float
        ``S``.
    """

    def __init__(self, net, alpha, weight_total):
        self.net = net
        self.alpha = float(alpha)
        self.weight_total = float(weight_total)
        self.penalised = net.layout.coef_mask()

    def value(self):
        """``J`` at ``net.theta``."""
        weights = self.penalised * self.net.theta
        return (self.net.value() + 0.5 * self.alpha * float(weights @ weights)) / (
            self.weight_total)

    def gradient(self):
        """``grad J`` at ``net.theta``."""
        g = self.net.gradient() + self.alpha * self.penalised * self.net.theta
        return g / self.weight_total

    def hvp(self, v, gauss_newton=False):
        """``Hess J`` (or its Gauss-Newton form) at ``net.theta`` times ``v``.

        The penalty's term ``alpha / S`` on the weights is exact in both forms.
        """
        hv = self.net.hvp(v, gauss_newton=gauss_newton) + self.alpha * self.penalised * v
        return hv / self.weight_total
