"""Certified removal: calibrated objective noise, residual bounds spent from a
budget, and the meta-estimator that keeps the ledger."""

from ._certificate import (
    Certificate,
    LedgerEntry,
    Verification,
    noise_constant,
    noise_scale,
)
from ._ledger import BudgetExceededError, LedgerIntegrityError
from ._removal import CertifiedRemoval

__all__ = [
    "BudgetExceededError",
    "Certificate",
    "CertifiedRemoval",
    "LedgerEntry",
    "LedgerIntegrityError",
    "Verification",
    "noise_constant",
    "noise_scale",
]
