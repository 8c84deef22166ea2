"""Warnings issued where the caller's code is: the first frame outside the
package, however deep in a request (under its locks, its plan) the cause is
found."""

import os
import sys
import warnings

_PACKAGE = os.path.dirname(os.path.abspath(__file__)) + os.sep


def warn_caller(message, category=None):
    """``warnings.warn(message, category)`` at the first frame of the call
    stack outside :mod:`sklearn_unlearn` (a scikit-learn meta-estimator's,
    when it made the call): the line a warnings filter or a log names is
    the one that made the request."""
    frame, level = sys._getframe(1), 2
    while frame is not None and frame.f_code.co_filename.startswith(_PACKAGE):
        frame, level = frame.f_back, level + 1
    warnings.warn(message, category, stacklevel=level)
