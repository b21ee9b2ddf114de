"""Fairness inputs: favourable-value matching, options validation, missing values and bad columns."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError

from detectors.errors import ColumnError, InsufficientDataError, OptionsError
from detectors.fairness import FairnessOptions, compute_fairness
from detectors.fairness.encode import MISSING_GROUP, favorable_outcomes

F, T = False, True


@pytest.mark.parametrize(
    ("values", "favorable", "expected", "present"),
    [
        (pd.Series([0, 1, 1]), "1", [F, T, T], [T, T, T]),
        (pd.Series([0.0, 1.0, np.nan]), 1, [F, T, F], [T, T, F]),
        (pd.Series([T, F]), "true", [T, F], [T, T]),
        (pd.Series([T, F]), 1, [T, F], [T, T]),
        (pd.Series(["yes", "no", None]), "yes", [T, F, F], [T, T, F]),
        (pd.Series(["1", "0"]), 1, [T, F], [T, T]),
        (pd.Series(["1.0", " 1", "2"]), "1", [T, T, F], [T, T, T]),
        (pd.Series(["Yes", "no"]), "yes", [F, F], [T, T]),
        (pd.Series(pd.Categorical(["a", "b", "a"])), "a", [T, F, T], [T, T, T]),
        (pd.Series([1, None, 0], dtype="Int64"), "1", [T, F, F], [T, F, T]),
        (pd.Series([1, "1", "x", 2.0]), 1, [T, T, F, F], [T, T, T, T]),
    ],
)
def test_favourable_value_matches_across_types(
    values: pd.Series, favorable: bool | int | str, expected: list[bool], present: list[bool]
) -> None:
    outcome = favorable_outcomes(values, favorable, "col")
    assert outcome.favorable.tolist() == expected
    assert outcome.present.tolist() == present


def test_a_word_cannot_be_favourable_in_a_numeric_column() -> None:
    with pytest.raises(OptionsError, match="'yes' is not a number"):
        favorable_outcomes(pd.Series([0, 1]), "yes", "pred")


def test_a_favourable_value_that_never_occurs_is_an_error_naming_the_values() -> None:
    frame = pd.DataFrame({"g": ["a", "b"], "pred": ["approved", "denied"]})
    with pytest.raises(OptionsError, match=r"never occurs in column 'pred' \(values: approved, denied\)"):
        compute_fairness(frame, "pred", None, FairnessOptions(protected=["g"]))


@pytest.mark.parametrize(
    "fields",
    [
        {"protected": []},
        {"protected": ["a", "a"]},
        {"protected": ["a"], "min_group_size": 0},
        {"protected": ["a"], "task": "ranking"},
        {"protected": ["a"], "unknown": 1},
    ],
)
def test_options_reject_bad_fields(fields: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        FairnessOptions.model_validate(fields)


def test_options_keep_the_favourable_value_type() -> None:
    assert FairnessOptions(protected=["a"], favorable=True).favorable is True
    assert FairnessOptions(protected=["a"], favorable="1").favorable == "1"
    assert FairnessOptions(protected=["a"]).favorable == 1


def test_missing_protected_values_form_a_group_and_missing_predictions_are_dropped() -> None:
    frame = pd.DataFrame({"g": ["a", None, "a", "b"], "pred": [1, 0, None, 1]})
    report = compute_fairness(frame, "pred", None, FairnessOptions(protected=["g"], min_group_size=1))
    assert (report.n_rows, report.n_without_prediction) == (4, 1)
    assert {g.label: g.count for g in report.attribute("g").groups} == {"a": 1, "b": 1, MISSING_GROUP: 1}


def test_float_group_values_from_csv_gaps_display_as_integers() -> None:
    frame = pd.DataFrame({"g": [1.0, 2.0, np.nan], "pred": [1, 0, 1]})
    report = compute_fairness(frame, "pred", None, FairnessOptions(protected=["g"], min_group_size=1))
    assert [g.label for g in report.attribute("g").groups] == ["(missing)", "1", "2"]


def test_intersections_cover_every_combination_of_two_or_more_attributes() -> None:
    frame = pd.DataFrame({"a": [1, 2], "b": ["x", "y"], "c": [T, F], "pred": [1, 0]})
    report = compute_fairness(
        frame, "pred", None, FairnessOptions(protected=["a", "b", "c"], intersections=True)
    )
    assert [a.name for a in report.attributes] == ["a", "b", "c", "a & b", "a & c", "b & c", "a & b & c"]
    assert [g.values for g in report.attribute("a & b & c").groups] == [
        ("1", "x", "True"),
        ("2", "y", "False"),
    ]


@pytest.mark.parametrize(
    ("frame", "label", "task", "error", "message"),
    [
        (pd.DataFrame({"g": ["a"], "pred": [1]}), "nope", "classification", ColumnError, "unknown column"),
        (pd.DataFrame({"g": [], "pred": []}), None, "classification", InsufficientDataError, "no rows"),
        (
            pd.DataFrame({"g": ["a"], "pred": [None]}),
            None,
            "classification",
            InsufficientDataError,
            "has no values",
        ),
        (pd.DataFrame({"g": ["a"], "pred": ["high"]}), None, "regression", ColumnError, "must be numeric"),
    ],
)
def test_unusable_input_raises_a_detector_error(
    frame: pd.DataFrame, label: str | None, task: str, error: type[Exception], message: str
) -> None:
    options = FairnessOptions.model_validate({"protected": ["g"], "task": task})
    with pytest.raises(error, match=message):
        compute_fairness(frame, "pred", label, options)


def test_labelled_metrics_need_enough_labelled_rows() -> None:
    frame = pd.DataFrame({"g": ["a"] * 40, "pred": [1, 0] * 20, "label": [1, 0] + [None] * 38})
    group = (
        compute_fairness(frame, "pred", "label", FairnessOptions(protected=["g"])).attribute("g").group("a")
    )
    assert group.selection_rate == 0.5
    assert group.accuracy is None
    assert group.undefined["accuracy"] == "group has 2 labelled rows, fewer than min_group_size=30"
