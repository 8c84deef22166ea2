"""The unlearning contract: what every unlearnable estimator implements.

An unlearnable estimator mixes :class:`UnlearnerMixin` in (left of its
scikit-learn parent) and implements three hooks: ``_unlearn_options`` (check
the options of a request), ``_unlearned_state`` (the attributes of the state
after a validated request, and its :class:`RequestReport`, computed without
changing anything) and ``_unlearn_tags`` (what it can do). The mixin defines
the verbs once:

- :meth:`~UnlearnerMixin.plan_unlearn` validates a request and returns an
  :class:`UnlearningPlan`, the update and its report, leaving the estimator
  as it was;
- :meth:`~UnlearnerMixin.apply_unlearn` swaps a plan's state in with one
  assignment (all or nothing, a KeyboardInterrupt included);
- :meth:`~UnlearnerMixin.unlearn` is both, under the estimator's lock.

Meta-estimators decide by :func:`get_unlearn_tags`, never by class names.
"""

import hashlib
import secrets
from dataclasses import dataclass, fields
from inspect import Parameter, signature

import numpy as np
from sklearn.utils.validation import check_is_fitted

from ._fingerprints import (MissingRowsError, check_key, fingerprint_training_rows,
                            fingerprints_after)
from ._locks import serialised
from ._params import params_text
from ._report import RequestReport
from ._request import check_sparse_structure, check_training_weights, validate_request
from ._tags import UnlearnerTags, UnlearnTags, get_unlearn_tags
from ._warnings import warn_caller

__all__ = [
    "MissingRowsError",
    "RequestReport",
    "UnlearnTags",
    "UnlearnerMixin",
    "UnlearnerTags",
    "UnlearningPlan",
    "get_unlearn_tags",
]


def _shallow_copy(estimator):
    """A new estimator sharing the attributes of ``estimator``: the copy a
    request with ``copy=True`` commits to, made holding its locks (not
    :func:`copy.copy`, which gives the copy what is written in place of its
    own, see :meth:`UnlearnerMixin.__getstate__`)."""
    new = object.__new__(type(estimator))
    new.__dict__.update(estimator.__dict__)
    return new


def _state_token(n_applied, parameters, lineage):
    """The name of one unlearning state of an estimator: the number of plans
    applied since the fit, a digest of the parameters the state publishes
    and the name of the fit the state descends from (``lineage``).

    A plan applies only to a state of the name it was planned on (copies and
    unpickled files of that state included); equal states reached by equal
    requests from one fit have equal names, and a name says nothing of
    earlier states (the lineage is drawn at random, see
    :func:`_new_lineage`).
    """
    digest = hashlib.sha256()
    for array in parameters:
        digest.update(np.ascontiguousarray(array).tobytes())
    return (n_applied, digest.hexdigest(), lineage)


def state_lineage(token):
    """The lineage of the state named ``token`` (the empty one for a state
    saved before names had a lineage)."""
    return (*token, "")[2]


def _new_lineage():
    """A random name for a fit, drawn anew by every fit: two fits, even two
    that make the same model, never share a state name, so a plan made
    before a refit is refused after it (the refit has rows, fingerprints
    and counts of its own, which the plan would replace)."""
    return secrets.token_hex(16)


@dataclass(frozen=True, eq=False, repr=False)
class UnlearningPlan:
    """The update of one request, computed and not applied.

    Made by :meth:`UnlearnerMixin.plan_unlearn`; applied by
    :meth:`UnlearnerMixin.apply_unlearn` to the state it was planned on
    (once applied, or after any other change of the estimator's unlearning
    state, a refit that makes the same model included, it is stale and
    refused). The plan holds the new state only; drop it when it is not
    applied.

    Attributes
    ----------
    report : RequestReport
        The figures the request would record (the residual bound it would
        reach, among them).

    Examples
    --------
    >>> from sklearn.datasets import load_diabetes
    >>> from sklearn_unlearn import UnlearnableRidge
    >>> X, y = load_diabetes(return_X_y=True)
    >>> reg = UnlearnableRidge().fit(X, y)
    >>> plan = reg.plan_unlearn(X[:3], None, y[:3])
    >>> plan.report.n_removed
    3
    >>> reg = reg.apply_unlearn(plan)
    >>> reg.apply_unlearn(plan)
    Traceback (most recent call last):
    ...
    ValueError: The plan was made on another state of this estimator ...
    """

    report: RequestReport
    _state: dict
    _base: tuple
    _name: tuple
    _settings: dict

    def __repr__(self):
        return f"UnlearningPlan(report={self.report!r})"


#: The option names of each ``_unlearn_options`` hook (read once: a request
#: checks its keywords against them every time).
_OPTION_NAMES = {}


class UnlearnerMixin:
    """The unlearning verbs, defined once for every unlearnable estimator.

    Subclasses implement ``_unlearn_options(**options)`` (returns the checked
    options, ``method`` among them; the verbs refuse a keyword its signature
    does not name, naming themselves), ``_unlearned_state(request, **options)``
    (returns the attributes of the new state and its report, changing
    nothing) and ``_unlearn_tags()``; they call ``_new_unlearn_state()`` at
    the end of ``fit``. Estimators that keep rows updated in place also
    implement ``_complete_unlearn(copied=...)``, run right after the swap,
    and the hooks of copies (``_detached_state``, ``_applicable_state``;
    :class:`~sklearn_unlearn._training_rows.KeptRowsMixin` has them all).
    The public methods validate; the hooks do the work.

    Examples
    --------
    >>> from sklearn.datasets import load_diabetes
    >>> from sklearn_unlearn import UnlearnableRidge
    >>> X, y = load_diabetes(return_X_y=True)
    >>> reg = UnlearnableRidge().fit(X, y)
    >>> plan = reg.plan_unlearn(X[:5], None, y[:5])   # nothing changes yet
    >>> plan.report.n_removed, len(reg.unlearn_history_)
    (5, 0)
    >>> reg = reg.apply_unlearn(plan)
    >>> len(reg.unlearn_history_)
    1
    """

    #: Whether requests' ``fingerprint_key`` goes to the final step (a
    #: pipeline: its final step keeps the fingerprints of the rows it sees)
    #: instead of being checked here.
    _forwards_fingerprints = False

    #: The name of the meta-estimator that owns this estimator (set on the
    #: instance by :class:`~sklearn_unlearn.certified.CertifiedRemoval`):
    #: requests that would change an owned estimator are refused.
    _unlearn_owner = None

    #: Hyper-parameters a request may find changed since the fit: they set
    #: how a fit or a request runs, not the model a fit makes. A change of
    #: any other is refused at the next request.
    _unlearn_free_params = frozenset(
        {"tol", "max_iter", "verbose", "n_jobs", "warm_start", "random_state", "copy_X"})

    # -- hooks -------------------------------------------------------------------
    def _unlearn_options(self, **options):  # pragma: no cover
        raise NotImplementedError

    def _unlearn_option_names(self):
        """The keywords of a request's options: those ``_unlearn_options``
        names (a meta-estimator that passes them on gives its inner
        estimator's)."""
        hook = type(self)._unlearn_options
        names = _OPTION_NAMES.get(hook)
        if names is None:
            kinds = (Parameter.POSITIONAL_OR_KEYWORD, Parameter.KEYWORD_ONLY)
            names = _OPTION_NAMES[hook] = [
                name for name, p in signature(self._unlearn_options).parameters.items()
                if p.kind in kinds]
        return list(names)

    def _unknown_option_hint(self, name):
        """What to do instead of passing ``name`` to a request: a parameter
        of the estimator (or, nested, of one of its parts) is set with
        ``set_params``; ``""`` otherwise."""
        params = [key for key in self.get_params(deep=True)
                  if key == name or key.endswith("__" + name)]
        if not params:
            return ""
        owner = "" if params[0] == name else "a step of "
        return (f" {name!r} is a parameter of {owner}the {type(self).__name__}, not "
                f"of a request: set it with set_params({params[0]}=...) (a request "
                "takes the parameters as they are).")

    def _unlearned_state(self, request, **options):  # pragma: no cover
        raise NotImplementedError

    def _unlearn_tags(self):  # pragma: no cover
        raise NotImplementedError

    def _published_parameters(self, attributes):  # pragma: no cover
        """The parameter arrays a state with these attributes publishes."""
        raise NotImplementedError

    def _complete_unlearn(self, *, copied):
        """Finish a state just swapped in: write what it changes in place (the
        kept rows' edit; ``copied`` when the state went to a shallow copy,
        whose rows must then not be shared). Must be idempotent: the next
        request completes one cut short."""

    def _applicable_state(self, state):
        """A plan's ``state`` as this estimator takes it: a plan made on
        another object of this state (this one is a copy or a file of it)
        must not write into what that object changes in place."""
        return state

    def _detached_state(self, state):
        """``state``, a shallow copy of the attributes taken between requests,
        with what a later request writes in place (kept rows, a pipeline's
        final step) replaced by copies of its own."""
        return state

    def __getstate__(self):
        # taken holding the request locks, once a commit cut short is
        # completed, and detached from what later requests write in place: a
        # copy or a file made while another thread's request runs holds the
        # state before that request or after it, never a mix
        state = super().__getstate__
        if self.__dict__.get("_unlearn_snapshot"):
            # a copy made for a meta-estimator's snapshot, holding its locks:
            # detached already, and held by that snapshot alone
            return {k: v for k, v in state().items() if k != "_unlearn_snapshot"}

        def snapshot():
            try:
                self._complete_pending()
            except ValueError:
                # a commit no request can complete any more (its requests are
                # refused, asking for a refit): copied as it is
                pass
            return self._detached_state(dict(state()))

        return self._holding_locks(snapshot)

    def _unlearn_n_targets(self):
        """The number of targets of a multi-output regressor, ``None`` when
        the model has one target (the shape requests' targets take)."""
        return None

    def _unlearn_request(self, X_old, X_new, y_old, y_new, sample_weight, options):
        """The validated request, in the features the model was fitted on."""
        return validate_request(self, X_old, X_new, y_old, y_new, sample_weight)

    def _fitted_state_name(self, attributes):
        """The name of the state a fit with these attributes starts, of a
        lineage of its own."""
        return _state_token(0, self._published_parameters(attributes), _new_lineage())

    def _new_unlearn_state(self):
        self._unlearn_token = self._fitted_state_name(vars(self))
        self._fitted_params = self._fitted_params_text()

    def _rename_trained_state(self):
        """Name the state anew after training changed it outside a request
        (an MLP's ``partial_fit``): plans made before are refused. A model
        without an unlearning state yet is left without one."""
        if "_unlearn_token" in self.__dict__:
            self._unlearn_token = self._fitted_state_name(vars(self))

    def _fitted_params_text(self):
        """The hyper-parameters that define the fitted model, as text (all
        but :attr:`_unlearn_free_params`), which every request compares with
        the fit's."""
        return params_text(self, self._unlearn_free_params)

    def _check_fitted_params(self):
        """Refuse a request after a change of the hyper-parameters that
        define the fitted model: the cached state is that of the ones it was
        fitted with, so the request would move it towards a refit with those,
        not with the parameters it now reports."""
        fitted = self.__dict__.get("_fitted_params")
        if fitted is not None and fitted != self._fitted_params_text():
            raise ValueError(self._params_changed_message())

    def _params_changed_message(self):
        """Why a request after :meth:`_check_fitted_params` found a change is
        refused."""
        return (f"The parameters of this {type(self).__name__} changed since it was "
                "fitted (set_params or an assignment; or a function among them "
                "computes otherwise: its code, or data it reads, changed): its "
                "unlearning state is that of the parameters it was fitted with. Set "
                "them back, or fit again with the new ones. Nothing was changed.")

    def _check_fit_arguments(self, X, sample_weight, fingerprint_key):
        """At the start of ``fit``, before the parent's solver: refuse what
        the unlearning state would refuse after it (a key of the wrong size,
        negative sample weights, which scikit-learn's solvers take, a sparse
        matrix whose index arrays do not describe its shape, which they
        would read beyond its arrays), so that a refused fit has not trained
        first."""
        check_sparse_structure(X, "X")
        if fingerprint_key is not None:
            check_key(fingerprint_key)
        if sample_weight is not None:
            check_training_weights(sample_weight, X)

    def _keep_row_fingerprints(self, X, y, sample_weight, fingerprint_key):
        """At the end of ``fit``: the keyed fingerprints of the training rows
        (``row_fingerprints_``, ``None`` without a key)."""
        self.row_fingerprints_ = fingerprint_training_rows(
            self, X, y, sample_weight, fingerprint_key)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        return UnlearnerTags(**{f.name: getattr(tags, f.name) for f in fields(tags)},
                             unlearn_tags=self._unlearn_tags())

    def _check_not_owned(self):
        owner = self._unlearn_owner
        if owner is not None:
            raise ValueError(
                f"This {type(self).__name__} is the final step of a {owner}, which "
                f"keeps the ledger of its requests: make the request with "
                f"{owner}.unlearn (one made here would bypass the ledger). To "
                "unlearn with this model on its own, fit a clone of it."
            )

    # -- the verbs ---------------------------------------------------------------
    def plan_unlearn(self, X_old, X_new, y_old=None, y_new=None, *, sample_weight=None,
                     fingerprint_key=None, **options):
        """Compute the update of a request without applying it.

        Takes the arguments of :meth:`unlearn` and returns an
        :class:`UnlearningPlan`, whose ``report`` says what the request would
        do (its step, its residual bound); the estimator is unchanged.
        :meth:`apply_unlearn` applies it.

        Parameters
        ----------
        X_old, X_new, y_old, y_new, sample_weight, fingerprint_key, **options
            As in :meth:`unlearn`.

        Returns
        -------
        plan : UnlearningPlan
        """
        options = self._checked_options(options, "plan_unlearn")
        return self._serialised(lambda: self._plan(
            X_old, X_new, y_old, y_new, sample_weight, options, fingerprint_key))

    def apply_unlearn(self, plan, *, copy=False):
        """Apply a plan of :meth:`plan_unlearn`.

        The new state was built by the plan; it is swapped in with one update
        of the estimator's attributes, so an exception (a KeyboardInterrupt
        included) leaves either the old state or the new one.

        Parameters
        ----------
        plan : UnlearningPlan
            A plan made on this estimator's current state.
        copy : bool, default=False
            Apply it to a shallow copy and return the copy, leaving this
            estimator as it is (what a meta-estimator does to build its whole
            new state before swapping it in).

        Returns
        -------
        self or a copy : object
        """
        if not isinstance(plan, UnlearningPlan):
            raise TypeError(
                f"apply_unlearn takes an UnlearningPlan made by plan_unlearn, got "
                f"{type(plan).__name__}."
            )
        if not copy:
            self._check_not_owned()
        return self._serialised(lambda: self._apply(plan, copy))

    def unlearn(self, X_old, X_new, y_old=None, y_new=None, *, sample_weight=None,
                fingerprint_key=None, **options):
        """Move the model to where retraining on the corrected data would put it.

        The training data set ``D`` becomes ``(D minus the rows X_old) plus
        the rows X_new``. The options (``method`` and the method's settings)
        are the estimator's: see its own ``unlearn``.

        Parameters
        ----------
        X_old : array-like or sparse matrix of shape (n_old, n_features) or None
            The affected training rows as they were (``None``: rows are only
            inserted).
        X_new : array-like or sparse matrix of shape (n_new, n_features) or None
            The rows as they should be (``None``: rows are only deleted).
        y_old, y_new : array-like or None, default=None
            Their targets; ``y_new`` defaults to ``y_old`` for edits.
        sample_weight : array-like or None, default=None
            The rows' sample weights.
        fingerprint_key : bytes or None, default=None
            The key the estimator was fitted with, when it was fitted with
            one (it then keeps keyed fingerprints of its training rows, and
            a removed row that is not among them is refused with
            :class:`MissingRowsError`).
        **options
            The estimator's request options (``method`` among them).

        Returns
        -------
        self : object
            The updated estimator; on any error it is left exactly as it was.
            The one exception is an interrupt (``KeyboardInterrupt``) that
            arrives after the new state is swapped in: it is raised once the
            request is complete, with a note that it was applied.

        Examples
        --------
        >>> from sklearn.datasets import load_diabetes
        >>> from sklearn.linear_model import Ridge
        >>> from sklearn_unlearn import UnlearnableRidge
        >>> X, y = load_diabetes(return_X_y=True)
        >>> reg = UnlearnableRidge().fit(X, y).unlearn(X[:10], None, y[:10])
        >>> refit = Ridge().fit(X[10:], y[10:])
        >>> bool(abs(reg.coef_ - refit.coef_).max() < 1e-8)
        True
        """
        self._check_not_owned()
        options = self._checked_options(options)
        # one hold of the lock for both phases: no request comes in between
        return self._serialised(lambda: self._apply(self._plan(
            X_old, X_new, y_old, y_new, sample_weight, options, fingerprint_key), False))

    def _serialised(self, work):
        """``work()`` holding the lock of every request that could change the
        state this one plans on (:meth:`_holding_locks`), once a commit an
        interrupt cut short is completed (its state is in; what it writes in
        place may not be)."""
        def completed_first():
            self._complete_pending()
            return work()

        return self._holding_locks(completed_first)

    def _complete_pending(self):
        """Complete a commit an interrupt cut short (every hook is
        idempotent: nothing happens when none was)."""
        if "_unlearn_token" in self.__dict__:
            self._complete_unlearn(copied=False)

    def _holding_locks(self, work):
        """``work()`` holding this estimator's request lock (a pipeline adds
        its final step's, which takes requests of its own)."""
        return serialised(self, work)

    def _state_name(self):
        """The name of the current state a plan records and is checked
        against: this estimator's token (a pipeline's adds its final
        step's)."""
        return self.__dict__.get("_unlearn_token")

    def _with_state(self, attributes, copy=False):
        """Swap ``attributes`` in (on a shallow copy with ``copy``) with one
        update, as a new unlearning state: plans made before are refused."""
        name = self._next_state_name(attributes)
        target = _shallow_copy(self) if copy else self
        target.__dict__.update({**attributes, "_unlearn_token": name})
        return target

    def _state_plan(self, attributes, report):
        """The plan that swaps ``attributes`` in as :meth:`_with_state`
        does, when applied (a meta-estimator commits it with its own
        state)."""
        return UnlearningPlan(report, attributes, self._state_name(),
                              self._next_state_name(attributes),
                              self._plan_settings(attributes))

    def _plan_settings(self, attributes):
        """The parameters outside the fitted state that decided what the
        plan of ``attributes`` holds (a meta-estimator's budget policy, once
        a request passed the budget): it is applied only under those."""
        return {}

    def _next_state_name(self, attributes):
        return _state_token(self._unlearn_token[0] + 1,
                            self._published_parameters({**vars(self), **attributes}),
                            state_lineage(self._unlearn_token))

    def _checked_options(self, options, verb="unlearn"):
        """The request's options, checked (``verb``: the public method that
        took them, which a refusal names)."""
        self._refuse_unknown_options(options, verb)
        if "_unlearn_token" not in self.__dict__:
            check_is_fitted(self)
        self._check_fitted_params()
        options = self._unlearn_options(**options)
        if "_unlearn_token" not in self.__dict__:
            raise ValueError(
                f"This {type(self).__name__} has no unlearning state: fit it (with "
                "fit) before making requests."
            )
        return options

    def _refuse_unknown_options(self, options, verb):
        """A keyword that is no option of a request is refused as Python
        refuses one, naming the public method, with the options there are
        (``**options`` would otherwise reach a hook that names itself)."""
        names = self._unlearn_option_names()
        unknown = [name for name in options if name not in names]
        if not unknown:
            return
        listed = ", ".join(repr(name) for name in unknown)
        hints = "".join(self._unknown_option_hint(name) for name in unknown)
        which = ("unexpected keyword arguments" if len(unknown) > 1
                 else "an unexpected keyword argument")
        raise TypeError(
            f"{type(self).__name__}.{verb}() got {which} {listed}.{hints} Besides "
            "the rows, sample_weight and fingerprint_key, a request takes the "
            f"options {', '.join(names)}. Nothing was changed.")

    def _plan(self, X_old, X_new, y_old, y_new, sample_weight, options,
              fingerprint_key=None):
        request = self._unlearn_request(X_old, X_new, y_old, y_new, sample_weight, options)
        if self._forwards_fingerprints:
            fingerprints = None
            if fingerprint_key is not None:
                options = {**options, "fingerprint_key": fingerprint_key}
        else:
            fingerprints = fingerprints_after(self, request, fingerprint_key)
        state, report = self._unlearned_state(request, **options)
        if fingerprints is not None:
            state = {**state, "row_fingerprints_": fingerprints}
        return self._state_plan(state, report)

    def _check_applicable(self, plan):
        """Refuse a plan this state cannot take, before anything changes."""
        # a plan made before set_params would move the model towards a refit
        # with the parameters it was fitted with, not those it now reports
        self._check_fitted_params()
        if plan._base != self._state_name():
            raise ValueError(
                "The plan was made on another state of this estimator (it was "
                "applied already, or the model was refitted or changed by another "
                "request since): plan the request again."
            )
        settings = self._plan_settings(plan._state)
        changed = [f"{k}={plan._settings[k]!r} (now {v!r})" for k, v in settings.items()
                   if plan._settings.get(k) != v]
        if changed:
            raise ValueError(
                f"The plan was made under {', '.join(changed)}, which decided what "
                "it does: plan the request again. Nothing was changed.")

    def _apply(self, plan, copy):
        self._check_applicable(plan)
        target = _shallow_copy(self) if copy else self
        state = {**self._applicable_state(plan._state), "_unlearn_token": plan._name}
        failure, complete = None, False
        for _ in range(3):
            try:
                target.__dict__.update(state)   # one C call: the commit point
                target._complete_unlearn(copied=copy)
                complete = True
                break
            except BaseException as exc:        # noqa: B036 - re-raised below
                # the state is in: complete it (both steps are idempotent),
                # then raise what interrupted it
                failure = exc if failure is None else failure
        if failure is None:
            return target
        if complete and isinstance(failure, Exception):
            # an error recovered from: raising it would tell the caller the
            # request failed, and its retry would be refused (rows erased)
            warn_caller(RuntimeWarning(
                f"Completing this request met a {type(failure).__name__} after its "
                "commit point and was retried: the request was applied in full."))
            return target
        # an interrupt is the caller's to see; the request is in all the same
        if hasattr(failure, "add_note"):
            failure.add_note(
                "The request was applied" + ("." if complete else ": what it writes "
                                             "in place (kept rows, a pipeline's final "
                                             "step) is written at its next use."))
        raise failure
