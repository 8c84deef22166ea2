"""Sums over the training rows that a cache is made of, computed chunk by
chunk of rows and added up.

Everything the cache keeps from the training data is a sum over its rows:
the data part of the objective and of its gradient, the Gram matrices of the
Hessian blocks and of the residual bound (``K``, ``K_R``), the third
derivatives of the loss where they are kept, the weight of every class, and
the round-off allowances of the bound (sums of row norms times
coefficients). :func:`row_sums` computes them over one chunk of rows as a
:class:`RowSums`, and chunks add up with ``+``; the in-memory fit is the case
of a single chunk, and a fit over a Dask array or an iterable of chunks adds
the chunks' sums (see :mod:`sklearn_unlearn.solvers.fit._chunked_newton`).

A worst-case rounding bound of a sum of ``n`` terms, ``gamma(n) sum |terms|``,
holds for any order of summation, chunk by chunk included, so the
allowances are kept as their two parts (the sum of the absolute terms, and
``n``) and combined once every chunk is in.
"""

from dataclasses import dataclass, fields

import numpy as np
import scipy.sparse as sp

from ..._plausibility import row_losses
from .. import _weight_totals
from ..bounds import _roundoff
from ..hessian import _third
from ..hessian._entry_sides import packed_sides, side_digests


@dataclass
class RowSums:
    """Sums over a chunk of training rows; chunks add up with ``+``.

    Attributes
    ----------
    n_rows : int
    value : float
        ``scale * sum_i s_i l_i`` (the data part of the objective).
    gradient : ndarray of shape (n_params, n_outputs) or None
        Its gradient.
    hessian_grams : ndarray of shape (q, n_params, n_params) or None
        The Gram matrices of the Hessian blocks' data part
        (:meth:`~sklearn_unlearn.solvers.LinearObjective.data_grams`).
    bound_grams : ndarray of shape (2, n_params, n_params) or None
        ``K = sum_i s_i x_i x_i^T`` and ``K_R = sum_i s_i ||x_i|| x_i x_i^T``.
    max_norm : float
        Largest augmented row norm (raised by its rounding).
    abs_coef, coef_error : float
        ``sum_i ||x_i|| |c_i|_1`` and ``sum_i ||x_i|| e_i`` for the gradient
        coefficients ``c_i`` and the bound ``e_i`` on their rounding.
    weight_norm2, weight_error_norm2 : float
        ``sum_i max_j |s_ij| ||x_i||^2`` and ``sum_i e'_i ||x_i||^2`` with
        ``e'_i`` the rounding of the curvature weights (at the anchor).
    gram_norm2, gram_norm3 : float
        ``sum_i |s_i0| ||x_i||^2`` and ``sum_i |s_i0| ||x_i||^3``.
    drift_form, drift_curvature : float
        ``sum_i |s_i| ||x_i|| ||v_i||^2`` and ``sum_i a_i ||v_i||^2`` for the
        drift ``v_i`` of the predictors from the anchor (zero at the anchor).
    weight_totals, counts : ndarray of shape (n_groups,)
        Weight and number of rows of every class (the weight rounded from
        its exact value).
    weight_residue : ndarray of shape (n_groups, m) or None
        What the exact weight of every class holds beyond ``weight_totals``
        (``None`` when they are exact; see ``solvers._weight_totals``):
        chunks add them exactly.
    side_digests, side_bits : ndarray or None
        For a loss whose curvature jumps, the rows' digests and the side each
        entered the Hessian on (:mod:`~sklearn_unlearn.solvers.hessian._entry_sides`):
        chunks concatenate them.
    sides_key : bytes or None
        The key of those digests (the same in every chunk).
    loss_total, loss_total_sq : float or None
        The sum of the rows' weighted losses and of their squares (the loss
        profile of :mod:`sklearn_unlearn._plausibility`), at the final
        parameters only (``allowances``).
    fingerprints : ndarray or None
        The rows' keyed fingerprints (:mod:`sklearn_unlearn._fingerprints`),
        when a fit by chunks is given a key: chunks concatenate them.
    target_moment : ndarray of shape (n_params, n_outputs) or None
        ``sum_i x_i (s_i y_i)^T`` of the encoded targets: with the counts,
        weights and norms above, what passes over the same rows must agree
        on whatever the parameters (it sees their targets), and what the
        cache keeps to check rows given as the current ones
        (``solvers._target_moment``).
    target_moment_scale : float or None
        ``sum_i ||x_i|| |s_i y_i|_1``, which bounds what summing the same
        rows in another order changes the moment by (times ``gamma(n + 1)``).
    third : ndarray of shape (n_blocks, n_params, n_params, n_params) or None
        The third derivatives of the rows' loss at the Hessian's anchor, one
        tensor per Hessian block (the cubic term of the cache's model, see
        :mod:`~sklearn_unlearn.solvers.hessian._third`).
    probe : tuple of float or None
        A sum over the rows of a secret nonlinear function of each row and
        its targets, exact: floats whose exact sum it is (chunks combine
        them exactly; :func:`~sklearn_unlearn.linear_model._chunked.row_probe`),
        which passes over chunks compare.
    probe_error : float or None
        A bound on the rounding of the probe's terms.
    probe_seed : int or None
        The seed of that function (the same in every chunk).
    gram_weight : float or None
        ``sum_i |s_i0|``, the weight of ``K``'s terms: with it, what raising
        the rows' norms (:func:`~sklearn_unlearn.solvers.bounds._roundoff.upper_norms`)
        adds to ``gram_norm2`` and ``gram_norm3`` is bounded.
    column_mass : ndarray of shape (n_features,) or None
        ``sum_i |x_ij|`` per feature, with ``target_moment``: zero exactly
        when the feature is zero in every row (a sum of magnitudes cannot
        cancel), which rows given as the current ones must be where the
        model forgot a feature.
    column_counts : ndarray of shape (n_features,) or None
        With ``target_moment``, the number of rows whose value in each feature is not zero: a
        feature no row holds any more has left the data (see
        :meth:`~sklearn_unlearn.solvers.UnlearningCache.without_features`).
    directions : ndarray of shape (n_params, r) or None
        Unit directions ``w_j`` along which the rows' second moments are
        summed (the same in every chunk).
    direction_sums : ndarray of shape (4, r) or None
        Along every direction, ``sum_i s_i0 P_ij`` and ``sum_i s_i0 n_i
        P_ij`` with ``P_ij`` the computed ``(x_i^T w_j)^2`` and ``n_i`` the
        computed row norms (``w_j^T K w_j`` and ``w_j^T K_R w_j`` over these
        rows), then the same sums with ``|s_i0|`` (what bounds their
        rounding: :meth:`direction_forms`).
    """

    n_rows: int
    value: float
    gradient: np.ndarray | None
    hessian_grams: np.ndarray | None
    bound_grams: np.ndarray | None
    max_norm: float
    abs_coef: float
    coef_error: float | None
    weight_norm2: float
    weight_error_norm2: float | None
    gram_norm2: float
    gram_norm3: float
    drift_form: float | None
    drift_curvature: float | None
    weight_totals: np.ndarray
    counts: np.ndarray
    weight_residue: np.ndarray | None = None
    side_digests: np.ndarray | None = None
    side_bits: np.ndarray | None = None
    sides_key: bytes | None = None
    loss_total: float | None = None
    loss_total_sq: float | None = None
    fingerprints: np.ndarray | None = None
    target_moment: np.ndarray | None = None
    target_moment_scale: float | None = None
    third: np.ndarray | None = None
    probe: tuple | None = None
    probe_error: float | None = None
    probe_seed: int | None = None
    gram_weight: float | None = None
    column_mass: np.ndarray | None = None
    column_counts: np.ndarray | None = None
    directions: np.ndarray | None = None
    direction_sums: np.ndarray | None = None

    def __add__(self, other):
        out = {}
        for f in fields(self):
            a, b = getattr(self, f.name), getattr(other, f.name)
            if f.name == "max_norm":
                out[f.name] = max(a, b)
            elif f.name == "weight_totals":
                out["weight_totals"], out["weight_residue"] = _weight_totals.combined(
                    (a, self.weight_residue), (b, other.weight_residue))
            elif f.name == "weight_residue":
                continue
            elif (f.name in ("side_digests", "side_bits", "fingerprints")
                  and a is not None and b is not None):
                out[f.name] = np.concatenate([a, b])
            elif f.name == "probe" and a is not None and b is not None:
                out["probe"] = tuple(_weight_totals.exact_parts([*a, *b]))
            elif f.name in ("sides_key", "probe_seed"):
                if a != b:
                    raise ValueError(f"Chunk sums disagree on {f.name}.")
                out[f.name] = a
            elif f.name == "directions":
                if (a is None) != (b is None) or not (a is b or np.array_equal(a, b)):
                    raise ValueError(f"Chunk sums disagree on {f.name}.")
                out[f.name] = a
            elif a is None or b is None:
                if (a is None) != (b is None):
                    raise ValueError(f"Chunk sums disagree on {f.name}.")
                out[f.name] = None
            else:
                out[f.name] = a + b
        return RowSums(**out)

    def data_gradient_error(self, n_params):
        """Bound on the rounding of the summed data gradient (see
        :func:`~sklearn_unlearn.solvers.bounds._roundoff.data_gradient_error`)."""
        if self.n_rows == 0:
            return 0.0
        total = self.coef_error + _roundoff.gamma(self.n_rows + 1) * self.abs_coef
        return float(total) if np.isfinite(total) else np.inf

    def direction_forms(self):
        """``(forms, allowances)``, arrays of shape ``(2, r)``: the rows'
        ``w_j^T K w_j`` and ``w_j^T K_R w_j`` along every one of
        :attr:`directions` (``K = sum_i s_i x_i x_i^T`` and ``K_R = sum_i
        s_i ||x_i|| x_i x_i^T``, ``s_i`` the weights of ``K``, ``x_i`` the
        augmented rows), and bounds on the difference, either way, between
        each computed form and the exact one; ``None`` without directions.

        Notes
        -----
        With ``e_i = x_i^T w`` exactly, the computed ``v_i`` is within
        ``delta_i = gamma(p + 1) ||x_i|| ||w|| + (p + 1) TINY`` of it (``p``
        products; ``|x_i|^T |w| <= ||x_i|| ||w||``). Its square ``P_i`` is
        within ``u v_i^2 + TINY / 2``, and the sum of the products ``s_i
        P_i`` within ``gamma(n) sum |s_i| P_i + n TINY / 2`` of theirs, so
        that, with ``G = gamma(n + 4)``, ``a`` the computed ``sum |s_i|
        P_i`` and ``A = (1 + G) (a + (n + W) TINY) >= sum |s_i| v_i^2``::

            |q - sum s_i v_i^2| <= G A + (n + W) TINY.

        Then ``|v_i^2 - e_i^2| <= delta_i (2 |v_i| + delta_i)``, and by
        Cauchy-Schwarz and Minkowski over the weights ``|s_i|``::

            |sum s_i (v_i^2 - e_i^2)| <= D (2 sqrt(A) + D),
            D = gamma(p + 1) ||w|| sqrt(V2) + (p + 1) TINY sqrt(W),

        with ``V2 >= sum |s_i| ||x_i||^2`` and ``W >= sum |s_i|`` (the sums
        :attr:`gram_norm2` and :attr:`gram_weight`, of raised norms, times
        ``1 + G``). ``K_R``'s form weighs every ``P_i`` by the computed norm
        ``n_i`` first (one more rounding, and ``TINY / 2`` more per term,
        ``sum |s_i| n_i <= sqrt(W V2)`` of it in all), which is within ``a'
        N_i + d'`` of the exact norm, ``N_i = (1 + a') n_i + d'`` bounding
        both (:func:`~sklearn_unlearn.solvers.bounds._roundoff.norm_raise`).
        With ``a_R`` the computed ``sum |s_i| n_i P_i``, ``E = (n + W +
        sqrt(W V2)) TINY`` and ``A_R = (1 + G) (a_R + E)``::

            |q_R - sum s_i ||x_i|| e_i^2| <= G A_R + E + a' (1 + a') A_R
                + d' (1 + a') A + D_R (2 B_R + D_R),
            B_R^2 = (1 + a') A_R + d' A >= sum |s_i| N_i v_i^2,
            D_R = gamma(p + 1) ||w|| sqrt(V3) + (p + 1) TINY (W V2)^(1/4)

        (``V3 >= sum |s_i| N_i^3`` from :attr:`gram_norm3`; ``sum |s_i|
        N_i <= sqrt(W V2)``).
        """
        if self.directions is None or self.direction_sums is None:
            return None
        n, p = self.n_rows, self.directions.shape[0]
        q, q_r, a, a_r = self.direction_sums
        big, tiny = _roundoff.gamma(n + 4), _roundoff.TINY
        g, tau = _roundoff.gamma(p + 1), (p + 1) * tiny
        raise_a, raise_d = _roundoff.norm_raise(p)
        with np.errstate(over="ignore", invalid="ignore"):
            w = np.array([_roundoff.norm_up(c) for c in self.directions.T])
            v2, v3, weight = ((1.0 + big) * v for v in (self.gram_norm2, self.gram_norm3,
                                                        self.gram_weight))
            e = (n + weight) * tiny
            e_r = e + np.sqrt(weight) * np.sqrt(v2) * tiny
            A = (1.0 + big) * (a + e)
            A_r = (1.0 + big) * (a_r + e_r)
            D = g * w * np.sqrt(v2) + tau * np.sqrt(weight)
            B_r = np.sqrt((1.0 + raise_a) * A_r + raise_d * A)
            D_r = g * w * np.sqrt(v3) + tau * np.sqrt(np.sqrt(weight) * np.sqrt(v2))
            errors = np.array([
                big * A + e + D * (2.0 * np.sqrt(A) + D),
                big * A_r + e_r + raise_a * (1.0 + raise_a) * A_r
                + raise_d * (1.0 + raise_a) * A + D_r * (2.0 * B_r + D_r)])
        errors[~np.isfinite(errors)] = np.inf
        return np.array([q, q_r]), errors

    def gram_errors(self, n_params):
        """Bounds on the rounding of ``K`` and ``K_R`` summed over the rows
        (``K_R``'s weights carry the rounding of the norms too)."""
        g = _roundoff.gamma(self.n_rows + 2)
        n = self.n_rows
        return (g * self.gram_norm2 + _roundoff.fold_underflow(n_params, n, self.gram_norm2),
                (g + 2.0 * _roundoff.gamma(n_params + 2)) * self.gram_norm3
                + _roundoff.fold_underflow(n_params, n, self.gram_norm3))


def row_sums(objective, X, Y, S, theta, *, groups, n_groups, row_weight,
             hessian=False, bound_grams=False, gradient=True, allowances=True,
             eta=None, row_norms=None, anchor=None, eta_anchor=None, sides_key=None,
             target_moment=False, third=False, directions=None, column_masses=True):
    """The :class:`RowSums` of one chunk of rows at ``theta``.

    ``hessian`` and ``bound_grams`` ask for the Gram matrices (one pass over
    ``X`` for all of them); ``gradient=False`` skips the data gradient (the
    caller has it); ``allowances=False`` the round-off allowances that need
    ``|X| |theta|`` (``coef_error``, ``weight_error_norm2`` and the drift
    are then ``None``: wanted at the final parameters only). ``eta`` and ``row_norms``: the predictors at ``theta``
    and the row norms, if already computed. ``anchor``: where the Hessian's
    curvature was taken, if not at ``theta`` (``eta_anchor`` its predictors).
    ``sides_key``: the key of the rows' digests, for a loss whose curvature
    jumps (the side each row entered the Hessian on is taken at the anchor).
    ``target_moment``: the moment of the targets, which passes over chunks
    compare and the cache keeps, the rows' count of values that are not zero
    per feature, and (unless ``column_masses`` is false) their sums of
    magnitudes per feature.
    ``third``: the third derivatives of the loss at the anchor.
    ``directions``: unit directions (shape ``(n_params, r)``) along which the
    rows' second moments are summed (:attr:`RowSums.direction_sums`), which a
    check of rows given as the current ones compares with the cache's Gram
    matrices.
    """
    design = objective.design
    p = objective.n_params
    if row_norms is None:
        row_norms = design.row_norms(X)
    if eta is None:
        eta = design.predictor(X, theta)
    coef = objective.gradient_coefficients(Y, S, eta)
    norms = _roundoff.upper_norms(row_norms, p)
    sq = norms**2
    s = np.abs(S).max(axis=1)
    s0 = np.abs(S[:, 0])
    grams = None
    if hessian or bound_grams:
        weights = (np.column_stack([S[:, 0], S[:, 0] * row_norms])
                   if bound_grams else None)
        grams = objective.data_grams(X, Y, S, theta, gram_weights=weights, eta=eta,
                                     curvature=hessian)
    q = 2 if bound_grams else 0
    errors = (_allowances(objective, X, Y, S, theta, eta, coef, norms, anchor,
                          eta_anchor) if allowances else [None] * 4)
    losses = row_losses(objective, Y, S, eta) if allowances else None
    digests = sides = None
    if sides_key is not None and objective.loss.curvature_jumps:
        at_anchor = anchor is None or anchor is theta
        if not at_anchor and eta_anchor is None:
            eta_anchor = design.predictor(X, anchor)
        digests = side_digests(X, Y, S, sides_key)
        sides = packed_sides(objective.loss, Y, eta if at_anchor else eta_anchor)
    weighted = np.asarray(S * Y, dtype=np.float64) if target_moment else None
    tensors = None
    if third:
        if anchor is not None and anchor is not theta and eta_anchor is None:
            eta_anchor = design.predictor(X, anchor)
        at = eta if anchor is None or anchor is theta else eta_anchor
        tensors = np.stack(_third.fit_tensors(objective, X, Y, S, at))
    totals, residue = _weight_totals.summed(groups, row_weight, n_groups)
    return RowSums(
        n_rows=len(row_norms),
        value=float(objective.loss_sum(Y, S, eta)),
        gradient=design.transpose_product(X, coef) if gradient else None,
        hessian_grams=grams[: len(grams) - q] if hessian else None,
        bound_grams=grams[len(grams) - q:] if bound_grams else None,
        max_norm=float(norms.max(initial=0.0)),
        abs_coef=float(norms @ np.abs(coef).sum(axis=1)),
        coef_error=errors[0],
        weight_norm2=float(s @ sq),
        weight_error_norm2=errors[1],
        gram_norm2=float(s0 @ sq),
        gram_norm3=float(s0 @ (sq * norms)),
        gram_weight=float(s0.sum()),
        drift_form=errors[2],
        drift_curvature=errors[3],
        weight_totals=totals,
        weight_residue=residue,
        counts=np.bincount(groups, minlength=n_groups).astype(float),
        side_digests=digests,
        side_bits=sides,
        sides_key=None if digests is None else sides_key,
        loss_total=None if losses is None else float(losses.sum()),
        loss_total_sq=None if losses is None else float(losses @ losses),
        target_moment=None if weighted is None else design.transpose_product(X, weighted),
        target_moment_scale=(None if weighted is None
                             else float(norms @ np.abs(weighted).sum(axis=1))),
        third=tensors,
        column_mass=None if weighted is None or not column_masses else column_mass(X),
        column_counts=nonzero_counts(X) if target_moment else None,
        directions=directions,
        direction_sums=(None if directions is None
                        else direction_sums(design, X, S[:, 0], row_norms, directions)),
    )


def direction_sums(design, X, s, row_norms, directions):
    """:attr:`RowSums.direction_sums` of the rows ``X`` (augmented by
    ``design``) with the weights ``s`` and computed norms ``row_norms``:
    one product of ``X`` with the ``r`` directions, ``O(n p r)``, and two
    of the squares with both weights, ``O(n r)``."""
    d = X.shape[1]
    with np.errstate(over="ignore", invalid="ignore"):
        if sp.issparse(X):
            V = np.asarray(X @ directions[:d]).T
        else:
            # (r, n): a product whose large factor is read once, in the
            # order its rows lie (half the time of X @ W for few directions)
            V = directions[:d].T @ X.T
        if design.fit_intercept:
            V = V + design.intercept_value * directions[d][:, None]
        P = V * V
        weights = np.column_stack([s, np.abs(s)])
        forms = P @ weights
        weighted = (P * row_norms) @ weights
    return np.array([forms[:, 0], weighted[:, 0], forms[:, 1], weighted[:, 1]])


def nonzero_counts(X):
    """The number of rows of the dense or sparse ``X`` whose value in each
    column is not zero (a stored zero, or duplicates that add up to zero,
    count as zero)."""
    if not sp.issparse(X):
        return np.count_nonzero(X, axis=0).astype(np.int64)
    X = X.tocsr()
    if not X.has_canonical_format:
        X = X.copy()
        X.sum_duplicates()
    used = X.indices[:X.indptr[-1]][X.data[:X.indptr[-1]] != 0]
    return np.bincount(used, minlength=X.shape[1]).astype(np.int64)


def column_mass(X):
    """``sum_i |x_ij|`` per column of the dense or sparse ``X``: zero exactly
    where the column is (a sum of magnitudes cannot cancel)."""
    if sp.issparse(X):
        return np.asarray(abs(X).sum(axis=0), dtype=np.float64).ravel()
    return np.abs(X).sum(axis=0)


def _allowances(objective, X, Y, S, theta, eta, coef, norms, anchor, eta_anchor):
    """``coef_error``, ``weight_error_norm2``, ``drift_form`` and
    ``drift_curvature`` of :class:`RowSums` (see :func:`row_sums`)."""
    design = objective.design
    p = objective.n_params
    at_anchor = anchor is None or anchor is theta
    if not at_anchor and eta_anchor is None:
        eta_anchor = design.predictor(X, anchor)
    abs_eta = _roundoff.absolute_predictor(design, X, theta)
    abs_anchor = abs_eta if at_anchor else _roundoff.absolute_predictor(design, X, anchor)
    s = np.abs(S).max(axis=1)
    form = curvature = 0.0
    if not at_anchor:
        V = (np.abs(eta - eta_anchor)
             + _roundoff.gamma(p + 1) * (abs_eta + abs_anchor))
        v_sq = (V**2).sum(axis=1)
        form = float((s * norms) @ v_sq)
        if objective.loss.self_concordant:
            a = objective.scale * s * objective.loss.curvature(Y, eta_anchor)[:, 0]
            curvature = float(a @ v_sq)
    coef_err = _roundoff.gradient_coefficient_error(objective, Y, S, eta, abs_eta, coef)
    weight_err = _roundoff.curvature_weight_error(objective, S, abs_anchor)
    return (float(norms @ coef_err) + _roundoff.product_underflow(len(norms),
                                                                   p * coef.shape[1]),
            float(weight_err @ norms**2), form, curvature)


def published_theta(obj, theta, dtype):
    """``theta`` as the estimator publishes it: its float32 rounding for a
    float32 model (the same object for float64)."""
    if np.dtype(dtype) == np.float64:
        return theta
    out = theta.astype(dtype).astype(np.float64)
    design = obj.design
    if design.fit_intercept:
        scale = design.intercept_value
        out[-1] = (scale * theta[-1]).astype(dtype).astype(np.float64) / scale
    return out
