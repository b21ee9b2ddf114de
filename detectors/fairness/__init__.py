"""Fairness (bias) metrics: per-group statistics, parity metrics between groups, and their drift.

The names below are imported on first use (`detectors.lazy`): the options model and the metrics' names
(`detectors.fairness.options`, `detectors.fairness.names`) stay importable without numpy and pandas.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from detectors.lazy import lazy_exports

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

EXPORTS = {
    "AttributeDrift": "drift",
    "FairnessDrift": "drift",
    "GroupDrift": "drift",
    "MetricChange": "drift",
    "compute_fairness_drift": "drift",
    "fairness_drift": "drift",
    "CLASSIFICATION_METRICS": "groups",
    "REGRESSION_METRICS": "groups",
    "GroupStats": "groups",
    "AttributeFairness": "metrics",
    "Disparity": "metrics",
    "DISPARITIES": "names",
    "disparity_names": "names",
    "FairnessOptions": "options",
    "Favorable": "options",
    "Task": "options",
    "FairnessReport": "report",
    "compute_fairness": "report",
}

if TYPE_CHECKING:
    from detectors.fairness.drift import (
        AttributeDrift,
        FairnessDrift,
        GroupDrift,
        MetricChange,
        compute_fairness_drift,
        fairness_drift,
    )
    from detectors.fairness.groups import CLASSIFICATION_METRICS, REGRESSION_METRICS, GroupStats
    from detectors.fairness.metrics import AttributeFairness, Disparity
    from detectors.fairness.names import DISPARITIES, disparity_names
    from detectors.fairness.options import FairnessOptions, Favorable, Task
    from detectors.fairness.report import FairnessReport, compute_fairness
else:
    __getattr__, __dir__ = lazy_exports(__name__, EXPORTS)
