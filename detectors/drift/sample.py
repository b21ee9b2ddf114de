"""One column's reference and current values, cleaned the way Evidently cleans them, with cached views.

Evidently drops missing values and +-inf before testing a column; methods here receive the cleaned arrays and
ask for the view they need (sorted floats, category counts), each computed once per column.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Any, Literal

import numpy as np
import pandas as pd

from detectors.columns import as_float_array

# Evidently's two feature types for drift: binary columns are categorical there.
FeatureKind = Literal["numeric", "categorical"]

FloatArray = np.ndarray[Any, np.dtype[np.float64]]
IntArray = np.ndarray[Any, np.dtype[np.int64]]


@dataclass(frozen=True, slots=True)
class Categories:
    """The distinct values of both samples (sorted where comparable) and each sample's codes and counts."""

    keys: np.ndarray[Any, Any]
    reference_codes: IntArray
    current_codes: IntArray
    reference_counts: IntArray
    current_counts: IntArray

    @classmethod
    def from_codes(
        cls, keys: np.ndarray[Any, Any], reference_codes: IntArray, current_codes: IntArray
    ) -> Categories:
        """Build from codes into `keys`, counting each side."""
        k = len(keys)
        return cls(
            keys,
            reference_codes,
            current_codes,
            np.bincount(reference_codes, minlength=k).astype(np.int64),
            np.bincount(current_codes, minlength=k).astype(np.int64),
        )


class Sample:
    """Cleaned reference and current values of one column plus lazily computed views of them."""

    def __init__(
        self, kind: FeatureKind, reference: np.ndarray[Any, Any], current: np.ndarray[Any, Any]
    ) -> None:
        self.kind = kind
        self.reference = reference
        self.current = current

    @property
    def n_reference(self) -> int:
        """Number of usable reference values."""
        return len(self.reference)

    @property
    def n_current(self) -> int:
        """Number of usable current values."""
        return len(self.current)

    @cached_property
    def sorted_reference(self) -> FloatArray:
        """Reference values sorted ascending (numeric columns)."""
        return np.sort(self.reference)

    @cached_property
    def sorted_current(self) -> FloatArray:
        """Current values sorted ascending (numeric columns)."""
        return np.sort(self.current)

    @cached_property
    def reference_nunique(self) -> int:
        """Distinct reference values."""
        if self.kind == "numeric":
            return _sorted_nunique(self.sorted_reference)
        return int(np.count_nonzero(self.categories.reference_counts))

    @cached_property
    def union_nunique(self) -> int:
        """Distinct values across both samples."""
        if self.kind == "numeric":
            both = np.concatenate((np.unique(self.sorted_reference), np.unique(self.sorted_current)))
            return _sorted_nunique(np.sort(both))
        return len(self.categories.keys)

    @cached_property
    def categories(self) -> Categories:
        """Both samples as codes into their common sorted keys."""
        both = np.concatenate((self.reference, self.current))
        if self.kind == "numeric":
            keys, inverse = np.unique(both, return_inverse=True)
            codes = inverse.astype(np.int64)
        else:
            raw_codes, uniques = pd.factorize(both)
            keys, rank = _sort_keys(np.asarray(uniques, dtype=object))
            codes = rank[raw_codes]
        n = self.n_reference
        return Categories.from_codes(keys, codes[:n], codes[n:])


def _sorted_nunique(values: FloatArray) -> int:
    return 0 if len(values) == 0 else 1 + int(np.count_nonzero(values[1:] != values[:-1]))


def _sort_keys(uniques: np.ndarray[Any, Any]) -> tuple[np.ndarray[Any, Any], IntArray]:
    """Sort keys (by type name, then text, when not mutually comparable); return keys and old->new rank."""
    try:
        order = np.argsort(uniques, kind="stable")
    except TypeError:
        order = np.array(
            sorted(range(len(uniques)), key=lambda i: (type(uniques[i]).__name__, str(uniques[i]))),
            dtype=np.int64,
        )
    rank = np.empty(len(uniques), dtype=np.int64)
    rank[order] = np.arange(len(uniques), dtype=np.int64)
    return uniques[order], rank


def _clean_numeric(values: pd.Series, side: str, notes: list[str]) -> FloatArray:
    if pd.api.types.is_numeric_dtype(values.dtype) and not pd.api.types.is_bool_dtype(values.dtype):
        arr = values.to_numpy(dtype=np.float64, na_value=np.nan)
    else:
        arr = as_float_array(values)
        unparseable = int(values.notna().sum()) - int(np.count_nonzero(~np.isnan(arr)))
        if unparseable:
            notes.append(f"{side}: {unparseable} non-numeric value(s) ignored")
    finite = np.isfinite(arr)
    return arr if finite.all() else arr[finite]


def _clean_categorical(values: pd.Series) -> np.ndarray[Any, Any]:
    arr = values.to_numpy()
    keep = ~pd.isna(arr)
    if arr.dtype.kind == "f":
        keep &= np.isfinite(arr)
    elif arr.dtype == object:
        keep &= ~pd.Series(arr).isin([np.inf, -np.inf]).to_numpy()
    return arr if keep.all() else arr[keep]


def prepare(kind: FeatureKind, reference: pd.Series, current: pd.Series) -> tuple[Sample, tuple[str, ...]]:
    """Clean both sides for a feature kind; return the sample and data-quality notes (unparseable values)."""
    notes: list[str] = []
    if kind == "numeric":
        ref = _clean_numeric(reference, "reference", notes)
        cur = _clean_numeric(current, "current", notes)
        return Sample(kind, ref, cur), tuple(notes)
    return Sample(kind, _clean_categorical(reference), _clean_categorical(current)), ()
