"""The database schema as SQLAlchemy Core tables; migrations in `storage/migrations/versions` must match it.

`ts` is a float epoch (seconds since 1970-01-01 UTC; DOUBLE PRECISION on PostgreSQL, REAL on SQLite):
window queries are plain range comparisons that behave the same on both backends, with no time-zone
conversion, and it is what `Record.ts` holds. The same goes for every other time column. Later tables (alerts,
outbox) are added here and in a new migration each.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    Column,
    Double,
    Identity,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    UniqueConstraint,
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

REFERENCE_SOURCES = ("upload", "traffic", "first_n")
RUN_STATUSES = ("running", "ok", "failed", "skipped")

reference_sets = Table(
    "reference_sets",
    metadata,
    Column("id", id_type(), Identity(), primary_key=True),
    Column("monitor", Text(), nullable=False),
    Column("version", Integer(), nullable=False, comment="1, 2, ... per monitor"),
    Column("created_at", Double(), nullable=False),
    Column("source", Text(), nullable=False),
    Column("n_rows", Integer(), nullable=False),
    Column("columns", json_type(), nullable=False, comment='[{"name": ..., "dtype": ...}] in frame order'),
    Column("note", Text(), nullable=True),
    Column("data", LargeBinary(), nullable=False, comment="the frame as zstd-compressed Parquet"),
    UniqueConstraint("monitor", "version"),
    CheckConstraint("source IN ('upload', 'traffic', 'first_n')", name="source"),
    comment="reference data sets, versioned per monitor",
)

feedback = Table(
    "feedback",
    metadata,
    Column("request_id", Text(), nullable=False),
    Column("row", Integer(), nullable=False),
    Column("label", json_type(), nullable=False),
    Column("received_at", Double(), nullable=False),
    PrimaryKeyConstraint("request_id", "row"),
    Index(None, "received_at"),
    comment="ground truth per captured instance; a later label replaces an earlier one",
)

report_runs = Table(
    "report_runs",
    metadata,
    Column("id", id_type(), Identity(), primary_key=True),
    Column("monitor", Text(), nullable=False),
    Column("window_start", Double(), nullable=False),
    Column("window_end", Double(), nullable=False),
    Column("status", Text(), nullable=False),
    Column("replica", Text(), nullable=False, comment="the replica that claimed the run"),
    Column("claimed_at", Double(), nullable=False),
    Column("finished_at", Double(), nullable=True),
    Column("n_rows", Integer(), nullable=True),
    Column("reference_version", Integer(), nullable=True),
    Column("summary", json_type(), nullable=True),
    Column("html", LargeBinary(), nullable=True, comment="the HTML report, gzip-compressed"),
    Column("error", Text(), nullable=True, comment="why the run failed or was skipped"),
    UniqueConstraint("monitor", "window_start", "window_end"),
    CheckConstraint("status IN ('running', 'ok', 'failed', 'skipped')", name="status"),
    Index(None, "monitor", "window_end"),
    Index(None, "status", "claimed_at"),
    comment="scheduled report runs; the unique window makes a claim succeed on one replica only",
)

ALERT_STATUSES = ("pending", "firing", "resolved")
OUTBOX_STATUSES = ("pending", "delivered", "dead")

alert_states = Table(
    "alert_states",
    metadata,
    Column("fingerprint", String(64), primary_key=True, comment="sha256 of monitor, rule and labels"),
    Column("monitor", Text(), nullable=False),
    Column("rule", Text(), nullable=False),
    Column("status", Text(), nullable=False),
    Column("severity", Text(), nullable=False),
    Column("action", Text(), nullable=False),
    Column("consecutive", Integer(), nullable=False, comment="windows in a row whose run met the condition"),
    Column("started_at", Double(), nullable=True, comment="when it last started firing"),
    Column("resolved_at", Double(), nullable=True),
    Column("last_notified_at", Double(), nullable=True),
    Column(
        "notifications", Integer(), nullable=False, comment="notifications sent so far (ids are per number)"
    ),
    Column("last_window_end", Double(), nullable=False, comment="end of the newest window evaluated"),
    Column("last_run_id", id_type(), nullable=True),
    Column("details", json_type(), nullable=True, comment="the findings of the newest evaluation"),
    Column("updated_at", Double(), nullable=False),
    CheckConstraint("status IN ('pending', 'firing', 'resolved')", name="status"),
    Index(None, "monitor", "status"),
    comment="one row per alert: its lifecycle across report runs",
)

alert_outbox = Table(
    "alert_outbox",
    metadata,
    Column("id", id_type(), Identity(), primary_key=True),
    Column("event_id", Text(), nullable=False, comment="the notification's id, sent as Idempotency-Key"),
    Column("destination", Text(), nullable=False, comment="the configured webhook's name"),
    Column("monitor", Text(), nullable=False),
    Column("event", json_type(), nullable=False, comment="the notification in driftcar's format (version 1)"),
    Column("created_at", Double(), nullable=False),
    Column("next_attempt_at", Double(), nullable=False),
    Column("attempts", Integer(), nullable=False),
    Column("status", Text(), nullable=False),
    Column("lease_until", Double(), nullable=True, comment="a dispatcher is delivering it until then"),
    Column("delivered_at", Double(), nullable=True),
    Column("last_error", Text(), nullable=True),
    UniqueConstraint("event_id", "destination"),
    CheckConstraint("status IN ('pending', 'delivered', 'dead')", name="status"),
    Index(None, "status", "next_attempt_at"),
    comment="notifications to deliver, written in the transaction that stores the report run",
)

alert_deliveries = Table(
    "alert_deliveries",
    metadata,
    Column("id", id_type(), Identity(), primary_key=True),
    Column("outbox_id", id_type(), nullable=False),
    Column("attempt", Integer(), nullable=False),
    Column("at", Double(), nullable=False),
    Column("status_code", Integer(), nullable=True),
    Column("error", Text(), nullable=True),
    Column("duration_ms", Double(), nullable=False),
    Index(None, "outbox_id"),
    comment="one row per delivery attempt",
)

PENDING_STATES = ("waiting", "done")

ingest_pending = Table(
    "ingest_pending",
    metadata,
    Column("id", id_type(), Identity(), primary_key=True),
    Column("namespace", Text(), nullable=False),
    Column("service", Text(), nullable=False),
    Column("component", Text(), nullable=False),
    Column(
        "event_id", Text(), nullable=False, comment="the CloudEvent id shared by a request and its response"
    ),
    Column("kind", Text(), nullable=False),
    Column("source", Text(), nullable=False),
    Column("endpoint", Text(), nullable=False),
    Column("time", Double(), nullable=True, comment="ce-time, seconds since the epoch"),
    Column("status", Integer(), nullable=True, comment="ce-statuscode of a response"),
    Column("content_type", Text(), nullable=True),
    Column("body", LargeBinary(), nullable=False, comment="the payload; emptied once the event is claimed"),
    Column("received", Double(), nullable=False, comment="wall clock when the first event arrived"),
    Column("state", Text(), nullable=False),
    Column("done_at", Double(), nullable=True),
    UniqueConstraint("namespace", "service", "component", "event_id"),
    CheckConstraint("state IN ('waiting', 'done')", name="state"),
    CheckConstraint("kind IN ('request', 'response')", name="kind"),
    Index(None, "state", "received"),
    comment="KServe logger events waiting for their partner, shared by every replica (ingest.pairing: store)",
)
