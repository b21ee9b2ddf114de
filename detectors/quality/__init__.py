"""Data quality: missing values, out-of-range numbers, new and vanished categories, types and row counts.

The names below are imported on first use (`detectors.lazy`): the thresholds model
(`detectors.quality.thresholds`) stays importable without numpy and pandas.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from detectors.lazy import lazy_exports

__all__ = [
    "Breach",
    "ColumnQuality",
    "DatasetQuality",
    "QualityCheck",
    "QualityThresholds",
    "check_quality",
    "column_breaches",
]

EXPORTS = {
    "Breach": "checks",
    "ColumnQuality": "checks",
    "DatasetQuality": "report",
    "check_quality": "report",
    "column_breaches": "report",
    "QualityCheck": "thresholds",
    "QualityThresholds": "thresholds",
}

if TYPE_CHECKING:
    from detectors.quality.checks import Breach, ColumnQuality
    from detectors.quality.report import DatasetQuality, check_quality, column_breaches
    from detectors.quality.thresholds import QualityCheck, QualityThresholds
else:
    __getattr__, __dir__ = lazy_exports(__name__, EXPORTS)
