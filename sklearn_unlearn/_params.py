"""Hyper-parameters as text that survives pickling and skops: what the
ledger vouches for, and what a request checks against the fit's.

Values count by content; a function by what it computes, which for the
user's own code is its code and what it reads; an installed library's
function by its name (see the section on functions below)."""

import array
import dataclasses
import functools
import hashlib
import site
import sys
import sysconfig
import types

import numpy as np
import scipy.sparse as sp


def canonical(value):
    """A text form of a hyper-parameter value that survives pickling and skops
    (numpy scalars as Python numbers, a number by its value: ``1`` and
    ``1.0`` alike; a function, and an object held by content, by a digest;
    other objects by their type)."""
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
    if (callable(value) and not isinstance(value, type)) or _held_by_content(value):
        # a function by what it computes (two lambdas are both "function"),
        # an object of the user's by what it holds
        digest = hashlib.sha256()
        _feed(digest, value, set())
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
    """Feed ``value`` to ``digest``: data by content, the user's code and
    objects by what they compute and hold, a library's by name or type."""
    if value is None or type(value) in (bool, int, float, str):
        digest.update(canonical(value).encode())
    elif hasattr(value, "get_params") and not isinstance(value, type):
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
        digest.update(np.ascontiguousarray(value).data)
    elif isinstance(value, (list, tuple, np.ndarray)):
        digest.update(f"[{len(value)}".encode())
        items = value.tolist() if isinstance(value, np.ndarray) else value
        numbers = _numbers(items) if len(items) > _BULK else None
        if numbers is not None:
            # a long list of numbers as one array: one pass in C
            _feed(digest, numbers, seen)
            items = ()
        for item in items:
            _feed(digest, item, seen)
        digest.update(b"]")
    elif isinstance(value, dict):
        digest.update(b"{")
        keys = {_key_text(key): key for key in value}
        texts = sorted(keys)
        numbers = (_numbers([value[keys[t]] for t in texts]) if len(texts) > _BULK
                   else None)
        if numbers is not None:
            # a long table of numbers: its keys, then its values as one array
            digest.update("\0".join(texts).encode())
            _feed(digest, numbers, seen)
            texts = ()
        for text in texts:
            digest.update(text.encode())
            _feed(digest, value[keys[text]], seen)
        digest.update(b"}")
    elif sp.issparse(value):
        _feed(digest, [value.format, value.shape, *(
            getattr(value, name) for name in ("data", "indices", "indptr", "row", "col")
            if hasattr(value, name))], seen)
    elif callable(value) and not isinstance(value, type):
        _feed_callable(digest, value, seen)
    elif isinstance(value, type):
        digest.update(f"<{value.__module__}.{value.__qualname__}>".encode())
    elif isinstance(value, (set, frozenset)):
        digest.update(f"<{type(value).__name__}>".encode())
        _feed(digest, sorted(_key_text(v) for v in value), seen)
    elif isinstance(value, (bytes, bytearray, memoryview, array.array)):
        digest.update(f"<{type(value).__name__}>".encode())
        digest.update(memoryview(value).cast("B"))
    elif _held_by_content(value):
        if id(value) in seen:
            digest.update(b"<seen>")
            return
        seen.add(id(value))
        digest.update(f"<{type(value).__qualname__}>".encode())
        _feed(digest, np.asarray(value) if hasattr(value, "__array__") else _state(value),
              seen)
    else:
        digest.update(canonical(value).encode() if not isinstance(value, (slice, complex))
                      else repr(value).encode())


#: Lists and dicts longer than this are fed as one array when they hold
#: numbers only.
_BULK = 64


def _numbers(items):
    """``items`` as an array of numbers, or ``None`` if they are not all
    numbers (or not of one shape)."""
    try:
        numbers = np.asarray(items)
    except ValueError:      # ragged
        return None
    return numbers if numbers.dtype.kind in "biufc" else None


def _key_text(key):
    """A dict key as text that does not depend on the process (``repr`` of a
    function holds its address): its type and its canonical form."""
    return (f"str:{key}" if type(key) is str
            else f"{type(key).__name__}:{canonical(key)}")


def _held_by_content(value):
    """Whether ``value`` counts by what it holds: an object of a class of
    the user's code, a dataclass, a namespace, an array object (pandas). A
    library's other objects (a logger, a lock, a random generator) count by
    their type: their state moves as they are used."""
    if isinstance(value, type) or hasattr(value, "get_params"):
        return False        # an estimator: by its parameters (see _feed)
    return (not _in_library(type(value).__module__)
            or dataclasses.is_dataclass(value)
            or isinstance(value, types.SimpleNamespace)
            or hasattr(value, "__array__"))


def _state(value):
    """An object's attributes (its pickled state)."""
    getstate = getattr(value, "__getstate__", None)
    try:
        return getstate() if getstate is not None else vars(value)
    except TypeError:       # no attributes to read (slots before Python 3.11)
        return None


# -- functions --------------------------------------------------------------------------
# Code installed as a library (the standard library, site-packages) is known
# by its name, as pickle stores it: its functions and classes change with a
# new version only, and feeding them whole reached into their caches (state
# that moves as they run) and sets (whose order changes between
# processes). The user's own code is known by what it computes.


def _feed_callable(digest, value, seen):
    """Feed what a callable computes: a function of the user's code by its
    code, defaults, closure and what it reads of the module globals (and,
    one level down, of the user's modules and classes it names); a partial
    by its function and arguments; a bound method by its function and
    object; a callable object by its type, its class's ``__call__`` and its
    state; a library's function by its name. The name alone told two
    lambdas, or two partials of one function, apart not at all."""
    if id(value) in seen:
        digest.update(b"<seen>")
        return
    seen.add(id(value))
    module = getattr(value, "__module__", None)
    name = getattr(value, "__qualname__", None) or getattr(value, "__name__", None)
    digest.update(f"<{module}.{name}>".encode())
    if isinstance(value, functools.partial):
        _feed(digest, [value.func, value.args, value.keywords], seen)
    elif isinstance(value, types.MethodType):
        _feed(digest, value.__func__, seen)
        _feed_object(digest, value.__self__, seen, value.__func__)
    elif isinstance(value, types.FunctionType):
        if not _in_library(module):
            _feed_function(digest, value, seen)
        elif not _named_by_module(value, module, name):
            # made by a library's factory: what it was made with
            _feed(digest, [value.__defaults__, value.__kwdefaults__,
                           _cells(value)], seen)
    elif not (_in_library(module) and _named_by_module(value, module, name)):
        _feed_object(digest, value, seen)


def _feed_function(digest, function, seen):
    code = function.__code__
    _feed_code(digest, code)
    _feed(digest, [function.__defaults__, function.__kwdefaults__, _cells(function),
                   _read_globals(function.__globals__, _code_names(code))], seen)


def _cells(function):
    cells = []
    for cell in function.__closure__ or ():
        try:
            cells.append(cell.cell_contents)
        except ValueError:      # a cell not yet filled
            cells.append(None)
    return cells


def _read_globals(scope, names):
    """What code naming ``names`` reads of the globals ``scope``: each named
    global, and of a module or class of the user's code it names, the
    attributes it names (``config.SCALE``)."""
    read = {}
    for key in sorted(names):
        if key not in scope:
            continue
        value = scope[key]
        if isinstance(value, (types.ModuleType, type)):
            if _in_library(value.__name__ if isinstance(value, types.ModuleType)
                           else value.__module__):
                continue
            read[key] = {attr: _attribute(value, attr) for attr in sorted(names)
                         if _has_own(value, attr)}
        else:
            read[key] = value
    return read


def _feed_object(digest, value, seen, method=None):
    """The object of a callable (itself, or a bound ``method``'s): its type,
    the class attributes of a class of the user's code that the method (its
    class's ``__call__``) reads, that method, and the object's state."""
    cls = type(value)
    digest.update(f"<{cls.__module__}.{cls.__qualname__}>".encode())
    call = getattr(cls, "__call__", None) if method is None else method
    if isinstance(call, types.FunctionType) and not _in_library(cls.__module__):
        if method is None:
            _feed_function(digest, call, seen)
        _feed(digest, {attr: _attribute(cls, attr)
                       for attr in sorted(_code_names(call.__code__))
                       if _has_own(cls, attr)}, seen)
    _feed(digest, _state(value), seen)


def _has_own(namespace, attr):
    """Whether a module or class of the user's code defines ``attr`` itself
    (not a submodule; a class's, from its own classes)."""
    if isinstance(namespace, types.ModuleType):
        value = vars(namespace).get(attr, _MISSING)
        return value is not _MISSING and not isinstance(value, types.ModuleType)
    return any(attr in vars(c) for c in namespace.__mro__ if c is not object)


def _attribute(namespace, attr):
    if isinstance(namespace, types.ModuleType):
        return vars(namespace)[attr]
    for c in namespace.__mro__:
        if attr in vars(c):
            return vars(c)[attr]


_MISSING = object()


def _feed_code(digest, code):
    digest.update(code.co_code)
    digest.update(repr(code.co_names).encode())
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            _feed_code(digest, const)
        else:
            digest.update(_constant_text(const).encode())


def _constant_text(const):
    """A code constant as text that does not depend on the process: a
    frozenset's elements sorted (their order follows string hashing)."""
    if isinstance(const, frozenset):
        return "frozenset{" + ", ".join(sorted(_constant_text(c) for c in const)) + "}"
    if isinstance(const, tuple):
        return "(" + ", ".join(_constant_text(c) for c in const) + ")"
    return repr(const)


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


def _in_library(module):
    """Whether the module named ``module`` is installed code (the standard
    library, site-packages, a built-in module), not the user's own."""
    if module == "__main__":    # a script's, or a notebook's (its kernel's file)
        return False
    found = sys.modules.get(module or "")
    if found is None:
        return module is not None and module.split(".")[0] in sys.builtin_module_names
    path = getattr(found, "__file__", None)
    return path is None or path.startswith(_LIBRARY_PATHS)


#: Where installed code lives.
_LIBRARY_PATHS = tuple(sorted({
    *(sysconfig.get_paths()[key] for key in ("stdlib", "platstdlib", "purelib", "platlib")),
    *site.getsitepackages()}))
