"""Detector results to summary sections: the same numbers, as plain JSON-safe values (NaN becomes None)."""

from __future__ import annotations

import math
from dataclasses import fields

from detectors.drift import ColumnDrift, DatasetDrift
from detectors.fairness import (
    CLASSIFICATION_METRICS,
    REGRESSION_METRICS,
    AttributeDrift,
    AttributeFairness,
    FairnessDrift,
    FairnessReport,
    GroupStats,
    MetricChange,
    disparity_names,
)
from detectors.performance import ClassificationPerformance, RegressionPerformance
from detectors.quality import DatasetQuality
from sidecar.reports.summary import (
    AttributeSummary,
    BreachSummary,
    ColumnDriftSummary,
    DisparitySummary,
    DriftSummary,
    FairnessSummary,
    GroupSummary,
    MetricChangeSummary,
    PerformanceSummary,
    QualitySummary,
)

Performance = ClassificationPerformance | RegressionPerformance
CLASSIFICATION_PERFORMANCE = ("accuracy", "precision", "recall", "f1", "roc_auc", "log_loss")
REGRESSION_PERFORMANCE = ("mae", "rmse", "mape", "r2")


def finite(value: float | None) -> float | None:
    """A plain float, or None for a missing, NaN or infinite value."""
    if value is None:
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def column_drift(result: ColumnDrift) -> ColumnDriftSummary:
    """One column's drift test."""
    return ColumnDriftSummary(
        column=result.column,
        column_type=result.column_type,
        method=result.method,
        score=finite(result.score),
        score_kind=result.score_kind,
        threshold=finite(result.threshold),
        drifted=bool(result.drifted),
        effect_size=finite(result.effect_size),
        effect_size_name=result.effect_size_name,
        skip_reason=result.skip_reason,
    )


def drift_summary(result: DatasetDrift) -> DriftSummary:
    """The dataset verdict and every column's test."""
    return DriftSummary(
        dataset_drift=bool(result.dataset_drift),
        drift_share=float(result.drift_share),
        share_of_drifted_columns=float(result.share_of_drifted_columns),
        number_of_columns=int(result.number_of_columns),
        number_of_drifted_columns=int(result.number_of_drifted_columns),
        columns=tuple(column_drift(c) for c in result.columns),
        prediction=None if result.prediction is None else column_drift(result.prediction),
    )


def quality_summary(result: DatasetQuality) -> QualitySummary:
    """Breaches and column presence."""
    return QualitySummary(
        ok=result.ok,
        breaches=tuple(
            BreachSummary(b.check, b.column, float(b.value), float(b.threshold), b.message)
            for b in result.breaches
        ),
        missing_columns=result.missing_columns,
        new_columns=result.new_columns,
    )


def _change(change: MetricChange) -> MetricChangeSummary:
    return MetricChangeSummary(
        change.name, finite(change.reference), finite(change.current), finite(change.change), change.reason
    )


def _group(stats: GroupStats, drift: AttributeDrift | None) -> GroupSummary:
    moved = None if drift is None else next((g for g in drift.groups if g.label == stats.label), None)
    metrics = {
        f.name: finite(getattr(stats, f.name))
        for f in fields(GroupSummary)
        if f.name in CLASSIFICATION_METRICS or f.name in REGRESSION_METRICS
    }
    return GroupSummary(
        label=stats.label,
        count=stats.count,
        n_labelled=stats.n_labelled,
        too_small=stats.too_small,
        **metrics,
        reference_count=0 if moved is None else moved.reference_count,
        changes=() if moved is None else tuple(_change(c) for c in moved.changes),
    )


def _attribute(
    current: AttributeFairness, drift: AttributeDrift | None, names: tuple[str, ...]
) -> AttributeSummary:
    disparities = []
    for name in names:
        d = getattr(current, name)
        moved = None if drift is None else drift.disparity(name)
        disparities.append(
            DisparitySummary(
                name=name,
                value=finite(d.value),
                reason=d.reason,
                lowest=d.lowest,
                highest=d.highest,
                reference=None if moved is None else finite(moved.reference),
                change=None if moved is None else finite(moved.change),
            )
        )
    return AttributeSummary(
        name=current.name,
        columns=current.columns,
        groups=tuple(_group(g, drift) for g in current.groups),
        small_groups=current.excluded_groups,
        disparities=tuple(disparities),
        four_fifths_violated=current.four_fifths_rule_violated,
        four_fifths_violated_reference=None if drift is None else drift.four_fifths_violated_reference,
    )


def fairness_summary(current: FairnessReport, drift: FairnessDrift | None) -> FairnessSummary:
    """Per attribute: groups, parity metrics and how they moved since the reference (when it was judged)."""
    names = disparity_names(current.task)
    return FairnessSummary(
        favorable=current.favorable,
        min_group_size=current.min_group_size,
        n_rows=current.n_rows,
        n_labelled=current.n_labelled,
        attributes=tuple(
            _attribute(a, None if drift is None else drift.attribute(a.name), names)
            for a in current.attributes
        ),
    )


def performance_summary(current: Performance, reference: Performance | None) -> PerformanceSummary:
    """Current performance metrics next to the reference's."""
    regression = isinstance(current, RegressionPerformance)
    names = REGRESSION_PERFORMANCE if regression else CLASSIFICATION_PERFORMANCE
    metrics = []
    for name in names:
        cur = finite(getattr(current, name))
        ref = None if reference is None else finite(getattr(reference, name))
        reasons = []
        if cur is None:
            reasons.append(f"window: {current.undefined.get(name, 'undefined')}")
        if reference is None:
            reasons.append("reference: no labelled rows")
        elif ref is None:
            reasons.append(f"reference: {reference.undefined.get(name, 'undefined')}")
        change = None if cur is None or ref is None else finite(cur - ref)
        metrics.append(MetricChangeSummary(name, ref, cur, change, "; ".join(reasons) or None))
    return PerformanceSummary(
        task="regression" if regression else "classification",
        n_rows=current.n_rows,
        n_reference_rows=0 if reference is None else reference.n_rows,
        metrics=tuple(metrics),
    )
