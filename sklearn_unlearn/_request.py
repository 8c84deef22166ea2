"""Validation of an unlearning request, shared by every unlearnable estimator."""

from dataclasses import dataclass
from numbers import Real

import numpy as np
import scipy.sparse as sp
from sklearn.base import ClassifierMixin, RegressorMixin, is_classifier
from sklearn.utils import check_array
from sklearn.utils.validation import _check_sample_weight, validate_data

UNLEARN_METHODS = ("auto", "second_order", "first_order", "refined")


def check_training_weights(sample_weight, X, **kwargs):
    """``sample_weight`` of training rows as scikit-learn takes it (none:
    ones; a scalar: one for every row), refusing negative weights.

    A row of negative weight takes curvature out of the objective, which
    the residual bound's derivation assumes no row does (a bound then
    under-reports), and no request could erase the row (requests take
    non-negative weights, as here).
    """
    sw = _check_sample_weight(sample_weight, X, dtype=np.float64, **kwargs)
    if np.any(sw < 0):
        raise ValueError(
            f"sample_weight has {int(np.sum(sw < 0))} negative values (smallest "
            f"{float(sw.min()):.6g}): unlearning needs non-negative weights, for the "
            "residual bound and for a request to erase every row. Drop those rows, "
            "or give them weight 0.")
    return sw


@dataclass
class Request:
    """A validated request: the rows as trained on and as they should be.

    ``X_old``/``y_old`` are ``None`` for an insertion, ``X_new``/``y_new`` for a
    deletion. ``sample_weight`` applies to the rows of both sides.
    """

    X_old: object
    y_old: np.ndarray | None
    X_new: object
    y_new: np.ndarray | None
    sample_weight: np.ndarray


def plain(value):
    """A value as a user wrote it, for a message (no ``np.int64(...)``);
    labels may be Python objects."""
    return value.item() if isinstance(value, np.generic) else value


def _plain_rows(estimator, X):
    """Whether ``X`` is a C-ordered float64 array of finite values and the
    fitted width, for an estimator fitted without feature names: what
    ``validate_data`` would return unchanged, at a tenth of its cost on a
    small request."""
    if not (
        type(X) is np.ndarray and X.dtype == np.float64 and X.ndim == 2
        and X.flags.c_contiguous and X.shape[0] > 0
        and X.shape[1] == getattr(estimator, "n_features_in_", -1)
        and not hasattr(estimator, "feature_names_in_")
    ):
        return False
    # a finite sum proves every value finite; an overflow (finite rows of
    # huge values) goes the long way, so it is no cause for a warning
    with np.errstate(over="ignore", invalid="ignore"):
        return bool(np.isfinite(X.sum()))


def check_sparse_structure(X, name):
    """Refuse a sparse matrix whose index arrays do not describe its shape:
    a column or row index out of range, or row pointers that decrease or
    pass the stored entries.

    SciPy's conversions and scikit-learn's checks read the index arrays
    without checking them (SciPy's ``check_format(full_check=True)`` does,
    but may rewrite them), so such a matrix reads and writes memory outside
    its arrays: a request changed the model, and the process could abort
    later. The check reads the index arrays once and changes nothing.
    """
    if not sp.issparse(X) or X.format not in ("csr", "csc", "bsr", "coo"):
        return        # the other formats keep their entries in checked containers
    if X.format == "coo":
        coords = X.coords if hasattr(X, "coords") else (X.row, X.col)
        problem = next((f"an index of axis {axis} is out of range"
                        for axis, (index, size) in enumerate(zip(coords, X.shape))
                        if len(index) and not (0 <= index.min() and index.max() < size)),
                       None)
        if problem is None and any(len(index) != len(X.data) for index in coords):
            problem = "its index arrays and its values differ in length"
    else:
        major, minor = (X.shape if X.format != "csc" else X.shape[::-1])
        if X.format == "bsr":
            major, minor = major // X.blocksize[0], minor // X.blocksize[1]
        problem = _compressed_problem(X.indptr, X.indices, len(X.data), major, minor,
                                      "column" if X.format == "csc" else "row")
    if problem is not None:
        raise ValueError(
            f"{name} is a sparse {X.format.upper()} matrix whose structure is invalid: "
            f"{problem}. Build it again from its entries (scipy.sparse's "
            "check_format(full_check=True) says what is wrong). Nothing was changed.")


def _compressed_problem(indptr, indices, n_values, major, minor, axis):
    """What is wrong with the pointers and indices of a compressed sparse
    matrix of ``major`` lines (``axis``: rows, or columns for CSC; blocks
    for BSR) of ``minor`` entries each, or ``None``."""
    other = "column" if axis == "row" else "row"
    if indptr.ndim != 1 or len(indptr) != major + 1:
        return f"it has {len(indptr)} {axis} pointers for {major} {axis}s"
    if indptr[0] != 0 or np.any(np.diff(indptr) < 0):
        return f"its {axis} pointers do not start at 0 and increase"
    end = indptr[-1]
    if end > len(indices) or end > n_values:
        return (f"its {axis} pointers end at {end}, past its "
                f"{min(len(indices), n_values)} entries")
    used = indices[:end]
    if len(used) and not (0 <= used.min() and used.max() < minor):
        return f"a {other} index is out of range [0, {minor})"
    return None


def _check_rows(estimator, X, name):
    if _plain_rows(estimator, X):
        return X
    check_sparse_structure(X, name)
    try:
        return validate_data(
            estimator, X, reset=False, accept_sparse="csr", dtype=np.float64,
            ensure_all_finite=True,
        )
    except ValueError as exc:
        raise ValueError(f"{name}: {exc}") from exc
    except TypeError as exc:        # values numpy cannot make numbers of (dates)
        raise ValueError(
            f"{name} cannot be read as numbers ({exc}). Pass the features as "
            "the model was fitted on them. Nothing was changed.") from exc


def _plain_targets(y):
    """Whether ``y`` is a float64 array of finite values with one or two
    axes: what ``check_array`` would return unchanged, without its checks
    for data frames (a tenth of a small request)."""
    if not (type(y) is np.ndarray and y.dtype == np.float64 and y.ndim in (1, 2)
            and y.size > 0):
        return False
    with np.errstate(over="ignore", invalid="ignore"):   # as for the rows
        return bool(np.isfinite(y.sum()))


def _labels_1d(y, name):
    """Labels as a 1-d array: ``column_or_1d`` without its checks for data
    frames, which cost more than the rest of a small request."""
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim != 1:
        raise ValueError(
            f"{name} has shape {y.shape}: pass one label per row, as a 1-d array."
        )
    return y


def _known_labels(y, classes):
    """Whether each label is one of ``classes``, for labels that do not sort
    with them; a missing value (``pd.NA``, whose truth is undefined) is
    none."""
    try:
        return np.isin(y, classes)
    except TypeError:
        pass
    known = np.zeros(len(y), dtype=bool)
    for i, label in enumerate(y):
        try:
            known[i] = any(bool(label == c) for c in classes)
        except TypeError:
            pass
    return known


def _distinct(labels):
    """The distinct ``labels`` as plain values, for a message."""
    try:
        return np.unique(labels).tolist()
    except TypeError:
        return list(dict.fromkeys(map(repr, labels)))


def _complex_entries(y):
    """Which entries of ``y`` are complex numbers (a mask; ``None`` when
    ``y`` is not an array numpy can make, which other checks refuse)."""
    try:
        y = np.asarray(y)
    except (TypeError, ValueError):
        return None
    if y.dtype.kind == "c":
        return np.ones(y.shape, dtype=bool)
    if y.dtype != object:
        return np.zeros(y.shape, dtype=bool)
    return np.array([isinstance(v, (complex, np.complexfloating)) for v in y.ravel()],
                    dtype=bool).reshape(y.shape)


def _check_targets(estimator, y, n_rows, name, classifier):
    if classifier:
        y = _labels_1d(y, name)
        complex_ = _complex_entries(y)
        if complex_.any():
            # scikit-learn fits no complex target; 1+0j == 1 would pass
            # for a class here and fail in the model's label encoding
            raise ValueError(
                f"{name} contains complex labels {_distinct(y[complex_])}: the model "
                f"was trained on real ones (classes_={estimator.classes_.tolist()}). "
                "Nothing was changed."
            )
        classes = estimator.classes_
        try:
            # classes_ is sorted: a label is known iff it sits where it sorts
            pos = np.minimum(np.searchsorted(classes, y), len(classes) - 1)
            known = np.asarray(classes[pos] == y, dtype=bool)
        except TypeError:            # labels not comparable with classes_
            known = _known_labels(y, classes)
        if not known.all():
            unknown = _distinct(y[~known])
            raise ValueError(
                f"{name} contains labels {unknown} that the model was not "
                f"trained on (classes_={estimator.classes_.tolist()}). A new class "
                "changes the model's outputs and needs retraining; unlearning "
                "only moves points between known classes."
            )
    else:
        if not _plain_targets(y):
            try:
                y = check_array(y, ensure_2d=False, dtype=np.float64,
                                ensure_all_finite=True, input_name=name)
            except (TypeError, ValueError):
                # a complex target fails there with the whole array in
                # the message, or a TypeError from float()
                complex_ = _complex_entries(y)
                if complex_ is not None and complex_.any():
                    raise ValueError(
                        f"{name} has complex values: the model was trained on "
                        "real targets. Nothing was changed.") from None
                raise
        n_targets = estimator._unlearn_n_targets()
        if n_targets is None:
            if y.ndim == 2 and y.shape[1] == 1:
                y = y[:, 0]
            if y.ndim != 1:
                raise ValueError(
                    f"{name} has shape {y.shape} but the model was trained on a "
                    "single target: pass one value per row."
                )
        elif y.ndim != 2 or y.shape[1] != n_targets:
            raise ValueError(
                f"{name} has shape {y.shape} but the model was trained on "
                f"{n_targets} targets: pass an array of shape (n_rows, {n_targets})."
            )
    if len(y) != n_rows:
        raise ValueError(
            f"{name} has {len(y)} rows but the matching X has {n_rows}: every "
            "affected row needs its target."
        )
    return y


def check_method(estimator, method, methods):
    """Refuse a ``method`` the estimator does not take."""
    if not (isinstance(method, str) and method in methods):
        raise ValueError(
            f"method={method!r} is not supported by {type(estimator).__name__}: use "
            f"one of {list(methods)}."
        )


def check_tau(tau):
    """Refuse a first-order rate that is neither ``"auto"`` nor a number >= 0."""
    if not ((isinstance(tau, str) and tau == "auto")
            or (isinstance(tau, Real) and np.isfinite(tau) and tau >= 0)):
        raise ValueError(f"tau must be 'auto' or a non-negative number, got {tau!r}.")


def validate_request(estimator, X_old, X_new, y_old, y_new, sample_weight):
    """Check a request against a fitted estimator and return a :class:`Request`.

    Raises a ``ValueError`` that says what is wrong and how to fix it; the
    estimator is not touched.
    """
    if X_old is None and X_new is None:
        raise ValueError(
            "Nothing to unlearn: pass X_old (the affected rows as trained on) "
            "and/or X_new (the rows as they should be)."
        )
    if X_old is None:
        if y_old is not None:
            raise ValueError("y_old was given without X_old: pass both or neither.")
        if y_new is None:
            raise ValueError(
                "Inserting rows (X_old=None) needs their targets: pass y_new."
            )
    elif y_old is None:
        raise ValueError(
            "y_old is required: the targets of the affected rows as trained on "
            "(for a label-only change pass the same X twice with y_new)."
        )
    if X_new is None and y_new is not None:
        raise ValueError(
            "y_new was given without X_new: to change labels pass the same rows "
            "as X_old and X_new; to delete rows leave both X_new and y_new None."
        )

    Xo = _check_rows(estimator, X_old, "X_old") if X_old is not None else None
    Xn = _check_rows(estimator, X_new, "X_new") if X_new is not None else None
    if Xo is not None and Xn is not None and Xo.shape[0] != Xn.shape[0]:
        raise ValueError(
            f"X_old has {Xo.shape[0]} rows but X_new has {Xn.shape[0]}: row i of "
            "X_new is the corrected row i of X_old. Delete or insert rows in "
            "separate requests (X_new=None or X_old=None)."
        )
    # the type from the class where it says: the tags cost a twentieth of a
    # small request
    if isinstance(estimator, (ClassifierMixin, RegressorMixin)):
        classifier = isinstance(estimator, ClassifierMixin)
    else:
        classifier = is_classifier(estimator)
    yo = (_check_targets(estimator, y_old, Xo.shape[0], "y_old", classifier)
          if Xo is not None else None)
    if Xn is not None:
        yn = _check_targets(
            estimator, y_new if y_new is not None else y_old, Xn.shape[0],
            "y_new" if y_new is not None else "y_old", classifier,
        )
    else:
        yn = None
    ref = Xo if Xo is not None else Xn
    if sample_weight is None:
        sw = np.ones(ref.shape[0])
    else:
        # rows trained with weight zero are training rows too: kept rows and
        # fingerprints hold them, so a request may take them alone
        sw = check_training_weights(sample_weight, ref, allow_all_zero_weights=True)
    return Request(X_old=Xo, y_old=yo, X_new=Xn, y_new=yn, sample_weight=sw)
