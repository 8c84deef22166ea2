"""What a certified model delegates to its fitted estimator: predictions,
scores, fitted attributes and tags."""

import copy

from sklearn.utils import get_tags
from sklearn.utils.metaestimators import available_if
from sklearn.utils.validation import check_is_fitted

from ._structure import split


def _final_has(attr):
    def check(self):
        est = self.estimator_ if hasattr(self, "estimator_") else self.estimator
        return hasattr(split(est)[1], attr)

    return check


class DelegatingMixin:
    """Predictions, scores and fitted attributes delegated to ``estimator_``
    (a method is there when the final step has it), and the tags of the
    wrapped estimator."""

    @available_if(_final_has("predict"))
    def predict(self, X):
        """Predict with the certified model.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        y_pred : ndarray of shape (n_samples,)
        """
        check_is_fitted(self)
        return self.estimator_.predict(X)

    @available_if(_final_has("predict_proba"))
    def predict_proba(self, X):
        """Class probabilities of the certified model.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        proba : ndarray of shape (n_samples, n_classes)
        """
        check_is_fitted(self)
        return self.estimator_.predict_proba(X)

    @available_if(_final_has("predict_log_proba"))
    def predict_log_proba(self, X):
        """Log class probabilities of the certified model.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        log_proba : ndarray of shape (n_samples, n_classes)
        """
        check_is_fitted(self)
        return self.estimator_.predict_log_proba(X)

    @available_if(_final_has("decision_function"))
    def decision_function(self, X):
        """Decision function of the certified model.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        scores : ndarray of shape (n_samples,) or (n_samples, n_classes)
        """
        check_is_fitted(self)
        return self.estimator_.decision_function(X)

    @available_if(_final_has("score"))
    def score(self, X, y, sample_weight=None):
        """Score of the certified model (accuracy or R^2).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,)
        sample_weight : array-like of shape (n_samples,), default=None

        Returns
        -------
        score : float
        """
        check_is_fitted(self)
        return self.estimator_.score(X, y, sample_weight=sample_weight)

    @property
    def classes_(self):
        """Class labels of the final step."""
        return split(self.estimator_)[1].classes_

    @property
    def n_features_in_(self):
        """Number of features seen during fit."""
        return self.estimator_.n_features_in_

    @property
    def feature_names_in_(self):
        """Feature names seen during fit, when they were strings."""
        return self.estimator_.feature_names_in_

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        sub = get_tags(self.estimator)
        tags.estimator_type = sub.estimator_type
        tags.classifier_tags = copy.deepcopy(sub.classifier_tags)
        tags.regressor_tags = copy.deepcopy(sub.regressor_tags)
        tags.input_tags.sparse = sub.input_tags.sparse
        tags.target_tags.required = True
        tags.target_tags.multi_output = sub.target_tags.multi_output
        tags.target_tags.single_output = sub.target_tags.single_output
        return tags
