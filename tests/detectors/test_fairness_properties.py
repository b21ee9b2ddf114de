"""Hypothesis: any small frame (empty, constant, all-missing, single-row, mixed types) gives a clean result
or a DetectorError, never a crash and never a NaN."""

from __future__ import annotations

import math

import pandas as pd
from hypothesis import event, given, settings
from hypothesis import strategies as st

from detectors.errors import DetectorError
from detectors.fairness import FairnessOptions, FairnessReport, compute_fairness, fairness_drift

GROUPS = st.one_of(
    st.none(), st.sampled_from(["a", "b", "c"]), st.integers(0, 2), st.floats(0, 2), st.booleans()
)
OUTCOMES = st.one_of(st.none(), st.sampled_from([0, 1, "1", "yes", "no", 1.0, True, False, float("nan")]))
NUMBERS = st.one_of(st.none(), st.floats(-1e6, 1e6), st.integers(-100, 100), st.floats(), st.just(10**400))


def series(values: list[object], dtype: type[object] | None = None) -> pd.Series:
    """A Series as pandas infers it, or an object Series when pandas refuses (integers beyond float64)."""
    try:
        inferred: pd.Series = pd.Series(values, dtype=dtype)
    except OverflowError:
        return pd.Series(values, dtype=object)
    return inferred


@st.composite
def frames(draw: st.DrawFn, outcomes: st.SearchStrategy[object]) -> pd.DataFrame:
    """Frames of 0-12 rows: two protected columns, predictions and labels drawn from `outcomes`."""
    n = draw(st.integers(0, 12))
    column = st.lists(outcomes, min_size=n, max_size=n)
    dtype: type[object] | None = draw(st.sampled_from([None, object]))
    lists: dict[str, list[object]] = {
        "g": draw(st.lists(GROUPS, min_size=n, max_size=n)),
        "h": draw(st.lists(GROUPS, min_size=n, max_size=n)),
        "pred": draw(column),
        "label": draw(column),
    }
    return pd.DataFrame({name: series(values, dtype) for name, values in lists.items()})


def _check(report: FairnessReport, min_group_size: int) -> None:
    for attribute in report.attributes:
        assert sum(g.count for g in attribute.groups) == report.n_rows - report.n_without_prediction
        for group in attribute.groups:
            for name in (
                "selection_rate",
                "accuracy",
                "true_positive_rate",
                "false_positive_rate",
                "precision",
            ):
                value = group.metric(name)
                assert value is None or 0.0 <= value <= 1.0
                assert (value is None) == (name in group.undefined) or report.task == "regression"
            if group.count < min_group_size:
                assert group.too_small
                assert group.selection_rate is None
        for disparity in attribute.disparities():
            assert (disparity.value is None) != (disparity.reason is None)
            assert disparity.value is None or (math.isfinite(disparity.value) and disparity.value >= 0)
        ratio = attribute.demographic_parity_ratio.value
        assert ratio is None or 0.0 <= ratio <= 1.0


@settings(max_examples=150, deadline=None)
@given(
    frame=frames(OUTCOMES), min_group_size=st.integers(1, 4), favorable=st.sampled_from([1, "yes", True, "1"])
)
def test_classification_never_crashes_or_returns_nan(
    frame: pd.DataFrame, min_group_size: int, favorable: object
) -> None:
    options = FairnessOptions.model_validate(
        {
            "protected": ["g", "h"],
            "favorable": favorable,
            "min_group_size": min_group_size,
            "intersections": True,
        }
    )
    try:
        report = compute_fairness(frame, "pred", "label", options)
    except DetectorError as exc:
        event(type(exc).__name__)
        return
    event("report")
    _check(report, min_group_size)
    assert fairness_drift(report, report).attributes[0].name == "g"


@settings(max_examples=100, deadline=None)
@given(frame=frames(NUMBERS), min_group_size=st.integers(1, 4), mixed=st.booleans())
def test_regression_never_crashes_or_returns_nan(
    frame: pd.DataFrame, min_group_size: int, mixed: bool
) -> None:
    if mixed and len(frame):
        frame = frame.astype({"pred": object})
        frame.loc[frame.index[0], "pred"] = "n/a"
    options = FairnessOptions(protected=["g"], task="regression", min_group_size=min_group_size)
    try:
        report = compute_fairness(frame, "pred", "label", options)
    except DetectorError as exc:
        event(type(exc).__name__)
        return
    event("report")
    _check(report, min_group_size)
    for group in report.attribute("g").groups:
        for value in (group.mean_prediction, group.mean_absolute_error):
            assert value is None or math.isfinite(value)
