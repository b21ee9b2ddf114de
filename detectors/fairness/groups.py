"""Per-group statistics (selection rate, error rates, mean prediction, MAE) from one bincount pass."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from detectors.fairness.encode import INTERSECTION_SEPARATOR, Grouping
from detectors.fairness.options import Task

CLASSIFICATION_METRICS = (
    "selection_rate",
    "accuracy",
    "true_positive_rate",
    "false_positive_rate",
    "precision",
)
REGRESSION_METRICS = ("mean_prediction", "mean_absolute_error")
OVERFLOW = "the values overflow float64"
LABEL_METRICS = frozenset(
    {"accuracy", "true_positive_rate", "false_positive_rate", "precision", "mean_absolute_error"}
)


@dataclass(frozen=True, slots=True)
class GroupStats:
    """One group's counts and metrics; a metric is None when undefined, and `undefined` says why."""

    label: str
    values: tuple[str, ...]
    count: int
    n_labelled: int
    too_small: bool
    selection_rate: float | None = None
    accuracy: float | None = None
    true_positive_rate: float | None = None
    false_positive_rate: float | None = None
    precision: float | None = None
    mean_prediction: float | None = None
    mean_absolute_error: float | None = None
    undefined: dict[str, str] = field(default_factory=dict)

    def metric(self, name: str) -> float | None:
        """The value of one metric by name."""
        value: float | None = getattr(self, name)
        return value


@dataclass(frozen=True, slots=True)
class Rows:
    """Cleaned per-row inputs: every row has a prediction; `labelled` marks rows whose label is known."""

    prediction: np.ndarray
    label: np.ndarray | None = None
    labelled: np.ndarray | None = None

    @property
    def n_labelled(self) -> int:
        """Number of rows with a known label."""
        return 0 if self.labelled is None else int(self.labelled.sum())


def _ratio(numerator: float, denominator: float, empty_reason: str) -> tuple[float | None, str | None]:
    if denominator == 0:
        return None, empty_reason
    value = float(numerator) / float(denominator)
    return (value, None) if math.isfinite(value) else (None, OVERFLOW)


def _classification(codes: np.ndarray, n: int, rows: Rows) -> dict[str, np.ndarray]:
    """Count arrays per group: rows, favourable predictions and the labelled confusion matrix."""
    sums = {
        "count": np.bincount(codes, minlength=n),
        "selected": np.bincount(codes[rows.prediction], minlength=n),
    }
    if rows.label is not None and rows.labelled is not None:
        m = rows.labelled
        # One pass: group * 4 + label * 2 + prediction indexes a flattened (group, label, prediction) table.
        cell = codes[m] * 4 + rows.label[m].astype(np.intp) * 2 + rows.prediction[m].astype(np.intp)
        table = np.bincount(cell, minlength=4 * n).reshape(n, 4)
        sums |= {"tn": table[:, 0], "fp": table[:, 1], "fn": table[:, 2], "tp": table[:, 3]}
        sums["labelled"] = table.sum(axis=1)
    return sums


def _regression(codes: np.ndarray, n: int, rows: Rows) -> dict[str, np.ndarray]:
    """Sum arrays per group: rows, predictions and absolute errors of labelled rows."""
    sums = {
        "count": np.bincount(codes, minlength=n),
        "sum": np.bincount(codes, weights=rows.prediction, minlength=n),
    }
    if rows.label is not None and rows.labelled is not None:
        m = rows.labelled
        sums["labelled"] = np.bincount(codes[m], minlength=n)
        sums["abs_error"] = np.bincount(
            codes[m], weights=np.abs(rows.prediction[m] - rows.label[m]), minlength=n
        )
    return sums


def _metrics(s: dict[str, np.ndarray], i: int, task: Task) -> dict[str, tuple[float | None, str | None]]:
    """Group i's metrics from the count arrays, each a (value, reason-if-undefined) pair."""
    if task == "regression":
        out = {"mean_prediction": _ratio(s["sum"][i], s["count"][i], "no rows")}
        if "abs_error" in s:
            out["mean_absolute_error"] = _ratio(s["abs_error"][i], s["labelled"][i], "no labelled rows")
        return out
    out = {"selection_rate": _ratio(s["selected"][i], s["count"][i], "no rows")}
    if "tp" in s:
        tp, fp, fn, tn = (int(s[k][i]) for k in ("tp", "fp", "fn", "tn"))
        out["accuracy"] = _ratio(tp + tn, tp + fp + fn + tn, "no labelled rows")
        out["true_positive_rate"] = _ratio(tp, tp + fn, "no labelled rows with the favourable label")
        out["false_positive_rate"] = _ratio(fp, fp + tn, "no labelled rows with an unfavourable label")
        out["precision"] = _ratio(tp, tp + fp, "no favourable predictions among labelled rows")
    return out


def group_stats(grouping: Grouping, rows: Rows, task: Task, min_group_size: int) -> tuple[GroupStats, ...]:
    """Statistics of every group of one attribute, sorted by group label; small groups carry only counts."""
    n = grouping.n_groups
    sums = (_regression if task == "regression" else _classification)(grouping.codes, n, rows)
    names = REGRESSION_METRICS if task == "regression" else CLASSIFICATION_METRICS
    result = []
    for i in range(n):
        count = int(sums["count"][i])
        if count == 0:
            continue
        n_labelled = int(sums["labelled"][i]) if "labelled" in sums else 0
        values, undefined = {}, {}
        too_small = count < min_group_size
        for name, (value, reason) in _metrics(sums, i, task).items():
            if too_small:
                value, reason = None, f"group has {count} rows, fewer than min_group_size={min_group_size}"
            elif name in LABEL_METRICS and n_labelled < min_group_size:
                value, reason = (
                    None,
                    f"group has {n_labelled} labelled rows, fewer than min_group_size={min_group_size}",
                )
            values[name] = value
            if reason is not None:
                undefined[name] = reason
        for name in names:
            if name not in values:
                undefined[name] = "no label column given"
        label = INTERSECTION_SEPARATOR.join(grouping.values[i])
        result.append(
            GroupStats(label, grouping.values[i], count, n_labelled, too_small, **values, undefined=undefined)
        )
    return tuple(sorted(result, key=lambda g: g.label))
