"""Unlearning shared by the multilayer perceptrons: the update and its state.

The objective
-------------
scikit-learn's MLPs minimise the **mean** loss plus an L2 penalty that is also
divided by the total sample weight (``_backprop`` in
``sklearn/neural_network/_multilayer_perceptron.py``)::

    J(theta; D) = (1 / S) * [ sum_i s_i loss_i(theta) + (alpha / 2) sum_l ||W_l||_F^2 ]

with ``S = sum_i s_i`` (``S = n`` without sample weights) and the intercepts
not penalised. The gradient scikit-learn follows is exactly ``grad J`` (this
is tested against ``_backprop``). ``loss_i`` is the half squared error summed
over the outputs (the reported ``loss_`` also averages over the outputs, the
gradient does not; both agree for one output), the half Poisson deviance, the
binary log loss summed over the output units, or the multinomial log loss.

A request turns ``D`` into ``D~ = (D minus Z) plus Z~`` with total weight
``S~ = S - sum_Z s + sum_Z~ s``. The corrected objective is ``J(theta; D~)``,
normalised by ``S~``: after a deletion the penalty weighs relatively more,
exactly as in a refit on ``D~``. Every quantity of the update is taken on this
corrected objective:

    G  = grad J(theta; D~)
    H~ = (1 / S~) [ sum_{D~} s_i Hess loss_i + alpha * P ]    (P: 1 on weights, 0 on intercepts)

- ``first_order``:  ``theta_new = theta - tau * G``
- ``second_order``: ``theta_new = theta - (H~ + damping * I)^{-1} G``, solved by
  conjugate gradients with Hessian-vector products (no matrix is formed).

``damping`` is in the units of the mean objective ``J``, so the same value
suits any number of rows. Note that ``G`` includes what the optimiser left
of the gradient on ``D`` (``grad J(theta; D)`` is not zero after a stochastic
solver stops), so the step also finishes that part of the optimisation.
"""

import contextlib
import copy
import time
from numbers import Integral, Real

import numpy as np
import scipy.sparse as sp
from sklearn.neural_network._multilayer_perceptron import BaseMultilayerPerceptron
from sklearn.utils import check_array

from .._locks import held_read
from .._report import RequestReport
from .._request import check_method, check_tau, check_training_weights
from .._training_rows import KeptRowsMixin, TrainingRows
from .._warnings import warn_caller
from ..base import UnlearnerMixin, UnlearnTags
from ..solvers import UnlearningWarning
from ..solvers._weight_totals import remaining, stacked, summed
from ..solvers.bounds._roundoff import norm_up
from ._hvp import MeanObjective, MLPFunction, MLPLayout, outputs_overflow
from ._random_state import one_draw_per_training
from ._step import damped_step, remedy
from ._trajectory import fresh_training_state

MLP_UNLEARN_METHODS = ("second_order", "first_order")
CURVATURES = ("gauss_newton", "exact")

#: Halvings of a request's step tried before the network is left where it
#: was, and Armijo's fraction of the decrease the slope promises.
_HALVINGS = 30
_ARMIJO = 1e-4


#: A step that grows the corrected objective's gradient warns when it moves
#: the parameters by more than this share of their norm.
_STEP_RTOL = 1e-2

#: Why a request whose corrected rows' total sample weight overflows is refused.
_WEIGHT_OVERFLOW = ("The corrected training rows' total sample weight overflows "
                    "float64: the model is unchanged. Rescale the sample weights.")


class UnlearnableMLPMixin(KeptRowsMixin, UnlearnerMixin):
    """Approximate unlearning for scikit-learn's multilayer perceptrons (mixin).

    Mixed into a subclass of ``MLPClassifier`` or ``MLPRegressor``. ``fit``
    (of the subclass) calls :meth:`_fit_unlearning_state` after the parent's
    solver; :meth:`unlearn` moves the parameters to approximate a refit on
    the corrected data. No certificate exists: the objective is not convex.
    """

    # every prediction reads coefs_ and intercepts_ through it
    _forward_pass_fast = held_read(BaseMultilayerPerceptron._forward_pass_fast)

    # -- fit -------------------------------------------------------------------
    @contextlib.contextmanager
    def _training(self):
        """A call of the parent's solver: one draw of a caller's random state
        (:func:`~._random_state.one_draw_per_training`), on copies of the
        fitted state it updates in place (:meth:`_train_on_copies`)."""
        with one_draw_per_training(self):
            self._train_on_copies()
            yield

    def _fit_unlearnable(self, parent_fit, X, y, sample_weight, fingerprint_key):
        """``fit``: the parent's (``parent_fit``), then the unlearning state
        and the rows' fingerprints."""
        self._check_fit_arguments(X, sample_weight, fingerprint_key)
        with self._training():
            parent_fit(X, y, sample_weight=sample_weight)
            self._fit_unlearning_state(X, y, sample_weight)
            self._keep_row_fingerprints(X, y, sample_weight, fingerprint_key)
        return self

    def _fit_unlearning_state(self, X, y, sample_weight):
        X = check_array(X, accept_sparse="csr", dtype=np.float64, copy=True)
        if sp.issparse(X):
            X = X.tocsr()
        sw = np.array(check_training_weights(sample_weight, X), copy=True)
        y = self._stored_targets(y)
        self.unlearning_weight_total_ = float(sw.sum())
        # the rows' count and exact weight per class (one group for a
        # regressor), kept without the rows: what a request leaves is checked
        groups, n_groups = self._target_groups(y)
        totals, residue = summed(groups, sw, n_groups)
        self.unlearning_group_weights_ = stacked(totals, residue)
        self.unlearning_group_counts_ = np.bincount(groups, minlength=n_groups).astype(float)
        self.training_rows_ = (
            TrainingRows(X, y, sw) if self.keep_data else None
        )
        self.unlearn_history_ = []
        self._new_unlearn_state()

    def _train_on_copies(self):
        """Give the parent's solver copies of the fitted state it updates in
        place (a warm start's or ``partial_fit``'s weights, the optimiser's
        moments, the loss curve), made at the start of a training call: the
        attributes saved before the call (see
        :func:`~sklearn_unlearn._locks.fit_serialised`) keep the originals,
        so a call that fails leaves the network as it was, weights included.
        The hyper-parameters (a caller's ``RandomState``) and what the solver
        never writes (the kept rows, their fingerprints) are not copied."""
        params = set(self._get_param_names())
        trained = {k: v for k, v in vars(self).items()
                   if k not in params and k not in ("training_rows_", "row_fingerprints_")}
        # one deep copy: the optimiser's parameters stay the weights' copies
        self.__dict__.update(copy.deepcopy(trained))

    def _detached_state(self, state):
        # training (partial_fit, a warm-started fit) updates the weights and
        # the optimiser's moments in place: a copy or a file takes its own,
        # under the lock, or it would read them while the next call writes
        rows = {k: state.pop(k) for k in ("training_rows_",) if k in state}
        return super()._detached_state({**copy.deepcopy(state), **rows})

    # -- hooks for the two subclasses -----------------------------------------
    def _stored_targets(self, y):  # pragma: no cover
        """Targets in the form kept with the rows and compared on deletion."""
        raise NotImplementedError

    def _encode_targets(self, y):  # pragma: no cover
        """Targets in the network's output encoding, float (n, n_outputs)."""
        raise NotImplementedError

    def _target_groups(self, y):
        """The group of each of the stored targets ``y`` (its class for a
        classifier) and the number of groups."""
        return np.zeros(len(y), dtype=np.intp), 1

    def _group_name(self, g):
        """What group ``g`` is, for messages."""
        return "the training data"

    def _check_unlearnable_model(self):
        """Refuse models whose requests cannot be expressed (e.g. multilabel)."""

    def _check_unlearn_targets(self, request):
        """Refuse corrected targets the loss does not accept."""

    # -- unlearn ---------------------------------------------------------------
    def unlearn(
        self, X_old, X_new, y_old=None, y_new=None, *, sample_weight=None,
        fingerprint_key=None, method="second_order", tau="auto", damping=1e-2,
        curvature="gauss_newton", cg_tol=1e-2, cg_max_iter=100,
    ):
        """Move the network towards where retraining on the corrected data would put it.

        The training data ``D`` becomes ``(D minus the rows X_old) plus the
        rows X_new``, and the parameters take one step on the corrected
        objective ``J(theta; D~)`` (mean loss plus ``alpha / (2 S~)`` times the
        squared weights, ``S~`` the corrected total sample weight). The model
        is not convex: the step is an approximation **without any
        certificate**, and there is no ``residual_bound_``. With the training
        rows kept (``keep_data=True``) a step of the method's own length
        (second order, or ``tau="auto"``) is shortened by halves until it
        lowers the corrected objective on them (Armijo's condition; when no
        length does, the network is left where it was, with a warning), and
        the report of :meth:`plan_unlearn` has the measured gradient norm of
        the corrected objective before and after (the history keeps what the
        request did, not figures computed from its rows: see
        :meth:`~sklearn_unlearn.base.RequestReport.kept`).

        Parameters
        ----------
        X_old : {array-like, sparse matrix} of shape (k, n_features) or None
            The affected rows as they were trained on (after earlier
            requests). ``None`` inserts ``X_new`` as new rows. With the rows
            kept, each must match a kept row exactly, with its target and
            weight.
        X_new : {array-like, sparse matrix} of shape (k, n_features) or None
            The same rows as they should be (row ``i`` corrects row ``i`` of
            ``X_old``). ``None`` deletes the rows of ``X_old``.
        y_old : array-like of shape (k,) or (k, n_outputs), default=None
            Targets of ``X_old`` as trained on. Required unless inserting.
        y_new : array-like of shape (k,) or (k, n_outputs), default=None
            Corrected targets; ``None`` keeps ``y_old``.
        sample_weight : array-like of shape (k,), default=None
            Training weights of the affected rows (a corrected row keeps its
            weight). ``None`` means weight 1.
        fingerprint_key : bytes, default=None
            The key the model was fitted with, if any: the rows of ``X_old``
            must then be training rows (:class:`~sklearn_unlearn.base.MissingRowsError`).
        method : {"second_order", "first_order"}, default="second_order"
            ``"second_order"``: ``theta - (H~ + damping I)^{-1} G``, with
            ``G`` and ``H~`` the gradient and Hessian of the corrected
            objective at the current parameters, solved by conjugate
            gradients on Hessian-vector products. ``"first_order"``:
            ``theta - tau G``.
        tau : float or "auto", default="auto"
            Rate of the first-order step, in the units of the mean objective.
            ``"auto"`` minimises the damped quadratic model along ``G``:
            ``tau = G^T G / G^T (H~ + damping I) G`` (one Hessian-vector
            product; needs the kept rows). Without kept rows pass a number.
        damping : float, default=1e-2
            ``lambda`` added to the Hessian of the mean objective. The
            Hessian of a network is indefinite and nearly singular at the
            end of training; damping keeps the step bounded (a large damping
            turns the step into a gradient step of rate ``1 / damping``).
        curvature : {"gauss_newton", "exact"}, default="gauss_newton"
            Curvature used in ``H~``. ``"exact"``: the exact Hessian by the
            R-operator (forward and backward pass of directional
            derivatives). ``"gauss_newton"``: the generalised Gauss-Newton
            matrix ``J^T H_out J`` (the exact Hessian less the terms weighted
            by the output residuals), positive semi-definite, so conjugate
            gradients cannot meet negative curvature. With the exact Hessian,
            a request whose damped Hessian shows negative curvature is refused
            (raise ``damping`` or use ``"gauss_newton"``). Both include the
            penalty ``alpha / S~`` on the weights.
        cg_tol : float, default=1e-2
            Conjugate gradients stop when ``||G - (H~ + lambda I) x|| <=
            cg_tol ||G||``.
        cg_max_iter : int, default=100
            Limit of conjugate-gradient iterations (one Hessian-vector
            product each, about three passes over the kept rows).

        Returns
        -------
        self : object
            The updated estimator. On any error (a KeyboardInterrupt
            included) it is left exactly as it was: the new state is built
            first and swapped in with one update of the attributes. An
            interrupt that arrives after that is raised once the request is
            complete, with a note that it was applied.

        Notes
        -----
        **What stays.** When ``unlearn`` returns, the erased rows and the old
        values of edited rows are gone from every attribute: the kept rows
        are new arrays holding ``D~`` only (nothing is left pending), the
        history records figures, never rows (functions of them, see
        :ref:`persistence`), and what the training on the
        old data left beside the parameters is replaced: the stochastic
        optimiser (adam's moment estimates, sgd's velocities, running
        averages of mini-batch gradients of the erased rows) starts afresh
        at the new parameters, so a later ``partial_fit`` continues from
        them with new moments, and early stopping's copy of the best
        parameters (the model before the request) becomes the new
        parameters. The record of the fit goes too: ``loss_curve_``,
        ``best_loss_``, the validation scores, ``n_iter_``, ``t_`` and the
        random state are those of a training about to start (an empty
        curve, no iteration), and ``loss_`` is ``None``, since the fit's
        losses were sums over the erased rows, from which a replay of the
        fit on the kept rows recovers one (and the epochs it ran depend on
        them). The parameters themselves
        are the approximate update: they are not a refit and keep what the
        step cannot undo (see the class's *Limits*).

        **Threads.** Concurrent calls on one estimator serialise (a lock per
        estimator, not saved with it): the result is that of the requests
        in the order they took the lock.

        Examples
        --------
        >>> import numpy as np
        >>> from sklearn.datasets import load_digits
        >>> from sklearn_unlearn import UnlearnableMLPClassifier
        >>> X, y = load_digits(return_X_y=True)
        >>> X = X / 16.0
        >>> net = UnlearnableMLPClassifier(hidden_layer_sizes=(16,), max_iter=50,
        ...                                random_state=0).fit(X[:500], y[:500])
        >>> net = net.unlearn(X[:5], None, y[:5])   # forget five rows
        >>> net.training_rows_.n_rows
        495
        """
        return super().unlearn(
            X_old, X_new, y_old, y_new, sample_weight=sample_weight,
            fingerprint_key=fingerprint_key, method=method, tau=tau, damping=damping,
            curvature=curvature, cg_tol=cg_tol, cg_max_iter=cg_max_iter,
        )

    def _unlearn_options(
        self, method="second_order", tau="auto", damping=1e-2, curvature="gauss_newton",
        cg_tol=1e-2, cg_max_iter=100,
    ):
        if not hasattr(self, "unlearning_weight_total_"):
            raise ValueError(
                "This model has no unlearning state: it was trained with "
                "partial_fit only. Train it with fit to unlearn."
            )
        check_method(self, method, MLP_UNLEARN_METHODS)
        self._check_unlearnable_model()
        check_tau(tau)
        if not (isinstance(damping, Real) and np.isfinite(damping) and damping >= 0):
            raise ValueError(f"damping must be a non-negative number, got {damping!r}.")
        if curvature not in CURVATURES:
            raise ValueError(
                f"curvature must be one of {list(CURVATURES)}, got {curvature!r}.")
        if not (isinstance(cg_tol, Real) and cg_tol > 0):
            raise ValueError(f"cg_tol must be a positive number, got {cg_tol!r}.")
        if not (isinstance(cg_max_iter, Integral) and cg_max_iter >= 1):
            raise ValueError(f"cg_max_iter must be a positive integer, got {cg_max_iter!r}.")
        if self.training_rows_ is None:
            if method == "second_order":
                raise ValueError(
                    "method='second_order' needs Hessian-vector products of the "
                    "training objective, but the model was fitted with "
                    "keep_data=False and kept no rows. Use "
                    "method='first_order' with a numeric tau, or fit with "
                    "keep_data=True."
                )
            if tau == "auto":
                raise ValueError(
                    "tau='auto' needs a Hessian-vector product of the training "
                    "objective, but the model was fitted with "
                    "keep_data=False and kept no rows. Pass a numeric "
                    "tau, or fit with keep_data=True."
                )
        return {"method": method, "tau": tau, "damping": float(damping),
                "curvature": curvature, "cg_tol": float(cg_tol),
                "cg_max_iter": int(cg_max_iter)}

    def _published_parameters(self, attributes):
        return [*attributes["coefs_"], *attributes["intercepts_"]]

    def _unlearn_tags(self):
        return UnlearnTags(convex=False, keeps_data=self.keep_data,
                           methods=MLP_UNLEARN_METHODS)

    def _network(self, layout, X, y, s, theta):
        return MLPFunction(
            layout, self.activation, self.out_activation_, X,
            self._encode_targets(y), s, theta,
        )

    def _outputs_overflow(self, X, coefs, intercepts):
        return outputs_overflow(self.activation, self.out_activation_, X,
                                coefs, intercepts)

    def _unlearned_state(
        self, request, *, method, tau, damping, curvature, cg_tol, cg_max_iter
    ):
        """The attributes of the state after ``request`` and its report
        (nothing is changed)."""
        self._check_unlearn_targets(request)
        start = time.perf_counter()
        layout = MLPLayout.from_coefs(self.coefs_)
        theta = layout.pack(self.coefs_, self.intercepts_)
        rows, data, weight_total, groups = self._corrected_rows(request)
        objective, G = self._corrected_gradient(layout, theta, request, data,
                                                weight_total)
        # a step too long overflows somewhere below: each result is checked
        # and the request refused, so numpy need not warn of it
        with np.errstate(over="ignore", invalid="ignore"):
            step, tau_used, cg = damped_step(
                objective, G, method=method, tau=tau, damping=damping,
                gauss_newton=curvature == "gauss_newton", curvature=curvature,
                cg_tol=cg_tol, cg_max_iter=cg_max_iter)
            # a step of the method's own length (a numeric tau is the
            # caller's) is shortened until it lowers the corrected objective:
            # tried first, as a shorter step can keep the outputs finite
            own_length = objective is not None and (
                method == "second_order" or tau == "auto")
            # the parameters taken and the corrected objective there
            found = (self._descending(layout, data, weight_total, objective, theta,
                                      step, G) if own_length else None)
            theta_new = theta - step if found is None else found[0]
            step_norm = float(norm_up(theta - theta_new))
            # the model publishes its parameters in its own dtype (float32
            # overflows at about 3.4e38): those are the ones checked
            coefs, intercepts = layout.unpack(theta_new)
            new_coefs = [c.astype(old.dtype, copy=True)
                         for c, old in zip(coefs, self.coefs_)]
            new_intercepts = [b.astype(old.dtype, copy=True)
                              for b, old in zip(intercepts, self.intercepts_)]
        if not (np.isfinite(step_norm)
                and all(np.isfinite(p).all() for p in new_coefs + new_intercepts)):
            raise ValueError(
                "The update produced non-finite parameters; the model is "
                f"unchanged. {remedy(method, tau)}"
            )
        # Finite parameters may still overflow the network's outputs. With
        # the rows kept they are checked on all of them; without, on the
        # request's rows, the only ones at hand.
        checked = ([data[0]] if data is not None else
                   [X for X in (request.X_old, request.X_new) if X is not None])
        if any(self._outputs_overflow(X, new_coefs, new_intercepts) for X in checked):
            where = "training rows" if data is not None else "rows of the request"
            # rows the current network overflows on (as its gradient can
            # hide) are refused whatever the step: say so, not to shorten it
            if any(self._outputs_overflow(X, self.coefs_, self.intercepts_)
                   for X in checked):
                raise ValueError(
                    f"The network's outputs are not finite on the {where} (they "
                    "overflow) at the current parameters already; the model is "
                    "unchanged. Scale the features, or retrain."
                )
            raise ValueError(
                f"The network's outputs are not finite on the {where} at the "
                f"updated parameters (they overflow); the model is unchanged. "
                f"{remedy(method, tau)}"
            )
        if own_length and found is None:
            # no length lowers it, and the full step is finite: the network
            # stays where it is (at a kink of relu units, say, or for a
            # request that changes nothing)
            warn_caller(UnlearningWarning(
                f"No length of the request's step, down to 2**-{_HALVINGS - 1} of "
                "it, lowers the corrected objective on the kept rows: the network "
                "is left where it was (the request's rows are taken out of, or "
                "into, the kept rows all the same). Retrain on the corrected data "
                "if the request should move it."))
            step_norm = 0.0
            new_coefs = [c.copy() for c in self.coefs_]
            new_intercepts = [b.copy() for b in self.intercepts_]
            found = (theta, objective)
        grad_after = None
        if data is not None:
            with np.errstate(over="ignore", invalid="ignore"):
                # the line search's objective where it stopped, if any
                after = found[1] if found is not None else MeanObjective(
                    self._network(layout, *data, layout.pack(new_coefs, new_intercepts)),
                    self.alpha, weight_total,
                )
                grad_after = float(norm_up(after.gradient()))
            if not np.isfinite(grad_after):
                raise ValueError(
                    "The corrected objective's gradient is not finite at the "
                    "updated parameters (an output overflows); the model is "
                    f"unchanged. {remedy(method, tau)}"
                )
        size = float(norm_up(theta))
        # (a negligible step that grows the gradient is no sign: a network
        # fitted short of its optimum, or one row of 1,000 deleted)
        grew = (grad_after is not None and rows is not None
                and grad_after > float(norm_up(G)) and step_norm > _STEP_RTOL * size)
        if grew or step_norm > size:
            # the objective fell, but the step left the region its model of
            # the loss holds in (label repairs of 10 rows of 150 took a
            # network's accuracy from 0.93 to 0.49 and 0.61, with its gradient
            # grown or a step of 3.6 times the parameters' norm; a refit's
            # stayed 0.93-0.95)
            warn_caller(UnlearningWarning(
                "The request's step "
                + ("leaves the corrected objective's gradient on the kept rows "
                   "larger than before it" if grew else
                   "is longer than the parameters' norm")
                + ": the network may have moved far from where retraining would "
                "put it (the loss is not convex). Check the model on the corrected "
                "data, or retrain."))
        matrix_free = method == "second_order" or tau == "auto"
        report = RequestReport(
            method=method,
            n_removed=0 if request.X_old is None else request.X_old.shape[0],
            n_added=0 if request.X_new is None else request.X_new.shape[0],
            tau=tau_used, n_iter=1, step_norm=step_norm,
            gradient_norm=None if rows is None else float(norm_up(G)),
            residual_estimate=grad_after, bound_increment=np.inf, residual_bound=np.inf,
            curvature=curvature if matrix_free else None,
            damping=damping if matrix_free else None,
            cg_iterations=None if cg is None else cg.n_iter,
            cg_status=None if cg is None else cg.status,
            cg_relative_residual=None if cg is None else cg.relative_residual,
            seconds=time.perf_counter() - start,
        )
        state = {
            "coefs_": new_coefs,
            "intercepts_": new_intercepts,
            "training_rows_": rows,
            "unlearning_weight_total_": float(weight_total),
            "unlearning_group_weights_": groups[0],
            "unlearning_group_counts_": groups[1],
            "unlearn_history_": [*self.unlearn_history_, report.kept()],
        }
        state.update(fresh_training_state(self, new_coefs, new_intercepts))
        return state, report

    def _descending(self, layout, data, weight_total, objective, theta, step, G):
        """The published parameters ``theta - t step`` for the first of ``t =
        1, 1/2, ...`` that lowers the corrected objective (Armijo's condition
        along the slope ``G . step``, up to the objective's rounding), with
        the objective there, or ``None`` when none of :data:`_HALVINGS`
        lengths does: a full step can overshoot far (a label repair of 20
        rows took a network from 0.44 to 27.1, its accuracy from 0.97 to
        0.22, silently)."""
        start = objective.value()
        slope = float(G @ step)
        allowance = 64 * np.finfo(np.float64).eps * abs(start)
        t = 1.0
        for _ in range(_HALVINGS):
            coefs, intercepts = layout.unpack(theta - t * step)
            candidate = layout.pack(
                [c.astype(old.dtype) for c, old in zip(coefs, self.coefs_)],
                [b.astype(old.dtype) for b, old in zip(intercepts, self.intercepts_)])
            there = MeanObjective(self._network(layout, *data, candidate), self.alpha,
                                  weight_total)
            if there.value() <= start - _ARMIJO * t * max(slope, 0.0) + allowance:
                return candidate, there
            t /= 2
        return None

    def _corrected_rows(self, request):
        """The kept rows after the request (``None`` when none are kept), as
        an edit of the kept ones and as new arrays ``(X, y, sample_weight)``,
        and the corrected total weight."""
        sw = request.sample_weight
        n_old = 0 if request.X_old is None else request.X_old.shape[0]
        n_new = 0 if request.X_new is None else request.X_new.shape[0]
        groups = self._remaining_groups(request, n_old, n_new)
        weight_total = float(np.sum(groups[0]))
        kept = self.training_rows_
        rows = data = None
        if kept is not None:
            drop = (
                kept.locate(request.X_old, self._stored_targets(request.y_old), sw)
                if n_old else np.zeros(0, dtype=np.intp)
            )
            rows = kept.edited(
                drop, request.X_new,
                self._stored_targets(request.y_new) if n_new else None,
                sw if n_new else None,
            )
            data = rows.materialised()
            with np.errstate(over="ignore"):
                weight_total = float(np.sum(data[2]))
            if not np.isfinite(weight_total):
                raise ValueError(_WEIGHT_OVERFLOW)
        return rows, data, weight_total, groups

    def _remaining_groups(self, request, n_old, n_new):
        """The exact weight per group (a table of parts, see
        :func:`~sklearn_unlearn.solvers._weight_totals.exact_parts`) and the
        row count per group after the request, refused where it takes more
        than a group holds or empties a class."""
        sw = request.sample_weight
        empty = np.zeros(0, dtype=np.intp)
        g_old = (self._target_groups(self._stored_targets(request.y_old))[0]
                 if n_old else empty)
        g_new = (self._target_groups(self._stored_targets(request.y_new))[0]
                 if n_new else empty)
        weights = self.unlearning_group_weights_
        counts = self.unlearning_group_counts_
        after = remaining(weights[:, 0], weights[:, 1:] if weights.shape[1] > 1 else None,
                          counts, g_old, sw if n_old else sw[:0], g_new,
                          sw if n_new else sw[:0])
        # exact sums: no slack, which a heavy class would lend a light one
        for g in range(len(counts)):
            if after.totals[g] < 0 or after.counts[g] < 0:
                raise ValueError(
                    f"The request removes more weight from {self._group_name(g)} "
                    f"than the model was trained on ({weights[g, 0]:.6g}). Check "
                    "that the rows, targets and sample_weight are those of the "
                    "training data. Nothing was changed.")
        with np.errstate(over="ignore"):
            total = float(np.sum(after.totals))
        if not np.isfinite(total):
            # each group's total may be finite where their sum is not
            raise ValueError(_WEIGHT_OVERFLOW)
        if not total > 0:
            raise ValueError(
                "The request removes all the training weight: the corrected "
                "objective is empty. Retrain instead."
            )
        for g in range(len(counts)):
            if after.counts[g] == 0 and counts[g] > 0 and len(counts) > 1:
                # a refit would drop the class from classes_; the network
                # keeps its output, which the erased rows' label would name
                raise ValueError(
                    f"The request removes every training row of {self._group_name(g)}: "
                    "a refit would no longer know the class, and the model cannot "
                    "drop it without retraining. Nothing was changed.")
        return stacked(after.totals, after.residue), after.counts

    def _corrected_gradient(self, layout, theta, request, data, weight_total):
        """The corrected objective (``None`` without kept rows) and its
        gradient at ``theta``."""
        sw = request.sample_weight
        # rows of huge values overflow the products: G is checked below
        with np.errstate(over="ignore", invalid="ignore"):
            if data is not None:
                objective = MeanObjective(
                    self._network(layout, *data, theta),
                    self.alpha, weight_total,
                )
                G = objective.gradient()
            else:
                # No rows kept: assume the fit was stationary on D, so that
                # S~ grad J(theta; D~) = sum_{Z~} s grad loss - sum_Z s grad loss.
                objective = None
                G = np.zeros(layout.n_params)
                if request.X_new is not None:
                    G += self._network(layout, request.X_new, request.y_new, sw,
                                       theta).gradient()
                if request.X_old is not None:
                    G -= self._network(layout, request.X_old, request.y_old, sw,
                                       theta).gradient()
                G /= weight_total
        if not np.all(np.isfinite(G)):
            raise ValueError(
                "The gradient of the corrected objective is not finite (a value "
                "of the rows or of the network's outputs overflows); the model "
                "is unchanged. Scale the features, or retrain."
            )
        return objective, G
