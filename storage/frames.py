"""Reference frames as bytes: zstd-compressed Parquet with pandas metadata, and the checks before storing.

Parquet keeps each column's type (pandas metadata restores `category`, nullable `Int64`, `string`,
time zones); the index is not stored, a frame comes back with a RangeIndex. Nested values (lists, dicts)
come back as Arrow converts them (lists as numpy arrays).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from storage.errors import InvalidReference

if TYPE_CHECKING:
    import pandas as pd

# pyarrow (~0.1 s of CPU with numpy) is imported where a frame is encoded or decoded: `driftcar serve` starts
# without it, and imports it when a reference is first stored or read.


def check_frame(frame: pd.DataFrame) -> None:
    """Raise InvalidReference unless the frame has rows, columns and unique, non-empty string names."""
    if len(frame.columns) == 0:
        raise InvalidReference("the reference has no columns")
    if len(frame) == 0:
        raise InvalidReference("the reference has no rows")
    seen: dict[str, int] = {}
    for position, name in enumerate(frame.columns):
        if not isinstance(name, str):
            raise InvalidReference(
                f"column {position + 1} is named {name!r} ({type(name).__name__}); names must be strings"
            )
        if not name.strip():
            raise InvalidReference(f"column {position + 1} has an empty name")
        if name in seen:
            raise InvalidReference(
                f"duplicate column name {name!r} (columns {seen[name] + 1} and {position + 1})"
            )
        seen[name] = position


def dtypes(frame: pd.DataFrame) -> list[dict[str, str]]:
    """`[{"name": ..., "dtype": ...}]` in column order, as stored in `reference_sets.columns`."""
    return [{"name": str(name), "dtype": str(dtype)} for name, dtype in frame.dtypes.items()]


def _first_odd_row(column: pd.Series) -> str:
    """Where a column that Arrow refused first changes type, e.g. `row 3 holds str, earlier rows float`."""
    first: type | None = None
    for position, value in enumerate(column.tolist()):
        if value is None or value != value:  # None or NaN: missing values fit every type
            continue
        if first is None:
            first = type(value)
        elif type(value) is not first and not (
            isinstance(value, (int, float)) and issubclass(first, (int, float))
        ):
            return f"row {position + 1} holds {type(value).__name__}, earlier rows {first.__name__}"
    return "values Parquet cannot store"


def to_parquet(frame: pd.DataFrame) -> bytes:
    """The frame as zstd-compressed Parquet; InvalidReference names a column Arrow cannot convert."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    arrow_errors = (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError)
    try:
        table = pa.Table.from_pandas(frame, preserve_index=False)
    except arrow_errors:
        for name in frame.columns:
            try:
                pa.Array.from_pandas(frame[name])
            except arrow_errors:
                raise InvalidReference(f"column {name!r}: {_first_odd_row(frame[name])}") from None
        raise
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink, compression="zstd")
    data: bytes = sink.getvalue().to_pybytes()
    return data


def from_parquet(data: bytes) -> pd.DataFrame:
    """Decode what `to_parquet` produced."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    frame: pd.DataFrame = pq.read_table(pa.BufferReader(data)).to_pandas()
    return frame
