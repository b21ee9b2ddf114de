"""Reading a reference file (CSV, Parquet, JSON lines) whole and checked, before anything is stored.

Every problem is reported as InvalidReference naming the file and the line or column at fault: a CSV row
whose field count differs from the header's, a CSV value that is not a number in a column whose first value
is one, a JSON-lines line that is not valid JSON or not an object, an empty or duplicate column name, a
column without a single value, a file without data rows. Line numbers are those an editor shows (the CSV
header is line 1; a quoted field spanning lines counts every line; a record is named by the line it starts
on). `ReferenceStore.put_reference` then checks that every column can be stored, still before writing
anything.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson
import pyarrow as pa
import pyarrow.parquet as pq

from storage.errors import InvalidReference

if TYPE_CHECKING:
    import pandas as pd

CSV_SUFFIXES = frozenset({".csv", ".txt", ""})
PARQUET_SUFFIXES = frozenset({".parquet", ".pq"})
JSONL_SUFFIXES = frozenset({".jsonl", ".ndjson"})


def _check_names(names: Sequence[Any], where: str) -> None:
    seen: dict[str, int] = {}
    for position, name in enumerate(names, 1):
        text = str(name)
        if not text.strip():
            raise InvalidReference(f"{where}: column {position} has an empty name")
        if text in seen:
            raise InvalidReference(
                f"{where}: duplicate column name {text!r} (columns {seen[text]} and {position})"
            )
        seen[text] = position


def _first_bad_utf8(path: Path) -> str:
    """Where the first byte that is not UTF-8 is, as `line N, byte M` (the decoder reads ahead of the CSV)."""
    with path.open("rb") as handle:
        for number, line in enumerate(handle, 1):
            try:
                line.decode("utf-8")
            except UnicodeDecodeError as exc:
                return f"line {number}, byte {exc.start + 1}"
    return "unknown position"  # not reached: no UTF-8 sequence spans a newline byte


def _check_csv(path: Path) -> None:
    """Header names and the field count of every record, with the csv module's (C) reader."""
    where = str(path)
    line = 0
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            reader = csv.reader(handle, strict=True)
            header = next(reader, None)
            if header is None:
                raise InvalidReference(f"{where}: the file is empty")
            _check_names(header, where)
            line = reader.line_num
            for record in reader:
                if record and len(record) != len(header):
                    raise InvalidReference(
                        f"{where}: line {line + 1}: {len(record)} fields, but the header has {len(header)}"
                    )
                line = reader.line_num
    except UnicodeDecodeError:
        raise InvalidReference(f"{where}: {_first_bad_utf8(path)}: not UTF-8 text") from None
    except csv.Error as exc:
        raise InvalidReference(f"{where}: line {line + 1}: {exc}") from None


def _read_csv(path: Path) -> pd.DataFrame:
    import pandas as pd

    _check_csv(path)
    try:
        frame = pd.read_csv(path, encoding="utf-8-sig", skip_blank_lines=True)
    except (ValueError, pd.errors.ParserError) as exc:  # not expected after the check; named all the same
        raise InvalidReference(f"{path}: cannot read as CSV: {exc}") from None
    _check_numbers(path, frame)
    return frame


def _check_numbers(path: Path, frame: pd.DataFrame) -> None:
    """A column whose first value is a number holds numbers: pandas would read it all as text otherwise
    (and drift would treat `income` as a category), as JSON lines refuse mixed types."""
    import pandas as pd

    for position, name in enumerate(frame.columns, 1):
        column = frame[name]
        if column.dtype != object:
            continue
        present = column.dropna()
        numbers = pd.to_numeric(present, errors="coerce")
        if present.empty or pd.isna(numbers.iloc[0]):
            continue  # a text column
        bad = numbers.isna().to_numpy().nonzero()[0]
        if len(bad):
            row = int(column.notna().to_numpy().nonzero()[0][bad[0]])  # position among all data rows
            value = str(present.iloc[bad[0]])[:40]
            raise InvalidReference(
                f"{path}: line {_csv_line(path, row)}, column {name!r} (column {position}): "
                f"{value!r} is not a number, but the column's first value is"
            )


def _csv_line(path: Path, row: int) -> int:
    """The line data row `row` (0-based, blank lines skipped as pandas does) starts on."""
    with path.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.reader(handle)
        next(reader, None)
        line = reader.line_num
        seen = 0
        for record in reader:
            if record:
                if seen == row:
                    return line + 1
                seen += 1
            line = reader.line_num
    return line


def _read_jsonl(path: Path) -> pd.DataFrame:
    import pandas as pd

    rows: list[dict[str, Any]] = []
    with path.open("rb") as handle:
        for number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            try:
                value = orjson.loads(line)
            except orjson.JSONDecodeError as exc:
                raise InvalidReference(
                    f"{path}: line {number}, column {exc.colno}: invalid JSON ({exc.msg})"
                ) from None
            if not isinstance(value, dict):
                kind = "array" if isinstance(value, list) else type(value).__name__
                raise InvalidReference(f"{path}: line {number}: a JSON {kind}, not an object")
            rows.append(value)
    return pd.DataFrame.from_records(rows) if rows else pd.DataFrame()


def _read_parquet(path: Path) -> pd.DataFrame:
    try:
        parquet = pq.ParquetFile(path)
        _check_names(parquet.schema_arrow.names, str(path))
        table = parquet.read()
    except (pa.ArrowException, OSError) as exc:
        raise InvalidReference(f"{path}: not a readable Parquet file ({exc})") from None
    frame: pd.DataFrame = table.to_pandas()
    return frame


def read_reference_file(path: str | Path) -> pd.DataFrame:
    """Read a .csv, .parquet or .jsonl reference file completely; InvalidReference names what is wrong."""
    file = Path(path)
    if not file.is_file():
        raise InvalidReference(f"{file}: no such file")
    suffix = file.suffix.lower()
    if suffix in PARQUET_SUFFIXES:
        frame = _read_parquet(file)
    elif suffix in JSONL_SUFFIXES:
        frame = _read_jsonl(file)
    elif suffix in CSV_SUFFIXES:
        frame = _read_csv(file)
    else:
        raise InvalidReference(f"{file}: unsupported file type {suffix!r} (use .csv, .parquet or .jsonl)")
    if len(frame.columns) == 0:
        raise InvalidReference(f"{file}: no columns")
    _check_names(list(frame.columns), str(file))
    if len(frame) == 0:
        raise InvalidReference(f"{file}: no data rows")
    for position, name in enumerate(frame.columns, 1):
        if frame[name].isna().all():
            raise InvalidReference(f"{file}: column {name!r} (column {position}) has no values")
    return frame
