"""The parity metrics' names, which configuration (bias thresholds, alert rules) refers to.

Kept apart from their computation (`detectors.fairness.metrics`, numpy and pandas) so that validating a
configuration imports neither.
"""

from __future__ import annotations

from detectors.fairness.options import Task

DISPARITIES = (
    "demographic_parity_difference",
    "demographic_parity_ratio",
    "equal_opportunity_difference",
    "equalized_odds_difference",
    "predictive_parity_difference",
    "accuracy_difference",
    "mean_prediction_difference",
    "mean_absolute_error_difference",
)
REGRESSION_DISPARITIES = frozenset({"mean_prediction_difference", "mean_absolute_error_difference"})


def disparity_names(task: Task) -> tuple[str, ...]:
    """The between-group metrics computed for a task, in the order of `DISPARITIES`."""
    return tuple(name for name in DISPARITIES if (name in REGRESSION_DISPARITIES) == (task == "regression"))
