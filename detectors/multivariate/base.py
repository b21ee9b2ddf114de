"""The multivariate result type, its errors, and the feature encoding shared by the multivariate methods.

Multivariate methods see all columns at once, so they catch drift no single column shows (a correlation that
flips while both marginals stay put). Numeric columns are imputed with the reference median; categorical and
binary columns become codes of the reference's categories (new categories share one code); text and id columns
are left out, as in univariate drift.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd

from detectors.columns import ColumnInfo, as_float_array
from detectors.errors import DetectorError

MultivariateMethod = Literal["domain_classifier", "pca_reconstruction"]
MAX_CATEGORIES = 50


class MultivariateError(DetectorError):
    """The frames cannot be compared as a whole (no usable columns, too few rows)."""


@dataclass(frozen=True, slots=True)
class MultivariateDrift:
    """A whole-frame drift verdict: the score, how it compares with its bounds, and what was used."""

    method: MultivariateMethod
    score: float
    score_name: str
    threshold: float
    drifted: bool
    columns: tuple[str, ...]
    n_reference: int
    n_current: int
    lower_threshold: float | None = None
    reference_score: float | None = None
    notes: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Encoded:
    """Both frames as float matrices; `categorical` marks the columns holding category codes."""

    reference: np.ndarray[Any, np.dtype[np.float64]]
    current: np.ndarray[Any, np.dtype[np.float64]]
    columns: tuple[str, ...]
    categorical: tuple[bool, ...]


def _codes(reference: pd.Series, current: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Codes of the most frequent reference categories; others share the last code; missing stays NaN."""
    top = reference.astype(str).where(reference.notna()).value_counts().index[: MAX_CATEGORIES - 1]
    lookup = {value: float(i) for i, value in enumerate(top)}
    other = float(len(top))

    def encode(values: pd.Series) -> np.ndarray:
        present = values.notna().to_numpy()
        codes = values.astype(str).map(lookup).to_numpy(np.float64, na_value=np.nan)
        codes[present & np.isnan(codes)] = other
        codes[~present] = np.nan
        return codes

    return encode(reference), encode(current)


def encode(reference: pd.DataFrame, current: pd.DataFrame, infos: Mapping[str, ColumnInfo]) -> Encoded:
    """Encode the numeric, categorical and binary columns of both frames; raise when none is usable."""
    names = [n for n, info in infos.items() if info.type in ("numeric", "categorical", "binary")]
    if not names:
        raise MultivariateError("no numeric, categorical or binary column to compare")
    missing = [n for n in names if n not in current.columns]
    if missing:
        raise MultivariateError(f"column(s) not in the current data: {', '.join(missing)}")
    ref_cols, cur_cols, categorical = [], [], []
    for name in names:
        if infos[name].type == "numeric":
            ref, cur = as_float_array(reference[name]), as_float_array(current[name])
            ref[~np.isfinite(ref)] = np.nan
            cur[~np.isfinite(cur)] = np.nan
            median = float(np.nanmedian(ref)) if np.isfinite(ref).any() else 0.0
            ref_cols.append(np.where(np.isnan(ref), median, ref))
            cur_cols.append(np.where(np.isnan(cur), median, cur))
            categorical.append(False)
        else:
            ref, cur = _codes(reference[name], current[name])
            ref_cols.append(ref)
            cur_cols.append(cur)
            categorical.append(True)
    return Encoded(np.column_stack(ref_cols), np.column_stack(cur_cols), tuple(names), tuple(categorical))
