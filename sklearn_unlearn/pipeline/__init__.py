"""Unlearning through a scikit-learn pipeline: requests in the raw input space."""

from ._pipeline import UnlearningPipeline, make_unlearning_pipeline
from ._report import PipelineRequestReport

__all__ = ["PipelineRequestReport", "UnlearningPipeline", "make_unlearning_pipeline"]
