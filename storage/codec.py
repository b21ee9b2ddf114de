"""JSON encoding of records, shared by the database and the spool so that both keep values the same way.

Policy, identical on SQLite, PostgreSQL and in spool files:

- non-finite floats (NaN, +/-Infinity) inside `features`, `prediction` and `extra` are stored as JSON `null`
  (PostgreSQL JSONB has no NaN, and JSON has none either); a non-finite `latency_ms` is stored as SQL NULL and
  read back as NaN; a non-finite `ts` is rejected;
- NUL characters (U+0000), which PostgreSQL text and JSONB cannot hold, become U+FFFD (JSON and text),
  and so do lone surrogates (e.g. from a JSON `\ud800` escape), which UTF-8 cannot encode;
- integers beyond the 64-bit range are stored as floats (that is how they would be parsed back anyway);
- dictionary keys that are not strings become strings, values of other types their `str()`.

On PostgreSQL, JSONB normalises numbers: a float with an integral value written in exponent form (|x| >= 1e16)
is read back as an equal `int`.
"""

from __future__ import annotations

import math
import re
from typing import Any

import orjson

from storage.records import Record

_OPTIONS = orjson.OPT_NON_STR_KEYS
# An escaped NUL that is not itself an escaped backslash followed by "u0000".
_NUL_ESCAPE = re.compile(rb"(?<!\\)((?:\\\\)*)\\u0000")
_INT_MIN, _INT_MAX = -(2**63), 2**64 - 1


def _default(value: Any) -> Any:
    if isinstance(value, (set, frozenset)):
        return list(value)
    return str(value)


def _valid_unicode(text: str) -> str:
    """Pair surrogates into characters; a lone surrogate (from a JSON `\\ud800` escape) becomes U+FFFD."""
    return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")


def _normalise(value: Any) -> Any:
    """Slow path for what orjson refuses: big integers, lone surrogates, exotic keys, at any depth."""
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int):
        return value if _INT_MIN <= value <= _INT_MAX else float(value)
    if isinstance(value, str):
        return _valid_unicode(value)
    if isinstance(value, dict):
        return {_valid_unicode(str(k)): _normalise(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [_normalise(v) for v in value]
    return value


def dumps(value: Any) -> bytes:
    """Encode a JSON-compatible value as compact UTF-8 JSON under the module's policy."""
    try:
        data = orjson.dumps(value, default=_default, option=_OPTIONS)
    except orjson.JSONEncodeError:
        data = orjson.dumps(_normalise(value), default=_default, option=_OPTIONS)
    if b"\\u0000" in data:
        data = _NUL_ESCAPE.sub(rb"\1\\ufffd", data)
    return data


def dumps_str(value: Any) -> str:
    """Like `dumps`, as `str` (what SQLAlchemy's JSON types and the asyncpg JSONB codec take)."""
    return dumps(value).decode()


def loads(data: bytes | str) -> Any:
    """Decode JSON text."""
    return orjson.loads(data)


def clean_text(value: str | None) -> str | None:
    """Replace NUL characters, which PostgreSQL text cannot hold, and lone surrogates, which UTF-8 cannot."""
    if value is None:
        return None
    if "\x00" in value:
        value = value.replace("\x00", "\ufffd")
    if not value.isascii():
        try:
            value.encode()
        except UnicodeEncodeError:
            value = _valid_unicode(value)
    return value


def _json_column(value: Any) -> str | None:
    return None if value is None else dumps(value).decode()


# Column order of `to_row`; also the insert's column list on both backends.
COLUMNS: tuple[str, ...] = (
    "ts",
    "request_id",
    "row",
    "model",
    "model_version",
    "route",
    "protocol",
    "status",
    "latency_ms",
    "features",
    "prediction",
    "error",
    "extra",
)


Row = tuple[Any, ...]
"""Column values of one record in COLUMNS order, JSON columns encoded: what inserts and the spool carry."""


def to_row(record: Record) -> Row:
    """Column values in COLUMNS order with JSON already encoded; the hot path of every insert."""
    ts = record.ts
    if not math.isfinite(ts):
        raise ValueError("record ts must be a finite epoch time")
    latency = record.latency_ms
    return (
        float(ts),
        clean_text(record.request_id),
        record.row,
        clean_text(record.model),
        clean_text(record.model_version),
        clean_text(record.route),
        clean_text(record.protocol),
        record.status,
        float(latency) if math.isfinite(latency) else None,
        _json_column(record.features),
        _json_column(record.prediction),
        clean_text(record.error),
        _json_column(record.extra) if record.extra else None,  # {} is stored as NULL and read back as {}
    )


def from_row(row: Any) -> Record:
    """Build a Record from a `records` result row."""
    return Record(
        ts=row.ts,
        request_id=row.request_id,
        row=row.row,
        route=row.route,
        protocol=row.protocol,
        status=row.status,
        latency_ms=math.nan if row.latency_ms is None else row.latency_ms,
        model=row.model,
        model_version=row.model_version,
        features=row.features,
        prediction=row.prediction,
        error=row.error,
        extra=row.extra if row.extra is not None else {},
    )


def row_to_record(row: Row) -> Record:
    """Build a Record back from a `to_row` tuple (decoding its JSON columns)."""
    ts, request_id, index, model, version, route, protocol, status, latency, feats, pred, error, extra = row
    return Record(
        ts=ts,
        request_id=request_id,
        row=index,
        route=route,
        protocol=protocol,
        status=status,
        latency_ms=math.nan if latency is None else latency,
        model=model,
        model_version=version,
        features=None if feats is None else loads(feats),
        prediction=None if pred is None else loads(pred),
        error=error,
        extra={} if extra is None else loads(extra),
    )


def row_to_line(row: Row) -> bytes:
    """One spool line: a `to_row` tuple as a JSON object keyed by column, JSON columns kept as text.

    Keyed by column so that a segment written before a schema change still replays (missing columns are
    NULL); JSON columns stay encoded so that replay neither parses nor re-encodes them.
    """
    return orjson.dumps(dict(zip(COLUMNS, row, strict=True))) + b"\n"


_TYPES: dict[str, tuple[type, ...]] = {
    "ts": (float, int),
    "row": (int,),
    "status": (int,),
    "request_id": (str,),
    "route": (str,),
    "protocol": (str,),
}
_OPTIONAL_TEXT = ("model", "model_version", "features", "prediction", "error", "extra")


def line_to_row(line: bytes) -> Row:
    """Parse a spool line back into a `to_row` tuple; raise ValueError when it is not one."""
    try:
        fields = orjson.loads(line)
    except orjson.JSONDecodeError:
        raise ValueError("not JSON") from None
    if not isinstance(fields, dict):
        raise ValueError("not a JSON object")
    for name, types in _TYPES.items():
        if not isinstance(fields.get(name), types) or isinstance(fields[name], bool):
            raise ValueError(f"bad or missing {name}")
    for name in _OPTIONAL_TEXT:
        if not isinstance(fields.get(name), (str, type(None))):
            raise ValueError(f"bad {name}")
    if not isinstance(fields.get("latency_ms"), (float, int, type(None))):
        raise ValueError("bad latency_ms")
    fields["ts"] = float(fields["ts"])
    return tuple(fields.get(name) for name in COLUMNS)
