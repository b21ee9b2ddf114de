"""Bias drift: how each group metric and parity metric moved from a reference batch to a current one."""

from __future__ import annotations

import math
from dataclasses import dataclass

import pandas as pd

from detectors.errors import OptionsError
from detectors.fairness.groups import CLASSIFICATION_METRICS, OVERFLOW, REGRESSION_METRICS, GroupStats
from detectors.fairness.metrics import AttributeFairness
from detectors.fairness.options import FairnessOptions
from detectors.fairness.report import FairnessReport, compute_fairness


@dataclass(frozen=True, slots=True)
class MetricChange:
    """One metric in both batches; `change` is current minus reference, None (with `reason`) if either is."""

    name: str
    reference: float | None
    current: float | None
    change: float | None
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class GroupDrift:
    """One group's metric changes; a count of 0 means the group is absent from that batch."""

    label: str
    reference_count: int
    current_count: int
    changes: tuple[MetricChange, ...]


@dataclass(frozen=True, slots=True)
class AttributeDrift:
    """Changes of one attribute's parity metrics and of each of its groups."""

    name: str
    disparities: tuple[MetricChange, ...]
    groups: tuple[GroupDrift, ...]
    four_fifths_violated_reference: bool | None
    four_fifths_violated_current: bool | None

    def disparity(self, name: str) -> MetricChange:
        """One parity metric's change by name."""
        return next(c for c in self.disparities if c.name == name)


@dataclass(frozen=True, slots=True)
class FairnessDrift:
    """Bias drift for every attribute judged in both reports."""

    reference: FairnessReport
    current: FairnessReport
    attributes: tuple[AttributeDrift, ...]

    def attribute(self, name: str) -> AttributeDrift:
        """One attribute's drift by name."""
        return next(a for a in self.attributes if a.name == name)


def _change(
    name: str, ref: float | None, cur: float | None, ref_reason: str | None, cur_reason: str | None
) -> MetricChange:
    """Pair two values of one metric, explaining an undefined change."""
    if ref is not None and cur is not None:
        change = cur - ref
        return (
            MetricChange(name, ref, cur, change)
            if math.isfinite(change)
            else MetricChange(name, ref, cur, None, OVERFLOW)
        )
    reason = f"undefined in reference: {ref_reason}" if ref is None else f"undefined in current: {cur_reason}"
    return MetricChange(name, ref, cur, None, reason)


def _group_drift(
    label: str, ref: GroupStats | None, cur: GroupStats | None, metrics: tuple[str, ...]
) -> GroupDrift:
    """Metric changes of one group, which may be absent from one side."""
    changes = []
    for m in metrics:
        ref_value, cur_value = (None if g is None else g.metric(m) for g in (ref, cur))
        ref_reason = "group absent" if ref is None else ref.undefined.get(m)
        cur_reason = "group absent" if cur is None else cur.undefined.get(m)
        changes.append(_change(m, ref_value, cur_value, ref_reason, cur_reason))
    return GroupDrift(label, 0 if ref is None else ref.count, 0 if cur is None else cur.count, tuple(changes))


def _attribute_drift(
    ref: AttributeFairness, cur: AttributeFairness, metrics: tuple[str, ...]
) -> AttributeDrift:
    """Changes of one attribute's parity metrics and groups."""
    disparities = tuple(
        _change(r.name, r.value, c.value, r.reason, c.reason)
        for r, c in zip(ref.disparities(), cur.disparities(), strict=True)
    )
    ref_groups = {g.label: g for g in ref.groups}
    cur_groups = {g.label: g for g in cur.groups}
    labels = sorted(ref_groups.keys() | cur_groups.keys())
    groups = tuple(_group_drift(lb, ref_groups.get(lb), cur_groups.get(lb), metrics) for lb in labels)
    return AttributeDrift(
        ref.name, disparities, groups, ref.four_fifths_rule_violated, cur.four_fifths_rule_violated
    )


def fairness_drift(reference: FairnessReport, current: FairnessReport) -> FairnessDrift:
    """Compare two fairness reports computed with the same options."""
    if reference.task != current.task:
        raise OptionsError(f"cannot compare a {reference.task} report with a {current.task} report")
    ref_names = [a.name for a in reference.attributes]
    cur_names = [a.name for a in current.attributes]
    if ref_names != cur_names:
        raise OptionsError(f"reports judge different attributes: {ref_names} vs {cur_names}")
    metrics = REGRESSION_METRICS if reference.task == "regression" else CLASSIFICATION_METRICS
    attributes = tuple(
        _attribute_drift(r, c, metrics) for r, c in zip(reference.attributes, current.attributes, strict=True)
    )
    return FairnessDrift(reference, current, attributes)


def compute_fairness_drift(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    prediction: str,
    label: str | None,
    options: FairnessOptions,
) -> FairnessDrift:
    """Judge both frames with the same options and compare the results."""
    return fairness_drift(
        compute_fairness(reference, prediction, label, options),
        compute_fairness(current, prediction, label, options),
    )
