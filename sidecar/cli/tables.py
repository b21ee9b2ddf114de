"""Reading CSV / Parquet / JSON-lines files for the batch commands, with errors a user can act on."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from sidecar.cli import CliError


def read_table(path: str | Path) -> pd.DataFrame:
    """Read a CSV, Parquet or JSON-lines file by its extension; raise CliError naming the file on failure."""
    p = Path(path)
    if not p.is_file():
        raise CliError(f"{p}: no such file")
    suffix = p.suffix.lower()
    try:
        if suffix in {".parquet", ".pq"}:
            return pd.read_parquet(p)
        if suffix in {".jsonl", ".ndjson"}:
            return pd.read_json(p, lines=True)
        if suffix in {".csv", ".txt", ".gz"} or not suffix:
            return pd.read_csv(p)
    except (ValueError, OSError, pd.errors.ParserError, ImportError) as exc:
        raise CliError(f"{p}: cannot read as {suffix.lstrip('.') or 'csv'}: {exc}") from None
    raise CliError(f"{p}: unsupported file type {suffix!r} (use .csv, .parquet or .jsonl)")


def require_columns(frame: pd.DataFrame, columns: list[str], source: str) -> None:
    """Raise CliError listing every requested column that the frame lacks."""
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise CliError(
            f"{source}: unknown column(s) {', '.join(missing)}; it has {', '.join(map(str, frame.columns))}"
        )
