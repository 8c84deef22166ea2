"""What a pipeline's steps compute and hold, as a digest that survives
pickling and skops and does not depend on the process: a request compares
it with the one the last fit or request left, so that a step changed in
between is noticed.

Data counts by content. The user's own code (a script's, a notebook's, a
module outside the installed packages) counts by what it computes: its code
and what it reads. Code installed as a library (the standard library,
site-packages, this package) counts by its name, as pickle stores it: it
changes with a new version only, and feeding it whole reached into its
caches (state that moves as it runs) and sets (whose order changes between
processes); a library's callable objects count by their state, its other
objects (a logger, a lock, a random generator) by their type, for the same
reason.
"""

import argparse
import array
import collections
import dataclasses
import datetime
import decimal
import fractions
import functools
import hashlib
import pathlib
import re
import site
import sys
import sysconfig
import types

import numpy as np
import scipy.sparse as sp


def fitted_digest(estimators):
    """A digest of the parameters and fitted attributes (public, with a
    trailing underscore) of ``estimators``, of every estimator nested in
    them, and of the code of those of the user's own classes."""
    return digest_of(list(estimators))


def digest_of(value):
    """The digest of ``value`` (hexadecimal)."""
    digest = hashlib.sha256()
    _feed(digest, value, _Walk())
    return digest.hexdigest()


def value_text(value):
    """A scalar value as text, or ``None`` for anything else: numbers by
    their value (``1`` and ``1.0`` alike), dates, paths, decimals and
    fractions by their ``repr``."""
    if value is None or type(value) in (bool, str):
        return repr(value)
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, bool):                               # a subclass of int
        return repr(bool(value))
    if isinstance(value, int):
        try:
            number = float(value)
        except OverflowError:
            return hex(int(value))      # (no limit on the digits, as repr has)
        # an integer too large for a float keeps its digits
        return repr(number) if number == value else repr(int(value))
    if isinstance(value, float):
        return repr(float(value))
    if isinstance(value, str):
        return repr(str(value))
    if isinstance(value, _VALUES):
        return repr(value)
    return None


#: Scalars whose ``repr`` is their value.
_VALUES = (complex, datetime.date, datetime.time, datetime.timedelta, decimal.Decimal,
           fractions.Fraction, pathlib.PurePath, range, re.Pattern, slice,
           np.datetime64, np.timedelta64)


class _Walk:
    """The digest of every object fed so far (``None`` while it is being
    fed) and how deeply nested the value being fed is."""

    def __init__(self):
        # the objects too, not only their ids: the lists and dicts made on
        # the way would be freed and their ids taken again
        self.done = {}
        self.depth = 0


def _once(digest, value, walk, feed):
    """``feed(d, value, walk)`` into a digest of its own, once per walk; its
    bytes fed wherever ``value`` is met. The same bytes whether an object is
    met once or twice: a digest must not depend on which objects are shared
    (a class whose ``__call__`` was replaced by an equal function, as
    cloudpickle's loading does, changed the digest of a method bound to it).
    An object met again while it is fed (a cycle) is a marker."""
    found = walk.done.get(id(value))
    if found is not None:
        digest.update(b"<cycle>" if found[1] is None else found[1])
        return
    if walk.depth > _DEPTH:
        digest.update(f"<deep {type(value).__qualname__}>".encode())
        return
    walk.done[id(value)] = (value, None)
    own = hashlib.sha256()
    walk.depth += 1
    try:
        feed(own, value, walk)
    finally:
        walk.depth -= 1
    walk.done[id(value)] = (value, own.digest())
    digest.update(own.digest())


#: Objects nested deeper than this count by their type.
_DEPTH = 64
#: Lists and dicts longer than this are fed as one array or one text when
#: they hold numbers, or strings, only.
_BULK = 64


def _feed(digest, value, walk):
    text = value_text(value)
    if text is not None:
        digest.update(text.encode())
        return
    cls = type(value)
    if isinstance(value, np.ndarray) and value.ndim == 0:
        _feed(digest, [f"<0d {value.dtype.str}>", value.item()], walk)
    elif hasattr(cls, "__dask_graph__"):
        # a lazy collection: by its name, a token of its graph (its values
        # would be computed at every request)
        digest.update(f"<{cls.__qualname__} {getattr(value, 'name', '')}>".encode())
    elif not isinstance(value, type) and callable(getattr(cls, "get_params", None)):
        _once(digest, value, walk, _feed_estimator)
    elif (isinstance(value, np.ndarray) and value.dtype.kind in "biufcmMSV"
          and not value.dtype.hasobject):
        digest.update(f"<{value.dtype.str}{value.shape}>".encode())
        if value.dtype.kind in "mM":     # no buffer: their counts as int64
            value = value.view(np.int64)
        elif value.dtype in (np.longdouble, np.clongdouble) and value.itemsize > 8:
            # padding bytes hold anything: its value as two doubles
            head = value.astype(np.complex128 if value.dtype.kind == "c" else np.float64)
            value = np.stack([head, (value - head).astype(head.dtype)])
        digest.update(np.ascontiguousarray(value).tobytes())
    elif isinstance(value, (bytes, bytearray, memoryview, array.array)):
        view = memoryview(value)
        digest.update(f"<{cls.__name__}{view.format}{view.shape}>".encode())
        digest.update(view.tobytes())
    elif sp.issparse(value):
        _feed(digest, [value.format, value.shape, *(
            getattr(value, name) for name in ("data", "indices", "indptr", "row", "col")
            if hasattr(value, name))], walk)
    elif isinstance(value, (list, tuple, collections.deque, np.ndarray, dict,
                            types.MappingProxyType, set, frozenset)):
        texts = ([value_text(v) for v in value]
                 if isinstance(value, (list, tuple)) and len(value) <= _BULK else [None])
        if None not in texts:
            # a short row of scalars holds nothing shared: fed as it is
            digest.update(f"<{cls.__name__} {len(value)}>".encode())
            digest.update("\0".join(texts).encode())
        else:
            _once(digest, value, walk, _feed_container)
    elif isinstance(value, property):
        _feed(digest, ["<property>", value.fget, value.fset, value.fdel], walk)
    elif isinstance(value, (classmethod, staticmethod)):
        _feed(digest, [f"<{cls.__name__}>", value.__func__], walk)
    elif callable(value) and not isinstance(value, type):
        _once(digest, value, walk, _feed_callable)
    elif isinstance(value, type):
        digest.update(f"<{value.__module__}.{value.__qualname__}>".encode())
    elif held_by_content(value):
        _once(digest, value, walk, _feed_held)
    else:
        digest.update(f"<{cls.__module__}.{cls.__qualname__}>".encode())


def _feed_held(digest, value, walk):
    cls = type(value)
    digest.update(f"<{cls.__module__}.{cls.__qualname__}>".encode())
    rows = _pandas_hashes(value)
    if rows is not None:
        # a pandas object, hashed row by row by pandas (values and index, of
        # any type, in one pass), with its column labels
        _feed(digest, [rows, getattr(value, "columns", None)], walk)
    elif hasattr(cls, "__array__"):
        # another array object (a Categorical), or a pandas object pandas
        # cannot hash (a Series of lists): its values, and a Series's index
        values = np.asarray(value)
        index = getattr(value, "index", None)
        _feed(digest, [values.tolist() if values.dtype.hasobject else values,
                       None if callable(index) else index], walk)
    else:
        if not _in_library(cls.__module__):
            _feed_class(digest, cls, walk)
        _feed(digest, _state(value), walk)


def _pandas_hashes(value):
    """pandas' hash of each row of a Series, DataFrame or Index (its values
    and index; a hash with a fixed key, the same in every process), or
    ``None`` for another object or one pandas cannot hash."""
    pd = sys.modules.get("pandas")
    if pd is None or not isinstance(value, (pd.Series, pd.DataFrame, pd.Index)):
        return None
    try:
        return pd.util.hash_pandas_object(value, index=not isinstance(value, pd.Index)
                                          ).to_numpy()
    except (TypeError, ValueError):     # values it cannot hash (lists)
        return None


def _feed_container(digest, value, walk):
    cls = type(value)
    digest.update(f"<{cls.__name__} {len(value)}>".encode())
    if isinstance(value, (dict, types.MappingProxyType)):
        # sorted: a table built from a set has its order from string
        # hashing, which changes between processes
        if all(type(k) is str for k in value):
            texts = sorted(value)
            items = [value[k] for k in texts]
        elif len(value) > _BULK and all(type(k) is int for k in value):
            # integer keys: sorted, in one pass
            keys = sorted(value)
            items = [value[k] for k in keys]
            bulk = _bulk(keys)
            texts = [bulk.hex() if bulk is not None else ",".join(map(hex, keys))]
        else:
            keys = {_key_text(key, walk): key for key in value}
            texts = sorted(keys)
            items = [value[keys[t]] for t in texts]
    elif isinstance(value, (set, frozenset)):
        texts = (sorted(value) if all(type(v) is str for v in value)
                 else sorted(_key_text(v, walk) for v in value))
        items = []
    else:
        texts, items = [], value.tolist() if isinstance(value, np.ndarray) else list(value)
    digest.update("\0".join(texts).encode())
    bulk = _bulk(items) if len(items) > _BULK else None
    if bulk is not None:
        digest.update(bulk)
        return
    for item in items:
        _feed(digest, item, walk)


def _bulk(items):
    """Long ``items`` of one kind as bytes in one pass: numbers as an array,
    strings joined; ``None`` for any other."""
    if all(type(v) is str for v in items):
        return ("s" + "\0".join(items)).encode()
    try:
        numbers = np.asarray(items)
    except (ValueError, TypeError):     # ragged
        return None
    if numbers.dtype.kind not in "biufc":
        return None
    return f"n{numbers.dtype.str}{numbers.shape}".encode() + numbers.tobytes()


def _key_text(key, walk):
    """A dict key or set element as text: its type and its value, a digest
    for anything but a scalar (``repr`` of a function holds its address),
    taken in the same walk (a key that refers back to its table is a
    cycle, and what keys share is fed once)."""
    text = value_text(key)
    if text is None:
        own = hashlib.sha256()
        _feed(own, key, walk)
        text = own.hexdigest()
    return f"{type(key).__name__}:{text}"


def _feed_estimator(digest, estimator, walk):
    """An estimator: its parameters, fitted attributes and, for one of the
    user's own classes, its class's code."""
    cls = type(estimator)
    digest.update(f"<{cls.__qualname__}>".encode())
    if not _in_library(cls.__module__):
        _feed_class(digest, cls, walk)
    fitted = {k: v for k, v in vars(estimator).items()
              if k.endswith("_") and not k.startswith("_")}
    for part in (estimator.get_params(deep=False), fitted):
        for key in sorted(part):
            digest.update(key.encode())
            _feed(digest, part[key], walk)


def held_by_content(value):
    """Whether ``value`` counts by what it holds: an object of a class of
    the user's code, a dataclass, a namespace, an array object (pandas)."""
    cls = type(value)
    return (not _in_library(cls.__module__)
            or dataclasses.is_dataclass(cls)
            or cls in (types.SimpleNamespace, argparse.Namespace)
            or hasattr(cls, "__array__"))


def _state(value):
    """An object's attributes (its pickled state), or ``None`` if it gives
    none."""
    getstate = getattr(type(value), "__getstate__", None)
    try:
        return getstate(value) if getstate is not None else vars(value)
    except Exception:       # noqa: BLE001 - an object that will not say: its type
        return None


# -- functions ----------------------------------------------------------------------


def _feed_callable(digest, value, walk):
    """What a callable computes: a function of the user's code by its code,
    defaults, closure, attributes and what it reads (see
    :func:`_read_globals`); a partial by its function and arguments; a bound
    method by its function and object; a callable object by its class's
    code and its state; a library's function by its name. The name alone
    told two lambdas, or two partials of one function, apart not at all."""
    module = getattr(value, "__module__", None)
    name = getattr(value, "__qualname__", None) or getattr(value, "__name__", None)
    digest.update(f"<{module}.{name}>".encode())
    if isinstance(value, functools.partial):
        _feed(digest, [value.func, value.args, value.keywords], walk)
    elif isinstance(value, types.MethodType):
        _feed(digest, [value.__func__, value.__self__], walk)
    elif isinstance(value, types.FunctionType):
        if not _in_library(module):
            _feed_function(digest, value, walk)
        elif not _named_by_module(value, module, name):
            # made by a library's factory: what it was made with
            _feed(digest, [value.__defaults__, value.__kwdefaults__, _cells(value)], walk)
    elif not (_in_library(module) and _named_by_module(value, module, name)):
        cls = type(value)
        digest.update(f"<{cls.__module__}.{cls.__qualname__}>".encode())
        if not _in_library(cls.__module__):
            _feed_class(digest, cls, walk)
        _feed(digest, _state(value), walk)


def _feed_function(digest, function, walk):
    code = function.__code__
    _feed_code(digest, code)
    _feed(digest, [function.__defaults__, function.__kwdefaults__, _cells(function),
                   dict(vars(function)),
                   _read_globals(function.__globals__, _code_names(code))], walk)


def _feed_class(digest, cls, walk):
    """A class of the user's code, by what it defines (see :func:`_defined`)."""
    _feed(digest, _defined(cls), walk)


def _defined(cls):
    """What a class of the user's code and its bases of the user's code
    define (methods, fed by their code; class attributes, by content)."""
    return {f"{owner.__qualname__}.{name}": value
            for owner in cls.__mro__ if not _in_library(owner.__module__)
            for name, value in vars(owner).items()
            if not (name.startswith("__") and name.endswith("__")) or name == "__call__"}


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
    global, and of a module of the user's code it names, the attributes it
    names (``config.SCALE``; a class, or an object of a class, of the user's
    code is fed with its class's code and attributes)."""
    read = {}
    for key in sorted(names):
        if key not in scope:
            continue
        value = scope[key]
        if isinstance(value, types.ModuleType):
            if not _in_library(value.__name__):
                read[key] = {attr: vars(value)[attr] for attr in sorted(names)
                             if attr in vars(value)
                             and not isinstance(vars(value)[attr], types.ModuleType)}
        elif isinstance(value, type):
            if not _in_library(value.__module__):
                read[key] = _defined(value)
        else:
            read[key] = value
    return read


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
    library, site-packages, a built-in module, this package), not the
    user's own."""
    if module == "__main__":    # a script's, or a notebook's (its kernel's file)
        return False
    if module is None:
        return False
    if module.split(".")[0] == __name__.split(".")[0]:
        return True
    found = sys.modules.get(module)
    if found is None:
        return module.split(".")[0] in sys.builtin_module_names
    path = getattr(found, "__file__", None)
    return path is None or path.startswith(_LIBRARY_PATHS)


#: Where installed code lives.
_LIBRARY_PATHS = tuple(sorted({
    *(sysconfig.get_paths()[key] for key in ("stdlib", "platstdlib", "purelib", "platlib")),
    *site.getsitepackages()}))
