"""Fairness (bias) metrics: per-group statistics, parity metrics between groups, and their drift."""

from detectors.fairness.drift import (
    AttributeDrift,
    FairnessDrift,
    GroupDrift,
    MetricChange,
    compute_fairness_drift,
    fairness_drift,
)
from detectors.fairness.groups import CLASSIFICATION_METRICS, REGRESSION_METRICS, GroupStats
from detectors.fairness.metrics import DISPARITIES, AttributeFairness, Disparity, disparity_names
from detectors.fairness.options import FairnessOptions, Favorable, Task
from detectors.fairness.report import FairnessReport, compute_fairness

__all__ = [
    "CLASSIFICATION_METRICS",
    "DISPARITIES",
    "REGRESSION_METRICS",
    "AttributeDrift",
    "AttributeFairness",
    "Disparity",
    "FairnessDrift",
    "FairnessOptions",
    "FairnessReport",
    "Favorable",
    "GroupDrift",
    "GroupStats",
    "MetricChange",
    "Task",
    "compute_fairness",
    "compute_fairness_drift",
    "disparity_names",
    "fairness_drift",
]
