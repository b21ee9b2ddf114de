"""Per-column data-quality findings: missing values, range, categories, types and constancy."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from detectors.columns import ColumnInfo, ColumnType, infer_column
from detectors.fairness.encode import float_array
from detectors.quality.thresholds import QualityCheck

_MAX_LISTED = 20
# A reference column counts as numeric for type checks when at least this share of its values are numbers.
_NUMERIC_MAJORITY = 0.5


@dataclass(frozen=True, slots=True)
class Breach:
    """A finding over its threshold; `column` is None for dataset-level checks."""

    check: QualityCheck
    column: str | None
    value: float
    threshold: float
    message: str


@dataclass(frozen=True, slots=True)
class ColumnQuality:
    """Findings for one column present in both batches; a None share is undefined, `undefined` says why."""

    name: str
    type: ColumnType
    expects_numbers: bool
    missing_share_reference: float | None
    missing_share_current: float | None
    missing_share_change: float | None
    reference_min: float | None
    reference_max: float | None
    out_of_range_share: float | None
    new_categories: tuple[str, ...]
    vanished_categories: tuple[str, ...]
    new_category_share: float | None
    vanished_category_share: float | None
    type_mismatch_share: float | None
    type_mismatch_examples: tuple[str, ...]
    mixed_types_reference: bool
    mixed_types_current: bool
    constant_reference: bool | None
    constant_current: bool | None
    breaches: tuple[Breach, ...] = ()
    undefined: dict[str, str] = field(default_factory=dict)


def share(part: int, whole: int) -> float | None:
    """part / whole, or None when whole is 0."""
    return None if whole == 0 else part / whole


def category_key(value: object) -> str:
    """A category as a string under which 1, 1.0 and "1" are the same category (CSV and JSON disagree)."""
    if isinstance(value, bool | np.bool_):
        return str(bool(value))
    if isinstance(value, int | np.integer):
        return str(int(value))
    if isinstance(value, float | np.floating) and float(value).is_integer():
        return str(int(value))
    return str(value)


def category_counts(values: pd.Series) -> dict[str, int]:
    """Non-missing row count per category key."""
    # An ndarray, not the Series: pandas cannot build an Index of integers beyond float64.
    raw = values.to_numpy() if values.dtype == object else values
    codes, uniques = pd.factorize(raw)
    tally = np.bincount(codes[codes >= 0], minlength=len(uniques))
    counts: dict[str, int] = {}
    for value, count in zip(uniques, tally, strict=True):
        key = category_key(value)
        counts[key] = counts.get(key, 0) + int(count)
    return counts


def not_numbers(values: pd.Series) -> np.ndarray:
    """Mask of values that are present but do not parse as numbers (parsed once per distinct value)."""
    if pd.api.types.is_numeric_dtype(values.dtype) or pd.api.types.is_bool_dtype(values.dtype):
        return np.zeros(len(values), dtype=bool)
    codes, uniques = pd.factorize(values)
    parsed = float_array(pd.Series(uniques, dtype=object))
    bad = np.append(np.isnan(parsed), False)  # code -1 (missing) indexes the extra False
    return np.asarray(bad[codes], dtype=bool)


def _constant(values: pd.Series) -> bool | None:
    """At most one distinct non-missing value; None for an empty batch."""
    return None if len(values) == 0 else values.nunique(dropna=True) <= 1


def _range(
    ref: pd.Series, cur: pd.Series, undefined: dict[str, str]
) -> tuple[float | None, float | None, float | None]:
    """Reference min / max and the share of current numbers outside them."""
    ref_numbers = float_array(ref)
    ref_numbers = ref_numbers[~np.isnan(ref_numbers)]
    if ref_numbers.size == 0:
        undefined["out_of_range_share"] = "the reference has no numbers in this column"
        return None, None, None
    low, high = float(ref_numbers.min()), float(ref_numbers.max())
    cur_numbers = float_array(cur)
    cur_numbers = cur_numbers[~np.isnan(cur_numbers)]
    outside = share(int(((cur_numbers < low) | (cur_numbers > high)).sum()), cur_numbers.size)
    if outside is None:
        undefined["out_of_range_share"] = "the current data has no numbers in this column"
    return low, high, outside


def _type_mismatch(
    ref: pd.Series, cur: pd.Series, undefined: dict[str, str]
) -> tuple[bool, float | None, tuple[str, ...]]:
    """Whether the reference holds numbers, and the share (and a few examples) of current non-numbers."""
    ref_present, cur_present = int(ref.notna().sum()), int(cur.notna().sum())
    expects_numbers = ref_present > 0 and int(not_numbers(ref).sum()) <= (1 - _NUMERIC_MAJORITY) * ref_present
    if not expects_numbers:
        undefined["type_mismatch_share"] = "the reference does not hold numbers in this column"
        return False, None, ()
    bad = not_numbers(cur)
    mismatch = share(int(bad.sum()), cur_present)
    if mismatch is None:
        undefined["type_mismatch_share"] = "the current data has no values in this column"
    return True, mismatch, tuple(sorted({str(v) for v in cur[bad].unique()[:5]}))


@dataclass(frozen=True, slots=True)
class _Categories:
    new: tuple[str, ...] = ()
    vanished: tuple[str, ...] = ()
    new_share: float | None = None
    vanished_share: float | None = None


def _categories(ref: pd.Series, cur: pd.Series, undefined: dict[str, str]) -> _Categories:
    """Categories only in the current data or only in the reference, and the rows they cover."""
    ref_counts, cur_counts = category_counts(ref), category_counts(cur)
    new_keys, gone_keys = cur_counts.keys() - ref_counts.keys(), ref_counts.keys() - cur_counts.keys()
    new_share = share(sum(cur_counts[k] for k in new_keys), sum(cur_counts.values()))
    vanished_share = share(sum(ref_counts[k] for k in gone_keys), sum(ref_counts.values()))
    if not cur_counts:
        # Nothing current to look at is a missing-value finding, not every category vanishing at once.
        vanished_share, gone_keys = None, set()
        undefined["vanished_category_share"] = "the current data has no values in this column"
    elif vanished_share is None:
        undefined["vanished_category_share"] = "the reference has no values in this column"
    if new_share is None:
        undefined["new_category_share"] = "the current data has no values in this column"
    listed = (tuple(sorted(new_keys)[:_MAX_LISTED]), tuple(sorted(gone_keys)[:_MAX_LISTED]))
    return _Categories(*listed, new_share, vanished_share)


def column_findings(info: ColumnInfo, ref: pd.Series, cur: pd.Series) -> ColumnQuality:
    """Every finding for one column, without breaches (see `detectors.quality.report`)."""
    undefined: dict[str, str] = {}
    ref_missing = share(int(ref.isna().sum()), len(ref))
    cur_missing = share(int(cur.isna().sum()), len(cur))
    if cur_missing is None:
        undefined["missing_share_current"] = "the current data has no rows"
    change = None if ref_missing is None or cur_missing is None else cur_missing - ref_missing
    expects_numbers, mismatch, examples = _type_mismatch(ref, cur, undefined)
    numeric = info.type == "numeric" or (info.mixed_types and expects_numbers)
    low = high = outside = None
    if numeric:
        low, high, outside = _range(ref, cur, undefined)
    else:
        undefined["out_of_range_share"] = f"not a numeric column ({info.type})"
    categories = _Categories()
    if not numeric and info.type in ("categorical", "binary"):
        categories = _categories(ref, cur, undefined)
    else:
        reason = f"not a categorical column ({'numeric' if numeric else info.type})"
        undefined |= {"new_category_share": reason, "vanished_category_share": reason}
    return ColumnQuality(
        name=info.name,
        type=info.type,
        expects_numbers=expects_numbers,
        missing_share_reference=ref_missing,
        missing_share_current=cur_missing,
        missing_share_change=change,
        reference_min=low,
        reference_max=high,
        out_of_range_share=outside,
        new_categories=categories.new,
        vanished_categories=categories.vanished,
        new_category_share=categories.new_share,
        vanished_category_share=categories.vanished_share,
        type_mismatch_share=mismatch,
        type_mismatch_examples=examples,
        mixed_types_reference=info.mixed_types,
        mixed_types_current=infer_column(info.name, cur).mixed_types,
        constant_reference=_constant(ref),
        constant_current=_constant(cur),
        undefined=undefined,
    )
