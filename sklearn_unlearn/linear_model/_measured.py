"""What a linear model takes again from its current training rows: its
residual, or its whole cache."""

import secrets
from dataclasses import replace

import numpy as np
from sklearn.base import is_classifier
from sklearn.utils.validation import check_is_fitted

from .._fingerprints import check_fingerprinted, kept_fingerprints, training_digests
from .._plausibility import LossProfile
from ..solvers import UnlearningCache
from ..solvers._target_moment import moment_rounding
from ..solvers._weight_totals import combined
from ..solvers.bounds._roundoff import TINY, UNIT, gamma, norm_raise, norm_up
from ._chunked import (CHUNK_WEIGHTS, ROW_CHUNK, ChunkPass, added, is_dask_collection,
                       row_chunks, unpack_chunk)


class MeasuredResidualMixin:
    """:meth:`rebase_residual_bound` and :meth:`refresh_cache`, for the
    linear estimators (mixin of
    :class:`~sklearn_unlearn.linear_model.UnlearnableLinearMixin`)."""

    def rebase_residual_bound(self, X, y=None, sample_weight=None, *, fingerprint_key=None,
                              copy=False):
        """Measure the gradient residual on the current training data and
        start ``residual_bound_`` again from it.

        The bound of a model that has unlearned requests adds up each
        request's bound. With the training data at hand it can instead be
        measured: ``g``, the gradient of the corrected objective at the
        current parameters, computed in one pass over ``X`` in chunks, and
        ``a``, a bound on the rounding of that computation (the one the fit
        uses). The bound becomes ``||g|| + a`` where the rows are verified
        (by the model's fingerprints, with ``fingerprint_key``), and later
        requests add to that. Rows not verified add what the model knew of
        the current rows' gradient (see the notes): the bound then never
        falls below the one it had. The parameters do not change.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features) or iterable
            The model's current training data: the fit's rows after every
            request. The bound is only as true as these rows are; their count
            and total weight per class are checked against the cache's, their
            norms against the traces of the bound's Gram matrices ``K`` and
            ``K_R``, their second moments along random directions (drawn
            anew at every call) against those matrices (ridge and the
            identity-link Tweedie model: against the Hessian), the moment
            of their targets ``sum_i s_i x_i y_i^T`` against the one every
            request keeps up to date, their gradient against the cached
            residual (within its error bound, when that is finite), the
            features the model forgot against zero, and a linear SVC's rows
            against its keyed digests of them. See the notes for what that
            catches. With ``y=None``, an iterable of
            ``(X, y)`` or ``(X, y, sample_weight)`` chunks of them (read
            once; a chunk of no rows adds nothing).
        y : array-like of shape (n_samples,) or (n_samples, n_targets), default=None
            Their targets (``None`` with chunks).
        sample_weight : array-like of shape (n_samples,), default=None
            Their weights.
        fingerprint_key : bytes, default=None
            The key the model was fitted with, if it keeps fingerprints of its
            training rows: the rows given are then checked to be exactly the
            rows they fingerprint, and the bound is measured on them alone.
        copy : bool, default=False
            Measure into a shallow copy and return it, leaving this estimator
            as it is.

        Returns
        -------
        self or a copy : object

        Notes
        -----
        What the checks of the rows catch. The second moments refuse rows
        rotated, rescaled, with values moved between columns or changed,
        and other rows of the same count, weights and norms, down to the
        cache's rounding of ``K`` (about the unit round-off times the
        numbers of rows and parameters, relative to ``K``: one pair of
        values swapped in one of 100,000 rows of 500 features is refused; a
        row rotated by 1e-3 radian is not). The targets' moment refuses
        other targets, labels swapped between two rows of equal weight
        included, down to its own rounding (about the unit round-off times
        the number of rows, relative to it). What passes them is left to
        the gradient's check, which sees only what lies beyond the cached
        residual's error bound, loose after requests: changes below those
        roundings, and rows replaced by others with the same count, weights,
        second moments and moment of their targets (a few rows rotated, and
        the rest fitted to these sums, passed them all). So that such rows
        cannot lower the bound, rows that fingerprints do not verify add the
        cached residual's error bound and their gradient's distance from the
        cached residual to the measured bound: the current rows' gradient is
        within the first of the cached residual, and the rows' within the
        second. The measured bound is then never below the one the model
        had; it is tighter only with rows verified. Where the cache keeps
        neither ``K`` nor an exact Hessian of constant curvature (the
        low-rank mode, a squared hinge, ``residual_bound=False``, a log-link
        GLM, a model after ``forget_features`` without rows or a change of
        its features) the second moments are not checked; after a change of
        every row's features other than zeroing some (a pipeline whose
        scaler a request updated), nor is the targets' moment. Where the
        cache's ``K`` lost its precision (a row that dominated it was
        erased: its error bound passes ``1e-6`` of it), no rows can be told
        apart, and all are refused: fit anew. Where the
        rows must be verified exactly, fit with a ``fingerprint_key`` and
        give the key to :meth:`refresh_cache`, which checks the rows against
        the fingerprints.

        Examples
        --------
        >>> from sklearn.datasets import load_breast_cancer
        >>> from sklearn.preprocessing import scale
        >>> from sklearn_unlearn import UnlearnableLogisticRegression
        >>> X, y = load_breast_cancer(return_X_y=True)
        >>> X = scale(X)
        >>> key = b"a key of at least sixteen bytes"
        >>> clf = UnlearnableLogisticRegression().fit(X, y, fingerprint_key=key)
        >>> for i in range(0, 100, 10):
        ...     clf = clf.unlearn(X[i:i + 10], None, y[i:i + 10], fingerprint_key=key)
        >>> accumulated = clf.residual_bound_
        >>> clf = clf.rebase_residual_bound(X[100:], y[100:], fingerprint_key=key)
        >>> bool(clf.residual_bound_ < accumulated)
        True
        """
        check_is_fitted(self, "unlearning_cache_")
        self._check_fitted_params()
        if not copy:
            self._check_not_owned()
        return self._serialised(
            lambda: self._rebased(X, y, sample_weight, copy, fingerprint_key=fingerprint_key))

    def _rebased_on_kept_rows(self, chunks):
        """:meth:`rebase_residual_bound` of a copy, on the rows a
        meta-estimator keeps for this model (its current rows by
        construction: they need no check of what the cache can tell apart;
        see :func:`measured_current`), given in chunks."""
        self._check_fitted_params()
        return self._serialised(lambda: self._rebased(chunks, None, None, True,
                                                      verified=True))

    def _rebased(self, X, y, sample_weight, copy, verified=False, fingerprint_key=None):
        cache = self.unlearning_cache_
        kept, key = (None, None) if fingerprint_key is None else kept_fingerprints(
            self, fingerprint_key, "the rows can be checked against them")
        sums = self._current_sums(X, y, sample_weight, key=key)
        if kept is not None:
            check_fingerprinted(kept, sums.fingerprints)
        verified = verified or kept is not None
        measured = measured_current(cache, sums, verified)
        if not np.isfinite(measured.residual_bound):
            if (not rows_verified(cache, verified) and not np.isfinite(cache.residual_error)
                    and np.isfinite(cache.objective.loss.curvature_max)):
                raise ValueError(
                    "The model has no finite bound, and rows that its fingerprints do "
                    "not verify cannot give it one: rows made to the sums it checks "
                    "would pass for the current ones. Fit the model with "
                    "fingerprint_key and pass the key here, or fit it anew on the "
                    "current rows. Nothing was changed.")
            raise ValueError(
                "The measured residual has no finite rounding bound (the rows "
                "overflow the arithmetic, or the loss's curvature is unbounded); "
                "nothing was changed."
            )
        # the rows' losses at the model's parameters: the profile of the
        # current data, which a removal dropped
        return self._with_state({"unlearning_cache_": measured,
                                 "training_loss_profile_": LossProfile.from_sums(sums)}, copy)

    def refresh_cache(self, X, y=None, sample_weight=None, *, fingerprint_key=None,
                      copy=False):
        """Make the model and its cache anew from the current training data,
        as a fit on it would, so that they keep nothing of erased rows.

        A request moves the model without the data. Outside ridge (and the
        identity-link Tweedie model) the cached Hessian keeps the curvature
        of the remaining rows where the parameters were when they entered
        it, a point that the erased rows helped to choose; the parameters
        differ from the refit's by an error that depends on the erased
        rows; and the bounds' scalars grow with the rows each request takes
        out. One who knows every other training row can solve for an erased
        row from a saved model (see :ref:`persistence`). Given the current
        rows, the parameters are polished to the exact optimum of the
        corrected data by Newton steps from where they are (usually one or
        two) and the cache is taken there: the model then equals a fit on
        these rows, up to rounding, and its history starts anew (the
        history's bounds are functions of the requests' rows). Do this
        before sharing a model whose data has to go.

        Parameters
        ----------
        X : {array-like, sparse matrix, dask array, dask DataFrame} of shape \
(n_samples, n_features) or iterable
            The model's current training data: the fit's rows after every
            request, checked as :meth:`rebase_residual_bound` checks them
            (count, weight per class, the traces of the bound's Gram
            matrices and the second moments along random directions, the
            moment of the targets, the gradient within the cached residual's
            error bound, the forgotten features, a linear SVC's digests; see
            its notes for what that catches), and against the model's
            fingerprints if it keeps them. A model with neither a finite
            bound nor digests (a log-link GLM, the low-rank mode) checks the
            count, the weights and the targets' moment only: fit it with a
            ``fingerprint_key`` to have the rows checked exactly (the only
            exact check of values and targets). The checks compare sums,
            which rows made to them pass: the new cache's bound is measured
            on the rows only where they are verified (the fingerprints; the
            squared hinge's digests check a linear SVC's rows, but it keeps
            no bound), and is ``inf`` otherwise (a bound from what the old
            cache knew would keep a trace of the requests). With
            ``y=None``, an
            iterable of ``(X, y)`` or ``(X, y, sample_weight)`` chunks of
            them (read once for the check, then once per Newton step; a
            chunk of no rows adds nothing).
        y : array-like of shape (n_samples,) or (n_samples, n_targets), default=None
            Their targets (``None`` with chunks).
        sample_weight : array-like of shape (n_samples,), default=None
            Their weights.
        fingerprint_key : bytes, default=None
            The key the model was fitted with, if it keeps fingerprints of its
            training rows: the rows given must then be exactly the rows they
            fingerprint (as a multiset, with targets and weights).
        copy : bool, default=False
            Make the new state on a shallow copy and return it, leaving this
            estimator as it is.

        Returns
        -------
        self or a copy : object

        Examples
        --------
        >>> import numpy as np
        >>> from sklearn.datasets import load_breast_cancer
        >>> from sklearn.preprocessing import scale
        >>> from sklearn_unlearn import UnlearnableLogisticRegression
        >>> X, y = load_breast_cancer(return_X_y=True)
        >>> X = scale(X)
        >>> clf = UnlearnableLogisticRegression().fit(X, y)
        >>> clf = clf.unlearn(X[:20], None, y[:20])       # erase twenty rows
        >>> clf = clf.refresh_cache(X[20:], y[20:])
        >>> refit = UnlearnableLogisticRegression().fit(X[20:], y[20:])
        >>> bool(np.allclose(clf.coef_, refit.coef_, rtol=1e-8, atol=1e-10))
        True
        >>> len(clf.unlearn_history_)
        0
        """
        check_is_fitted(self, "unlearning_cache_")
        # the cache made anew would be that of the new parameters, under the
        # fit's: a later request would then move a model of the one towards
        # a refit with the other
        self._check_fitted_params()
        if not copy:
            self._check_not_owned()
        return self._serialised(
            lambda: self._refreshed(X, y, sample_weight, fingerprint_key, copy))

    def _refreshed(self, X, y, sample_weight, fingerprint_key, copy):
        cache = self.unlearning_cache_
        if cache.noise is not None:
            raise ValueError(
                "This model was trained with objective noise, which a cache made "
                "anew would have to draw again: fit it again on the current rows. "
                "Nothing was changed.")
        kept, key = kept_fingerprints(
            self, fingerprint_key, "the rows can be checked against them")
        sums = self._current_sums(X, y, sample_weight)
        measured_current(cache, sums, verified=kept is not None)
        source = self._chunk_source(X, y, sample_weight)
        if source is None:
            rows = self._rows_in_memory(X, y, sample_weight)
            if kept is not None:
                check_fingerprinted(kept, training_digests(self, *rows, key))
            new, profile = self._cache_polished_from(*rows, cache.theta, at_optimum=True)
        else:
            reducer, y_shape = source
            new, _, last = self._chunked_cache(reducer, y_shape, cache.theta, key=key,
                                               like=sums)
            if kept is not None:
                check_fingerprinted(kept, last.fingerprints)
            profile = LossProfile.from_sums(last)
        check_current_rows(cache, new)
        # a cache of a kind that keeps no bound (the low-rank mode, a squared
        # hinge, residual_bound=False) has an infinite one however finite
        # the rows: after a rebase, its old bound is finite
        if not np.all(np.isfinite(new.residual)) or (
                np.isfinite(cache.residual_bound) and not np.isfinite(new.residual_bound)
                and UnlearningCache.keeps_bound(
                    new.objective, new.exact_hessian, self._keeps_residual_bound())):
            raise ValueError(_OVERFLOW)
        new = replace(new, zero_features=cache.zero_features)
        new = bound_kept_if_verified(new, rows_verified(cache, kept is not None))
        return self._with_state({"unlearning_cache_": new,
                                 "training_loss_profile_": profile,
                                 **self._moved_attributes(new.theta, new.objective.design)},
                                copy)

    def _current_sums(self, X, y, sample_weight, transform=None, key=None):
        """Sums over the rows ``X``, ``y`` (Dask collections, or an iterable
        of chunks of them with ``y=None``) at the cache's parameters, in one
        pass, with their fingerprints under ``key`` if given. With
        ``transform``, also the sums over what it makes of every chunk's
        rows, from the same pass (a Dask graph is computed twice)."""
        cache = self.unlearning_cache_
        if y is None and sample_weight is not None and not is_dask_collection(X):
            raise ValueError(CHUNK_WEIGHTS)
        # with a transform, both views' probes are of its rows: a graph
        # computed twice must give the same rows both times
        chunk_pass = ChunkPass(self, cache.objective, self.n_features_in_,
                               len(cache.counts),
                               self.classes_ if is_classifier(self) else None,
                               names=self.__dict__.get("feature_names_in_"),
                               targets=tuple(self._adopted_y_shape()[1:]),
                               probe_view=transform)
        views = [None] if transform is None else [None, transform]
        # a loss whose curvature jumps keeps a keyed digest of every row it
        # holds, with its targets and weights: the rows are checked exactly
        wanted = {} if cache.entry_sides is None else {"sides_key": cache.entry_sides.key}
        # the rows themselves (not a view of them) are compared with the
        # cache's second moments, along directions drawn for this pass
        first = {**wanted, "directions": moment_directions(cache)}
        if key is not None:
            first["fingerprint_key"] = key
        if is_dask_collection(X):
            sums = [self._chunk_source(X, y, sample_weight, view)[0](chunk_pass)(
                cache.theta, **(wanted if i else first)) for i, view in enumerate(views)]
        else:
            sums = [None] * len(views)
            chunks = X if y is None else row_chunks(X, y, sample_weight, size=ROW_CHUNK)
            for chunk in chunks:
                rows, targets, weights = unpack_chunk(chunk)
                for i, view in enumerate(views):
                    sums[i] = added(sums[i], chunk_pass(
                        rows if view is None else view(rows), targets, weights,
                        cache.theta, wanted if i else first))
            if sums[0] is None:
                raise ValueError("The iterable of chunks is empty (no chunk holds a row): "
                                 "give the model's current training rows. Nothing was "
                                 "changed.")
        return sums[0] if transform is None else tuple(sums)


def check_current_gradient(cache, measured):
    """Refuse rows whose gradient at the cache's parameters (``measured``:
    the cache with its residual measured on them) is further from the
    cache's residual than the error bounds of both allow: rows that are not
    the current ones although their count and weights are (wrong targets,
    say). A cache whose error bound is infinite checks nothing, nor do rows
    whose gradient overflows (refused later, for that). Returns a bound on
    the distance between the two gradients."""
    # the exact difference is within a unit round-off of the computed one
    gap = float(norm_up(measured.residual - cache.residual)) * (1.0 + 2.0 * UNIT)
    # a relative slack for the rounding of the difference and its norm
    allowed = (cache.residual_error + measured.residual_error) * (1.0 + 1e-6) + 1e-12 * (
        np.linalg.norm(measured.residual) + np.linalg.norm(cache.residual))
    if np.isfinite(gap) and np.isfinite(allowed) and gap > allowed:
        raise ValueError(
            f"The rows given are not the model's current training rows: their "
            f"gradient at the model's parameters is {gap:.3g} from the one the model "
            f"holds, beyond the {allowed:.3g} its error bound allows (their count "
            "and weight per class match: are the targets or values changed?). "
            "Pass the fit's rows after every request. Nothing was changed."
        )
    return gap


#: Why rows whose gradient or bound overflows are refused where the model's
#: current rows give finite ones.
_OVERFLOW = ("The rows given overflow float64 arithmetic (their gradient or its "
             "bound is not finite): they are not the model's current rows, or those "
             "are too large for float64 arithmetic (rescale them and fit again). "
             "Nothing was changed.")


def measured_current(cache, sums, verified=False):
    """The cache with its residual measured on rows (``sums``, a
    :class:`~sklearn_unlearn.solvers.fit._chunks.RowSums` over them at its
    parameters) that are checked to be the model's current training rows:
    their count and weight per class, their norms' sums against the Gram
    traces, their second moments along random directions against the Gram
    matrices (:func:`check_current_moments`), their targets' moment against
    the cache's (:func:`check_current_targets`), a gradient that does not
    overflow, and the gradient within the error bounds. Others are refused
    (nothing changes). Unless the rows are known otherwise to be the current
    ones (``verified``: checked against their keyed fingerprints, or kept by
    a meta-estimator), a cache that keeps its second
    moments to less than :data:`MOMENT_RESOLUTION` refuses them all: it
    cannot tell them from others (see :func:`check_current_moments`).

    The checks see sums over the rows; rows made to those sums pass them.
    Unless ``verified``, the measured residual's error bound therefore also
    covers rows that are not the current ones: the current rows' gradient
    is within the cache's error bound of its residual, and the rows' is
    within the gradient check's gap of it, so the bound adds both (a rebase
    on unverified rows never publishes less than what the cache knew)."""
    check_current_rows(cache, sums)
    if cache.entry_sides is not None:
        check_fingerprinted(cache.entry_sides.store, sums.side_digests)
    check_current_zeros(cache, sums)
    check_current_norms(cache, sums)
    check_current_moments(cache, sums, verified)
    check_current_targets(cache, sums)
    measured = cache.measured(sums)
    if not np.all(np.isfinite(measured.residual)):
        # the gradient's check leaves such rows to the others
        raise ValueError(_OVERFLOW)
    gap = check_current_gradient(cache, measured)
    if rows_verified(cache, verified):
        return measured
    # rows made to the cache's sums pass every check above without being the
    # current ones (a rotation of a few rows, fitted to K, K_R and the
    # targets' moment, did): what the current rows' gradient is, the cache
    # knows to within its error bound, and the rows' to within the gap
    return replace(measured, residual_error=(
        measured.residual_error + cache.residual_error + gap) * (1.0 + 4.0 * UNIT))


def rows_verified(cache, verified):
    """Whether rows given as the current ones are known to be:
    ``verified`` (checked against the model's keyed fingerprints, or kept
    by a meta-estimator), or checked exactly by the keyed digests a linear
    SVC's cache keeps of every row. The checks of sums verify nothing: a
    ridge's gradient is made of the sums they compare, but within their
    allowances (a target off by 1.4e-5 passed, and a refresh published
    3e-10 for a true residual of 1.4e-4)."""
    return bool(verified or cache.entry_sides is not None)


def bound_kept_if_verified(cache, verified):
    """``cache``, made anew from rows given as the current ones, with its
    bound where they are ``verified`` (:func:`rows_verified`) and ``inf``
    otherwise: the bound is the rows', and of the current rows what the
    checks cannot tell bounds nothing without the history that the new
    cache must not keep (see :func:`measured_current`)."""
    return cache if verified else replace(cache, residual_error=np.inf)


def check_current_rows(cache, given):
    """Refuse rows that are not the model's current training rows: their
    count and total weight per class (``given``, sums over them such as a
    :class:`~sklearn_unlearn.solvers.fit._chunks.RowSums` or a cache made
    from them; ``None`` for no rows) must be the cache's."""
    if given is not None and np.array_equal(given.counts, cache.counts):
        # both exact sums: the rows' own weights give no gap at all (a slack
        # would let a log-link GLM, which checks nothing else, take a light
        # row's weight changed beside a heavy one)
        gap, _ = combined((given.weight_totals, given.weight_residue),
                          (cache.weight_totals, cache.weight_residue), sign=-1.0)
        if not np.any(gap):
            return
    n, total = ((0, 0.0) if given is None
                else (int(given.counts.sum()), float(given.weight_totals.sum())))
    n_cache, total_cache = int(cache.counts.sum()), float(cache.weight_totals.sum())
    # every digit: the weights must match exactly
    if given is not None and (n, total) == (n_cache, total_cache):
        # the same in all: the groups differ (labels moved between classes)
        what = (f"The rows given have {_plain(given.counts, int)} rows per class (or "
                f"by zero and positive target) of weights "
                f"{_plain(given.weight_totals)}, but the model's current training data "
                f"has {_plain(cache.counts, int)} of weights "
                f"{_plain(cache.weight_totals)}")
    else:
        what = (f"The rows given are {n} of total weight {total!r}, but the model's "
                f"current training data has {n_cache} rows of total weight "
                f"{total_cache!r} (by class, or by zero and positive target: counts "
                "and weights must match too)")
    raise ValueError(f"{what}: pass the fit's rows after every request. Nothing was "
                     "changed.")


def _plain(values, kind=float):
    """An array's values as plain numbers of ``kind`` for a message (at most
    ten)."""
    listed = np.asarray(values).astype(kind).tolist()
    return (str(listed) if len(listed) <= 10
            else str(listed[:10])[:-1] + f", ... ({len(listed)} in all)]")


def check_current_zeros(cache, sums):
    """Refuse rows with values in a feature the model forgot
    (``forget_features``), which every current row has zero: their sums of
    magnitudes per feature (``sums.column_mass``) must be zero there. The
    other checks miss them once a feature is forgotten from the cache alone,
    which leaves no finite bound and no Gram matrices to compare with."""
    zero = list(cache.zero_features)
    if not zero or sums.column_mass is None:
        return
    held = [j for j in zero if sums.column_mass[j] != 0]
    if held:
        raise ValueError(
            f"The rows given are not the model's current training rows: they hold "
            f"values in the feature(s) at {held}, which the model forgot "
            "(forget_features), so that every current row is zero there. Zero "
            "them (sklearn_unlearn.zero_features) and pass the rows again. Nothing "
            "was changed.")


def check_current_norms(cache, sums):
    """Refuse rows whose weighted squared and cubed norms (``sums``, a
    :class:`~sklearn_unlearn.solvers.fit._chunks.RowSums`) are not the
    traces of the bound's Gram matrices ``K`` and ``K_R``, sums over the
    current rows whatever the parameters, within the traces' error bounds
    and the rounding of the sums: rows scaled, or with a value changed, or
    other rows of the same count and weights. A cache without the Gram
    matrices checks nothing here."""
    if cache.gram is None or sums.gram_norm2 is None:
        return
    n, p = sums.n_rows, cache.gram.shape[0]
    # the sums are of the rows' norms raised to bound the exact ones,
    # by a factor 1 + a and by d (upper_norms): what that adds to them
    a, d = norm_raise(p)
    weight, v2, v3 = sums.gram_weight or 0.0, sums.gram_norm2, sums.gram_norm3
    raised = (((1 + a)**2 - 1) * v2 + 2 * d * np.sqrt(weight * v2) + d * d * weight,
              ((1 + a)**3 - 1) * v3 + 3 * d * v2 + 3 * d * d * np.sqrt(weight * v2)
              + d**3 * weight)
    for M, value, up in ((cache.gram, v2, raised[0]), (cache.norm_gram, v3, raised[1])):
        trace = M.trace()
        # a trace that lost its precision checks nothing; the underflow
        # term is what the products of both sums can lose
        allowed = ((M.trace_bound() - trace) + gamma(2 * (n + p + 4)) * abs(value)
                   + 4.0 * (n + 1) * (p + 1) * TINY + up)
        # (rows whose norms overflow the sums are told apart only from a
        # trace that does not: the current rows' overflowed too)
        if np.isfinite(M.trace_bound()) and not abs(value - trace) <= allowed:
            raise ValueError(
                f"The rows given are not the model's current training rows: the sum "
                f"of their weighted squared norms is {value:.6g}, where the current "
                f"rows' is {trace:.6g} (within {allowed:.3g}). Pass the fit's rows "
                "after every request. Nothing was changed.")


#: Random directions along which rows given as the current ones are compared
#: with the cache's second moments: each misses a change of the moments
#: only where the direction is nearly a root of the change's quadratic form.
N_DIRECTIONS = 8

#: The relative precision to which a cache must hold its second moments for
#: rows given as the current ones to be checked against them: beyond it
#: (an erased row that dominated the Gram matrix leaves an error bound of
#: 14-30% of it), rows that are not the current ones pass every check and
#: a refresh on them published a bound of 1e-11 for a true residual of
#: 382, so such rows are refused unless fingerprints check them.
MOMENT_RESOLUTION = 1e-6
#: Second moments below which a form's precision is judged absolutely, not
#: relatively: near the subnormals (2**-960, about 1e-289).
_NORMAL_FORMS = 2.0 ** -960


def _second_moments(cache):
    """What the cache keeps of the current rows' second moments, as
    ``(matrix, form, factor, penalty, error)``: ``matrix`` (a
    :class:`~sklearn_unlearn.solvers.PendingMatrix`) is ``factor`` times the
    ``form``-th moment of :meth:`RowSums.direction_forms` (``0``: ``K``,
    ``1``: ``K_R``) plus ``diag(penalty)`` (or nothing), within its own
    :attr:`error` and ``error`` more in operator norm. The bound's Gram
    matrices, or the Hessian of a loss of constant curvature (ridge); none
    for other caches (the low-rank mode, a squared hinge, a log link, a fit
    without the bound)."""
    if cache.gram is not None and cache.norm_gram is not None:
        return [(cache.gram, 0, 1.0, None, 0.0), (cache.norm_gram, 1, 1.0, None, 0.0)]
    obj = cache.objective
    if (obj.loss.constant_curvature and not obj.loss.coupled and cache.exact_hessian
            and len(cache.hessians) == 1 and cache.drift is not None
            and np.isfinite(cache.drift.hessian_error)):
        # the data part of the Hessian is scale * curvature * K
        return [(cache.hessians[0], 0, obj.scale * obj.loss.curvature_max, obj.penalty,
                 cache.drift.hessian_error)]
    return []


def moment_directions(cache):
    """:data:`N_DIRECTIONS` unit directions drawn from the system's entropy
    for one check of rows against ``cache`` (see
    :func:`check_current_moments`), or ``None`` when it keeps nothing to
    compare them with. Whoever prepares the rows does not know them."""
    if not _second_moments(cache):
        return None
    rng = np.random.default_rng(secrets.randbits(128))
    W = rng.standard_normal((cache.objective.n_params, N_DIRECTIONS))
    return W / np.linalg.norm(W, axis=0)


def check_current_moments(cache, sums, verified=False):
    """Refuse rows whose second moments along random directions are not the
    cache's: ``sums`` (a :class:`~sklearn_unlearn.solvers.fit._chunks.RowSums`
    with :attr:`direction_sums` along :attr:`directions`, fresh for this
    check) give ``w^T K w = sum_i s_i (x_i^T w)^2`` (and ``K_R``'s) over the
    rows, which must be the cache's form of ``K`` (of ``K_R``; of the
    Hessian of a loss of constant curvature, less the penalty) within the
    cache's error bound on the matrix, the form's rounding and the rows'
    (:meth:`~sklearn_unlearn.solvers.fit._chunks.RowSums.direction_forms`).

    Unlike the traces, a form sees a change that keeps every row's norm:
    entries moved between columns, rows rotated, other rows of the same
    count, weights and norms. A change ``E`` of ``K`` escapes a direction
    ``w`` only where ``|w^T E w|`` is below the allowance (about the
    unit round-off times the number of rows and of parameters, relative to
    ``K``), so nearly never for a change above it: the directions are drawn
    afresh for every check, unknown to whoever made the rows. Changes that
    keep the second moments (the targets of rows swapped, say) are left to
    :func:`check_current_targets` and the gradient's check.

    Where the error bound of ``K`` (ridge: of its Hessian) passes
    :data:`MOMENT_RESOLUTION` of the form, the cache holds too little of
    the rows to tell them from others
    (the underflow of rows near 1e-150 is not counted): they are
    refused, unless ``verified`` (their keyed fingerprints check them
    exactly, or a meta-estimator keeps them)."""
    forms = sums.direction_forms()
    if forms is None:
        return
    values, errors = forms
    W = sums.directions
    columns = [W[:, j] for j in range(W.shape[1])]
    sizes = np.array([norm_up(w) for w in columns])
    for M, k, factor, penalty, extra in _second_moments(cache):
        cached = M.quadratic_forms([w[:, None] for w in columns])
        allowance = np.array([M.quadratic_form_allowance(w) for w in columns])
        allowance = allowance + extra * sizes * sizes
        rows, rows_error = factor * values[k], abs(factor) * errors[k]
        scale = np.abs(rows) + np.abs(cached)
        if penalty is not None:
            pen = (penalty[:, None] * W * W).sum(axis=0)
            cached = cached - pen
            # the penalty's form rounds as a sum of p + 1 terms
            allowance = allowance + gamma(len(penalty) + 2) * pen
            scale = scale + pen
        gap = np.abs(rows - cached)
        # the rounding of the comparison's own arithmetic
        allowed = (rows_error + allowance) * (1.0 + 8.0 * UNIT) + 8.0 * UNIT * scale
        # what the matrix's own error makes of the form (its underflow,
        # absolute, is left to the allowance)
        imprecision = (M.error + M.rounding_scale() + extra) * sizes * sizes
        # forms in the range of underflow (rows near 1e-150) have no relative
        # precision to speak of: their allowance is absolute
        judged = scale >= _NORMAL_FORMS
        # judged on K (ridge: its Hessian), the rows' second moments; K_R
        # weighs them by their norms, and an erased row of 4e3 among rows of
        # unit norm leaves 1e-4 of it to its rounding
        if k == 0 and not verified and not np.all(
                imprecision[judged] <= MOMENT_RESOLUTION * scale[judged]):
            raise ValueError(
                "The model's cache no longer holds its rows' second moments precisely "
                f"enough to check rows against them (to {np.max(imprecision / scale):.2g} of "
                "their size: rows that dominated them were erased): rows near the "
                "current ones would pass for them, and the bound made from them "
                "would not hold for the current rows. Fit the model anew on the "
                "current rows (fit), or fit it with fingerprint_key to have rows "
                "checked exactly. Nothing was changed.")
        bad = np.isfinite(gap) & np.isfinite(allowed) & (gap > allowed)
        if bad.any():
            j = int(np.flatnonzero(bad)[0])
            raise ValueError(
                f"The rows given are not the model's current training rows: their "
                f"weighted second moment along a random direction is {rows[j]:.9g}, "
                f"where the current rows' is {cached[j]:.9g} (within {allowed[j]:.3g}). "
                "Their values differ (entries moved between columns, rows rotated, or "
                "other rows of the same count, weights and norms). Pass the fit's rows "
                "after every request. Nothing was changed.")


def check_current_targets(cache, sums):
    """Refuse rows whose targets' moment ``sum_i x_i (s_i y_i)^T`` (``sums``,
    a :class:`~sklearn_unlearn.solvers.fit._chunks.RowSums`) is not the
    cache's, within the bounds on both sums' rounding (every entry): rows
    with other targets, labels swapped between two rows of the same weight
    included, which no Gram matrix sees and the gradient's check sees only
    beyond the cached residual's error bound. A cache without the moment
    (saved before it was kept, or after a change of every row's features)
    checks nothing here."""
    kept, given = cache.target_moment, sums.target_moment
    if kept is None or given is None or kept.shape != given.shape:
        return
    allowance = cache.target_moment_error + moment_rounding(
        sums.n_rows, sums.target_moment_scale, sums.max_norm)
    with np.errstate(over="ignore", invalid="ignore"):
        gap = np.abs(given - kept)
        # the rounding of the comparison's own arithmetic
        allowed = allowance * (1.0 + 4.0 * UNIT) + 4.0 * UNIT * (np.abs(given) + np.abs(kept))
        bad = np.isfinite(gap) & np.isfinite(allowed) & (gap > allowed)
    if bad.any():
        j, k = (int(i) for i in np.argwhere(bad)[0])
        raise ValueError(
            f"The rows given are not the model's current training rows: the moment "
            f"of their targets, sum_i s_i x_i y_i, is {given[j, k]:.9g} in the entry of "
            f"parameter {j} (output {k}), where the current rows' is {kept[j, k]:.9g} "
            f"(within {allowed[j, k]:.3g}). Their targets or values differ (labels "
            "swapped between rows, say). Pass the fit's rows after every request. "
            "Nothing was changed.")
