"""The automatic method choice and the override rules, exactly as Evidently resolves them.

Evidently's `_get_default_stattest` (legacy `stattests/registry.py`, also what the 0.7 `DataDriftPreset` runs
through `get_one_column_drift`), with n = non-missing reference rows and k = distinct non-missing values of
reference and current together:

| feature     | n <= 1000                              | n > 1000                                  |
|-------------|----------------------------------------|-------------------------------------------|
| numeric     | ks if k > 5, else chisquare (k > 2)/z  | wasserstein if k > 5, else jensenshannon  |
| categorical | chisquare if k > 2, else z             | jensenshannon                             |

Overrides win in Evidently's order: per column, then per type, then for all columns; thresholds likewise, then
the method's default. Our `binary` type is a categorical feature for Evidently; binary overrides fall back to
the categorical ones.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from detectors.columns import ColumnType
from detectors.drift.sample import FeatureKind, Sample

# Evidently's boundaries: "small" references get the statistical tests, larger ones the distances.
SMALL_REFERENCE_ROWS = 1000
MAX_VALUES_FOR_CATEGORICAL_TEST = 5
MAX_VALUES_FOR_Z_TEST = 2

T = TypeVar("T")


def feature_kind(column_type: ColumnType) -> FeatureKind:
    """Evidently's feature type for a column type: numeric stays numeric, the rest is categorical."""
    return "numeric" if column_type == "numeric" else "categorical"


def auto_method(sample: Sample) -> str:
    """The method Evidently picks for this cleaned sample."""
    small = sample.n_reference <= SMALL_REFERENCE_ROWS
    if sample.kind == "numeric":
        # k > 5 is settled by the reference alone most of the time, which spares a union of both samples.
        many = sample.reference_nunique > MAX_VALUES_FOR_CATEGORICAL_TEST
        if many or sample.union_nunique > MAX_VALUES_FOR_CATEGORICAL_TEST:
            return "ks" if small else "wasserstein"
        if not small:
            return "jensenshannon"
    elif not small:
        return "jensenshannon"
    return "chisquare" if sample.union_nunique > MAX_VALUES_FOR_Z_TEST else "z"


def _by_type(table: Mapping[Any, T], column_type: ColumnType) -> T | None:
    if column_type in table:
        return table[column_type]
    return table.get("categorical") if column_type == "binary" else None


def pick(
    column: str,
    column_type: ColumnType,
    by_column: Mapping[str, T],
    by_type: Mapping[Any, T],
    for_all: T | None,
) -> T | None:
    """Resolve one setting for a column: per column, else per type, else the global value (None: default)."""
    if column in by_column:
        return by_column[column]
    typed = _by_type(by_type, column_type)
    return typed if typed is not None else for_all
