"""Hypothesis: empty, constant, all-missing, single-row and mixed-type labels give clean metrics or a
DetectorError, never a crash and never a NaN."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from hypothesis import event, given, settings
from hypothesis import strategies as st

from detectors.errors import DetectorError
from detectors.performance import (
    ClassificationOptions,
    ClassificationPerformance,
    RegressionPerformance,
    classification_performance,
    regression_performance,
)

LABELS = st.one_of(st.none(), st.sampled_from([0, 1, "0", "1", True, 2, "a", 1.0]))
NUMBERS = st.one_of(st.none(), st.floats(), st.integers(-1000, 1000), st.just(10**400))


def series(values: list[object], dtype: type[object] | None = None) -> pd.Series:
    """A Series as pandas infers it, or an object Series when pandas refuses (integers beyond float64)."""
    try:
        inferred: pd.Series = pd.Series(values, dtype=dtype)
    except OverflowError:
        return pd.Series(values, dtype=object)
    return inferred


def _no_nan(result: ClassificationPerformance | RegressionPerformance, names: tuple[str, ...]) -> None:
    for name in names:
        value = getattr(result, name)
        assert value is None or math.isfinite(value), name
        assert (value is None) == (name in result.undefined), name


@settings(max_examples=150, deadline=None)
@given(
    pairs=st.lists(st.tuples(LABELS, LABELS, st.floats(0, 1)), max_size=12),
    average=st.sampled_from(["macro", "weighted", "micro"]),
    with_scores=st.booleans(),
)
def test_classification_never_crashes_or_returns_nan(
    pairs: list[tuple[object, object, float]], average: str, with_scores: bool
) -> None:
    y_true = pd.Series([p[0] for p in pairs], dtype=object)
    y_pred = pd.Series([p[1] for p in pairs], dtype=object)
    scores = np.array([p[2] for p in pairs]) if with_scores else None
    options = ClassificationOptions.model_validate({"average": average})
    try:
        result = classification_performance(y_true, y_pred, scores, options)
    except DetectorError as exc:
        event(type(exc).__name__)
        return
    event("metrics")
    _no_nan(result, ("accuracy", "precision", "recall", "f1", "roc_auc", "log_loss"))


@settings(max_examples=150, deadline=None)
@given(pairs=st.lists(st.tuples(NUMBERS, NUMBERS), max_size=12), mixed=st.booleans())
def test_regression_never_crashes_or_returns_nan(pairs: list[tuple[object, object]], mixed: bool) -> None:
    y_true = series([p[0] for p in pairs], dtype=object if mixed else None)
    if mixed and len(y_true):
        y_true.iloc[0] = "n/a"
    try:
        result = regression_performance(y_true, series([p[1] for p in pairs]))
    except DetectorError as exc:
        event(type(exc).__name__)
        return
    event("metrics")
    _no_nan(result, ("mae", "rmse", "mape", "r2"))
