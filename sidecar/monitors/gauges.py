"""The numbers of one report summary that become per-monitor gauges, with label values capped per monitor."""

from __future__ import annotations

from dataclasses import dataclass

from sidecar.reports.summary import ColumnDriftSummary, ReportSummary

# Per-group rates exported next to the attribute's parity metrics (those that are defined).
GROUP_RATES = ("selection_rate", "true_positive_rate", "false_positive_rate", "precision", "accuracy")


@dataclass(frozen=True, slots=True)
class ColumnGauge:
    """One column's drift test."""

    column: str
    method: str
    score: float
    drifted: bool


@dataclass(frozen=True, slots=True)
class FairnessGauge:
    """One fairness number: a parity metric of an attribute (`group` empty) or one group's rate."""

    attribute: str
    group: str
    metric: str
    value: float


@dataclass(frozen=True, slots=True)
class Omitted:
    """Label values left out by the caps."""

    columns: int
    groups: int


@dataclass(frozen=True, slots=True)
class MonitorGauges:
    """What a monitor's latest ok run found, as gauge values."""

    monitor: str
    window_end: float
    rows: int
    reference_rows: int
    drift_share: float | None
    dataset_drift: bool | None
    columns: tuple[ColumnGauge, ...]
    fairness: tuple[FairnessGauge, ...]
    omitted: Omitted


def summary_gauges(monitor: str, summary: ReportSummary, max_columns: int, max_groups: int) -> MonitorGauges:
    """The gauges of one summary: at most `max_columns` columns (the prediction always, drifted columns
    next) and `max_groups` groups per attribute (in the summary's order)."""
    columns: list[ColumnGauge] = []
    omitted_columns = 0
    drift = summary.drift
    if drift is not None:
        tested = [c for c in drift.columns if c.score is not None and c.method is not None]
        # Drifted columns first, so a cap never hides what moved; the sort is stable (config order after).
        tested.sort(key=lambda c: not c.drifted)
        omitted_columns = max(0, len(tested) - max_columns)
        chosen = tested[:max_columns]
        if drift.prediction is not None and drift.prediction.score is not None:
            chosen.insert(0, drift.prediction)
        columns = [_column(c) for c in chosen]
    fairness: list[FairnessGauge] = []
    omitted_groups = 0
    if summary.fairness is not None:
        for attribute in summary.fairness.attributes:
            fairness.extend(
                FairnessGauge(attribute.name, "", d.name, d.value)
                for d in attribute.disparities
                if d.value is not None
            )
            omitted_groups += max(0, len(attribute.groups) - max_groups)
            for group in attribute.groups[:max_groups]:
                for rate in GROUP_RATES:
                    value = getattr(group, rate)
                    if value is not None:
                        fairness.append(FairnessGauge(attribute.name, group.label, rate, float(value)))
    return MonitorGauges(
        monitor=monitor,
        window_end=summary.window_end or summary.created_at,
        rows=summary.window_rows,
        reference_rows=summary.reference.rows,
        drift_share=drift.share_of_drifted_columns if drift is not None else None,
        dataset_drift=drift.dataset_drift if drift is not None else None,
        columns=tuple(columns),
        fairness=tuple(fairness),
        omitted=Omitted(omitted_columns, omitted_groups),
    )


def _column(c: ColumnDriftSummary) -> ColumnGauge:
    assert c.score is not None and c.method is not None
    return ColumnGauge(c.column, c.method, c.score, c.drifted)
