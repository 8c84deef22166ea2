"""Build the corrected rows of the two common requests.

Both work on arrays, sparse matrices and raw DataFrames (numeric,
categorical, string and datetime columns), with columns given by position or,
for a DataFrame, by name.
"""

import numpy as np
import pandas as pd
import scipy.sparse as sp


def _column_indices(X, columns):
    names = getattr(X, "columns", None)
    cols = np.atleast_1d(np.asarray(columns, dtype=object))
    if any(isinstance(c, str) for c in cols):
        if names is None:
            raise ValueError(
                "Columns given by name need a pandas DataFrame; pass integer "
                "positions for arrays."
            )
        known = list(names)
        missing = [c for c in cols if c not in known]
        if missing:
            raise ValueError(f"Unknown columns {missing}; X has {known}.")
        return np.array([known.index(c) for c in cols])
    cols = cols.astype(int)
    n = np.shape(X)[1]
    if np.any((cols < -n) | (cols >= n)):
        raise ValueError(f"Column positions {cols.tolist()} out of range for {n} columns.")
    return cols % n


def _is_missing(v):
    return v is None or v is pd.NA or v is pd.NaT or (isinstance(v, float) and np.isnan(v))


def _new_column(column, values):
    """``column`` with ``values`` (one per row; ``None`` for missing), in the
    column's dtype where it can hold them."""
    dtype = column.dtype
    missing = np.array([_is_missing(v) for v in values], dtype=bool)
    if dtype.kind in "iub" and missing.any():
        # integers and booleans have no missing value: the column turns float
        dtype = np.float64
    if isinstance(dtype, pd.CategoricalDtype):
        extra = pd.unique(pd.Series([v for v, m in zip(values, missing) if not m],
                                    dtype=object))
        extra = [v for v in extra if v not in set(dtype.categories)]
        if extra:
            dtype = pd.CategoricalDtype(list(dtype.categories) + extra, dtype.ordered)
    values = [None if m else v for v, m in zip(values, missing)]
    try:
        return pd.Series(values, index=column.index, dtype=dtype, name=column.name)
    except (TypeError, ValueError) as exc:
        raise ValueError(
            f"Column {column.name!r} of dtype {column.dtype} cannot hold the "
            f"replacement values ({exc}); give values of its kind, or None for a "
            "missing value."
        ) from None


def _replace_in_frame(X, cols, values):
    out = X.copy()
    vals = np.empty((len(X), len(cols)), dtype=object)
    vals[...] = np.broadcast_to(np.asarray(values, dtype=object), vals.shape)
    for j, c in enumerate(cols):
        out.isetitem(int(c), _new_column(X.iloc[:, c], vals[:, j]))
    return out


def replace_features(X, columns, values):
    """Return a copy of ``X`` with ``columns`` set to ``values``.

    Builds ``X_new`` for a feature-unlearning request: the rows as they were
    (``X``) with a sensitive column replaced, e.g. by a default, an average
    or a missing value.

    Parameters
    ----------
    X : {array-like, sparse matrix, DataFrame} of shape (k, n_features)
        The affected rows as trained on. A DataFrame may hold numeric,
        categorical, string and datetime columns.
    columns : int, str or sequence of them
        Positions, or names for a DataFrame.
    values : scalar or array-like broadcastable to ``(k, len(columns))``
        The replacement values. ``None`` (or NaN, NaT) is a missing value:
        NaN in a float column, NaT in a datetime column, a missing category
        or string (an integer or boolean column turns float to hold NaN).
        A new value in a categorical column becomes a new category of the
        copy. For a pipeline, use a value its steps handle: a
        OneHotEncoder with ``handle_unknown="ignore"`` encodes a missing
        or unseen category as zeros; an imputer fills a NaN.

    Returns
    -------
    X_new : same type as ``X``
        A copy; ``X`` is not changed.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_unlearn import replace_features
    >>> replace_features(np.array([[1., 2.], [3., 4.]]), [1], 9.0)
    array([[1., 9.],
           [3., 9.]])

    A string column of a DataFrame, by name, to a missing value:

    >>> import pandas as pd
    >>> X = pd.DataFrame({"age": [31, 45], "sex": ["F", "M"]})
    >>> replace_features(X, "sex", None)["sex"].isna().tolist()
    [True, True]
    """
    cols = _column_indices(X, columns)
    if hasattr(X, "iloc"):
        return _replace_in_frame(X, cols, values)
    if sp.issparse(X):
        out = X.tolil(copy=True)
        out[:, cols] = np.broadcast_to(values, (X.shape[0], len(cols)))
        return type(X)(out.asformat(X.format))
    X = np.asarray(X)
    if X.dtype.kind in "OUS":
        out = np.array(X, dtype=object, copy=True)
    else:
        out = np.array(X, dtype=np.result_type(X.dtype, np.float64), copy=True)
    out[:, cols] = values
    return out


def _numeric(column):
    return column.dtype.kind in "iufc" and not isinstance(column.dtype, pd.CategoricalDtype)


def zero_features(X, columns):
    """Return a copy of ``X`` with ``columns`` set to zero.

    In a DataFrame, the zero of a column that is not numeric (categorical,
    string, boolean, datetime) is its missing value: no category, which a
    OneHotEncoder with ``handle_unknown="ignore"`` encodes as zeros in every
    one of its output columns (see :func:`replace_features`). So is the zero
    of an object array's column.

    Parameters
    ----------
    X : {array-like, sparse matrix, DataFrame} of shape (k, n_features)
        The affected rows as trained on.
    columns : int, str or sequence of them
        Positions, or names for a DataFrame.

    Returns
    -------
    X_new : same type as ``X``
        A copy with the columns zeroed (sparse input stays sparse, without the
        zeros stored).

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_unlearn import zero_features
    >>> zero_features(np.array([[1., 2.], [3., 4.]]), 0)
    array([[0., 2.],
           [0., 4.]])
    >>> import pandas as pd
    >>> X = pd.DataFrame({"age": [31, 45], "sex": ["F", "M"]})
    >>> zero_features(X, ["age", "sex"]).values.tolist()
    [[0, nan], [0, nan]]
    """
    if sp.issparse(X):
        cols = _column_indices(X, columns)
        out = X.tocsc(copy=True)
        for c in cols:
            out.data[out.indptr[c]:out.indptr[c + 1]] = 0.0
        out.eliminate_zeros()
        return out.asformat(X.format)
    if hasattr(X, "iloc"):
        cols = _column_indices(X, columns)
        zeros = [0 if _numeric(X.iloc[:, c]) else None for c in cols]
        return _replace_in_frame(X, cols, np.array(zeros, dtype=object)[None, :])
    if np.asarray(X).dtype.kind in "OUS":
        return replace_features(X, columns, None)
    return replace_features(X, columns, 0.0)
