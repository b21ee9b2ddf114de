"""The flat list of findings the alert rules key on, derived from the summary sections and the spec."""

from __future__ import annotations

from sidecar.reports.spec import BiasThresholds
from sidecar.reports.summary import (
    AttributeSummary,
    DisparitySummary,
    DriftSummary,
    FairnessSummary,
    Flag,
    QualitySummary,
    SectionError,
)

RATIO = "demographic_parity_ratio"
# Metrics over error rates: the group with the highest value is the disadvantaged one.
_HIGHER_IS_WORSE = frozenset({"mean_absolute_error_difference"})


def drift_flags(drift: DriftSummary) -> list[Flag]:
    """The dataset verdict, every drifted column and a drifted prediction."""
    flags = []
    if drift.dataset_drift:
        flags.append(
            Flag(
                "dataset_drift",
                metric="share_of_drifted_columns",
                value=drift.share_of_drifted_columns,
                threshold=drift.drift_share,
                message=f"{drift.number_of_drifted_columns} of {drift.number_of_columns} columns drifted",
            )
        )
    for column in drift.columns:
        if column.drifted:
            flags.append(
                Flag(
                    "column_drift",
                    column=column.column,
                    metric=column.method,
                    value=column.score,
                    threshold=column.threshold,
                    message=f"column {column.column!r} drifted ({column.method} {column.score:.4g})",
                )
            )
    p = drift.prediction
    if p is not None and p.drifted:
        flags.append(
            Flag(
                "prediction_drift",
                column=p.column,
                metric=p.method,
                value=p.score,
                threshold=p.threshold,
                message=f"prediction {p.column!r} drifted ({p.method} {p.score:.4g})",
            )
        )
    return flags


def quality_flags(quality: QualitySummary) -> list[Flag]:
    """One flag per breached data-quality threshold."""
    return [
        Flag(
            "data_quality",
            column=b.column,
            metric=b.check,
            value=b.value,
            threshold=b.threshold,
            message=b.message,
        )
        for b in quality.breaches
    ]


def _limit(name: str, bias: BiasThresholds) -> float | None:
    return bias.min_ratio if name == RATIO else bias.max_difference.get(name)


def _unfair(d: DisparitySummary, limit: float) -> bool:
    """A ratio under its floor or a difference over its cap."""
    if d.value is None:
        return False
    return d.value < limit if d.name == RATIO else d.value > limit


def _worse(d: DisparitySummary, max_change: float) -> bool:
    """Moved towards unfairness by more than `max_change`: the ratio down, a difference up."""
    if d.change is None:
        return False
    return d.change < -max_change if d.name == RATIO else d.change > max_change


def disadvantaged(d: DisparitySummary, a: AttributeSummary) -> str | None:
    """The group a parity metric finds worse off: the lowest rate, or the highest error rate."""
    if d.name in _HIGHER_IS_WORSE:
        return d.highest
    if d.name == "equalized_odds_difference":
        # The worse of the TPR and FPR gaps; the FPR gap's worse-off group has the highest rate.
        tpr = next((e for e in a.disparities if e.name == "equal_opportunity_difference"), None)
        return d.lowest if tpr is not None and tpr.value == d.value else d.highest
    return d.lowest


def _attribute_flags(a: AttributeSummary, bias: BiasThresholds) -> list[Flag]:
    flags = []
    for d in a.disparities:
        limit = _limit(d.name, bias)
        if limit is None:
            continue
        group = disadvantaged(d, a)
        if _unfair(d, limit):
            side = "below" if d.name == RATIO else "above"
            flags.append(
                Flag(
                    "fairness",
                    attribute=a.name,
                    metric=d.name,
                    group=group,
                    value=d.value,
                    threshold=limit,
                    message=f"{a.name}: {d.name} {d.value:.4g} is {side} {limit:.4g} (worse off: {group})",
                )
            )
        if bias.max_change is not None and _worse(d, bias.max_change):
            flags.append(
                Flag(
                    "bias_drift",
                    attribute=a.name,
                    metric=d.name,
                    group=group,
                    value=d.change,
                    threshold=bias.max_change,
                    message=(
                        f"{a.name}: {d.name} moved from {d.reference:.4g} to {d.value:.4g} since the reference"
                        f" (worse off: {group})"
                    ),
                )
            )
    return flags


def fairness_flags(fairness: FairnessSummary, bias: BiasThresholds) -> list[Flag]:
    """Parity metrics past their thresholds, and those that moved towards unfairness since the reference."""
    return [f for a in fairness.attributes for f in _attribute_flags(a, bias)]


def error_flags(errors: tuple[SectionError, ...]) -> list[Flag]:
    """One flag per section that could not be computed."""
    return [Flag("section_error", metric=e.section, message=f"{e.section}: {e.message}") for e in errors]
