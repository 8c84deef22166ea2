"""Build the corrected rows of the two common requests."""

import numpy as np
import scipy.sparse as sp


def _column_indices(X, columns):
    names = getattr(X, "columns", None)
    cols = np.atleast_1d(columns)
    if cols.dtype.kind in "OUS":
        if names is None:
            raise ValueError(
                "Columns given by name need a pandas DataFrame; pass integer "
                "positions for arrays."
            )
        missing = [c for c in cols if c not in set(names)]
        if missing:
            raise ValueError(f"Unknown columns {missing}; X has {list(names)}.")
        return np.array([list(names).index(c) for c in cols])
    cols = cols.astype(int)
    n = X.shape[1]
    if np.any((cols < -n) | (cols >= n)):
        raise ValueError(f"Column positions {cols.tolist()} out of range for {n} columns.")
    return cols % n


def replace_features(X, columns, values):
    """Return a copy of ``X`` with ``columns`` set to ``values``.

    Builds ``X_new`` for a feature-unlearning request: the rows as they were
    (``X``) with a sensitive column replaced, e.g. by a default or an average.

    Parameters
    ----------
    X : {array-like, sparse matrix, DataFrame} of shape (k, n_features)
        The affected rows as trained on.
    columns : int, str or sequence of them
        Positions, or names for a DataFrame.
    values : scalar or array-like broadcastable to ``(k, len(columns))``
        The replacement values.

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
    """
    cols = _column_indices(X, columns)
    if hasattr(X, "iloc"):
        out = X.copy()
        out.iloc[:, cols] = np.broadcast_to(values, (len(out), len(cols)))
        return out
    if sp.issparse(X):
        out = X.tolil(copy=True)
        out[:, cols] = np.broadcast_to(values, (X.shape[0], len(cols)))
        return type(X)(out.asformat(X.format))
    out = np.array(X, dtype=np.result_type(np.asarray(X).dtype, np.float64), copy=True)
    out[:, cols] = values
    return out


def zero_features(X, columns):
    """Return a copy of ``X`` with ``columns`` set to zero.

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
    """
    if sp.issparse(X):
        cols = _column_indices(X, columns)
        out = X.tocsc(copy=True)
        for c in cols:
            out.data[out.indptr[c]:out.indptr[c + 1]] = 0.0
        out.eliminate_zeros()
        return out.asformat(X.format)
    return replace_features(X, columns, 0.0)
