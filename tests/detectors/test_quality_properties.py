"""Hypothesis: empty, constant, all-missing, single-row and mixed-type columns give clean findings or a
DetectorError, never a crash and never a NaN."""

from __future__ import annotations

import math

import pandas as pd
from hypothesis import event, given, settings
from hypothesis import strategies as st

from detectors.errors import DetectorError
from detectors.quality import QualityThresholds, check_quality

VALUES = st.one_of(
    st.none(),
    st.integers(-(2**70), 2**70),
    st.just(10**400),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=3),
    st.booleans(),
    st.sampled_from(["1", "2.5", "n/a", "a", "b"]),
)
SHARES = (
    "missing_share_reference",
    "missing_share_current",
    "out_of_range_share",
    "new_category_share",
    "vanished_category_share",
    "type_mismatch_share",
)


def series(values: list[object], dtype: type[object] | None = None) -> pd.Series:
    """A Series as pandas infers it, or an object Series when pandas refuses (integers beyond float64)."""
    try:
        inferred: pd.Series = pd.Series(values, dtype=dtype)
    except OverflowError:
        return pd.Series(values, dtype=object)
    return inferred


def columns(min_size: int) -> st.SearchStrategy[list[object]]:
    """Mixed columns, plus the degenerate ones: constant and all-missing."""
    return st.one_of(
        st.lists(VALUES, min_size=min_size, max_size=15),
        st.integers(min_size, 6).flatmap(lambda n: VALUES.map(lambda v: [v] * n)),
        st.lists(st.floats(-1e3, 1e3), min_size=min_size, max_size=15),
    )


@settings(max_examples=200, deadline=None)
@given(ref=columns(0), cur=columns(0), constant=st.sampled_from(["never", "new", "always"]))
def test_any_column_gives_findings_without_nan(ref: list[object], cur: list[object], constant: str) -> None:
    thresholds = QualityThresholds.model_validate({"constant": constant, "max_missing_share": 0.5})
    try:
        result = check_quality(pd.DataFrame({"c": series(ref)}), pd.DataFrame({"c": series(cur)}), thresholds)
    except DetectorError as exc:
        event(type(exc).__name__)
        assert not ref
        return
    event("findings")
    found = result.column("c")
    for name in SHARES:
        value = getattr(found, name)
        assert value is None or 0.0 <= value <= 1.0, name
    change = found.missing_share_change
    assert change is None or -1.0 <= change <= 1.0
    for breach in result.breaches:
        assert math.isfinite(breach.value)
        assert breach.message
    assert result.ok is (not result.breaches)
