"""Column typing: infer numeric / categorical / binary / text / id columns from the reference data."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from detectors.column_types import COLUMN_TYPES as COLUMN_TYPES
from detectors.column_types import ColumnType as ColumnType
from detectors.errors import ColumnError

# A string column whose values are mostly distinct and long is free text, not a category.
_TEXT_MIN_MEAN_LENGTH = 20
_ID_UNIQUE_SHARE = 0.95


class UnknownColumnError(ColumnError, KeyError):
    """A type override names a column the frame does not have (a KeyError too, for older callers)."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else "unknown column"


@dataclass(frozen=True, slots=True)
class ColumnInfo:
    """The inferred type of one column and the facts it was inferred from."""

    name: str
    type: ColumnType
    n_unique: int
    n_missing: int
    mixed_types: bool


def _is_mixed(values: pd.Series) -> bool:
    """True when an object column holds both numbers and non-numeric strings."""
    if values.dtype != object or values.empty:
        return False
    kinds = {type(v) for v in values.head(10_000).dropna()}
    return len(kinds & {str, bytes}) > 0 and len(kinds - {str, bytes}) > 0


def _is_plain_numeric(values: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(values.dtype) and not pd.api.types.is_bool_dtype(values.dtype)


def _numeric_counts(values: pd.Series) -> tuple[int, int]:
    """(distinct, missing) of a numeric column by sorting, several times faster than hashing floats."""
    arr = values.to_numpy(dtype=np.float64, na_value=np.nan)
    missing = np.isnan(arr)
    n_missing = int(np.count_nonzero(missing))
    present = np.sort(arr[~missing] if n_missing else arr)
    n_unique = 0 if len(present) == 0 else 1 + int(np.count_nonzero(present[1:] != present[:-1]))
    return n_unique, n_missing


def _object_counts(values: pd.Series) -> tuple[int, int, bool]:
    """(distinct, missing, unhashable) of any other column; unhashable cells are counted by their text."""
    n_missing = int(values.isna().sum())
    try:
        return int(values.nunique()), n_missing, False
    except TypeError:  # lists or dicts in cells
        return int(values.dropna().astype(str).nunique()), n_missing, True


def _string_kind(values: pd.Series, n_unique: int, n_missing: int) -> ColumnType:
    """Text, id or categorical for a non-numeric column."""
    n_present = len(values) - n_missing
    if n_present < 20 or n_unique / n_present < _ID_UNIQUE_SHARE:
        return "categorical"
    as_str = values.dropna().astype(str)
    long_text = float(as_str.str.len().mean()) >= _TEXT_MIN_MEAN_LENGTH
    return "text" if long_text and as_str.str.contains(" ").mean() > 0.5 else "id"


def infer_column(name: str, values: pd.Series, override: ColumnType | None = None) -> ColumnInfo:
    """Infer one column's type; `override` wins when given. Mixed or unhashable values never raise."""
    if _is_plain_numeric(values):
        n_unique, n_missing = _numeric_counts(values)
        mixed = False
    else:
        n_unique, n_missing, unhashable = _object_counts(values)
        mixed = unhashable or _is_mixed(values)
    if override is not None:
        return ColumnInfo(name, override, n_unique, n_missing, mixed)
    kind: ColumnType
    if pd.api.types.is_bool_dtype(values.dtype) or n_unique == 2:
        kind = "binary"
    elif _is_plain_numeric(values):
        kind = "numeric" if n_unique > 5 else "categorical"
    else:
        kind = _string_kind(values, n_unique, n_missing)
    return ColumnInfo(name, kind, n_unique, n_missing, mixed)


def infer_column_types(
    reference: pd.DataFrame, overrides: Mapping[str, ColumnType] | None = None
) -> dict[str, ColumnInfo]:
    """Infer every column's type from the reference frame, applying per-column overrides."""
    overrides = overrides or {}
    unknown = set(overrides) - set(reference.columns)
    if unknown:
        raise UnknownColumnError(
            f"type override for unknown column(s): {', '.join(sorted(map(str, unknown)))}"
        )
    return {str(c): infer_column(str(c), reference[c], overrides.get(str(c))) for c in reference.columns}


def as_float_array(values: pd.Series) -> np.ndarray:
    """Numeric values as float64 with unparseable entries turned into NaN."""
    return pd.to_numeric(values, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
