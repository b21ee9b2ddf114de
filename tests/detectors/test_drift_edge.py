"""Empty, constant, all-missing, single-row and mixed-type columns: a clear result, never a crash."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from detectors.columns import ColumnType
from detectors.drift import ColumnDrift, DriftOptions, check_column, default_registry, detect_drift

REGISTRY = default_registry()
NUMERIC_METHODS = [m for m in REGISTRY.names() if REGISTRY.get(m).accepts("numeric")]
CATEGORICAL_METHODS = [m for m in REGISTRY.names() if REGISTRY.get(m).accepts("categorical")]

numbers = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True), st.integers(-3, 3).map(float), st.just(1.0), st.none()
)
labels = st.one_of(st.sampled_from(["a", "b", "c"]), st.none(), st.integers(0, 2), st.just(float("nan")))
mixed = st.one_of(numbers, labels, st.text(max_size=3))


def _assert_clear(result: ColumnDrift) -> None:
    """A verdict is a bool, never drift without a score, and a score is never NaN."""
    assert isinstance(result.drifted, bool)
    if result.score is None:
        assert not result.drifted
        assert result.skipped or result.notes
    else:
        assert not math.isnan(result.score)
    if result.skipped:
        assert result.skip_reason
        assert not result.drifted


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    method=st.sampled_from([None, *NUMERIC_METHODS]),
    ref=st.lists(numbers, max_size=25),
    cur=st.lists(numbers, max_size=25),
)
def test_numeric_columns(method: str | None, ref: list[float | None], cur: list[float | None]) -> None:
    """Any numeric method on any small numeric column (NaN, inf, None, constants, empties)."""
    result = check_column(
        "x",
        "numeric",
        pd.Series(ref, dtype=float),
        pd.Series(cur, dtype=float),
        REGISTRY,
        None if method is None else REGISTRY.get(method),
    )
    _assert_clear(result)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    method=st.sampled_from([None, *CATEGORICAL_METHODS]),
    column_type=st.sampled_from(["categorical", "binary"]),
    ref=st.lists(labels, max_size=25),
    cur=st.lists(labels, max_size=25),
)
def test_categorical_columns(
    method: str | None, column_type: ColumnType, ref: list[object], cur: list[object]
) -> None:
    """Any categorical method on any small column of labels, numbers and missing values."""
    result = check_column(
        "c",
        column_type,
        pd.Series(ref, dtype=object),
        pd.Series(cur, dtype=object),
        REGISTRY,
        None if method is None else REGISTRY.get(method),
    )
    _assert_clear(result)


@settings(max_examples=150, deadline=None)
@given(ref=st.lists(mixed, max_size=30), cur=st.lists(mixed, max_size=30))
def test_mixed_frames_end_to_end(ref: list[object], cur: list[object]) -> None:
    """Inference plus testing of a mixed-type column inside a frame never crashes."""
    result = detect_drift(
        pd.DataFrame({"m": pd.Series(ref, dtype=object)}), pd.DataFrame({"m": pd.Series(cur, dtype=object)})
    )
    _assert_clear(result.column("m"))
    assert isinstance(result.dataset_drift, bool)


@pytest.mark.parametrize(
    ("ref", "cur", "reason"),
    [
        ([], [1.0, 2.0], "reference"),
        ([np.nan, np.nan], [1.0, 2.0], "reference"),
        ([1.0, 2.0], [np.inf, None], "current"),
    ],
)
def test_empty_sides_are_skipped(ref: list[float], cur: list[float], reason: str) -> None:
    """Nothing usable on one side: skipped with the side named, not counted."""
    reference = pd.DataFrame({"x": pd.Series(ref, dtype=float)})
    current = pd.DataFrame({"x": pd.Series(cur, dtype=float)})
    result = detect_drift(reference, current, DriftOptions(column_types={"x": "numeric"}))
    column = result.column("x")
    assert column.skipped
    assert reason in (column.skip_reason or "")
    assert (result.number_of_columns, result.dataset_drift) == (0, False)


@pytest.mark.parametrize(
    ("method", "ref", "cur", "reason"),
    [
        ("cramer_von_mises", [1.0], [1.0, 2.0], "two values"),
        ("es", [1.0, 2.0, 3.0], [1.0, 2.0, 3.0], "at least 5"),
        ("es", [1.0] * 8, [1.0] * 8, "interquartile"),
        ("anderson", [2.0, 2.0], [2.0], "distinct"),
        ("empirical_mmd", [1.0], [2.0, 3.0], "two values"),
    ],
)
def test_unusable_samples_name_the_reason(
    method: str, ref: list[float], cur: list[float], reason: str
) -> None:
    """Methods that need more data say so in skip_reason."""
    result = check_column("x", "numeric", pd.Series(ref), pd.Series(cur), REGISTRY, REGISTRY.get(method))
    assert result.skipped
    assert reason in (result.skip_reason or "")
    assert result.method == method


def test_undefined_statistic_is_no_verdict() -> None:
    """A t-test on two equal constants is undefined: no score, no drift, a note."""
    result = check_column(
        "x", "numeric", pd.Series([3.0] * 5), pd.Series([3.0] * 5), REGISTRY, REGISTRY.get("t_test")
    )
    assert result.score is None
    assert not result.drifted
    assert "undefined" in result.notes[-1]


def test_fisher_needs_a_binary_column() -> None:
    """fisher_exact on three categories is skipped with the reason."""
    result = check_column(
        "c",
        "categorical",
        pd.Series(list("abc")),
        pd.Series(list("abc")),
        REGISTRY,
        REGISTRY.get("fisher_exact"),
    )
    assert result.skipped
    assert "binary" in (result.skip_reason or "")


def test_new_category_in_current_is_certain_drift() -> None:
    """A category the reference never had makes chisquare and g_test p = 0, as in Evidently."""
    ref, cur = pd.Series(list("ab") * 10), pd.Series(list("abc") * 10)
    for method in ("chisquare", "g_test"):
        result = check_column("c", "categorical", ref, cur, REGISTRY, REGISTRY.get(method))
        assert result.score == 0.0
        assert result.drifted


def test_g_test_accepts_unequal_sizes() -> None:
    """Evidently's g_test only runs on equal sizes; here the expected counts are rescaled (textbook G-test)."""
    from scipy.stats import power_divergence

    ref, cur = pd.Series(list("aab") * 10), pd.Series(list("abb") * 7)
    result = check_column("c", "categorical", ref, cur, REGISTRY, REGISTRY.get("g_test"))
    expected = power_divergence([7, 14], [20 * 21 / 30, 10 * 21 / 30], lambda_="log-likelihood").pvalue
    assert result.score == pytest.approx(expected, rel=1e-12)
