"""The certificate of a certified model: its noise, budget and ledger."""

import math
from dataclasses import dataclass, field

import numpy as np


def as_bound(value):
    """A residual bound as the ledger keeps it: a float, ``inf`` when the
    bound is not a finite non-negative number (NaN, an overflow), so that it
    counts as over every budget."""
    value = float(value)
    return value if math.isfinite(value) and value >= 0.0 else math.inf


def _check_amount(owner, name, value):
    if not (isinstance(value, (int, float)) and value >= 0.0):  # NaN fails too
        raise ValueError(
            f"{owner}.{name} must be a non-negative number (inf for a bound that "
            f"is not finite), got {value!r}."
        )


def noise_constant(delta):
    """``c = sqrt(2 ln(1.5 / delta))`` of the Gaussian certified-removal theorem.

    Examples
    --------
    >>> from sklearn_unlearn.certified import noise_constant
    >>> round(noise_constant(1e-4), 3)
    4.385
    """
    return float(np.sqrt(2.0 * np.log(1.5 / delta)))


def noise_scale(epsilon, delta, budget):
    """Standard deviation ``sigma = budget * c / epsilon`` of the objective noise.

    A model trained with ``b ~ N(0, sigma^2 I)`` in its objective, whose
    gradient residual on the corrected data is at most ``budget``, is
    ``(epsilon, delta)``-indistinguishable from one retrained on that data
    with fresh noise.

    Examples
    --------
    >>> from sklearn_unlearn.certified import noise_scale
    >>> round(noise_scale(epsilon=1.0, delta=1e-4, budget=0.5), 3)
    2.193
    """
    return float(budget * noise_constant(delta) / epsilon)


@dataclass(frozen=True)
class LedgerEntry:
    """One event of the ledger: the fit, a request, or a retraining.

    Entries are immutable; the ledger only grows, by whole new certificates.

    Attributes
    ----------
    kind : {"fit", "request", "measured", "retrain"}
        ``"measured"``: a request whose accumulated bound would have passed
        the budget, so the released model's residual was measured on the kept
        rows instead (see :class:`CertifiedRemoval`).
    n_removed, n_added : int
    bound : float
        Bound on the gradient residual of the model after this entry
        (``inf`` when no finite bound could be computed).
    spent : float
        What this entry added to the certificate's ``spent``, never negative:
        for ``"fit"``, ``"measured"`` and ``"retrain"`` the new model's own
        bound, from which ``spent`` starts again; for a ``"request"`` the
        increase of the largest bound since then (0 for a request that
        lowered the bound).
    applied : bool
        False for a request that was refused.

    Examples
    --------
    >>> from sklearn.datasets import load_diabetes
    >>> from sklearn_unlearn import UnlearnableRidge
    >>> from sklearn_unlearn.certified import CertifiedRemoval
    >>> X, y = load_diabetes(return_X_y=True)
    >>> model = CertifiedRemoval(UnlearnableRidge()).fit(X, y)
    >>> model = model.unlearn(X[:5], None, y[:5])
    >>> [(entry.kind, entry.n_removed, entry.n_added)
    ...  for entry in model.certificate_.ledger]
    [('fit', 0, 442), ('request', 5, 0)]
    >>> all(entry.spent >= 0 for entry in model.certificate_.ledger)
    True
    """

    kind: str
    n_removed: int
    n_added: int
    bound: float
    spent: float
    applied: bool = True

    def __post_init__(self):
        _check_amount("LedgerEntry", "bound", self.bound)
        _check_amount("LedgerEntry", "spent", self.spent)


@dataclass(frozen=True)
class Certificate:
    """What a :class:`CertifiedRemoval` model can claim, and why.

    The model is ``(epsilon, delta)``-indistinguishable from one retrained on
    the corrected data with fresh noise of scale ``sigma``, as long as the
    bound on its gradient residual, ``spent``, stays at most ``budget`` and the
    certificate is not ``void``.

    A certificate is an immutable record of the model at one point of its
    ledger: every fit, request and retraining replaces
    ``CertifiedRemoval.certificate_`` with a new one (read it again after a
    request; an object kept from before still describes the model before).

    Attributes
    ----------
    epsilon, delta : float
        The privacy parameters.
    sigma : float
        Standard deviation of the objective noise (0 for an exact model).
    budget : float
        The largest gradient residual the noise covers.
    spent : float
        The largest bound on the gradient residual of the released model
        since the last fit or retraining: the fit's own bound plus the
        ``spent`` of every ledger entry since. It is at least the bound of
        the current model, never negative, never lowered by a request, and
        ``inf`` once a bound was not finite.
    n_requests : int
        Requests applied since fit, over all retrainings.
    n_retrains : int
        Retrainings forced by the budget.
    exact : bool
        Whether unlearning is exact (squared error): no noise, and only
        round-off spent (still checked against the budget).
    void : bool
        Whether the guarantee no longer holds.
    void_reason : str
        Why; never empty when ``void``, empty otherwise.
    uncovered_steps : list of str
        Pipeline steps fitted on the data that the user chose to allow
        (``allow_stateful_steps=True``): their fitted state is not covered.
    ledger : tuple of LedgerEntry
    model_digest : str
        Digest of the model this certificate describes (its released
        parameters, classes, hyper-parameters, bound and request count);
        :class:`CertifiedRemoval` refuses to act on a model that no longer
        matches it.

    Examples
    --------
    >>> from sklearn.datasets import load_breast_cancer
    >>> from sklearn.preprocessing import scale
    >>> from sklearn_unlearn import UnlearnableLogisticRegression
    >>> from sklearn_unlearn.certified import CertifiedRemoval
    >>> X, y = load_breast_cancer(return_X_y=True)
    >>> X = scale(X)
    >>> model = CertifiedRemoval(UnlearnableLogisticRegression(), epsilon=1.0,
    ...                          delta=1e-4, budget=1.0, random_state=0).fit(X, y)
    >>> cert = model.certificate_
    >>> round(cert.sigma, 2)                 # budget * noise_constant(delta) / epsilon
    4.39
    >>> cert.valid, cert.n_requests, cert.spent < 1e-6
    (True, 0, True)
    """

    epsilon: float
    delta: float
    sigma: float
    budget: float
    spent: float
    exact: bool
    n_requests: int = 0
    n_retrains: int = 0
    void: bool = False
    void_reason: str = ""
    uncovered_steps: list = field(default_factory=list)
    ledger: tuple = ()
    model_digest: str = ""

    def __post_init__(self):
        _check_amount("Certificate", "spent", self.spent)
        if self.void and not self.void_reason:
            raise ValueError("A void certificate needs a void_reason saying why.")
        if self.void_reason and not self.void:
            raise ValueError("A certificate that is not void has no void_reason.")
        object.__setattr__(self, "ledger", tuple(self.ledger))

    @property
    def remaining(self):
        """Budget left before a retraining (or a refusal) is due."""
        return max(self.budget - self.spent, 0.0)

    @property
    def valid(self):
        """Whether the guarantee holds for the current model."""
        return not self.void and self.spent <= self.budget and not self.uncovered_steps


@dataclass
class Verification:
    """What :meth:`CertifiedRemoval.verify` measured with the kept data.

    Attributes
    ----------
    true_residual : float
        ``||grad L(theta; D)||`` on the corrected data, noise included.
    bound : float
        The certificate's ``spent``; never below ``true_residual``.
    parameter_distance : float
        ``||theta - theta_refit|| / ||theta_refit||`` against a model refit
        on the corrected data with the same noise.
    prediction_agreement : float
        Share of the kept rows on which the two predict the same: the same
        class for a classifier; for a regressor, outputs that differ by at
        most ``rtol * (|refit prediction| + rms)`` (``rtol`` of
        :meth:`CertifiedRemoval.verify`, ``1e-6`` by default; ``rms`` the
        root mean square of the refit's predictions), so that round-off does
        not count as disagreement.

    Examples
    --------
    >>> from sklearn.datasets import load_breast_cancer
    >>> from sklearn.preprocessing import scale
    >>> from sklearn_unlearn import UnlearnableLogisticRegression
    >>> from sklearn_unlearn.certified import CertifiedRemoval
    >>> X, y = load_breast_cancer(return_X_y=True)
    >>> X = scale(X)
    >>> model = CertifiedRemoval(UnlearnableLogisticRegression(), budget=1.0,
    ...                          random_state=0).fit(X, y)
    >>> report = model.unlearn(X[:10], None, y[:10]).verify()
    >>> report.true_residual <= report.bound
    True
    >>> report.prediction_agreement
    1.0
    """

    true_residual: float
    bound: float
    parameter_distance: float
    prediction_agreement: float
