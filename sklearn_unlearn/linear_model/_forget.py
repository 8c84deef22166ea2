"""Whole features forgotten in every row, from the cache alone."""

from .._locks import serialised
from ._feature_change import feature_positions, forgotten_state


class ForgetFeaturesMixin:
    """:meth:`forget_features`, for the linear estimators (mixin of
    :class:`~sklearn_unlearn.linear_model.UnlearnableLinearMixin`)."""

    def forget_features(self, features):
        """Retrain, in closed form, as if ``features`` were zero in every row.

        No data is needed: the weights of the features are set to zero on the
        cached quadratic model of the objective, their rows and columns of the
        cached Hessian keep only the penalty (nothing of what the training
        rows held in these columns is left), and one Newton step takes the
        other parameters to the optimum without them: exactly for ridge, to
        second order otherwise. ``residual_bound_`` is then ``inf``.

        Parameters
        ----------
        features : int, str or sequence of them
            Positions, or names of ``feature_names_in_``.

        Returns
        -------
        self : object
            On any error it is left exactly as it was.

        Examples
        --------
        >>> import numpy as np
        >>> from sklearn.datasets import load_diabetes
        >>> from sklearn.linear_model import Ridge
        >>> from sklearn_unlearn import UnlearnableRidge, zero_features
        >>> X, y = load_diabetes(return_X_y=True)
        >>> reg = UnlearnableRidge(alpha=0.1).fit(X, y).forget_features([2, 8])
        >>> refit = Ridge(alpha=0.1).fit(zero_features(X, [2, 8]), y)
        >>> bool(np.allclose(reg.coef_, refit.coef_)), reg.coef_[2]
        (True, np.float64(0.0))
        """
        self._check_not_owned()
        self._checked_options({})
        positions = feature_positions(self, features)

        if self.__dict__.get("row_fingerprints_") is not None:
            raise ValueError(
                "This model keeps fingerprints of its training rows, digests of "
                "rows that hold the values of these features: forgetting the "
                "features without the rows would leave the digests. Refit on the "
                "rows with the features zeroed (with a new fingerprint_key). "
                "Nothing was changed."
            )

        def work():
            attrs, _ = forgotten_state(self, positions)
            # the losses of the rows were taken with the forgotten values
            attrs["training_loss_profile_"] = None
            return self._with_state(attrs)

        return serialised(self, work)
