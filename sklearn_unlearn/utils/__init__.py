"""Utilities for writers and users of unlearnable estimators."""
