"""The database schema as SQLAlchemy Core tables; migrations in `storage/migrations/versions` must match it.

`ts` is a float epoch (seconds since 1970-01-01 UTC; DOUBLE PRECISION on PostgreSQL, REAL on SQLite):
window queries are plain range comparisons that behave the same on both backends, with no time-zone
conversion, and it is what `Record.ts` holds. Later tables (reports, references, alerts, outbox) are added
here and in a new migration each.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    Double,
    Identity,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
)
from sqlalchemy.dialects import sqlite
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.types import TypeEngine

# Deterministic constraint and index names, so that later migrations (and SQLite batch mode) can name them.
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = MetaData(naming_convention=NAMING_CONVENTION)


class TextJSON(sqlite.JSON):
    """SQLite JSON declared as TEXT: a column declared `JSON` gets NUMERIC affinity, which would turn the
    stored text `123.0` into the integer 123 and `18446744073709551615` into a float."""

    cache_ok = True


@compiles(TextJSON, "sqlite")
def _text_json_ddl(type_: TextJSON, compiler: Any, **kw: Any) -> str:
    return "TEXT"


def json_type() -> TypeEngine[Any]:
    """JSON in a TEXT column on SQLite, JSONB on PostgreSQL; Python None is stored as SQL NULL."""
    return (
        JSON(none_as_null=True)
        .with_variant(TextJSON(none_as_null=True), "sqlite")
        .with_variant(JSONB(none_as_null=True), "postgresql")
    )


def id_type() -> TypeEngine[int]:
    """BIGINT on PostgreSQL; INTEGER on SQLite, where only `INTEGER PRIMARY KEY` aliases the rowid."""
    return BigInteger().with_variant(Integer(), "sqlite")


records = Table(
    "records",
    metadata,
    Column("id", id_type(), Identity(), primary_key=True),
    Column("ts", Double(), nullable=False, comment="arrival time, seconds since the epoch (UTC)"),
    Column("request_id", Text(), nullable=False),
    Column("row", Integer(), nullable=False, comment="index of the instance within its request's batch"),
    Column("model", Text(), nullable=True),
    Column("model_version", Text(), nullable=True),
    Column("route", Text(), nullable=False),
    Column("protocol", Text(), nullable=False),
    Column("status", Integer(), nullable=False),
    Column("latency_ms", Double(), nullable=True, comment="NULL when the measured value was not finite"),
    Column("features", json_type(), nullable=True),
    Column("prediction", json_type(), nullable=True),
    Column("error", Text(), nullable=True),
    Column("extra", json_type(), nullable=True),
    Index(None, "model", "ts"),
    Index(None, "ts"),
    Index(None, "request_id", "row"),
)

spool_segments = Table(
    "spool_segments",
    metadata,
    Column("id", String(80), primary_key=True, comment="spool segment file name: <time_ns>-<uuid4 hex>"),
    Column("records", Integer(), nullable=False),
    Column("applied_at", Double(), nullable=False),
    comment="spool segments already replayed into records, so that a replay is never repeated",
)
