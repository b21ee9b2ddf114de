"""Univariate drift: Evidently's methods by name, its automatic choice, and the dataset verdict.

Entry points: `detect_drift(reference, current, DriftOptions(...)) -> DatasetDrift` for frames and
`check_column(...) -> ColumnDrift` for one column; `default_registry()` lists the methods by name.
"""

from __future__ import annotations

from detectors.drift.base import (
    ColumnDrift,
    DriftError,
    DriftMethod,
    DuplicateColumnError,
    InsufficientDataError,
    MethodNotApplicableError,
    MethodRegistry,
    MissingColumnError,
    UnknownMethodError,
)
from detectors.drift.column import check_column
from detectors.drift.dataset import DatasetDrift, detect_drift
from detectors.drift.options import DriftOptions, MethodName
from detectors.drift.registry import default_registry

__all__ = [
    "ColumnDrift",
    "DatasetDrift",
    "DriftError",
    "DriftMethod",
    "DriftOptions",
    "DuplicateColumnError",
    "InsufficientDataError",
    "MethodName",
    "MethodNotApplicableError",
    "MethodRegistry",
    "MissingColumnError",
    "UnknownMethodError",
    "check_column",
    "default_registry",
    "detect_drift",
]
