"""Column typing: infer numeric / categorical / binary / text / id columns from the reference data."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd

ColumnType = Literal["numeric", "categorical", "binary", "text", "id"]
COLUMN_TYPES: tuple[ColumnType, ...] = ("numeric", "categorical", "binary", "text", "id")

# A string column whose values are mostly distinct and long is free text, not a category.
_TEXT_MIN_MEAN_LENGTH = 20
_ID_UNIQUE_SHARE = 0.95


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
    kinds = {type(v) for v in values.dropna().head(10_000)}
    return len(kinds & {str, bytes}) > 0 and len(kinds - {str, bytes}) > 0


def infer_column(name: str, values: pd.Series, override: ColumnType | None = None) -> ColumnInfo:
    """Infer one column's type; `override` wins when given."""
    non_null = values.dropna()
    n_unique = int(non_null.nunique())
    n_missing = int(values.isna().sum())
    mixed = _is_mixed(values)
    if override is not None:
        return ColumnInfo(name, override, n_unique, n_missing, mixed)
    kind: ColumnType
    if pd.api.types.is_bool_dtype(values.dtype) or n_unique == 2:
        kind = "binary"
    elif pd.api.types.is_numeric_dtype(values.dtype) and not mixed:
        kind = "numeric" if n_unique > 5 else "categorical"
    else:
        as_str = non_null.astype(str)
        unique_share = n_unique / max(len(non_null), 1)
        mean_len = float(as_str.str.len().mean()) if len(as_str) else 0.0
        if len(non_null) >= 20 and unique_share >= _ID_UNIQUE_SHARE:
            kind = "text" if mean_len >= _TEXT_MIN_MEAN_LENGTH and as_str.str.contains(" ").mean() > 0.5 else "id"
        else:
            kind = "categorical"
    return ColumnInfo(name, kind, n_unique, n_missing, mixed)


def infer_column_types(
    reference: pd.DataFrame, overrides: Mapping[str, ColumnType] | None = None
) -> dict[str, ColumnInfo]:
    """Infer every column's type from the reference frame, applying per-column overrides."""
    overrides = overrides or {}
    unknown = set(overrides) - set(reference.columns)
    if unknown:
        raise KeyError(f"type override for unknown column(s): {', '.join(sorted(map(str, unknown)))}")
    return {str(c): infer_column(str(c), reference[c], overrides.get(str(c))) for c in reference.columns}


def as_float_array(values: pd.Series) -> np.ndarray:
    """Numeric values as float64 with unparseable entries turned into NaN."""
    return pd.to_numeric(values, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
