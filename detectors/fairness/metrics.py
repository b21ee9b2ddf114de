"""Parity metrics between the groups of one attribute, with fairlearn's names and definitions."""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

from detectors.fairness.groups import OVERFLOW, GroupStats
from detectors.fairness.names import DISPARITIES, REGRESSION_DISPARITIES
from detectors.fairness.options import Task

FOUR_FIFTHS = 0.8


@dataclass(frozen=True, slots=True)
class Disparity:
    """One between-group metric; `lowest` / `highest` name the groups that set it, `reason` why it is None."""

    name: str
    value: float | None
    reason: str | None = None
    lowest: str | None = None
    highest: str | None = None


@dataclass(frozen=True, slots=True)
class AttributeFairness:
    """Every group of one (possibly combined) protected attribute and the parity metrics between them."""

    name: str
    columns: tuple[str, ...]
    groups: tuple[GroupStats, ...]
    excluded_groups: tuple[str, ...]
    demographic_parity_difference: Disparity
    demographic_parity_ratio: Disparity
    four_fifths_rule_violated: bool | None
    equal_opportunity_difference: Disparity
    equalized_odds_difference: Disparity
    predictive_parity_difference: Disparity
    accuracy_difference: Disparity
    mean_prediction_difference: Disparity
    mean_absolute_error_difference: Disparity

    def disparities(self) -> tuple[Disparity, ...]:
        """All between-group metrics, in the order of `DISPARITIES`."""
        return tuple(getattr(self, name) for name in DISPARITIES)

    def group(self, label: str) -> GroupStats:
        """One group by its label."""
        for g in self.groups:
            if g.label == label:
                return g
        raise KeyError(label)


def _extremes(name: str, groups: tuple[GroupStats, ...], metric: str) -> tuple[Disparity, float, float]:
    """The spread of `metric` and its lowest / highest values, or a Disparity saying why there is none."""
    defined = [(value, g.label) for g in groups if (value := g.metric(metric)) is not None]
    if len(defined) < 2:
        return (
            Disparity(name, None, f"{metric} is defined for {len(defined)} group(s); two are needed"),
            0.0,
            0.0,
        )
    low, high = min(defined), max(defined)
    if not math.isfinite(high[0] - low[0]):
        return Disparity(name, None, OVERFLOW, low[1], high[1]), 0.0, 0.0
    return Disparity(name, high[0] - low[0], None, low[1], high[1]), low[0], high[0]


def difference(name: str, groups: tuple[GroupStats, ...], metric: str) -> Disparity:
    """Largest minus smallest group value of `metric` (fairlearn's `difference(method="between_groups")`)."""
    return _extremes(name, groups, metric)[0]


def ratio(name: str, groups: tuple[GroupStats, ...], metric: str) -> Disparity:
    """Smallest over largest group value of `metric` (fairlearn's `ratio(method="between_groups")`)."""
    spread, low, high = _extremes(name, groups, metric)
    if spread.value is None:
        return spread
    if high == 0:
        return Disparity(name, None, f"{metric} is 0 in every group", spread.lowest, spread.highest)
    return Disparity(name, low / high, None, spread.lowest, spread.highest)


def worst_case(name: str, *parts: Disparity) -> Disparity:
    """The largest of several differences (fairlearn's equalized odds with agg="worst_case")."""
    for part in parts:
        if part.value is None:
            return Disparity(name, None, f"{part.name}: {part.reason}")
    worst = max(parts, key=lambda p: p.value or 0.0)
    return Disparity(name, worst.value, None, worst.lowest, worst.highest)


def _not_applicable(name: str, task: Task, has_labels: bool) -> str | None:
    """Why a disparity cannot be computed for this task / input at all, or None when it can."""
    if (name in REGRESSION_DISPARITIES) != (task == "regression"):
        return f"not computed for a {task} task"
    if name not in {
        "demographic_parity_difference",
        "demographic_parity_ratio",
        "mean_prediction_difference",
    }:
        return None if has_labels else "no label column given"
    return None


def judge_attribute(
    name: str, columns: tuple[str, ...], groups: tuple[GroupStats, ...], task: Task, has_labels: bool
) -> AttributeFairness:
    """Parity metrics between the groups that are large enough; too-small groups are listed, not compared."""
    judged = tuple(g for g in groups if not g.too_small)
    tpr = difference("true_positive_rate_difference", judged, "true_positive_rate")
    fpr = difference("false_positive_rate_difference", judged, "false_positive_rate")
    computed = {
        "demographic_parity_difference": difference(
            "demographic_parity_difference", judged, "selection_rate"
        ),
        "demographic_parity_ratio": ratio("demographic_parity_ratio", judged, "selection_rate"),
        "equal_opportunity_difference": replace(tpr, name="equal_opportunity_difference"),
        "equalized_odds_difference": worst_case("equalized_odds_difference", tpr, fpr),
        "predictive_parity_difference": difference("predictive_parity_difference", judged, "precision"),
        "accuracy_difference": difference("accuracy_difference", judged, "accuracy"),
        "mean_prediction_difference": difference("mean_prediction_difference", judged, "mean_prediction"),
        "mean_absolute_error_difference": difference(
            "mean_absolute_error_difference", judged, "mean_absolute_error"
        ),
    }
    for key in DISPARITIES:
        if (reason := _not_applicable(key, task, has_labels)) is not None:
            computed[key] = Disparity(key, None, reason)
    dpr = computed["demographic_parity_ratio"].value
    return AttributeFairness(
        name=name,
        columns=columns,
        groups=groups,
        excluded_groups=tuple(g.label for g in groups if g.too_small),
        four_fifths_rule_violated=None if dpr is None else dpr < FOUR_FIFTHS,
        **computed,
    )
