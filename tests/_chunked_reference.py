"""Comparisons of a model fitted by chunks (Dask, from_fitted) with the
in-memory fit of the same data."""

import numpy as np

from .conftest import rel_dist


def frob_rel(a, b):
    return np.linalg.norm(a - b) / max(np.linalg.norm(b), 1e-300)


def assert_same_model(model, ref, rtol=1e-6):
    """The parameters and every statistic of the cache within ``rtol``
    (relative, Frobenius norm) of the in-memory fit's."""
    assert rel_dist(model, ref) <= rtol
    c, r = model.unlearning_cache_, ref.unlearning_cache_
    assert len(c.hessians) == len(r.hessians)
    for H, R in zip(c.hessians, r.hessians):
        assert frob_rel(H.matrix, R.matrix) <= rtol
    assert (c.gram is None) == (r.gram is None)
    if r.gram is not None:
        assert frob_rel(c.gram.matrix, r.gram.matrix) <= rtol
        assert frob_rel(c.norm_gram.matrix, r.norm_gram.matrix) <= rtol
    # the cubic term of the cache's model (kept for a few parameters)
    assert (c.third is None) == (r.third is None)
    for T, R in zip(c.third or (), r.third or ()):
        assert frob_rel(T, R) <= rtol
    np.testing.assert_allclose(c.weight_totals, r.weight_totals, rtol=1e-12)
    np.testing.assert_array_equal(c.counts, r.counts)
    np.testing.assert_allclose(c.max_row_norm, r.max_row_norm, rtol=1e-12)
    if np.isfinite(r.residual_error):
        # the round-off allowances of the bound: sums over the same rows
        np.testing.assert_allclose(c.residual_error, r.residual_error, rtol=rtol)
        np.testing.assert_allclose(c.drift.hessian_error, r.drift.hessian_error,
                                   rtol=rtol)
    else:
        assert not np.isfinite(c.residual_error)


def assert_bound_holds(model, X, y, sample_weight=None):
    """``residual_bound_`` covers the true residual of the independent
    reference (logistic and ridge), on the training data."""
    from ._reference import residual_of

    weights = getattr(model, "class_weight", None)
    if isinstance(weights, dict):
        # the reference's objective knows sample weights only
        sample_weight = sample_weight * np.array([weights[c] for c in y])
    true = residual_of(model, X, y, sample_weight)
    assert true.upper <= model.residual_bound_
