"""Column typing: inferred from the reference, overridable, and never crashing on mixed or odd values."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from detectors.columns import ColumnType, UnknownColumnError, as_float_array, infer_column, infer_column_types

RNG = np.random.default_rng(0)


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        (pd.Series(RNG.normal(size=50)), "numeric"),
        (pd.Series(RNG.integers(0, 4, 50)), "categorical"),
        (pd.Series([True, False] * 10), "binary"),
        (pd.Series([0.0, 1.0, np.nan] * 10), "binary"),
        (pd.Series(["yes", "no", None] * 10), "binary"),
        (pd.Series(["a", "b", "c"] * 10), "categorical"),
        (pd.Series([f"user-{i:05d}" for i in range(40)]), "id"),
        (pd.Series([f"this is free text number {i} with words" for i in range(40)]), "text"),
        (pd.Series([np.nan] * 10), "categorical"),
        (pd.Series([], dtype=float), "categorical"),
        (pd.Series(pd.array([1, 2, 3, 4, 5, 6, None], dtype="Int64")), "numeric"),
    ],
)
def test_inferred_type(values: pd.Series, expected: ColumnType) -> None:
    """Each kind of column gets the documented type."""
    assert infer_column("c", values).type == expected


def test_counts_and_override() -> None:
    """Distinct and missing counts are reported; an override wins but keeps the counts."""
    values = pd.Series([1.0, 2.0, np.nan, 2.0, -0.0, 0.0])
    info = infer_column("c", values, override="numeric")
    assert (info.type, info.n_unique, info.n_missing) == ("numeric", 3, 1)


def test_mixed_and_unhashable_values_are_findings_not_crashes() -> None:
    """Numbers mixed with text, and lists in cells, are flagged as mixed."""
    mixed = infer_column("m", pd.Series([1, "two", 3.0, None] * 10, dtype=object))
    assert mixed.mixed_types
    lists = infer_column("l", pd.Series([[1, 2], [3], [1, 2]] * 10))
    assert lists.mixed_types
    assert lists.n_unique == 2


def test_frame_inference_with_overrides() -> None:
    """Every column is typed; an override for an unknown column is refused."""
    frame = pd.DataFrame({"x": RNG.normal(size=30), "c": ["a", "b", "c"] * 10})
    infos = infer_column_types(frame, {"x": "categorical"})
    assert {n: i.type for n, i in infos.items()} == {"x": "categorical", "c": "categorical"}
    with pytest.raises(UnknownColumnError, match="nope"):
        infer_column_types(frame, {"nope": "numeric"})


def test_as_float_array_coerces_unparseable_to_nan() -> None:
    """Text that is not a number becomes NaN."""
    out = as_float_array(pd.Series(["1.5", "x", None, 3]))
    assert np.isnan(out[[1, 2]]).all()
    assert out[0] == 1.5
    assert out[3] == 3.0
