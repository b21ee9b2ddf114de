"""Data quality: missing values, out-of-range numbers, new and vanished categories, types and row counts."""

from detectors.quality.checks import Breach, ColumnQuality
from detectors.quality.report import DatasetQuality, check_quality, column_breaches
from detectors.quality.thresholds import QualityCheck, QualityThresholds

__all__ = [
    "Breach",
    "ColumnQuality",
    "DatasetQuality",
    "QualityCheck",
    "QualityThresholds",
    "check_quality",
    "column_breaches",
]
