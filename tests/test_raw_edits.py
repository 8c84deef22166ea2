"""zero_features and replace_features on raw DataFrames (numeric,
categorical, string, datetime columns), by names or positions, and their
behaviour on arrays and sparse matrices kept."""

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from sklearn_unlearn import replace_features, zero_features


def _raw():
    return pd.DataFrame({
        "age": [31, 45, 52],
        "income": [1.5, 2.5, np.nan],
        "sex": ["F", "M", "F"],
        "region": pd.Categorical(["north", "south", "north"]),
        "joined": pd.to_datetime(["2020-01-02", "2021-03-04", "2019-05-06"]),
        "member": [True, False, True],
    })


def test_zero_features_zeroes_numbers_and_empties_the_other_columns():
    X = _raw()
    out = zero_features(X, ["age", "income", "sex", "region", "joined", "member"])
    assert out["age"].tolist() == [0, 0, 0] and out["age"].dtype == X["age"].dtype
    assert out["income"].tolist() == [0.0, 0.0, 0.0]
    assert out["sex"].isna().all() and out["sex"].dtype == X["sex"].dtype
    assert out["region"].isna().all()
    assert out["region"].dtype == X["region"].dtype          # categories kept
    assert out["joined"].isna().all() and out["joined"].dtype.kind == "M"
    assert out["member"].isna().all()                        # bool turns float
    pd.testing.assert_frame_equal(X, _raw())                 # a copy


def test_replace_features_by_a_value_or_a_missing_value_by_name_or_position():
    X = _raw()
    out = replace_features(X, ["sex", "joined"], ["U", pd.Timestamp("2000-01-01")])
    assert out["sex"].tolist() == ["U"] * 3
    assert (out["joined"] == pd.Timestamp("2000-01-01")).all()
    out = replace_features(X, 3, "west")          # a new category, by position
    assert out["region"].tolist() == ["west"] * 3
    assert "west" in out["region"].cat.categories
    out = replace_features(X, [0], None)          # an int column turns float
    assert out["age"].isna().all() and out["age"].dtype == np.float64
    # values per row
    out = replace_features(X, ["income"], np.array([[1.0], [np.nan], [3.0]]))
    assert out["income"].tolist()[::2] == [1.0, 3.0] and np.isnan(out["income"][1])


def test_a_value_a_column_cannot_hold_is_refused_clearly():
    with pytest.raises(ValueError, match="'joined'.*cannot hold"):
        replace_features(_raw(), "joined", "not a date")
    with pytest.raises(ValueError, match="Unknown columns"):
        zero_features(_raw(), ["nope"])
    with pytest.raises(ValueError, match="need a pandas DataFrame"):
        zero_features(np.ones((2, 2)), ["a"])


def test_arrays_and_sparse_keep_their_behaviour():
    A = np.array([[1, 2], [3, 4]])
    out = zero_features(A, [1])
    assert out.dtype == np.float64 and out.tolist() == [[1.0, 0.0], [3.0, 0.0]]
    assert replace_features(A, -1, 9).tolist() == [[1.0, 9.0], [3.0, 9.0]]
    S = sp.csr_matrix(A.astype(float))
    Z = zero_features(S, [0])
    assert sp.issparse(Z) and Z.nnz == 2 and Z.toarray().tolist() == [[0, 2], [0, 4]]
    O = np.array([["F", 1.0], ["M", 2.0]], dtype=object)
    assert zero_features(O, [0])[:, 0].tolist() == [None, None]
