"""What an unlearnable estimator can do, as scikit-learn tags: meta-estimators
decide by them, never by class names (see :mod:`sklearn_unlearn.base`)."""

from dataclasses import dataclass, field

from sklearn.utils import Tags, get_tags


@dataclass(slots=True)
class UnlearnTags:
    """What an unlearnable estimator can do.

    Parameters
    ----------
    certifiable : bool, default=False
        Its objective is strongly convex with a curvature whose change is
        bounded, so every request's gradient residual has a sound bound and
        :class:`~sklearn_unlearn.certified.CertifiedRemoval` can wrap it.
    exact : bool, default=False
        An update equals a refit on the corrected data up to round-off (the
        bound then only counts round-off, and certified removal needs no
        objective noise).
    residual_bound : bool, default=False
        With its current parameters, the estimator reports a finite bound on
        the gradient residual (``residual_bound_``).
    objective_noise : bool, default=False
        It takes the parameters ``objective_noise`` and ``residual_bound``
        with which certified removal trains it.
    convex : bool, default=True
        Its objective is convex, so a refit on the corrected data has one
        answer that an update moves towards.
    keeps_data : bool, default=False
        It keeps the training rows (as they are after every request).
    methods : tuple of str, default=("second_order",)
        The values its requests take for ``method``.
    measures_residual : bool, default=False
        It can measure its gradient residual on its current training data and
        start its bound again from the measurement
        (``rebase_residual_bound``).
    feature_changes : bool, default=False
        Its requests take ``feature_change=(scale, shift)``: every row's
        features change by ``z' = scale * z + shift`` (a scaler in front of
        it was unlearned), and the model moves to the refit on them.

    Examples
    --------
    >>> from sklearn_unlearn import UnlearnableLinearSVC, UnlearnableRidge
    >>> from sklearn_unlearn.base import get_unlearn_tags
    >>> tags = get_unlearn_tags(UnlearnableRidge())
    >>> tags.exact, tags.certifiable
    (True, True)
    >>> get_unlearn_tags(UnlearnableLinearSVC()).certifiable
    False
    """

    certifiable: bool = False
    exact: bool = False
    residual_bound: bool = False
    objective_noise: bool = False
    convex: bool = True
    keeps_data: bool = False
    methods: tuple = ("second_order",)
    measures_residual: bool = False
    feature_changes: bool = False


@dataclass(slots=True)
class UnlearnerTags(Tags):
    """scikit-learn's :class:`~sklearn.utils.Tags` with the unlearning tags.

    Parameters
    ----------
    unlearn_tags : UnlearnTags
        What the estimator can unlearn, and how.

    Examples
    --------
    >>> from sklearn.utils import get_tags
    >>> from sklearn_unlearn import UnlearnableLogisticRegression
    >>> tags = get_tags(UnlearnableLogisticRegression())
    >>> type(tags).__name__, tags.estimator_type
    ('UnlearnerTags', 'classifier')
    >>> tags.unlearn_tags.methods
    ('auto', 'second_order', 'first_order', 'refined')
    """

    unlearn_tags: UnlearnTags = field(default_factory=UnlearnTags)


def get_unlearn_tags(estimator):
    """The :class:`UnlearnTags` of ``estimator``, or ``None`` if it cannot unlearn.

    Parameters
    ----------
    estimator : estimator object

    Returns
    -------
    tags : UnlearnTags or None

    Examples
    --------
    >>> from sklearn.linear_model import Ridge
    >>> from sklearn_unlearn import UnlearnableRidge
    >>> from sklearn_unlearn.base import get_unlearn_tags
    >>> get_unlearn_tags(UnlearnableRidge()).exact
    True
    >>> get_unlearn_tags(Ridge()) is None
    True
    """
    tags = get_tags(estimator)
    return tags.unlearn_tags if isinstance(tags, UnlearnerTags) else None
