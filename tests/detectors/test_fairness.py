"""Fairness metrics checked against fairlearn on seeded random data: several attributes and intersections."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import pytest
from fairlearn import metrics as fl
from sklearn.metrics import accuracy_score, mean_absolute_error, precision_score

from detectors.fairness import FairnessOptions, compute_fairness

PROTECTED = ["sex", "race", "age"]
COMBINATIONS = [
    ("sex",),
    ("race",),
    ("age",),
    ("sex", "race"),
    ("sex", "age"),
    ("race", "age"),
    tuple(PROTECTED),
]
Metric = Callable[..., float]


def make_frame(seed: int, n: int = 4000) -> pd.DataFrame:
    """Random rows whose outcomes depend a little on the groups, so the metrics differ between groups."""
    rng = np.random.default_rng(seed)
    sex = rng.choice(["F", "M", "X"], n, p=[0.5, 0.4, 0.1])
    race = rng.choice(["a", "b", "c"], n, p=[0.4, 0.3, 0.3])
    age = rng.choice([1, 2, 3], n)
    lift = 0.1 * (sex == "M") + 0.05 * (race == "b") - 0.05 * (age == 3)
    label = (rng.random(n) < 0.45 + lift).astype(int)
    pred = np.where(rng.random(n) < 0.7, label, rng.random(n) < 0.4 + lift).astype(int)
    return pd.DataFrame({"sex": sex, "race": race, "age": age, "label": label, "pred": pred})


def _sensitive(frame: pd.DataFrame, columns: tuple[str, ...]) -> pd.Series | pd.DataFrame:
    return frame[columns[0]] if len(columns) == 1 else frame[list(columns)]


def _precision(y_true: Any, y_pred: Any) -> float:
    return float(precision_score(y_true, y_pred, zero_division=np.nan))


def _difference(metric: Metric) -> Metric:
    """A fairlearn-style `*_difference` function for a metric fairlearn has no such function for."""

    def oracle(y_true: Any, y_pred: Any, *, sensitive_features: Any) -> float:
        """Largest minus smallest group value, as fairlearn's MetricFrame computes it."""
        frame = fl.MetricFrame(
            metrics=metric, y_true=y_true, y_pred=y_pred, sensitive_features=sensitive_features
        )
        return float(frame.difference())

    return oracle


DISPARITY_ORACLES: dict[str, Metric] = {
    "demographic_parity_difference": fl.demographic_parity_difference,
    "demographic_parity_ratio": fl.demographic_parity_ratio,
    "equal_opportunity_difference": fl.equal_opportunity_difference,
    "equalized_odds_difference": fl.equalized_odds_difference,
    "accuracy_difference": fl.accuracy_score_difference,
    "predictive_parity_difference": _difference(_precision),
}
GROUP_ORACLES: dict[str, Metric] = {
    "selection_rate": fl.selection_rate,
    "true_positive_rate": fl.true_positive_rate,
    "false_positive_rate": fl.false_positive_rate,
    "accuracy": accuracy_score,
    "precision": _precision,
}


def _label(key: object) -> str:
    return " & ".join(map(str, key)) if isinstance(key, tuple) else str(key)


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("columns", COMBINATIONS, ids=" & ".join)
def test_parity_metrics_match_fairlearn(seed: int, columns: tuple[str, ...]) -> None:
    frame = make_frame(seed)
    options = FairnessOptions(protected=PROTECTED, intersections=True, min_group_size=1)
    attribute = compute_fairness(frame, "pred", "label", options).attribute(" & ".join(columns))
    sensitive = _sensitive(frame, columns)
    for name, oracle in DISPARITY_ORACLES.items():
        expected = oracle(frame["label"], frame["pred"], sensitive_features=sensitive)
        assert getattr(attribute, name).value == pytest.approx(expected, rel=1e-9), name
    ratio = attribute.demographic_parity_ratio.value
    assert ratio is not None
    assert attribute.four_fifths_rule_violated is (ratio < 0.8)


@pytest.mark.parametrize("seed", [3, 4])
@pytest.mark.parametrize("columns", COMBINATIONS, ids=" & ".join)
def test_group_metrics_match_fairlearn_metric_frame(seed: int, columns: tuple[str, ...]) -> None:
    frame = make_frame(seed)
    options = FairnessOptions(protected=PROTECTED, intersections=True, min_group_size=1)
    attribute = compute_fairness(frame, "pred", "label", options).attribute(" & ".join(columns))
    expected = fl.MetricFrame(
        metrics=GROUP_ORACLES,
        y_true=frame["label"],
        y_pred=frame["pred"],
        sensitive_features=_sensitive(frame, columns),
    ).by_group
    assert sorted(g.label for g in attribute.groups) == sorted(_label(k) for k in expected.index)
    for key, row in expected.iterrows():
        group = attribute.group(_label(key))
        assert group.count == int(
            (frame[list(columns)].astype(str) == [str(v) for v in np.atleast_1d(key)]).all(1).sum()
        )
        for name in GROUP_ORACLES:
            assert group.metric(name) == pytest.approx(row[name], rel=1e-9), (key, name)


@pytest.mark.parametrize(
    ("favorable", "mapping"), [("approved", {1: "approved", 0: "denied"}), (True, {1: True, 0: False})]
)
def test_string_and_boolean_outcomes_map_through_the_favourable_value(
    favorable: object, mapping: dict[int, object]
) -> None:
    frame = make_frame(5)
    coded = frame.assign(pred=frame["pred"].map(mapping), label=frame["label"].map(mapping))
    options = FairnessOptions.model_validate(
        {"protected": ["sex", "race"], "favorable": favorable, "min_group_size": 1}
    )
    report = compute_fairness(coded, "pred", "label", options)
    for column in ("sex", "race"):
        expected = fl.equalized_odds_difference(
            frame["label"], frame["pred"], sensitive_features=frame[column]
        )
        assert report.attribute(column).equalized_odds_difference.value == pytest.approx(expected, rel=1e-9)


def test_regression_groups_match_fairlearn_mean_prediction_and_mae() -> None:
    rng = np.random.default_rng(6)
    frame = make_frame(6).assign(pred=rng.normal(10, 3, 4000), label=rng.normal(10, 3, 4000))
    options = FairnessOptions(protected=["sex"], task="regression", min_group_size=1)
    attribute = compute_fairness(frame, "pred", "label", options).attribute("sex")
    expected = fl.MetricFrame(
        metrics={"mean_prediction": fl.mean_prediction, "mean_absolute_error": mean_absolute_error},
        y_true=frame["label"],
        y_pred=frame["pred"],
        sensitive_features=frame["sex"],
    )
    for label, row in expected.by_group.iterrows():
        group = attribute.group(str(label))
        assert group.mean_prediction == pytest.approx(row["mean_prediction"], rel=1e-9)
        assert group.mean_absolute_error == pytest.approx(row["mean_absolute_error"], rel=1e-9)
    differences = expected.difference()
    assert attribute.mean_prediction_difference.value == pytest.approx(
        differences["mean_prediction"], rel=1e-9
    )
    assert attribute.mean_absolute_error_difference.value == pytest.approx(
        differences["mean_absolute_error"], rel=1e-9
    )
    assert attribute.demographic_parity_difference.value is None


def test_small_groups_are_reported_and_left_out_of_the_differences() -> None:
    frame = make_frame(7)
    small = frame.index[frame["sex"] == "X"][:10]
    frame = frame[(frame["sex"] != "X") | frame.index.isin(small)]
    attribute = compute_fairness(frame, "pred", "label", FairnessOptions(protected=["sex"])).attribute("sex")
    x = attribute.group("X")
    assert (x.count, x.too_small, x.selection_rate, x.true_positive_rate) == (10, True, None, None)
    assert "fewer than min_group_size=30" in x.undefined["selection_rate"]
    assert attribute.excluded_groups == ("X",)
    judged = frame[frame["sex"] != "X"]
    for name, oracle in DISPARITY_ORACLES.items():
        expected = oracle(judged["label"], judged["pred"], sensitive_features=judged["sex"])
        assert getattr(attribute, name).value == pytest.approx(expected, rel=1e-9), name


def test_a_group_without_positive_labels_has_no_tpr_rather_than_zero() -> None:
    frame = make_frame(8)
    frame.loc[frame["race"] == "c", "label"] = 0
    attribute = compute_fairness(frame, "pred", "label", FairnessOptions(protected=["race"])).attribute(
        "race"
    )
    assert attribute.group("c").true_positive_rate is None
    assert (
        attribute.group("c").undefined["true_positive_rate"] == "no labelled rows with the favourable label"
    )
    # fairlearn counts that group's TPR as 0; we compare only the groups where TPR means something.
    judged = frame[frame["race"] != "c"]
    expected = fl.equal_opportunity_difference(
        judged["label"], judged["pred"], sensitive_features=judged["race"]
    )
    assert attribute.equal_opportunity_difference.value == pytest.approx(expected, rel=1e-9)


def test_without_labels_only_demographic_parity_is_computed() -> None:
    frame = make_frame(9)
    attribute = compute_fairness(frame, "pred", None, FairnessOptions(protected=["sex"])).attribute("sex")
    expected = fl.demographic_parity_difference(
        frame["label"], frame["pred"], sensitive_features=frame["sex"]
    )
    assert attribute.demographic_parity_difference.value == pytest.approx(expected, rel=1e-9)
    assert attribute.equalized_odds_difference.value is None
    assert attribute.equalized_odds_difference.reason == "no label column given"
    assert attribute.group("F").undefined["accuracy"] == "no label column given"


def test_one_judgeable_group_gives_no_difference_with_a_reason() -> None:
    frame = make_frame(10).assign(sex="F")
    attribute = compute_fairness(frame, "pred", "label", FairnessOptions(protected=["sex"])).attribute("sex")
    assert attribute.demographic_parity_difference.value is None
    assert (
        attribute.demographic_parity_difference.reason
        == "selection_rate is defined for 1 group(s); two are needed"
    )
    assert attribute.four_fifths_rule_violated is None
