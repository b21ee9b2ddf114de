"""Feature naming and row building, the same for every adapter.

Naming rules:

- a dict row keeps its keys (`{"sepal_length": 5.1}` stays as it is);
- a positional row (a list) names column i `feature_names[i]` when the route configures `feature_names`,
  else the protocol's name for it (MLflow `dataframe_split` columns, Seldon `names`, KServe V2 tensor names),
  else `f{i}`; a scalar row is column 0 of a positional row;
- predictions are one value per row: a scalar, a list (e.g. class probabilities) or a dict when the model has
  several named outputs.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final

from sidecar.capture.base import CaptureError, Row

Features = dict[str, Any]

_DEFAULT_NAMES: Final = tuple(f"f{i}" for i in range(256))


def column_names(
    count: int, feature_names: Sequence[str] | None, protocol_names: Sequence[str] | None = None
) -> list[str]:
    """Names for `count` positional columns: configured name, else protocol name, else `f{i}`."""
    configured: Sequence[str] = feature_names or ()
    known: Sequence[Any] = protocol_names or ()
    names: list[str] = []
    for i in range(count):
        if i < len(configured):
            names.append(configured[i])
        elif i < len(known) and isinstance(known[i], str):
            names.append(known[i])
        else:
            names.append(_DEFAULT_NAMES[i] if i < len(_DEFAULT_NAMES) else f"f{i}")
    return names


def instance_rows(
    items: list[Any], feature_names: Sequence[str] | None, protocol_names: Sequence[str] | None = None
) -> list[Features]:
    """One feature dict per instance: dicts keep their keys, lists and scalars are positional."""
    rows: list[Features] = []
    names_by_length: dict[int, list[str]] = {}
    for item in items:
        if isinstance(item, dict):
            rows.append(item)
            continue
        values = item if isinstance(item, list) else [item]
        names = names_by_length.get(len(values))
        if names is None:
            names = names_by_length[len(values)] = column_names(len(values), feature_names, protocol_names)
        rows.append(dict(zip(names, values, strict=True)))
    return rows


def columnar_rows(columns: dict[str, Any], what: str) -> list[Features]:
    """Rows from named columns of equal length (`{"a": [1, 2], "b": [3, 4]}`); CaptureError if they differ."""
    if not columns:
        return []
    lengths = {len(value) if isinstance(value, list) else -1 for value in columns.values()}
    if len(lengths) != 1 or -1 in lengths:
        raise CaptureError(f"{what}: columns are not lists of one length")
    names = list(columns)
    return [dict(zip(names, values, strict=True)) for values in zip(*columns.values(), strict=True)]


def align(value: Any, rows: int | None, lenient: bool = False) -> list[Any]:
    """Predictions as one entry per row: a list is per-row, columns of length `rows` are zipped into dicts.

    `lenient` (generic shapes only): when the request has one row, a list of another length is that row's
    prediction (e.g. class probabilities) rather than a count mismatch.
    """
    if isinstance(value, list):
        if lenient and rows == 1 and len(value) != 1:
            return [value]
        return value
    if (
        isinstance(value, dict)
        and rows != 1
        and value
        and all(isinstance(v, list) and (rows is None or len(v) == rows) for v in value.values())
    ):
        try:
            return columnar_rows(value, "predictions")
        except CaptureError:
            return [value]
    return [value]


def unwrap_singletons(values: list[Any]) -> list[Any]:
    """`[[0], [2]]` -> `[0, 2]`: a one-element row of a tensor is its scalar."""
    return [v[0] if isinstance(v, list) and len(v) == 1 else v for v in values]


def pair(features: list[Features] | None, predictions: list[Any] | None, errors: list[str]) -> list[Row]:
    """Rows from features and predictions; a count mismatch keeps the features and appends the reason."""
    if features is None:
        return [Row(None, p) for p in predictions] if predictions is not None else []
    if predictions is None:
        return [Row(f) for f in features]
    if len(features) != len(predictions):
        errors.append(
            f"count mismatch: {len(features)} instances in request, "
            f"{len(predictions)} predictions in response"
        )
        return [Row(f) for f in features]
    return [Row(f, p) for f, p in zip(features, predictions, strict=True)]
