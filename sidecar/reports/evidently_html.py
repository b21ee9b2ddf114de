"""The Evidently half of the HTML report, rendered on a seeded sample, and the splice of driftcar's section.

Evidently is imported here, inside `render_evidently`, never at module import (it takes ~3 s). It only draws
widgets: its per-group numbers are wrong in 0.7.23 (`GroupBy` returns the ungrouped value) and its drift preset
recomputes drift three times, so every number the summary and the alerts use comes from driftcar's detectors.
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass
from html import escape
from typing import Any

import numpy as np
import pandas as pd

from detectors.columns import ColumnType
from detectors.drift import DriftOptions
from detectors.fairness.encode import canonical
from detectors.fairness.options import Favorable, Task

_BODY_OPEN = re.compile(r"<body\b[^>]*>", re.IGNORECASE)
_HEAD_CLOSE = re.compile(r"</head\s*>", re.IGNORECASE)
_NUMERIC_TYPES = frozenset({"numeric"})
_CATEGORICAL_TYPES = frozenset({"categorical", "binary"})


@dataclass(frozen=True, slots=True)
class EvidentlyPlan:
    """What to draw: typed columns (text and id columns are left out), the outcome columns and the options."""

    columns: dict[str, ColumnType]
    drift_columns: tuple[str, ...]
    prediction: str
    label: str | None
    task: Task
    positive: Favorable | None
    drift: DriftOptions
    methods: dict[str, tuple[str, float]]
    """The method and threshold driftcar used per column, so that a small sample is not tested otherwise."""


def sample_rows(frame: pd.DataFrame, max_rows: int, seed: int) -> pd.DataFrame:
    """At most `max_rows` rows drawn without replacement, the same ones for the same seed and frame."""
    return frame if len(frame) <= max_rows else frame.sample(n=max_rows, random_state=seed)


def _drift_preset_options(drift: DriftOptions, methods: dict[str, tuple[str, float]]) -> dict[str, Any]:
    """driftcar's drift options in DataDriftPreset's terms (the method names are Evidently's)."""
    if methods:
        return {
            "drift_share": drift.drift_share,
            "per_column_method": {c: m for c, (m, _) in methods.items()},
            "per_column_threshold": {c: t for c, (_, t) in methods.items()},
        }
    by_type, thresholds = drift.method_by_type, drift.threshold_by_type
    return {
        "drift_share": drift.drift_share,
        "method": drift.method,
        "num_method": by_type.get("numeric"),
        "cat_method": by_type.get("categorical", by_type.get("binary")),
        "per_column_method": dict(drift.method_by_column) or None,
        "threshold": drift.threshold,
        "num_threshold": thresholds.get("numeric"),
        "cat_threshold": thresholds.get("categorical", thresholds.get("binary")),
        "per_column_threshold": dict(drift.threshold_by_column) or None,
    }


def _category_labels(values: pd.Series) -> pd.Series:
    """A categorical column as labels Evidently accepts: it rejects float labels (`numpy.float64 not supported
    as Label`), so whole floats become ints and other floats their text; missing values stay missing."""
    if not pd.api.types.is_float_dtype(values.dtype):
        return values
    present = values.dropna()
    whole = bool((present == present.round()).all())
    labels = np.empty(len(values), dtype=object)  # a Series.map would turn ints and None back into floats
    for i, v in enumerate(values.to_numpy()):
        labels[i] = None if v != v else (int(v) if whole else repr(float(v)))
    return pd.Series(labels, index=values.index, name=values.name)


def _for_evidently(frame: pd.DataFrame, names: list[str], categorical: list[str]) -> pd.DataFrame:
    """The plan's columns, with float categories turned into labels."""
    out = frame[names].copy()
    for name in categorical:
        out[name] = _category_labels(out[name])
    return out


def _positive_label(values: pd.Series, positive: Favorable | None) -> Any:
    """The value in the data that means the positive class (so 1 matches "1" and True), or None."""
    wanted = canonical(1 if positive is None else positive)
    return next((v for v in pd.unique(values.dropna()) if canonical(v) == wanted), None)


def render_evidently(reference: pd.DataFrame, current: pd.DataFrame, plan: EvidentlyPlan) -> str:
    """Evidently's drift and data summary presets, plus its performance preset when labels exist."""
    with warnings.catch_warnings():
        # Evidently and its dependencies warn on pandas idioms; none of it concerns the report.
        warnings.simplefilter("ignore")
        from evidently import BinaryClassification, DataDefinition, Dataset, MulticlassClassification, Report
        from evidently import Regression as RegressionTask
        from evidently.metrics import ValueDrift
        from evidently.presets import (
            ClassificationPreset,
            DataDriftPreset,
            DataSummaryPreset,
            RegressionPreset,
        )

        label = plan.label
        if label is not None and not (current[label].notna().all() and reference[label].notna().all()):
            # Evidently's quality metrics fail on a partly missing target (they relabel NaN); driftcar's own
            # performance section covers the labelled rows, Evidently draws the rest without the label.
            label = None
        columns = {c: t for c, t in plan.columns.items() if c != plan.label or label is not None}
        names = list(columns)
        numeric = [c for c, t in columns.items() if t in _NUMERIC_TYPES]
        categorical = [c for c, t in columns.items() if t in _CATEGORICAL_TYPES]
        reference, current = (_for_evidently(f, names, categorical) for f in (reference, current))
        presets: list[Any] = []
        if plan.drift_columns:
            options = _drift_preset_options(plan.drift, plan.methods)
            presets.append(DataDriftPreset(columns=list(plan.drift_columns), **options))
        if plan.prediction in plan.columns and plan.prediction not in plan.drift_columns:
            # On its own, as in driftcar: the prediction does not count in the drifted-columns share.
            method, threshold = plan.methods.get(plan.prediction, (None, None))
            presets.append(ValueDrift(column=plan.prediction, method=method, threshold=threshold))
        presets.append(DataSummaryPreset())
        tasks: dict[str, Any] = {}
        if label is not None:
            if plan.task == "regression":
                tasks["regression"] = [RegressionTask(target=label, prediction=plan.prediction)]
                presets.append(RegressionPreset())
            else:
                both = pd.concat([current[label], current[plan.prediction]], ignore_index=True)
                pos = _positive_label(both, plan.positive)
                if both.nunique(dropna=True) <= 2 and pos is not None:
                    task = BinaryClassification(
                        target=label, prediction_labels=plan.prediction, pos_label=pos
                    )
                else:
                    task = MulticlassClassification(target=label, prediction_labels=plan.prediction)
                tasks["classification"] = [task]
                presets.append(ClassificationPreset())
        definition = DataDefinition(numerical_columns=numeric, categorical_columns=categorical, **tasks)
        snapshot = Report(presets).run(
            Dataset.from_pandas(current, data_definition=definition),
            Dataset.from_pandas(reference, data_definition=definition),
        )
        html: str = snapshot.get_html_str(as_iframe=False)
        return html


def insert_section(document: str, section: str) -> str:
    """Put `section` first inside <body> (the first <body> after </head>, so never inside inline scripts)."""
    head = _HEAD_CLOSE.search(document)
    body = _BODY_OPEN.search(document, head.end() if head else 0)
    if body is not None:
        return document[: body.end()] + section + document[body.end() :]
    if head is not None:
        return document[: head.end()] + f"<body>{section}" + document[head.end() :]
    return section + document


def standalone_page(section: str, message: str, title: str = "driftcar report") -> str:
    """A complete page around driftcar's section, for when Evidently could not draw its half."""
    note = (
        f'<p style="margin:16px 24px;font-family:system-ui,sans-serif">{escape(message)}</p>'
        if message
        else ""
    )
    return (
        f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{escape(title)}</title></head>'
        f"<body>{section}{note}</body></html>"
    )
