"""`driftcar drift REFERENCE CURRENT`: column-by-column drift between two CSV/Parquet files."""

from __future__ import annotations

import argparse
import json
import math
from typing import TYPE_CHECKING, Any

from sidecar.cli import CliError

if TYPE_CHECKING:
    from detectors.drift import ColumnDrift, DatasetDrift, DriftOptions


def configure(parser: argparse.ArgumentParser) -> None:
    """Declare the drift subcommand's arguments."""
    parser.add_argument("reference", help="reference data (.csv, .parquet or .jsonl)")
    parser.add_argument("current", help="current data to compare with the reference")
    parser.add_argument("--json", action="store_true", help="print a JSON document instead of a table")
    parser.add_argument(
        "--method",
        action="append",
        default=[],
        metavar="COL=METHOD",
        help="drift method for a column (repeatable)",
    )
    parser.add_argument(
        "--threshold",
        action="append",
        default=[],
        metavar="COL=VALUE",
        help="threshold for a column (repeatable)",
    )
    parser.add_argument(
        "--type", action="append", default=[], metavar="COL=TYPE", help="override a column's inferred type"
    )
    parser.add_argument(
        "--drift-share", type=float, default=0.5, help="drifted share that flags the dataset (0.5)"
    )
    parser.add_argument("--prediction", metavar="COL", help="model output column, reported on its own")
    parser.add_argument("--columns", metavar="A,B", help="only these columns (comma-separated)")


def _pairs(items: list[str], flag: str) -> dict[str, str]:
    pairs: dict[str, str] = {}
    for item in items:
        column, sep, value = item.partition("=")
        if not sep or not column or not value:
            raise CliError(f"{flag} expects COL=VALUE, got {item!r}")
        pairs[column] = value
    return pairs


def _options(args: argparse.Namespace) -> DriftOptions:
    from pydantic import ValidationError

    from detectors.columns import COLUMN_TYPES
    from detectors.drift import DriftOptions, default_registry

    methods = _pairs(args.method, "--method")
    known = default_registry().names()
    for column, method in methods.items():
        if method not in known:
            raise CliError(f"unknown method {method!r} for column {column!r}; known: {', '.join(known)}")
    types = _pairs(args.type, "--type")
    for column, kind in types.items():
        if kind not in COLUMN_TYPES:
            raise CliError(f"unknown type {kind!r} for column {column!r}; known: {', '.join(COLUMN_TYPES)}")
    thresholds: dict[str, float] = {}
    for column, value in _pairs(args.threshold, "--threshold").items():
        try:
            thresholds[column] = float(value)
        except ValueError:
            raise CliError(f"--threshold {column}={value}: not a number") from None
    columns = [c.strip() for c in args.columns.split(",") if c.strip()] if args.columns else None
    try:
        return DriftOptions.model_validate(
            {
                "columns": columns,
                "prediction": args.prediction,
                "drift_share": args.drift_share,
                "method_by_column": methods,
                "threshold_by_column": thresholds,
                "column_types": types,
            }
        )
    except ValidationError as exc:
        first = exc.errors()[0]
        raise CliError(f"{'.'.join(map(str, first['loc']))}: {first['msg']}") from None


def _number(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None


def _column_doc(result: ColumnDrift) -> dict[str, Any]:
    return {
        "type": result.column_type,
        "method": result.method,
        "score": _number(result.score),
        "score_kind": result.score_kind,
        "threshold": result.threshold,
        "drifted": result.drifted,
        "effect_size": _number(result.effect_size),
        "effect_size_name": result.effect_size_name,
        "n_reference": result.n_reference,
        "n_current": result.n_current,
        "skipped": result.skip_reason,
        "notes": list(result.notes),
    }


def document(result: DatasetDrift) -> dict[str, Any]:
    """The JSON document for a DatasetDrift."""
    return {
        "dataset_drift": result.dataset_drift,
        "drift_share": result.drift_share,
        "number_of_columns": result.number_of_columns,
        "number_of_drifted_columns": result.number_of_drifted_columns,
        "share_of_drifted_columns": result.share_of_drifted_columns,
        "columns": {r.column: _column_doc(r) for r in result.columns},
        "prediction": None
        if result.prediction is None
        else {result.prediction.column: _column_doc(result.prediction)},
    }


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.4g}"


def table(result: DatasetDrift) -> str:
    """A readable fixed-width table with the dataset verdict underneath."""
    rows = [("column", "type", "method", "score", "threshold", "drift", "effect size")]
    for r in result.all_columns():
        label = f"{r.column} (prediction)" if r is result.prediction else r.column
        drift = f"skipped: {r.skip_reason}" if r.skipped else ("DRIFT" if r.drifted else "no")
        effect = f"{r.effect_size_name}={_fmt(r.effect_size)}" if r.effect_size_name else "-"
        rows.append((label, r.column_type, r.method or "-", _fmt(r.score), _fmt(r.threshold), drift, effect))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() for row in rows]
    verdict = "DRIFT" if result.dataset_drift else "no drift"
    lines.append(
        f"\ndataset: {verdict} ({result.number_of_drifted_columns} of {result.number_of_columns}"
        " columns drifted,"
        f" share {result.share_of_drifted_columns:.2f}, flagged at >= {result.drift_share:g})"
    )
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    """Read both files, test every column and print the result."""
    from detectors import DetectorError
    from detectors.drift import detect_drift
    from sidecar.cli.tables import read_table, require_columns

    options = _options(args)
    reference, current = read_table(args.reference), read_table(args.current)
    named = sorted(options.named_columns())
    require_columns(reference, named, args.reference)
    require_columns(current, named, args.current)
    try:
        result = detect_drift(reference, current, options)
    except DetectorError as exc:
        raise CliError(str(exc)) from None
    print(json.dumps(document(result), indent=2, allow_nan=False) if args.json else table(result))
    return 0
