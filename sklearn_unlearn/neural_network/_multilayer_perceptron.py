"""Multilayer perceptrons that can unlearn features, labels and rows (approximately)."""

import numpy as np
from sklearn.base import _fit_context
from sklearn.neural_network import MLPClassifier, MLPRegressor
from sklearn.utils import column_or_1d
from sklearn.utils.metaestimators import available_if

from .._locks import fit_serialised
from .._request import check_training_weights, plain
from ._base import UnlearnableMLPMixin

_SHARED_DOC = """
    The fitted network is exactly the parent's (same solver, same result)
    for an integer or ``None`` ``random_state``; a ``RandomState`` is drawn
    from once per training call (see the parameter).
    :meth:`unlearn` then takes one first- or second-order step on the
    corrected training objective; see :meth:`unlearn` for the update.

    **No certificate.** The objective of a network is not convex, the
    update is an approximation of retraining, and nothing bounds its
    distance to a refit: there is no ``residual_bound_`` and the model
    cannot be used for certified removal. With the training rows kept, a
    request's step is shortened until it lowers the corrected objective on
    them, and the report of ``plan_unlearn`` has the measured gradient norm
    of the corrected objective before and after.

    **Objective and scaling.** As in scikit-learn,
    ``J(theta; D) = (1/S) [sum_i s_i loss_i + (alpha/2) sum_l ||W_l||^2]``
    with ``S`` the total sample weight (``n`` without weights) and the
    intercepts not penalised: mean loss, and a penalty divided by ``S`` too.
    A request recomputes ``S`` for the corrected data, so deletions and
    insertions change the weight of the penalty exactly as a refit would.
    The Hessian-vector products include ``alpha / S`` on the weights.

    **Limits.** The step follows the local model of the corrected objective,
    so it cannot undo what the network stored in directions that the
    remaining data does not constrain: deleting the only rows with ink in
    some features leaves the weights of those features where the rows put
    them (their curvature is only ``alpha / S``), while correcting the rows
    undoes them. On ``load_digits`` with 20% of the labels flipped the
    second-order update restored 64-89% of the lost test accuracy at about
    6% of a refit's time; see ``benchmarks/RESULTS_mlp.md``.

    **What is kept.** With ``keep_data=True`` (default) the model
    keeps a float64 copy of the training rows, their targets and sample
    weights in ``training_rows_``, made at ``fit`` (editing the arrays
    passed to ``fit`` does not change it): ``8 n (n_features + 1)`` bytes
    plus the targets for dense input (``nnz`` values and indices for CSR),
    about 0.9 MB for ``load_digits``. The second-order step needs them for
    the Hessian-vector products; each request edits the copy in place
    (erased rows overwritten, freed slots zeroed, new rows appended; see
    :ref:`the kept rows of certified removal <certified-integrity>`), so
    each request must give the rows as currently trained on, and the erased
    rows (or the old values of edited rows) are in no attribute once
    :meth:`unlearn` returns, nor in a pickle, joblib or skops file or a deep
    copy made after it. With
    ``keep_data=False`` only the count and exact sample weight of every
    class (of the data, for a regressor) are kept, by which a request that
    would empty a class or take more weight than was trained on is refused,
    and only ``method="first_order"`` with a numeric ``tau`` is available
    (its gradient then assumes the fit was stationary).

    **Overflow.** A request fails closed: a step that is not finite, or
    whose parameters are not finite in the model's dtype (a float32 network
    overflows at about ``3.4e38``), or whose network's outputs overflow on
    the kept rows is refused with a ``ValueError`` naming the setting that
    shortens it, and the model is unchanged. A corrected objective whose
    value or squared gradient norm overflows float64 at the current
    parameters (a target of ``1e160``), which conjugate gradients,
    ``tau="auto"`` and the line search all need, is refused as such: no
    setting helps. Without kept rows the outputs
    can be checked on the request's rows only: a ``tau`` they survive may
    still overflow on other inputs.

    **Optimiser state.** The state of the stochastic optimiser (adam's first
    and second moment estimates, sgd's velocities) averages mini-batch
    gradients of the training rows, erased ones included: a request
    replaces it by a fresh optimiser's, and early stopping's copy of the
    best parameters by the new parameters. A later ``partial_fit``
    continues from the new parameters with fresh moments. ``partial_fit``
    does not change the kept rows.
"""


def _stochastic_solver(est):
    """``partial_fit`` exists for the stochastic solvers only, as in the parent."""
    if est.solver not in ("sgd", "adam"):
        raise AttributeError(
            f"partial_fit is only available for stochastic optimizers. {est.solver} "
            "is not stochastic.")
    return True


def _partial_fit_doc(y_type, y_text, extra=""):
    return f"""Update the model with a single iteration over the given data.

        The parent's ``partial_fit``, holding the request lock: a request, a
        copy or a file made meanwhile by another thread waits for it. The
        kept rows do not change. It trains copies of the weights and of the
        optimiser's state, so a call that fails leaves the network as it
        was; one that returns names the state anew, so that a plan made
        before it is refused (it would discard this update).

        Parameters
        ----------
        X : {{array-like, sparse matrix}} of shape (n_samples, n_features)
            The input data.
        y : {y_type}
            {y_text}
        sample_weight : array-like of shape (n_samples,), default=None
            Weights of the samples.
{extra}
        Returns
        -------
        self : object
            The updated estimator.
        """


def _param_doc(extra=""):
    return f"""
    Parameters
    ----------
{extra}    hidden_layer_sizes, activation, solver, alpha, batch_size, \
learning_rate, learning_rate_init, power_t, max_iter, shuffle, random_state, \
tol, verbose, warm_start, momentum, nesterovs_momentum, early_stopping, \
validation_fraction, beta_1, beta_2, epsilon, n_iter_no_change, max_fun
        As in the parent. With ``early_stopping=True`` the parent trains on
        a split of the rows; the unlearning objective covers all of them. A
        ``numpy.random.RandomState`` as ``random_state`` gives ``fit`` and
        ``partial_fit`` one seed each, drawn from it, for a generator of
        their own: the object moves by one draw a call, not by the epochs
        the training ran (which depend on rows a request may erase), and
        a call that fails puts it back.
    keep_data : bool, default=True
        Whether ``fit`` keeps a copy of the training rows for the Hessian-
        vector products of the second-order update (see above).
"""


class UnlearnableMLPClassifier(UnlearnableMLPMixin, MLPClassifier):
    __doc__ = (
        """Multilayer perceptron classifier with approximate unlearning.

    A drop-in :class:`~sklearn.neural_network.MLPClassifier` (binary and
    multiclass; a multilabel model fits but cannot unlearn) with
    :meth:`unlearn`: a gradient step or a damped Newton step, solved with
    conjugate gradients on exact or Gauss-Newton Hessian-vector products,
    that moves the network towards a refit on corrected data.
"""
        + _SHARED_DOC
        + _param_doc()
        + """
    Attributes
    ----------
    classes_, loss_, best_loss_, loss_curve_, validation_scores_, \
best_validation_score_, t_, coefs_, intercepts_, n_features_in_, \
feature_names_in_, n_iter_, n_layers_, n_outputs_, out_activation_
        As in :class:`~sklearn.neural_network.MLPClassifier`.
    training_rows_ : TrainingRows or None
        The kept training rows (``X``, ``y``, ``sample_weight``), as
        corrected by the requests so far; ``None`` with
        ``keep_data=False``.
    unlearning_weight_total_ : float
        Total sample weight ``S`` of the current training data.
    unlearning_group_weights_, unlearning_group_counts_ : ndarray
        The exact sample weight of every class (its rounding, then the
        roundings of what is left, in columns) and its row count.
    unlearn_history_ : list of :class:`~sklearn_unlearn.base.RequestReport`
        What every request did: method, rows removed and added,
        conjugate-gradient iterations and stop reason, curvature, damping,
        time (the figures computed from its rows are in the report of
        ``plan_unlearn`` only).

    See Also
    --------
    sklearn.neural_network.MLPClassifier : The parent estimator.
    UnlearnableMLPRegressor : The regressor.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.datasets import load_digits
    >>> from sklearn_unlearn import UnlearnableMLPClassifier
    >>> X, y = load_digits(return_X_y=True)
    >>> X = X / 16.0
    >>> y_bad = y.copy()
    >>> y_bad[:200] = (y[:200] + 1) % 10          # 200 wrong labels
    >>> clf = UnlearnableMLPClassifier(hidden_layer_sizes=(32,), max_iter=100,
    ...                                random_state=0).fit(X, y_bad)
    >>> # repair the labels: same rows twice, corrected labels
    >>> clf = clf.unlearn(X[:200], X[:200], y_old=y_bad[:200], y_new=y[:200])
    >>> float(np.mean(clf.predict(X[:200]) == y[:200])) > 0.9
    True
    """
    )

    _parameter_constraints: dict = {
        **MLPClassifier._parameter_constraints,
        "keep_data": ["boolean"],
    }

    def __init__(
        self,
        *,
        hidden_layer_sizes=(100,),
        activation="relu",
        solver="adam",
        alpha=0.0001,
        batch_size="auto",
        learning_rate="constant",
        learning_rate_init=0.001,
        power_t=0.5,
        max_iter=200,
        shuffle=True,
        random_state=None,
        tol=1e-4,
        verbose=False,
        warm_start=False,
        momentum=0.9,
        nesterovs_momentum=True,
        early_stopping=False,
        validation_fraction=0.1,
        beta_1=0.9,
        beta_2=0.999,
        epsilon=1e-8,
        n_iter_no_change=10,
        max_fun=15000,
        keep_data=True,
    ):
        super().__init__(
            hidden_layer_sizes=hidden_layer_sizes,
            activation=activation,
            solver=solver,
            alpha=alpha,
            batch_size=batch_size,
            learning_rate=learning_rate,
            learning_rate_init=learning_rate_init,
            power_t=power_t,
            max_iter=max_iter,
            shuffle=shuffle,
            random_state=random_state,
            tol=tol,
            verbose=verbose,
            warm_start=warm_start,
            momentum=momentum,
            nesterovs_momentum=nesterovs_momentum,
            early_stopping=early_stopping,
            validation_fraction=validation_fraction,
            beta_1=beta_1,
            beta_2=beta_2,
            epsilon=epsilon,
            n_iter_no_change=n_iter_no_change,
            max_fun=max_fun,
        )
        self.keep_data = keep_data

    @_fit_context(prefer_skip_nested_validation=True)
    @fit_serialised
    def fit(self, X, y, sample_weight=None, fingerprint_key=None):
        """Fit the network with the parent's solver and keep what unlearning needs.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Training data.
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
            Target labels (a label indicator matrix for multilabel).
        sample_weight : array-like of shape (n_samples,), default=None
            Weights of the samples.
        fingerprint_key : bytes, default=None
            A secret key: keep keyed fingerprints of the training rows
            (``row_fingerprints_``), against which requests are checked.

        Returns
        -------
        self : object
            The fitted estimator.
        """
        return self._fit_unlearnable(super().fit, X, y, sample_weight, fingerprint_key)

    def partial_fit(self, X, y, sample_weight=None, classes=None):
        check_training_weights(sample_weight, X)
        with self._training():
            super().partial_fit(X, y, sample_weight=sample_weight, classes=classes)
            self._rename_trained_state()
        return self

    partial_fit.__doc__ = _partial_fit_doc("array-like of shape (n_samples,)",
                                           "The target labels.", """\
        classes : array of shape (n_classes,), default=None
            Classes across all calls to ``partial_fit``; required on the
            first call.
""")
    partial_fit = available_if(_stochastic_solver)(fit_serialised(partial_fit))

    def _stored_targets(self, y):
        y = np.asarray(y)
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=False)
        return y.copy()

    def _encode_targets(self, y):
        return np.asarray(self._label_binarizer.transform(y), dtype=np.float64)

    def _target_groups(self, y):
        if np.ndim(y) != 1:
            # multilabel: its requests are refused (one label per row)
            return np.zeros(len(y), dtype=np.intp), 1
        return np.searchsorted(self.classes_, y), len(self.classes_)

    def _group_name(self, g):
        return f"class {plain(self.classes_[g])!r}"

    def _check_unlearnable_model(self):
        if self._label_binarizer.y_type_ == "multilabel-indicator":
            raise ValueError(
                "UnlearnableMLPClassifier cannot unlearn a multilabel model: "
                "requests take one class label per row. Retrain instead."
            )


class UnlearnableMLPRegressor(UnlearnableMLPMixin, MLPRegressor):
    __doc__ = (
        """Multilayer perceptron regressor with approximate unlearning.

    A drop-in :class:`~sklearn.neural_network.MLPRegressor` (squared error or
    Poisson loss, single or multiple targets) with :meth:`unlearn`: a
    gradient step or a damped Newton step, solved with conjugate gradients
    on exact or Gauss-Newton Hessian-vector products, that moves the network
    towards a refit on corrected data.
"""
        + _SHARED_DOC
        + _param_doc(
            """    loss : {"squared_error", "poisson"}, default="squared_error"
        As in the parent: half squared error (summed over the targets in the
        gradient) or half Poisson deviance with an exponential output.
"""
        )
        + """
    Attributes
    ----------
    loss_, best_loss_, loss_curve_, validation_scores_, \
best_validation_score_, t_, coefs_, intercepts_, n_features_in_, \
feature_names_in_, n_iter_, n_layers_, n_outputs_, out_activation_
        As in :class:`~sklearn.neural_network.MLPRegressor`.
    training_rows_ : TrainingRows or None
        The kept training rows (``X``, ``y`` of shape (n, n_outputs),
        ``sample_weight``), as corrected by the requests so far; ``None``
        with ``keep_data=False``.
    unlearning_weight_total_ : float
        Total sample weight ``S`` of the current training data.
    unlearning_group_weights_, unlearning_group_counts_ : ndarray of shape (1, m), (1,)
        The exact sample weight of the data (its rounding, then the
        roundings of what is left) and its row count.
    unlearn_history_ : list of :class:`~sklearn_unlearn.base.RequestReport`
        What every request did (as the classifier's).

    See Also
    --------
    sklearn.neural_network.MLPRegressor : The parent estimator.
    UnlearnableMLPClassifier : The classifier.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.datasets import make_regression
    >>> from sklearn_unlearn import UnlearnableMLPRegressor
    >>> X, y = make_regression(n_samples=300, n_features=5, noise=1.0,
    ...                        random_state=0)
    >>> y = y / y.std()
    >>> reg = UnlearnableMLPRegressor(hidden_layer_sizes=(16,), solver="lbfgs",
    ...                               max_iter=500, random_state=0).fit(X, y)
    >>> reg = reg.unlearn(X[:30], None, y[:30])   # delete thirty rows
    >>> reg.training_rows_.n_rows
    270
    >>> reg.score(X[30:], y[30:]) > 0.95
    True
    """
    )

    _parameter_constraints: dict = {
        **MLPRegressor._parameter_constraints,
        "keep_data": ["boolean"],
    }

    def __init__(
        self,
        *,
        loss="squared_error",
        hidden_layer_sizes=(100,),
        activation="relu",
        solver="adam",
        alpha=0.0001,
        batch_size="auto",
        learning_rate="constant",
        learning_rate_init=0.001,
        power_t=0.5,
        max_iter=200,
        shuffle=True,
        random_state=None,
        tol=1e-4,
        verbose=False,
        warm_start=False,
        momentum=0.9,
        nesterovs_momentum=True,
        early_stopping=False,
        validation_fraction=0.1,
        beta_1=0.9,
        beta_2=0.999,
        epsilon=1e-8,
        n_iter_no_change=10,
        max_fun=15000,
        keep_data=True,
    ):
        super().__init__(
            loss=loss,
            hidden_layer_sizes=hidden_layer_sizes,
            activation=activation,
            solver=solver,
            alpha=alpha,
            batch_size=batch_size,
            learning_rate=learning_rate,
            learning_rate_init=learning_rate_init,
            power_t=power_t,
            max_iter=max_iter,
            shuffle=shuffle,
            random_state=random_state,
            tol=tol,
            verbose=verbose,
            warm_start=warm_start,
            momentum=momentum,
            nesterovs_momentum=nesterovs_momentum,
            early_stopping=early_stopping,
            validation_fraction=validation_fraction,
            beta_1=beta_1,
            beta_2=beta_2,
            epsilon=epsilon,
            n_iter_no_change=n_iter_no_change,
            max_fun=max_fun,
        )
        self.keep_data = keep_data

    @_fit_context(prefer_skip_nested_validation=True)
    @fit_serialised
    def fit(self, X, y, sample_weight=None, fingerprint_key=None):
        """Fit the network with the parent's solver and keep what unlearning needs.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Training data.
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
            Target values.
        sample_weight : array-like of shape (n_samples,), default=None
            Weights of the samples.
        fingerprint_key : bytes, default=None
            A secret key: keep keyed fingerprints of the training rows
            (``row_fingerprints_``), against which requests are checked.

        Returns
        -------
        self : object
            The fitted estimator.
        """
        return self._fit_unlearnable(super().fit, X, y, sample_weight, fingerprint_key)

    def partial_fit(self, X, y, sample_weight=None):
        check_training_weights(sample_weight, X)
        with self._training():
            super().partial_fit(X, y, sample_weight=sample_weight)
            self._rename_trained_state()
        return self

    partial_fit.__doc__ = _partial_fit_doc(
        "array-like of shape (n_samples,) or (n_samples, n_outputs)", "The target values.")
    partial_fit = available_if(_stochastic_solver)(fit_serialised(partial_fit))

    def _unlearn_n_targets(self):
        # None: the model was fitted on one target (1-D y), as validate_request expects.
        return None if self.n_outputs_ == 1 else self.n_outputs_

    def _stored_targets(self, y):
        y = np.asarray(y, dtype=np.float64)
        return y.reshape(y.shape[0], -1).copy()

    def _encode_targets(self, y):
        y = np.asarray(y, dtype=np.float64)
        return y.reshape(y.shape[0], -1)

    def _check_unlearn_targets(self, request):
        if self.loss == "poisson" and request.y_new is not None and np.any(request.y_new < 0):
            raise ValueError(
                "y_new has negative values: the Poisson loss needs non-negative "
                "targets."
            )
