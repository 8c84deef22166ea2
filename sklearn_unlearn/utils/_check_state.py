"""What the unlearning checks measure of an estimator: its state, its
outputs and parameters, and its saved files."""

import io
import pickle

import joblib
import numpy as np
from sklearn.linear_model._base import LinearClassifierMixin, LinearModel
from sklearn.neural_network._multilayer_perceptron import BaseMultilayerPerceptron
from sklearn.utils._response import _check_response_method

#: Every type a skops file of an estimator of this package may name beside
#: those skops trusts itself (the lists of doc/persistence.rst).
TRUSTED_TYPES = (
    "sklearn._loss.loss.HalfTweedieLoss",
    "sklearn._loss.loss.HalfTweedieLossIdentity",
    "sklearn.neural_network._stochastic_optimizers.AdamOptimizer",
    "sklearn.neural_network._stochastic_optimizers.SGDOptimizer",
    "sklearn_unlearn._fingerprints.RowFingerprints",
    "sklearn_unlearn._plausibility.LossProfile",
    "sklearn_unlearn._report.RequestReport",
    "sklearn_unlearn._training_rows.TrainingRows",
    "sklearn_unlearn.certified._certificate.Certificate",
    "sklearn_unlearn.certified._certificate.LedgerEntry",
    "sklearn_unlearn.certified._removal.CertifiedRemoval",
    "sklearn_unlearn.linear_model._glm.UnlearnableGammaRegressor",
    "sklearn_unlearn.linear_model._glm.UnlearnablePoissonRegressor",
    "sklearn_unlearn.linear_model._glm.UnlearnableTweedieRegressor",
    "sklearn_unlearn.linear_model._logistic.UnlearnableLogisticRegression",
    "sklearn_unlearn.linear_model._ridge.UnlearnableRidge",
    "sklearn_unlearn.linear_model._svc.UnlearnableLinearSVC",
    "sklearn_unlearn.losses._glm.BinaryLogLoss",
    "sklearn_unlearn.losses._glm.HalfGammaLoss",
    "sklearn_unlearn.losses._glm.HalfPoissonLoss",
    "sklearn_unlearn.losses._glm.HalfSquaredError",
    "sklearn_unlearn.losses._glm.HalfTweedieLoss",
    "sklearn_unlearn.losses._glm.MultinomialLogLoss",
    "sklearn_unlearn.losses._glm.SquaredHinge",
    "sklearn_unlearn.neural_network._multilayer_perceptron.UnlearnableMLPClassifier",
    "sklearn_unlearn.neural_network._multilayer_perceptron.UnlearnableMLPRegressor",
    "sklearn_unlearn.pipeline._pipeline.UnlearningPipeline",
    "sklearn_unlearn.pipeline._report.PipelineRequestReport",
    "sklearn_unlearn.solvers._cache.UnlearningCache",
    "sklearn_unlearn.solvers.hessian._entry_sides.EntrySides",
    "sklearn_unlearn.solvers.bounds._drift.Drift",
    "sklearn_unlearn.solvers.objective._design.LinearDesign",
    "sklearn_unlearn.solvers.hessian._factored.FactoredHessian",
    "sklearn_unlearn.solvers.hessian._lowrank.LowRankHessian",
    "sklearn_unlearn.solvers.hessian._sketch.SketchCore",
    "sklearn_unlearn.solvers.objective._objective.LinearObjective",
    "sklearn_unlearn.solvers.hessian._pending.PendingMatrix",
    "sklearn_unlearn.solvers.hessian._rows.RowCurvature",
)

#: The outputs compared, best first: scikit-learn's own order of preference
#: for a continuous response (the first the estimator provides is used).
RESPONSE_METHODS = ["decision_function", "predict_proba", "predict"]


def state_hash(estimator):
    """A digest of every attribute, as pickle saves the estimator."""
    return joblib.hash(estimator)


def outputs(estimator, X):
    """The estimator's first response of :data:`RESPONSE_METHODS` on ``X``,
    as float64."""
    method = _check_response_method(estimator, RESPONSE_METHODS)
    return np.asarray(method(X), dtype=np.float64)


def parameters(estimator):
    """The parameters scikit-learn's base class declares (``coef_`` and
    ``intercept_`` of a linear model, ``coefs_`` and ``intercepts_`` of a
    perceptron), raveled into one vector; ``None`` for any other estimator."""
    if isinstance(estimator, (LinearModel, LinearClassifierMixin)):
        return np.r_[np.ravel(estimator.coef_), np.ravel(estimator.intercept_)]
    if isinstance(estimator, BaseMultilayerPerceptron):
        return np.concatenate([np.ravel(a) for a in
                               [*estimator.coefs_, *estimator.intercepts_]])
    return None


def distance(a, b, X, *, with_parameters=True):
    """``{what: ||a - b||}`` of the outputs on ``X`` and of the parameters."""
    out = {"outputs": float(np.linalg.norm(outputs(a, X) - outputs(b, X)))}
    if not with_parameters:
        return out
    pa, pb = parameters(a), parameters(b)
    if pa is not None and pb is not None and pa.shape == pb.shape:
        out["parameters"] = float(np.linalg.norm(pa - pb))
    return out


def round_trips(estimator):
    """``[(format, loaded copy)]``: pickle, joblib and, when it is installed,
    skops with :data:`TRUSTED_TYPES` and the estimator's own class."""
    out = [("pickle", pickle.loads(pickle.dumps(estimator)))]
    buf = io.BytesIO()
    joblib.dump(estimator, buf)
    buf.seek(0)
    out.append(("joblib", joblib.load(buf)))
    try:
        import skops.io as sio
    except ImportError:
        return out
    blob = sio.dumps(estimator)
    own = f"{type(estimator).__module__}.{type(estimator).__qualname__}"
    untrusted = sio.get_untrusted_types(data=blob)
    unexpected = set(untrusted) - set(TRUSTED_TYPES) - {own}
    assert not unexpected, (
        f"{type(estimator).__name__}: a skops file names types outside the "
        f"trusted lists of the persistence guide: {sorted(unexpected)}."
    )
    out.append(("skops", sio.loads(blob, trusted=untrusted)))
    return out
