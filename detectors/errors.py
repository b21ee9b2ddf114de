"""Exceptions raised by the detectors package: one tree rooted at ``DetectorError``."""

from __future__ import annotations


class DetectorError(Exception):
    """Base class for every error a detector raises on bad or unusable input."""


class InsufficientDataError(DetectorError):
    """Raised when there are too few rows (or groups) to compute a result."""


class ColumnError(DetectorError):
    """Raised when a required column is missing or has an unusable type."""


class OptionsError(DetectorError):
    """Raised when detector options contradict the data (e.g. a favourable value never seen)."""
