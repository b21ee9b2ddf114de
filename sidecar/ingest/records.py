"""`POST /ingest/records`: records from offline and batch jobs, as JSON lines or one JSON array.

Each record is `{"model", "features", "ts"?, "model_version"?, "prediction"?, "request_id"?, "row"?,
"label"?}` (unknown fields refused). The whole body is validated before anything is written: the first
invalid record is answered with 400 naming its line (JSON lines) or item (array, 0-based) and the field.
The records are then stored in one transaction, awaited (a batch job is told only what is durable; 503 when
the store is down), with the route's redaction applied, and their labels after them (one more transaction).
They are labelled route `/ingest/records`, protocol `batch`, status 200. The answer: `{"accepted": N}`.
"""

from __future__ import annotations

import time
import uuid
from typing import Any, Final

import orjson
from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from sidecar.admin import json_response
from sidecar.app import PIPELINE, SETTINGS, STORE
from sidecar.ingest.auth import check_ingest_auth
from sidecar.ingest.body import read_limited
from sidecar.ingest.cloudevents import MAX_TIME
from sidecar.ingest.errors import InvalidRecords
from sidecar.ingest.metrics import INGEST_METRICS
from sidecar.monitors.keys import FEEDBACK
from sidecar.timeparse import parse_time
from storage.feedback import FeedbackItem
from storage.records import Record

ROUTE: Final = "/ingest/records"
PROTOCOL: Final = "batch"
_MAX_LABEL_DEPTH: Final = 16


class BatchRecord(BaseModel):
    """One instance sent by a batch job."""

    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)

    model: str = Field(min_length=1, max_length=253)
    features: dict[str, Any]
    """Input names to JSON values."""
    ts: float | None = Field(default=None, ge=0.0, lt=MAX_TIME)
    """Epoch seconds or an ISO 8601 time; default: when the batch arrived."""
    model_version: str | None = Field(default=None, max_length=253)
    prediction: Any = None
    request_id: str | None = Field(default=None, min_length=1, max_length=200, pattern=r"^[!-~]+$")
    """Joins later labels (`POST /api/feedback`); default: a generated id per record."""
    row: int = Field(default=0, ge=0, lt=2**31)
    label: Any = None
    """Ground truth, stored as feedback for (request_id, row)."""

    @field_validator("ts", mode="before")
    @classmethod
    def _time(cls, value: Any) -> Any:
        if isinstance(value, str):
            return parse_time(value)
        return value

    @field_validator("label")
    @classmethod
    def _label(cls, value: Any) -> Any:
        if _depth(value) > _MAX_LABEL_DEPTH:
            raise ValueError(f"nested deeper than {_MAX_LABEL_DEPTH} levels")
        return value


def _depth(value: Any) -> int:
    if isinstance(value, list):
        return 1 + max(map(_depth, value), default=0)
    if isinstance(value, dict):
        return 1 + max(map(_depth, value.values()), default=0)
    return 0


def parse_batch(body: bytes, max_records: int) -> list[BatchRecord]:
    """Every record of a JSON array or JSON-lines body; InvalidRecords names the first bad line or item."""
    text = body.strip()
    if not text:
        raise InvalidRecords("no records in the body")
    if text.startswith(b"["):
        try:
            items = orjson.loads(text)
        except orjson.JSONDecodeError as exc:
            raise InvalidRecords(f"invalid JSON: {exc}") from None
        if len(items) > max_records:
            raise InvalidRecords(f"more than {max_records} records in one request")
        return [_record(item, f"item {index}") for index, item in enumerate(items)]
    out: list[BatchRecord] = []
    for number, line in enumerate(text.split(b"\n"), start=1):
        if not line.strip():
            continue
        if len(out) == max_records:
            raise InvalidRecords(f"more than {max_records} records in one request")
        try:
            item = orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            raise InvalidRecords(f"line {number}: invalid JSON: {exc}") from None
        out.append(_record(item, f"line {number}"))
    return out


def _record(item: Any, where: str) -> BatchRecord:
    if not isinstance(item, dict):
        raise InvalidRecords(f"{where}: expected a JSON object, got {type(item).__name__}")
    try:
        return BatchRecord.model_validate(item)
    except ValidationError as exc:
        error = exc.errors(include_url=False)[0]
        field = ".".join(str(part) for part in error["loc"]) or "record"
        raise InvalidRecords(f"{where}: {field}: {error['msg']}") from None


def to_records(batch: list[BatchRecord], now: float) -> list[Record]:
    """Storage records for a validated batch (ids generated where missing)."""
    prefix = f"batch-{uuid.uuid4().hex[:16]}"
    return [
        Record(
            ts=item.ts if item.ts is not None else now,
            request_id=item.request_id or f"{prefix}-{index}",
            row=item.row,
            route=ROUTE,
            protocol=PROTOCOL,
            status=200,
            latency_ms=0.0,
            model=item.model,
            model_version=item.model_version,
            features=item.features,
            prediction=item.prediction,
        )
        for index, item in enumerate(batch)
    ]


async def post_records(request: web.Request) -> web.Response:
    """Store a batch of records (all or nothing): `{"accepted": N}`."""
    check_ingest_auth(request)
    app = request.app
    settings = app[SETTINGS]
    body = await read_limited(request, settings.ingest.max_batch_bytes)
    batch = parse_batch(body, settings.ingest.max_batch_records)
    records = to_records(batch, time.time())
    route = settings.route_for("POST", ROUTE)
    if route is not None and route.redact:
        records = app[PIPELINE].redactor.apply(records, route.redact, route.redact_mode)
    accepted = await app[STORE].insert(records)
    labels = [
        FeedbackItem(request_id=record.request_id, label=item.label, row=record.row)
        for item, record in zip(batch, records, strict=True)
        if item.label is not None
    ]
    if labels:
        await app[FEEDBACK].add_feedback(labels)
    app[INGEST_METRICS].records.inc(accepted)
    return json_response({"accepted": accepted, "labels": len(labels)})
