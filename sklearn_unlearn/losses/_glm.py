"""Per-sample losses of generalised linear models, in the linear predictor.

Every loss works on encoded targets ``Y`` and linear predictors ``eta``, both of
shape ``(n_samples, n_outputs)``, and knows its derivatives in ``eta``. ``value``
and ``gradient`` are per sample and output (``value`` has one column for a
coupled loss, whose outputs share one value). The same
objects serve fitting (polishing), unlearning and the residual bounds, so the
three can never disagree about a scaling.
"""

import numpy as np
from scipy.special import expit, log_expit, logsumexp, softmax


class HalfSquaredError:
    """``l(y, eta) = (y - eta)**2 / 2``, one independent output per column.

    Its curvature is constant, so a Newton step is exact and residual bounds
    are zero.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_unlearn.losses import HalfSquaredError
    >>> loss = HalfSquaredError()
    >>> Y, eta = np.array([[1.0], [2.0]]), np.array([[0.0], [2.5]])
    >>> loss.value(Y, eta)
    array([[0.5  ],
           [0.125]])
    >>> loss.gradient(Y, eta)
    array([[-1. ],
           [ 0.5]])
    """

    coupled = False
    third_order = False
    constant_curvature = True
    self_concordant = False
    #: Whether the curvature jumps (is not continuous in the predictor):
    #: a row can then leave the data with a curvature a whole step away
    #: from the one it entered the Hessian with, so the cache records the
    #: side of the jump each row entered on (:meth:`SquaredHinge.side`).
    curvature_jumps = False
    #: Whether the curvature changes with the target (a target correction
    #: then changes the Hessian).
    curvature_depends_on_target = False
    #: Lipschitz constant of the curvature in the linear predictor.
    curvature_lipschitz = 0.0
    #: Largest change of the curvature between any two predictors.
    curvature_cap = 0.0
    #: Largest curvature: the Lipschitz constant of the gradient in the predictor.
    curvature_max = 1.0

    def value(self, Y, eta):
        return 0.5 * (Y - eta) ** 2

    def gradient(self, Y, eta):
        return eta - Y

    def curvature(self, Y, eta):
        return np.ones_like(eta)

    def third_derivative(self, Y, eta):
        return np.zeros_like(eta)


class BinaryLogLoss:
    """``l(y, eta) = log(1 + exp(-y * eta))`` with ``y`` in {-1, +1}.

    The curvature ``s (1 - s)`` with ``s = expit(eta)`` has derivative
    ``s (1 - s)(1 - 2 s)``, whose largest absolute value is ``1 / (6 sqrt(3))``
    (at ``s = 1/2 +- 1/(2 sqrt(3))``): the Lipschitz constant of the
    curvature used by the residual bound.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_unlearn.losses import BinaryLogLoss
    >>> loss = BinaryLogLoss()
    >>> Y, eta = np.array([[1.0], [-1.0]]), np.array([[0.0], [0.0]])
    >>> loss.gradient(Y, eta)
    array([[-0.5],
           [ 0.5]])
    >>> loss.curvature(Y, eta)
    array([[0.25],
           [0.25]])
    >>> print(round(loss.curvature_lipschitz, 4))
    0.0962
    """

    coupled = False
    #: ``third_derivative`` is smooth and kept beside the Hessian (the
    #: cubic term of the cache's model; see ``solvers.hessian._third``).
    third_order = True
    constant_curvature = False
    curvature_depends_on_target = False
    curvature_lipschitz = 1.0 / (6.0 * np.sqrt(3.0))
    # the curvature lies in (0, 1/4]
    curvature_cap = 0.25
    curvature_max = 0.25
    #: The third derivative is at most the second in absolute value, so the
    #: curvature changes by at most a factor ``exp(abs(t))`` over a step ``t``.
    self_concordant = True
    curvature_jumps = False

    def value(self, Y, eta):
        return -log_expit(Y * eta)

    def gradient(self, Y, eta):
        return -Y * expit(-Y * eta)

    def curvature(self, Y, eta):
        s = expit(eta)
        return s * (1.0 - s)

    def third_derivative(self, Y, eta):
        s = expit(eta)
        return s * (1.0 - s) * (1.0 - 2.0 * s)


class MultinomialLogLoss:
    """``l(y, eta) = logsumexp(eta) - eta_y`` with one-hot ``Y``.

    The curvature of a sample is the ``K x K`` matrix ``diag(p) - p p^T``
    with ``p = softmax(eta)``. Its derivative along ``u`` is the symmetric
    trilinear form ``T[u, v, w] = E_p[(u - E_p u)(v - E_p v)(w - E_p w)]``. By
    Banach's theorem on symmetric forms its norm is the largest third central
    moment ``E_p[(u - E_p u)^3]`` over unit ``u``. For fixed mean that linear
    functional of the distribution is largest on two-point distributions,
    whose third central moment is at most ``r^3 / (6 sqrt(3))`` for a range
    ``r``; a unit vector has range at most ``sqrt(2)``. Hence the curvature is
    Lipschitz with constant ``2 sqrt(2) / (6 sqrt(3)) = sqrt(2) / (3 sqrt(3))``
    in the operator norm, for the Euclidean norm of the logits.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_unlearn.losses import MultinomialLogLoss
    >>> loss = MultinomialLogLoss()
    >>> Y = np.array([[0.0, 1.0, 0.0]])      # one-hot: class 1
    >>> eta = np.zeros((1, 3))               # equal logits
    >>> loss.gradient(Y, eta).round(3)
    array([[ 0.333, -0.667,  0.333]])
    >>> loss.curvature(Y, eta).shape         # one K x K matrix per sample
    (1, 3, 3)
    """

    coupled = True
    third_order = False
    constant_curvature = False
    curvature_depends_on_target = False
    self_concordant = False
    curvature_jumps = False
    curvature_lipschitz = np.sqrt(2.0) / (3.0 * np.sqrt(3.0))
    # diag(p) - p p^T has eigenvalues in [0, 1/2]; so has any difference of two
    # such matrices in absolute value
    curvature_cap = 0.5
    #: the softmax Hessian diag(p) - p p^T has eigenvalues at most 1/2
    curvature_max = 0.5

    def value(self, Y, eta):
        return (logsumexp(eta, axis=1) - (Y * eta).sum(axis=1))[:, None]

    def gradient(self, Y, eta):
        return softmax(eta, axis=1) - Y

    def curvature(self, Y, eta):
        """Per-sample curvature matrices, shape ``(n, K, K)``."""
        p = softmax(eta, axis=1)
        A = -p[:, :, None] * p[:, None, :]
        idx = np.arange(p.shape[1])
        A[:, idx, idx] += p
        return A

    def curvature_product(self, Y, eta, V, weights):
        """``w_i A_i V_i`` for every sample, in place, without forming ``A_i``.

        ``V`` has shape ``(K, n, s)``, class-major (``s`` vectors a sample,
        each class's rows contiguous, as products with the data come), and
        is overwritten; ``weights`` (``w``) has shape ``(n,)``. Two passes
        over ``V`` and one temporary of shape ``(n, s)``: at the width of
        hashed text ``V`` is hundreds of MiB.
        """
        p = softmax(eta, axis=1)
        mean = np.zeros(V.shape[1:])
        term = np.empty(V.shape[1:])
        for k in range(V.shape[0]):
            mean += np.multiply(V[k], p[:, k, None], out=term)
        for k in range(V.shape[0]):
            V[k] -= mean
            V[k] *= (weights * p[:, k])[:, None]
        return V


class SquaredHinge:
    """``l(y, eta) = max(0, 1 - y * eta)**2`` with ``y`` in {-1, +1}.

    Its (generalised) curvature ``2 * [y * eta < 1]`` jumps at the margin: it
    is not Lipschitz, so no residual bound exists and the removal cannot be
    certified.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_unlearn.losses import SquaredHinge
    >>> loss = SquaredHinge()
    >>> Y, eta = np.array([[1.0], [1.0]]), np.array([[0.5], [2.0]])
    >>> loss.value(Y, eta)               # inside the margin, then outside
    array([[0.25],
           [0.  ]])
    >>> loss.curvature(Y, eta)
    array([[2.],
           [0.]])
    >>> print(loss.curvature_lipschitz)
    None
    """

    coupled = False
    third_order = False
    constant_curvature = False
    # inside or outside the margin depends on the label's sign
    curvature_depends_on_target = True
    self_concordant = False
    curvature_jumps = True
    curvature_lipschitz = None
    curvature_cap = 2.0
    curvature_max = 2.0

    def value(self, Y, eta):
        return np.maximum(0.0, 1.0 - Y * eta) ** 2

    def gradient(self, Y, eta):
        return -2.0 * Y * np.maximum(0.0, 1.0 - Y * eta)

    def curvature(self, Y, eta):
        return 2.0 * (Y * eta < 1.0).astype(float)

    def side(self, Y, eta):
        """Whether each predictor is inside the margin (where the curvature
        is 2): the side of the jump a row's curvature is on."""
        return Y * eta < 1.0

    def side_curvature(self, inside):
        """The curvature on each side (:meth:`side`)."""
        return 2.0 * np.asarray(inside, dtype=float)

    def third_derivative(self, Y, eta):
        return np.zeros_like(eta)


class HalfTweedieLoss:
    """Half the Tweedie deviance with a log link, for ``1 <= power <= 2``.

    In the linear predictor ``eta`` (the mean is ``mu = exp(eta)``), up to
    terms free of ``eta``::

        l(y, eta) = exp((2 - p) eta) / (2 - p) - y exp((1 - p) eta) / (1 - p)

    which is ``exp(eta) - y eta`` at ``p = 1`` (Poisson) and ``eta + y
    exp(-eta)`` at ``p = 2`` (Gamma), as in scikit-learn's
    ``HalfTweedieLoss``. Targets are non-negative (positive for ``p = 2``).

    The curvature ``l'' = A + B`` with ``A = (2 - p) exp((2 - p) eta)`` and
    ``B = (p - 1) y exp((1 - p) eta)``, both non-negative: the loss is convex.
    The third derivative is ``(2 - p) A - (p - 1) B``, so ``|l'''| <=
    max(2 - p, p - 1) l'' <= l''``: self-concordant in the sense of
    :class:`BinaryLogLoss` (over a step ``t`` the curvature changes by at most
    a factor ``exp(|t|)``). The curvature is unbounded (``exp``), so it has no
    Lipschitz constant over the predictors (``curvature_lipschitz`` is
    ``None``) and no finite cap: the cache reports no residual bound.

    Outside ``[1, 2]`` the loss is not convex in ``eta`` (its curvature
    ``mu^(1 - p) ((2 - p) mu + (p - 1) y)`` is negative where ``(2 - p) mu +
    (p - 1) y < 0``): refused.

    Parameters
    ----------
    power : float
        The Tweedie power ``p``, in ``[1, 2]``.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_unlearn.losses import HalfTweedieLoss
    >>> loss = HalfTweedieLoss(1.5)
    >>> Y, eta = np.array([[1.0], [4.0]]), np.array([[0.0], [0.0]])
    >>> loss.gradient(Y, eta)
    array([[ 0.],
           [-3.]])
    >>> loss.curvature(Y, eta)
    array([[1. ],
           [2.5]])
    """

    coupled = False
    #: ``third_derivative`` is smooth and kept beside the Hessian (the
    #: cubic term of the cache's model; see ``solvers.hessian._third``).
    third_order = True
    constant_curvature = False
    self_concordant = True
    curvature_jumps = False
    curvature_lipschitz = None
    curvature_cap = np.inf
    curvature_max = np.inf

    def __init__(self, power):
        power = float(power)
        if not 1.0 <= power <= 2.0:
            raise ValueError(
                f"HalfTweedieLoss needs 1 <= power <= 2, got {power!r}: outside it "
                "the loss is not convex in the linear predictor."
            )
        self.power = power
        # the curvature's target term (p - 1) y exp((1 - p) eta) vanishes at p = 1
        self.curvature_depends_on_target = power != 1.0

    def _terms(self, Y, eta):
        """``exp((2 - p) eta)`` and ``y exp((1 - p) eta)``."""
        p = self.power
        return np.exp((2.0 - p) * eta), Y * np.exp((1.0 - p) * eta)

    def value(self, Y, eta):
        p = self.power
        if p == 1.0:
            return np.exp(eta) - Y * eta
        if p == 2.0:
            return eta + Y * np.exp(-eta)
        a, b = self._terms(Y, eta)
        return a / (2.0 - p) - b / (1.0 - p)

    def gradient(self, Y, eta):
        a, b = self._terms(Y, eta)
        return a - b

    def curvature(self, Y, eta):
        a, b = self._terms(Y, eta)
        p = self.power
        return (2.0 - p) * a + (p - 1.0) * b

    def third_derivative(self, Y, eta):
        a, b = self._terms(Y, eta)
        p = self.power
        return (2.0 - p) ** 2 * a - (p - 1.0) ** 2 * b


class HalfPoissonLoss(HalfTweedieLoss):
    """Half the Poisson deviance with a log link: ``exp(eta) - y eta``.

    The Tweedie loss of power 1 (see :class:`HalfTweedieLoss`): curvature
    and third derivative both ``exp(eta)``, free of the target.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_unlearn.losses import HalfPoissonLoss
    >>> loss = HalfPoissonLoss()
    >>> loss.gradient(np.array([[2.0]]), np.array([[0.0]]))
    array([[-1.]])
    >>> loss.curvature_depends_on_target
    False
    """

    def __init__(self):
        super().__init__(1.0)


class HalfGammaLoss(HalfTweedieLoss):
    """Half the Gamma deviance with a log link: ``eta + y exp(-eta)``.

    The Tweedie loss of power 2 (see :class:`HalfTweedieLoss`): curvature
    ``y exp(-eta)``, which depends on the (positive) target.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_unlearn.losses import HalfGammaLoss
    >>> loss = HalfGammaLoss()
    >>> loss.curvature(np.array([[3.0]]), np.array([[0.0]]))
    array([[3.]])
    """

    def __init__(self):
        super().__init__(2.0)
