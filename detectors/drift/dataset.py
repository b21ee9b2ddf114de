"""Dataset drift: every column tested (in threads for large frames), the drifted share against `drift_share`.

Evidently's rule: the dataset drifts when (drifted columns / tested columns) >= drift_share. Skipped columns
(text, id, empty) are not counted. The prediction column is reported on its own and only counted when
configured.
"""

from __future__ import annotations

from collections.abc import Hashable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import pandas as pd

from detectors.columns import ColumnInfo, ColumnType, infer_column
from detectors.drift.auto import feature_kind, pick
from detectors.drift.base import (
    ColumnDrift,
    DriftMethod,
    MethodNotApplicableError,
    MethodRegistry,
    MissingColumnError,
)
from detectors.drift.column import UNTESTED_TYPES, check_column
from detectors.drift.errors import DuplicateColumnError
from detectors.drift.options import DriftOptions
from detectors.drift.registry import default_registry

# Below this many rows in total, thread start-up costs more than it saves.
PARALLEL_MIN_ROWS = 100_000


@dataclass(frozen=True, slots=True)
class DatasetDrift:
    """Per-column results, the prediction's result and the dataset verdict."""

    columns: tuple[ColumnDrift, ...]
    prediction: ColumnDrift | None
    drift_share: float
    number_of_columns: int
    number_of_drifted_columns: int
    share_of_drifted_columns: float
    dataset_drift: bool
    column_info: tuple[ColumnInfo, ...] = ()

    def all_columns(self) -> tuple[ColumnDrift, ...]:
        """Every column's result, the prediction's last."""
        return self.columns if self.prediction is None else (*self.columns, self.prediction)

    def column(self, name: str) -> ColumnDrift:
        """The result for one column (the prediction included)."""
        for result in self.all_columns():
            if result.column == name:
                return result
        raise KeyError(name)


@dataclass(frozen=True, slots=True)
class _Plan:
    name: str
    label: Hashable
    column_type: ColumnType
    method: DriftMethod | None
    threshold: float | None
    notes: tuple[str, ...]


def _labels(reference: pd.DataFrame, current: pd.DataFrame, options: DriftOptions) -> dict[str, Hashable]:
    labels: dict[str, Hashable] = {str(c): c for c in reference.columns}
    for frame, side in ((reference, "reference"), (current, "current")):
        names = [str(c) for c in frame.columns]
        if len(set(names)) < len(names):
            duplicated = sorted({n for n in names if names.count(n) > 1})
            raise DuplicateColumnError(
                f"duplicate column name(s) in the {side} data: {', '.join(duplicated)}"
            )
    current_names = {str(c) for c in current.columns}
    missing_ref = sorted(options.named_columns() - set(labels))
    if missing_ref:
        raise MissingColumnError(f"column(s) not in the reference data: {', '.join(missing_ref)}")
    wanted = set(options.columns) if options.columns is not None else set(labels)
    if options.prediction is not None:
        wanted.add(options.prediction)
    missing_cur = sorted(wanted - current_names)
    if missing_cur:
        raise MissingColumnError(f"column(s) not in the current data: {', '.join(missing_cur)}")
    return labels


def _plan(
    name: str, label: Hashable, info: ColumnInfo, options: DriftOptions, registry: MethodRegistry
) -> _Plan:
    method_name = pick(name, info.type, options.method_by_column, options.method_by_type, options.method)
    threshold = pick(
        name, info.type, options.threshold_by_column, options.threshold_by_type, options.threshold
    )
    method = None if method_name is None else registry.get(method_name)
    if method is not None and info.type not in UNTESTED_TYPES and not method.accepts(feature_kind(info.type)):
        raise MethodNotApplicableError(
            f"method {method.name!r} does not apply to {info.type} column {name!r}"
            f" (it takes {', '.join(sorted(method.feature_kinds))} columns)"
        )
    notes = ("reference mixes numbers and text",) if info.mixed_types else ()
    return _Plan(name, label, info.type, method, threshold, notes)


def _verdict(results: list[ColumnDrift], drift_share: float) -> tuple[int, int, float, bool]:
    tested = [r for r in results if not r.skipped]
    drifted = sum(r.drifted for r in tested)
    share = drifted / len(tested) if tested else 0.0
    return len(tested), drifted, share, bool(tested) and share >= drift_share


def detect_drift(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    options: DriftOptions | None = None,
    registry: MethodRegistry | None = None,
) -> DatasetDrift:
    """Test every selected column of `current` against `reference` and decide on dataset drift."""
    options = options or DriftOptions()
    registry = registry or default_registry(options.seed)
    labels = _labels(reference, current, options)
    names = options.columns if options.columns is not None else [n for n in labels if n != options.prediction]
    if options.prediction is not None:
        names = [n for n in names if n != options.prediction] + [options.prediction]
    infos = {n: infer_column(n, reference[labels[n]], options.column_types.get(n)) for n in names}
    plans = [_plan(n, labels[n], infos[n], options, registry) for n in names]

    def run(plan: _Plan) -> ColumnDrift:
        return check_column(
            plan.name,
            plan.column_type,
            reference[plan.label],
            current[plan.label],
            registry,
            plan.method,
            plan.threshold,
            plan.notes,
        )

    workers = options.workers
    if workers > 1 and len(plans) > 1 and len(reference) + len(current) >= PARALLEL_MIN_ROWS:
        with ThreadPoolExecutor(max_workers=min(workers, len(plans))) as pool:
            results = list(pool.map(run, plans))
    else:
        results = [run(p) for p in plans]
    prediction = results.pop() if options.prediction is not None else None
    counted = (
        [*results, prediction] if prediction is not None and options.count_prediction_in_share else results
    )
    n_tested, n_drifted, share, drift = _verdict(counted, options.drift_share)
    return DatasetDrift(
        tuple(results),
        prediction,
        options.drift_share,
        n_tested,
        n_drifted,
        share,
        drift,
        tuple(infos.values()),
    )
