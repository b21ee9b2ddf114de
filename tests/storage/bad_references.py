"""Broken reference files shared by the CLI and upload tests: bytes, upload Content-Type, expected message."""

from __future__ import annotations

import io
from dataclasses import dataclass

import pandas as pd


def _parquet() -> bytes:
    buffer = io.BytesIO()
    pd.DataFrame({"income": [1.5, 2.5, 3.5] * 100, "city": ["a", "b", "c"] * 100}).to_parquet(buffer)
    return buffer.getvalue()


@dataclass(frozen=True)
class BadFile:
    """One broken file and what both paths must say about it."""

    name: str
    content: bytes
    content_type: str
    message: str
    """What `driftcar reference set` says (after the file name)."""
    upload_message: str | None = None
    """What the upload says when it differs (an empty body is refused before it is read)."""


GOOD = b"income,city\n1.5,paris\n2.5,lyon\n"
PARQUET = _parquet()
BAD_FILES: tuple[BadFile, ...] = (
    BadFile(
        "ragged.csv",
        b"income,city\n1,a\n2,b\n3,c,extra\n",
        "text/csv",
        "line 4: 3 fields, but the header has 2",
    ),
    BadFile(
        "not-a-number.csv",
        b"income,city\n1,a\n\n2.5,b\nlots,c\n4,d\n",
        "text/csv",
        "line 5, column 'income' (column 1): 'lots' is not a number, but the column's first value is",
    ),
    BadFile(
        "latin1.csv",
        "income,city\n1,caf\xe9\n".encode("latin-1"),
        "text/csv",
        "line 2, byte 6: not UTF-8 text",
    ),
    BadFile("header-only.csv", b"income,city\n", "text/csv", "no data rows"),
    BadFile("empty.csv", b"", "text/csv", "the file is empty", "the request body is empty"),
    BadFile(
        "empty-column.csv", b"income,city\n1,\n2,\n", "text/csv", "column 'city' (column 2) has no values"
    ),
    BadFile("unnamed.csv", b"income,\n1,2\n", "text/csv", "column 2 has an empty name"),
    BadFile(
        "broken.jsonl",
        b'{"income": 1, "city": "a"}\n{"income": 2,, "city": "b"}\n',
        "application/x-ndjson",
        "line 2, column 14: invalid JSON",
    ),
    BadFile(
        "array-line.jsonl",
        b'{"income": 1}\n[1, 2]\n',
        "application/x-ndjson",
        "line 2: a JSON array, not an object",
    ),
    BadFile(
        "mixed.jsonl",
        b'{"income": 1}\n{"income": "lots"}\n',
        "application/x-ndjson",
        "column 'income': row 2 holds str, earlier rows int",
    ),
    BadFile("blank.jsonl", b"\n\n", "application/x-ndjson", "no columns"),
    BadFile(
        "truncated.parquet",
        PARQUET[: len(PARQUET) // 2],
        "application/vnd.apache.parquet",
        "not a readable Parquet file",
    ),
    BadFile(
        "tail-only.parquet", PARQUET[-200:], "application/vnd.apache.parquet", "not a readable Parquet file"
    ),
    BadFile(
        "empty.parquet",
        b"",
        "application/vnd.apache.parquet",
        "not a readable Parquet file",
        "the request body is empty",
    ),
)
