"""The fairness detector: a frame with protected attributes, predictions and labels in, a typed report out."""

from __future__ import annotations

from dataclasses import dataclass
from itertools import combinations

import numpy as np
import pandas as pd

from detectors.errors import ColumnError, InsufficientDataError, OptionsError
from detectors.fairness.encode import (
    Grouping,
    favorable_outcomes,
    float_array,
    group_by_column,
    intersect,
    sample_values,
)
from detectors.fairness.groups import GroupStats, Rows, group_stats
from detectors.fairness.metrics import AttributeFairness, judge_attribute
from detectors.fairness.options import FairnessOptions, Favorable, Task


@dataclass(frozen=True, slots=True)
class FairnessReport:
    """Per-attribute group statistics and parity metrics for one batch of predictions."""

    task: Task
    prediction: str
    label: str | None
    favorable: Favorable
    min_group_size: int
    n_rows: int
    n_without_prediction: int
    n_labelled: int
    overall: GroupStats
    attributes: tuple[AttributeFairness, ...]

    def attribute(self, name: str) -> AttributeFairness:
        """One attribute's result by name (an intersection is named like "sex & race")."""
        for attribute in self.attributes:
            if attribute.name == name:
                return attribute
        raise KeyError(name)


def _numeric(values: pd.Series, column: str) -> np.ndarray:
    """Regression outcomes as float64 with infinities as missing; a non-numeric value is a ColumnError."""
    numbers = float_array(values)
    bad = np.isnan(numbers) & values.notna().to_numpy()
    if bad.any():
        example = values[bad].iloc[0]
        raise ColumnError(f"column {column!r} must be numeric for a regression task; it holds {example!r}")
    numbers[np.isinf(numbers)] = np.nan
    return numbers


def _rows(frame: pd.DataFrame, prediction: str, label: str | None, options: FairnessOptions) -> Rows:
    """Outcome arrays for every row (missing predictions included; the caller drops them)."""
    if options.task == "regression":
        pred = _numeric(frame[prediction], prediction)
        if label is None:
            return Rows(pred)
        truth = _numeric(frame[label], label)
        return Rows(pred, truth, ~np.isnan(truth) & ~np.isnan(pred))
    outcome = favorable_outcomes(frame[prediction], options.favorable, prediction)
    truth_outcome = None if label is None else favorable_outcomes(frame[label], options.favorable, label)
    seen = outcome.favorable.any() or (truth_outcome is not None and truth_outcome.favorable.any())
    if not seen and outcome.present.any():
        raise OptionsError(
            f"favourable value {options.favorable!r} never occurs in column {prediction!r}"
            f"{'' if label is None else f' or {label!r}'} (values: {sample_values(frame[prediction])})"
        )
    if truth_outcome is None:
        return Rows(outcome.favorable)
    return Rows(outcome.favorable, truth_outcome.favorable, truth_outcome.present & outcome.present)


def _select(rows: Rows, keep: np.ndarray) -> Rows:
    """The rows where `keep` holds."""
    if rows.label is None or rows.labelled is None:
        return Rows(rows.prediction[keep])
    return Rows(rows.prediction[keep], rows.label[keep], rows.labelled[keep])


def compute_fairness(
    frame: pd.DataFrame, prediction: str, label: str | None, options: FairnessOptions
) -> FairnessReport:
    """Group statistics and parity metrics for each protected attribute (and their intersections if asked)."""
    wanted = [*options.protected, prediction, *([] if label is None else [label])]
    missing = [c for c in wanted if c not in frame.columns]
    if missing:
        raise ColumnError(f"unknown column(s): {', '.join(missing)}")
    if len(frame) == 0:
        raise InsufficientDataError("no rows to judge")
    rows = _rows(frame, prediction, label, options)
    present = (
        ~np.isnan(rows.prediction) if options.task == "regression" else frame[prediction].notna().to_numpy()
    )
    if not present.any():
        raise InsufficientDataError(f"column {prediction!r} has no values")
    if not present.all():
        rows, frame = _select(rows, present), frame.loc[present]
    groupings = [group_by_column(frame[c], c) for c in options.protected]
    if options.intersections:
        groupings += [
            intersect(combo) for k in range(2, len(groupings) + 1) for combo in combinations(groupings, k)
        ]
    whole = Grouping("overall", (), np.zeros(len(frame), dtype=np.intp), (("overall",),))
    attributes = tuple(
        judge_attribute(
            g.name,
            g.columns,
            group_stats(g, rows, options.task, options.min_group_size),
            options.task,
            label is not None,
        )
        for g in groupings
    )
    return FairnessReport(
        task=options.task,
        prediction=prediction,
        label=label,
        favorable=options.favorable,
        min_group_size=options.min_group_size,
        n_rows=int(present.size),
        n_without_prediction=int((~present).sum()),
        n_labelled=rows.n_labelled,
        overall=group_stats(whole, rows, options.task, 1)[0],
        attributes=attributes,
    )
