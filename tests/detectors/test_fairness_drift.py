"""Bias drift: each group metric and parity metric compared between a reference and a current batch."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from detectors.errors import OptionsError
from detectors.fairness import (
    CLASSIFICATION_METRICS,
    FairnessOptions,
    compute_fairness,
    compute_fairness_drift,
    disparity_names,
    fairness_drift,
)

OPTIONS = FairnessOptions(protected=["sex", "race"], intersections=True)


def _frame(seed: int, bias: float, n: int = 3000) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    sex = rng.choice(["F", "M"], n)
    race = rng.choice(["a", "b"], n)
    label = (rng.random(n) < 0.5).astype(int)
    pred = (rng.random(n) < 0.4 + bias * (sex == "M")).astype(int)
    return pd.DataFrame({"sex": sex, "race": race, "label": label, "pred": pred})


def test_every_change_is_current_minus_reference() -> None:
    reference, current = _frame(0, 0.0), _frame(1, 0.2)
    drift = compute_fairness_drift(reference, current, "pred", "label", OPTIONS)
    ref_report, cur_report = drift.reference, drift.current
    for attribute in drift.attributes:
        ref_attr, cur_attr = ref_report.attribute(attribute.name), cur_report.attribute(attribute.name)
        for name in disparity_names("classification"):
            change = attribute.disparity(name)
            ref_value, cur_value = getattr(ref_attr, name).value, getattr(cur_attr, name).value
            assert change.change == pytest.approx(cur_value - ref_value, rel=1e-12)
        for group in attribute.groups:
            for metric_change, metric in zip(group.changes, CLASSIFICATION_METRICS, strict=True):
                ref_metric = ref_attr.group(group.label).metric(metric)
                cur_metric = cur_attr.group(group.label).metric(metric)
                assert ref_metric is not None
                assert cur_metric is not None
                assert metric_change.change == pytest.approx(cur_metric - ref_metric, rel=1e-12)
    sex = drift.attribute("sex")
    assert sex.disparity("demographic_parity_difference").change == pytest.approx(0.2, abs=0.05)
    assert sex.four_fifths_violated_reference is False
    assert sex.four_fifths_violated_current is True


def test_a_group_absent_from_one_side_has_no_change_and_says_why() -> None:
    reference = _frame(2, 0.0)
    current = pd.concat([_frame(3, 0.0), _frame(4, 0.0).assign(race="c")])
    drift = compute_fairness_drift(reference, current, "pred", "label", OPTIONS)
    group = next(g for g in drift.attribute("race").groups if g.label == "c")
    assert (group.reference_count, group.current_count) == (0, 3000)
    assert all(c.change is None and c.reason == "undefined in reference: group absent" for c in group.changes)


def test_undefined_metrics_carry_their_reason_into_the_change() -> None:
    reference = _frame(5, 0.0)
    drift = compute_fairness_drift(reference, reference.assign(sex="F"), "pred", "label", OPTIONS)
    change = drift.attribute("sex").disparity("demographic_parity_difference")
    assert change.change is None
    assert change.reason == "undefined in current: selection_rate is defined for 1 group(s); two are needed"


def test_reports_of_different_tasks_or_attributes_cannot_be_compared() -> None:
    frame = _frame(6, 0.0)
    classification = compute_fairness(frame, "pred", "label", OPTIONS)
    regression = compute_fairness(frame, "pred", "label", OPTIONS.model_copy(update={"task": "regression"}))
    fewer = compute_fairness(frame, "pred", "label", FairnessOptions(protected=["sex"]))
    with pytest.raises(OptionsError, match="cannot compare"):
        fairness_drift(classification, regression)
    with pytest.raises(OptionsError, match="different attributes"):
        fairness_drift(classification, fewer)
