"""Univariate drift: Evidently's methods by name, its automatic choice, and the dataset verdict.

Entry points: `detect_drift(reference, current, DriftOptions(...)) -> DatasetDrift` for frames and
`check_column(...) -> ColumnDrift` for one column; `default_registry()` lists the methods by name.

The names below are imported on first use (`detectors.lazy`): the options model `detectors.drift.options`
stays importable without scipy and pandas, which every method needs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from detectors.lazy import lazy_exports

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

EXPORTS = {
    "ColumnDrift": "base",
    "DriftError": "base",
    "DriftMethod": "base",
    "DuplicateColumnError": "base",
    "InsufficientDataError": "base",
    "MethodNotApplicableError": "base",
    "MethodRegistry": "base",
    "MissingColumnError": "base",
    "UnknownMethodError": "base",
    "check_column": "column",
    "DatasetDrift": "dataset",
    "detect_drift": "dataset",
    "DriftOptions": "options",
    "MethodName": "options",
    "default_registry": "registry",
}

if TYPE_CHECKING:
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
else:
    __getattr__, __dir__ = lazy_exports(__name__, EXPORTS)
