"""Raw columns turned into what the vectorised statistics need: favourable-outcome masks and group codes."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from detectors.columns import as_float_array
from detectors.errors import OptionsError
from detectors.fairness.options import Favorable

MISSING_GROUP = "(missing)"
INTERSECTION_SEPARATOR = " & "


def canonical(value: object) -> str:
    """A comparison key under which "1", 1, 1.0 and True are equal, while "yes" stays "yes"."""
    if isinstance(value, bool | np.bool_):
        return "1" if value else "0"
    if isinstance(value, int | np.integer):
        return str(int(value))
    if isinstance(value, float | np.floating):
        number = float(value)
        return str(int(number)) if number.is_integer() else repr(number)
    text = str(value).strip()
    if text.lower() in {"true", "false"}:
        return "1" if text.lower() == "true" else "0"
    try:
        number = float(text)
    except ValueError:
        return text
    return canonical(number)


def _to_float(value: object) -> float:
    """One value as a float: NaN when it is not a number, ±inf when it is an integer too large for float64."""
    try:
        return float(value)  # type: ignore[arg-type]
    except OverflowError:
        return math.inf if value > 0 else -math.inf  # type: ignore[operator]
    except (TypeError, ValueError):
        return math.nan


def float_array(values: pd.Series) -> np.ndarray:
    """`as_float_array`, except that integers beyond float64's range become ±inf instead of raising."""
    try:
        return as_float_array(values)
    except OverflowError:
        codes, uniques = pd.factorize(values)
        parsed = np.array([_to_float(u) for u in uniques] + [math.nan], dtype=np.float64)
        return np.asarray(parsed[codes], dtype=np.float64)


def display(value: object) -> str:
    """A group value as shown to people: integral floats lose their ".0" (CSV columns with gaps are float)."""
    if isinstance(value, float | np.floating) and float(value).is_integer():
        return str(int(value))
    return str(value)


@dataclass(frozen=True, slots=True)
class Outcomes:
    """Per row: whether the outcome is the favourable one, and whether there is an outcome at all."""

    favorable: np.ndarray
    present: np.ndarray


def favorable_outcomes(values: pd.Series, favorable: Favorable, column: str) -> Outcomes:
    """Map a prediction or label column of any dtype to a favourable mask; missing values are absent."""
    target = canonical(favorable)
    if pd.api.types.is_bool_dtype(values.dtype) or pd.api.types.is_numeric_dtype(values.dtype):
        try:
            wanted = float(target)
        except ValueError:
            raise OptionsError(
                f"favourable value {favorable!r} is not a number, but column {column!r} holds numbers"
            ) from None
        numbers = values.to_numpy(dtype=np.float64, na_value=np.nan)
        return Outcomes(numbers == wanted, ~np.isnan(numbers))
    codes, uniques = pd.factorize(values)
    # One extra False at the end: code -1 (missing) indexes it.
    hits = np.array([canonical(u) == target for u in uniques] + [False], dtype=bool)
    return Outcomes(hits[codes], codes >= 0)


def sample_values(values: pd.Series, limit: int = 8) -> str:
    """A short, sorted list of a column's distinct values for an error message."""
    distinct = sorted({display(v) for v in values.dropna().unique()[: limit * 4]})
    more = ", ..." if values.nunique() > len(distinct[:limit]) else ""
    return ", ".join(distinct[:limit]) + more


@dataclass(frozen=True, slots=True)
class Grouping:
    """Rows mapped to groups of one (possibly combined) attribute: row i belongs to `values[codes[i]]`."""

    name: str
    columns: tuple[str, ...]
    codes: np.ndarray
    values: tuple[tuple[str, ...], ...]

    @property
    def n_groups(self) -> int:
        """Number of distinct groups."""
        return len(self.values)


def group_by_column(values: pd.Series, column: str) -> Grouping:
    """Factorize one protected column; missing values form their own group."""
    codes, uniques = pd.factorize(values)
    labels = [(display(u),) for u in uniques]
    if len(codes) and codes.min() < 0:
        codes = np.where(codes < 0, len(labels), codes)
        labels.append((MISSING_GROUP,))
    return Grouping(column, (column,), codes.astype(np.intp, copy=False), tuple(labels))


def intersect(groupings: Sequence[Grouping]) -> Grouping:
    """Combine several groupings into one whose groups are the observed combinations of values."""
    if len(groupings) < 2:
        raise ValueError("an intersection needs at least two attributes")
    first = groupings[0]
    codes = first.codes
    parts: list[tuple[int, ...]] = [(i,) for i in range(first.n_groups)]
    for grouping in groupings[1:]:
        width = grouping.n_groups
        # Re-factorize after each step so codes stay below the row count whatever the cardinalities.
        new_codes, uniques = pd.factorize(codes.astype(np.int64) * width + grouping.codes)
        parts = [(*parts[int(u) // width], int(u) % width) for u in uniques]
        codes = new_codes.astype(np.intp, copy=False)
    values = tuple(tuple(v for g, i in zip(groupings, p, strict=True) for v in g.values[i]) for p in parts)
    columns = tuple(c for g in groupings for c in g.columns)
    return Grouping(INTERSECTION_SEPARATOR.join(g.name for g in groupings), columns, codes, values)
