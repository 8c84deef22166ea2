"""Fits from chunks of rows (a Dask array on a cluster, an iterable of
chunks out of core), and the adoption of fitted scikit-learn models without
refitting."""

import copy
import functools

import numpy as np
from sklearn.base import clone
from sklearn.utils.validation import check_is_fitted, validate_data

from .._fingerprints import RowFingerprints, check_key, key_check
from .._plausibility import LossProfile
from .._request import check_sparse_structure
from ..solvers import NotPositiveDefiniteError
from ..solvers.fit._chunked_newton import cache_by_chunks, check_weighted
from ._chunked import (CHUNK_WEIGHTS, ChunkPass, MappedChunks, check_target_shape,
                       dask_arrays, dask_reducer, is_dask_collection, iterable_reducer,
                       same_rows)
from ._noise import check_noisy_minimum


class ChunkedFitMixin:
    """``fit`` on Dask collections and :meth:`from_fitted`, for the linear
    estimators (mixin of :class:`UnlearnableLinearMixin`)."""

    #: The scikit-learn class whose fitted models :meth:`from_fitted` adopts.
    _adopted_class = None
    #: Whether the targets are class labels (``classes_`` found by the fit).
    _chunked_classifier = False

    # -- hooks (the classifier and the ridge mixins say how) ----------------
    def _chunk_classes(self, current=False):
        """``classes_`` of a classifier (``None`` for a regressor); refuses
        what a pass by chunks cannot encode chunk by chunk: in a fit, or,
        with ``current``, over the model's current rows (encoded as its fit
        weighs them)."""
        return None

    def _chunk_encoder(self, classes, current=False):
        """A copy of the estimator without its fitted state (it travels to
        a cluster's workers) that encodes the chunks' targets (see
        :class:`~._chunked.ChunkPass`)."""
        encoder = clone(self)
        if classes is not None:
            encoder.classes_ = classes
        return encoder

    def _unlearn_n_outputs(self, y_shape):  # pragma: no cover
        raise NotImplementedError

    def _unlearn_n_groups(self, classes):
        """How many groups ``_unlearn_targets`` puts the rows in (their
        weights and counts are kept apart): one per class of a classifier
        (``classes``), else one."""
        return 1 if classes is None else len(classes)

    def _init_fitted_attributes(self, n_features, y_shape):  # pragma: no cover
        """The parent's parameter attributes (zeros) of a fit by chunks."""
        raise NotImplementedError

    def _published_dtype(self, X_dtype):
        """The dtype of the parameters the parent fits on data of ``X_dtype``
        (float32 data gives float32 parameters)."""
        return np.float32 if X_dtype == np.float32 else np.float64

    def _chunked_start(self, theta, y, w):
        """Where a fit of Dask arrays ``y``, ``w`` starts its Newton
        iterations: ``theta`` (zeros) unless the objective is badly scaled
        there."""
        return theta

    def _check_targets_as_parent(self, y):
        """Refuse targets the parent's fit would refuse, where it does not
        see them (chunks, rows given to :meth:`from_fitted`)."""

    def _chunked_n_iter(self, n_iter):  # pragma: no cover
        """``n_iter_`` of a fit by ``n_iter`` Newton iterations, as the parent
        reports it."""
        raise NotImplementedError

    # -- fit by chunks --------------------------------------------------------
    def _fit_by_chunks(self, X, y, sample_weight, fingerprint_key=None):
        """``fit`` on Dask collections: Newton's method from zero, one pass
        over the chunks per iteration, reduced by Dask (the key, if any,
        travels to the workers with the last pass's tasks)."""
        X, y, w, names = dask_arrays(X, y, sample_weight)
        if names is not None and len({isinstance(c, str) for c in names}) > 1:
            # as scikit-learn's fit refuses them
            raise TypeError(
                "Feature names are only supported if all input features have string "
                "names, but the data frame's columns mix strings with other types. "
                "Convert them all to strings (X.columns = X.columns.astype(str)), or "
                "all to another type.")
        self.n_features_in_ = X.shape[1]
        if names is not None and all(isinstance(c, str) for c in names):
            self.feature_names_in_ = names
        elif hasattr(self, "feature_names_in_"):
            del self.feature_names_in_
        if self._chunked_classifier:
            import dask.array as da

            self.classes_ = np.unique(da.unique(y).compute())
            if len(self.classes_) < 2:
                raise ValueError("This solver needs samples of at least 2 classes in "
                                 f"the data, but the data contains only one class: "
                                 f"{self.classes_[0]!r}.")
        self._init_fitted_attributes(X.shape[1], y.shape)
        # the parameters in the dtype the parent publishes for such data: the
        # cache's bound is about them
        dtype = self._published_dtype(X.dtype)
        self.coef_ = np.asarray(self.coef_, dtype=dtype)
        if np.ndim(self.intercept_) or dtype != np.float64:
            self.intercept_ = np.asarray(self.intercept_, dtype=dtype)[()]
        theta = self._chunked_start(
            np.zeros((self.n_features_in_ + int(self.fit_intercept),
                      self._unlearn_n_outputs(y.shape))), y, w)
        n_iter = self._cache_from_chunks(functools.partial(dask_reducer, X, y, w),
                                         y.shape, theta, fingerprint_key)
        self.n_iter_ = self._chunked_n_iter(n_iter)
        return self

    def _cache_from_chunks(self, reducer, y_shape, theta, fingerprint_key=None):
        """Polish ``theta`` and make the cache from passes over the chunks
        (``reducer(chunk_pass)`` gives the ``reduce`` of the source), with the
        loss profile of the rows and, given a key, their fingerprints (from
        the last pass); the number of Newton iterations."""
        key = None if fingerprint_key is None else check_key(fingerprint_key)
        cache, n_iter, sums = self._chunked_cache(reducer, y_shape, theta, key)
        self.unlearning_cache_ = cache
        self.training_loss_profile_ = LossProfile.from_sums(sums)
        self.row_fingerprints_ = (None if key is None else RowFingerprints.from_digests(
            sums.fingerprints, key_check(key)))
        self._set_theta(cache.theta, cache.objective.design)
        self._new_unlearn_state()
        return n_iter

    def _chunked_cache(self, reducer, y_shape, theta, key=None, like=None):
        """The cache polished from ``theta`` by passes over the chunks, the
        number of Newton iterations and the sums of the last pass (with the
        rows' digests under ``key``); the estimator is not changed. With
        ``like``, the sums of a pass made before over the same rows, every
        pass must read the rows that one read: the model's current rows,
        encoded as its fit weighs them; without, the rows of a fit."""
        objective = self._unlearn_objective(self.n_features_in_,
                                            self._unlearn_n_outputs(y_shape))
        if self._hessian_mode(objective) != "dense":
            why = ("it is set to hessian='low_rank'" if self.hessian == "low_rank"
                   else f"this model's {objective.n_params} parameters make them "
                   "too large")
            raise ValueError(
                f"A pass by chunks keeps dense Hessian blocks, and {why}: give "
                "the rows in memory (wide data with hessian='low_rank'), or use "
                "hessian='dense'. Nothing was changed.")
        current = like is not None
        classes = self._chunk_classes(current)
        n_groups = self._unlearn_n_groups(classes)
        chunk_pass = ChunkPass(self._chunk_encoder(classes, current), objective, self.n_features_in_, n_groups,
                               classes, names=self.__dict__.get("feature_names_in_"),
                               targets=tuple(y_shape[1:]),
                               probe_seed=None if like is None else like.probe_seed)
        reduce = reducer(chunk_pass)
        if like is not None:
            reduce = same_rows(reduce, like)

        noise = self._unlearn_noise(objective)

        def check(sums):
            # the classes' totals, from the first pass: a noise the data
            # cannot balance is refused as in memory, before any iteration
            # (the iterations diverged, and were refused as a Hessian that
            # cannot be factored)
            self._check_group_totals(sums.weight_totals)
            check_noisy_minimum(objective, noise, sums.weight_totals)

        def polished(start):
            return cache_by_chunks(
                objective, reduce, start, noise=noise,
                bound=self._keeps_residual_bound(),
                dtype=np.asarray(self.coef_).dtype, check=check,
                last=None if key is None else {"fingerprint_key": key})

        try:
            return polished(theta)
        except NotPositiveDefiniteError:
            if not np.any(theta):
                raise
            # no factorable curvature where the model is (an update took it
            # far out, every row's curvature saturated): from zero, as a fit
            return polished(np.zeros_like(theta))

    def _chunk_source(self, X, y, sample_weight, transform=None):
        """``(reducer, y_shape)`` of training rows given as a Dask collection
        or (``y=None``) an iterable of chunks, with ``transform`` applied to
        every chunk's ``X``; ``None`` for rows in memory."""
        if is_dask_collection(X):
            X, y, w, names = dask_arrays(X, y, sample_weight)
            self._check_adopted_names(names)
            check_target_shape(y.shape, tuple(self._adopted_y_shape()[1:]))
            if transform is not None:
                X = X.map_blocks(transform, dtype=np.float64)
            return functools.partial(dask_reducer, X, y, w), y.shape
        if y is not None:
            return None
        if sample_weight is not None:
            raise ValueError(CHUNK_WEIGHTS)
        chunks = X if transform is None else MappedChunks(X, transform)
        return functools.partial(iterable_reducer, chunks), self._adopted_y_shape()

    # -- adoption -------------------------------------------------------------
    @classmethod
    def from_fitted(cls, estimator, X, y=None, *, sample_weight=None):
        """Make a fitted scikit-learn model unlearnable without refitting it.

        The model's parameters are polished to the exact optimum of its
        objective on the training data with Newton steps (usually a few, from
        a converged solver) and the cache is made from the same passes over
        the data: the result equals fitting this class on the same data. The
        data is read chunk by chunk when it is a Dask array (reduced on its
        cluster) or an iterable of chunks, one pass per Newton step.

        Parameters
        ----------
        estimator : estimator of the parent class
            A fitted instance of the scikit-learn class this one subclasses
            (e.g. ``LogisticRegression`` for
            :class:`UnlearnableLogisticRegression`), with parameters this class
            supports. It is not changed.
        X : {array-like, sparse matrix, dask array, dask DataFrame} or iterable
            The training data ``estimator`` was fitted on, of shape
            ``(n_samples, n_features)``, or a re-iterable (e.g. a list) of
            chunks ``(X_chunk, y_chunk)`` or ``(X_chunk, y_chunk,
            sample_weight_chunk)`` whose rows together are that data.
        y : array-like of shape (n_samples,) or (n_samples, n_targets), default=None
            Its targets; ``None`` when ``X`` is an iterable of chunks.
        sample_weight : array-like of shape (n_samples,), default=None
            The sample weights of the fit.

        Returns
        -------
        model : instance of this class
            A fitted unlearnable copy of ``estimator``.

        Examples
        --------
        >>> import numpy as np
        >>> from sklearn.datasets import load_breast_cancer
        >>> from sklearn.linear_model import LogisticRegression
        >>> from sklearn.preprocessing import scale
        >>> from sklearn_unlearn import UnlearnableLogisticRegression
        >>> X, y = load_breast_cancer(return_X_y=True)
        >>> X = scale(X)
        >>> fitted = LogisticRegression(C=0.5).fit(X, y)
        >>> clf = UnlearnableLogisticRegression.from_fitted(fitted, X, y)
        >>> refit = UnlearnableLogisticRegression(C=0.5).fit(X, y)
        >>> bool(np.allclose(clf.coef_, refit.coef_, rtol=1e-6, atol=1e-9))
        True

        From chunks of rows (out of core: each chunk could be read from a
        file):

        >>> chunks = [(X[i:i + 200], y[i:i + 200]) for i in range(0, len(y), 200)]
        >>> clf = UnlearnableLogisticRegression.from_fitted(fitted, chunks)
        >>> bool(np.allclose(clf.coef_, refit.coef_, rtol=1e-6, atol=1e-9))
        True
        >>> clf = clf.unlearn(X[:10], None, y[:10])     # erase ten rows
        """
        model = cls._adopt(estimator)
        source = model._chunk_source(X, y, sample_weight)
        if source is None:
            return model._adopt_in_memory(X, y, sample_weight)
        reducer, y_shape = source
        design = model._unlearn_objective(model.n_features_in_,
                                          model._unlearn_n_outputs(y_shape)).design
        model._cache_from_chunks(reducer, y_shape, model._get_theta(design))
        return model

    @classmethod
    def _adopt(cls, estimator):
        """A copy of ``estimator``'s parameters and fitted attributes."""
        if type(estimator) is not cls._adopted_class:
            raise TypeError(
                f"{cls.__name__}.from_fitted adopts a fitted "
                f"{cls._adopted_class.__name__}; got {type(estimator).__name__}.")
        check_is_fitted(estimator)
        model = cls(**estimator.get_params(deep=False))
        model._validate_params()
        model._check_unlearnable()
        for name, value in vars(estimator).items():
            if name.endswith("_") and not name.startswith("_"):
                setattr(model, name, copy.deepcopy(value))
        return model

    def _adopted_y_shape(self):
        """The shape of the targets (rows unknown) the fitted model implies."""
        coef = np.asarray(self.coef_)
        if coef.ndim == 1 or self._chunked_classifier:
            return (None,)
        return (None, coef.shape[0])

    def _check_adopted_names(self, names):
        fitted = getattr(self, "feature_names_in_", None)
        if names is not None and fitted is not None and list(names) != list(fitted):
            raise ValueError("The columns of X are not the feature names the model "
                             "was fitted with.")

    def _adopt_in_memory(self, X, y, sample_weight):
        X, y, w = self._rows_in_memory(X, y, sample_weight)
        check_weighted(np.sum(w))
        self._fit_unlearning_cache(X, y, w)
        return self

    def _rows_in_memory(self, X, y, sample_weight):
        """``(X, y, sample_weight)`` of the fitted model's training rows in
        memory, checked as a pass over chunks checks them and as the parent
        checks its targets."""
        check_sparse_structure(X, "X")
        validate_data(self, X, reset=False, accept_sparse="csr", dtype=None)
        # (in memory, class_weight="balanced" sees all of y)
        classes = self.classes_ if self._chunked_classifier else None
        X, y, w = ChunkPass(None, None, self.n_features_in_, None, classes,
                            targets=tuple(self._adopted_y_shape()[1:])).checked(
                                X, y, sample_weight)
        self._check_targets_as_parent(y)
        return X, y, w
