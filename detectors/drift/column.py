"""Testing one column: clean it, choose the method, score it, turn every data problem into a clear result."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pandas as pd

from detectors.columns import ColumnType
from detectors.drift.auto import auto_method, feature_kind
from detectors.drift.base import ColumnDrift, DriftMethod, InsufficientDataError, MethodRegistry
from detectors.drift.sample import Sample, prepare

UNTESTED_TYPES: frozenset[ColumnType] = frozenset({"text", "id"})


def _skipped(name: str, column_type: ColumnType, reason: str, notes: tuple[str, ...] = ()) -> ColumnDrift:
    return ColumnDrift(name, column_type, None, None, None, False, None, skip_reason=reason, notes=notes)


def _empty_side(sample: Sample) -> str | None:
    if sample.n_reference == 0:
        return "no usable (non-missing, finite) values in the reference"
    if sample.n_current == 0:
        return "no usable (non-missing, finite) values in the current data"
    return None


def check_column(
    name: str,
    column_type: ColumnType,
    reference: pd.Series,
    current: pd.Series,
    registry: MethodRegistry,
    method: DriftMethod | None = None,
    threshold: float | None = None,
    notes: tuple[str, ...] = (),
) -> ColumnDrift:
    """Test one column with `method` (default: Evidently's automatic choice); never raises on bad data."""
    if column_type in UNTESTED_TYPES:
        return _skipped(
            name, column_type, f"{column_type} column: not tested for drift (override its type)", notes
        )
    try:
        sample, clean_notes = prepare(feature_kind(column_type), reference, current)
        empty = _empty_side(sample)
        if empty is None and method is None:
            method = registry.get(auto_method(sample))
    except TypeError as exc:  # unhashable cells (lists, dicts) cannot be counted or compared
        return _skipped(name, column_type, f"values cannot be compared: {exc}", notes)
    notes = notes + clean_notes
    if empty is not None or method is None:
        return _skipped(name, column_type, empty or "no method", notes)
    limit = method.default_threshold if threshold is None else threshold
    base = ColumnDrift(
        name,
        column_type,
        method.name,
        None,
        limit,
        False,
        method.score_kind,
        n_reference=sample.n_reference,
        n_current=sample.n_current,
        notes=notes,
    )
    # Extreme values may overflow (inf or NaN results, handled below); numpy's errstate is per thread.
    with np.errstate(all="ignore"):
        try:
            score = method.score(sample)
        except InsufficientDataError as exc:
            return replace(base, skip_reason=str(exc))
        effect = method.effect_size(sample)
    notes = notes + method.notes(sample)
    if math.isnan(score):
        return replace(
            base, notes=(*notes, f"{method.name} is undefined for these samples (e.g. no variance)")
        )
    usable = effect is not None and math.isfinite(effect.value)
    return replace(
        base,
        score=score,
        drifted=method.is_drifted(score, limit),
        effect_size=effect.value if usable and effect is not None else None,
        effect_size_name=effect.name if usable and effect is not None else None,
        notes=notes,
    )
