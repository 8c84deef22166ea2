"""Hyper-parameters as text that survives pickling and skops: what the
ledger vouches for, and what a request checks against the fit's."""

import functools
import hashlib
import sys
import types

import numpy as np
import scipy.sparse as sp


def canonical(value):
    """A text form of a hyper-parameter value that survives pickling and skops
    (numpy scalars as Python numbers, a number by its value: ``1`` and
    ``1.0`` alike; objects by their type)."""
    if value is None or type(value) in (bool, str):
        return repr(value)
    if isinstance(value, dict):
        items = sorted((canonical(k), canonical(v)) for k, v in value.items())
        return "{" + ", ".join(f"{k}: {v}" for k, v in items) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(canonical(v) for v in value) + "]"
    if isinstance(value, (np.generic, np.ndarray)):
        return canonical(value.tolist())
    if isinstance(value, bool):                               # a subclass of int
        return repr(bool(value))
    if isinstance(value, int):
        number = float(value)
        # an integer too large for a float keeps its digits
        return repr(number) if number == value else repr(int(value))
    if isinstance(value, float):
        return repr(float(value))
    if isinstance(value, str):
        return repr(str(value))
    if callable(value) and not isinstance(value, type):
        # a function by what it computes: two lambdas are both "function"
        digest = hashlib.sha256()
        _feed_callable(digest, value, set())
        return f"<{type(value).__qualname__} {digest.hexdigest()[:32]}>"
    return type(value).__qualname__


def params_text(estimator, free):
    """:func:`canonical` of ``estimator``'s parameters (not nested), all but
    ``free``: read by name, as ``get_params(deep=False)`` reads them, with
    the names found once per class (a request checks them every time)."""
    cls = type(estimator)
    names = _PARAM_NAMES.get(cls)
    if names is None:
        names = _PARAM_NAMES[cls] = tuple(cls._get_param_names())
    return canonical({k: getattr(estimator, k) for k in names if k not in free})


#: The parameter names of each estimator class (no data).
_PARAM_NAMES = {}


def fitted_digest(estimators):
    """A digest of the parameters and fitted attributes (public, with a
    trailing underscore) of ``estimators`` and of every estimator nested in
    them, which survives pickling and skops: a pipeline compares it with
    the one its last fit or request left, so that a step changed, replaced
    or refitted in between (``set_params``, an assignment) is noticed."""
    digest = hashlib.sha256()
    _feed(digest, list(estimators), set())
    return digest.hexdigest()


def _feed(digest, value, seen):
    if hasattr(value, "get_params") and not isinstance(value, type):
        if id(value) in seen:
            digest.update(b"<seen>")
            return
        seen.add(id(value))
        digest.update(f"<{type(value).__qualname__}>".encode())
        fitted = {k: v for k, v in vars(value).items()
                  if k.endswith("_") and not k.startswith("_")}
        for part in (value.get_params(deep=False), fitted):
            for key in sorted(part):
                digest.update(key.encode())
                _feed(digest, part[key], seen)
    elif isinstance(value, np.ndarray) and value.dtype != object:
        digest.update(f"{value.dtype.str}{value.shape}".encode())
        digest.update(np.ascontiguousarray(value).tobytes())
    elif isinstance(value, (list, tuple, np.ndarray)):
        digest.update(f"[{len(value)}".encode())
        for item in (value.tolist() if isinstance(value, np.ndarray) else value):
            _feed(digest, item, seen)
        digest.update(b"]")
    elif isinstance(value, dict):
        digest.update(b"{")
        for key in sorted(value, key=repr):
            digest.update(repr(key).encode())
            _feed(digest, value[key], seen)
        digest.update(b"}")
    elif sp.issparse(value):
        _feed(digest, [value.format, value.shape, *(
            getattr(value, name) for name in ("data", "indices", "indptr", "row", "col")
            if hasattr(value, name))], seen)
    elif callable(value) and not isinstance(value, type):
        _feed_callable(digest, value, seen)
    elif isinstance(value, type):
        digest.update(f"<{value.__module__}.{value.__qualname__}>".encode())
    else:
        digest.update(canonical(value).encode() if not isinstance(value, (slice, complex))
                      else repr(value).encode())


def _feed_callable(digest, value, seen):
    """Feed what a callable computes: a function's code, defaults, closure
    and the globals it names; a partial's function and arguments; a bound
    method's function and object; a callable object's type and state. A
    callable its module names (a ufunc, a builtin) by that name: the name
    alone told two lambdas, or two partials of one function, apart from
    each other not at all."""
    if id(value) in seen:
        digest.update(b"<seen>")
        return
    seen.add(id(value))
    module = getattr(value, "__module__", None)
    name = getattr(value, "__qualname__", None) or getattr(value, "__name__", None)
    digest.update(f"<{module}.{name}>".encode())
    if isinstance(value, types.FunctionType):
        code = value.__code__
        names = _code_names(code)
        scope = value.__globals__
        cells = []
        for cell in value.__closure__ or ():
            try:
                cells.append(cell.cell_contents)
            except ValueError:      # a cell not yet filled
                cells.append(None)
        _feed_code(digest, code)
        _feed(digest, [value.__defaults__, value.__kwdefaults__, cells,
                       {k: scope[k] for k in sorted(names) if k in scope
                        and not isinstance(scope[k], types.ModuleType)}], seen)
    elif isinstance(value, functools.partial):
        _feed(digest, [value.func, value.args, value.keywords], seen)
    elif isinstance(value, types.MethodType):
        _feed(digest, value.__func__, seen)
        _feed_state(digest, value.__self__, seen)
    elif not (module and _named_by_module(value, module, name)):
        digest.update(f"<{type(value).__module__}.{type(value).__qualname__}>".encode())
        _feed_state(digest, value, seen)


def _feed_state(digest, value, seen):
    """Feed an object's attributes (its pickled state)."""
    getstate = getattr(value, "__getstate__", None)
    try:
        state = getstate() if getstate is not None else vars(value)
    except TypeError:       # no attributes to read (slots before Python 3.11)
        state = None
    _feed(digest, state, seen)


def _feed_code(digest, code):
    digest.update(code.co_code)
    digest.update(repr(code.co_names).encode())
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            _feed_code(digest, const)
        else:
            digest.update(repr(const).encode())


def _code_names(code):
    """The global names a code object and the code nested in it read."""
    names = set(code.co_names)
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            names |= _code_names(const)
    return names


def _named_by_module(value, module, name):
    """Whether ``value`` is what ``module.name`` refers to (as pickle stores it)."""
    owner = sys.modules.get(module)
    for part in (name or "").split("."):
        owner = getattr(owner, part, None)
    return owner is value
