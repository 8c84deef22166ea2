"""Target encoding of the linear classifiers."""

import numpy as np
from sklearn.linear_model._base import LinearClassifierMixin
from sklearn.utils import column_or_1d
from sklearn.utils.class_weight import compute_class_weight

from .._locks import held_read
from .._request import check_training_weights
from ._base import UnlearnableLinearMixin


class UnlearnableClassifierMixin(UnlearnableLinearMixin):
    """Target encoding of linear classifiers: binary, multinomial or one-vs-rest."""

    # "multinomial" (coupled softmax) or "ovr" (one binary problem per class)
    _multiclass_scheme = "multinomial"
    _chunked_classifier = True

    # every prediction reads coef_ and intercept_ through it
    decision_function = held_read(LinearClassifierMixin.decision_function)

    def _balanced(self):
        return isinstance(self.class_weight, str)

    def _chunk_classes(self, current=False):
        if self._balanced() and not current:
            raise ValueError(
                "class_weight='balanced' depends on the class counts of the whole "
                "data, which a fit by chunks does not see at once: fix the weights "
                "with a dict (see sklearn.utils.class_weight.compute_class_weight).")
        return self.classes_

    def _chunk_encoder(self, classes, current=False):
        encoder = super()._chunk_encoder(classes, current)
        if current and self._balanced():
            encoder._fitted_class_weight = self._request_targets_weights()
        return encoder

    def _unlearn_n_outputs(self, y_shape):
        return 1 if len(self.classes_) == 2 else len(self.classes_)

    def _class_weights(self, y_index, sample_weight):
        if self.class_weight is None:
            return np.ones(len(self.classes_))
        if isinstance(self.class_weight, str):
            # "balanced": from the classes' sample weights as the parent takes
            # them, over every row given (the training rows)
            weights = compute_class_weight(
                self.class_weight, classes=np.arange(len(self.classes_)), y=y_index,
                sample_weight=sample_weight)
            if not np.all(np.isfinite(weights)):
                empty = self.classes_[~np.isfinite(weights)].tolist()
                raise ValueError(
                    f"class_weight='balanced' gives the classes {empty} an infinite "
                    "weight: their rows have a total sample weight of 0. Give them "
                    "positive weights, leave their rows out, or set class_weight "
                    "to a dict.")
            return weights
        return np.array([self.class_weight.get(c, 1.0) for c in self.classes_])

    def _fit_unlearning_cache(self, X, y, sample_weight, hessians=None):
        super()._fit_unlearning_cache(X, y, sample_weight, hessians=hessians)
        if not self._balanced():
            self.__dict__.pop("_fitted_class_weight", None)
            return
        # "balanced" reads every label: the fit's weights, which a request
        # that leaves every class's weight as it is (an edit of features)
        # keeps, are those a request's rows and the current rows (whatever
        # their order: the weights are sums over them) are encoded with
        index = np.searchsorted(self.classes_, column_or_1d(y, warn=False))
        self._fitted_class_weight = self._class_weights(
            index, check_training_weights(sample_weight, X))

    def _request_targets(self, y, sample_weight):
        if not self._balanced():
            return self._unlearn_targets(y, sample_weight)
        return self._unlearn_targets(y, sample_weight,
                                     class_weight=self._request_targets_weights())

    def _request_targets_weights(self):
        """The balanced class weights of the fit."""
        fitted = self.__dict__.get("_fitted_class_weight")
        if fitted is None:
            raise ValueError(
                "This model with class_weight='balanced' holds no class weights "
                "from a fit (saved by an older version of sklearn-unlearn), which "
                "its requests and the passes over its rows need. Nothing was "
                "changed. Fit it again.")
        return fitted

    def _unlearn_targets(self, y, sample_weight, class_weight=None):
        if not (isinstance(y, np.ndarray) and y.ndim == 1):     # validated already
            y = column_or_1d(y, warn=False)
        idx = np.searchsorted(self.classes_, y)
        cw = (self._class_weights(idx, sample_weight) if class_weight is None
              else class_weight)
        n, K = len(y), len(self.classes_)
        row_weight = sample_weight * cw[idx]
        if K == 2:
            Y = np.where(idx == 1, 1.0, -1.0)[:, None]
            S = row_weight[:, None]
        elif self._multiclass_scheme == "multinomial":
            Y = np.zeros((n, K))
            Y[np.arange(n), idx] = 1.0
            S = row_weight[:, None]
        else:
            Y = np.where(idx[:, None] == np.arange(K), 1.0, -1.0)
            # liblinear weighs the positive class of each binary problem only.
            S = sample_weight[:, None] * np.where(Y > 0, cw[None, :], 1.0)
        return Y, S, row_weight, idx, K

    def _unlearn_check_request(self, request):
        if not self._balanced():
            return
        edit = (request.X_old is not None and request.X_new is not None
                and np.array_equal(request.y_old, request.y_new))
        if not edit:
            raise ValueError(
                "class_weight='balanced' makes every sample's weight depend on the "
                "class counts, so a deletion, an insertion or a label change "
                "reweights the whole training set and cannot be undone from the "
                "cache; only edits of features (the same labels in y_old and "
                "y_new) can. Nothing was changed. Fit with the weights fixed "
                "instead, e.g. class_weight=dict(zip(classes, "
                "compute_class_weight('balanced', classes=classes, y=y))), or "
                "retrain."
            )
