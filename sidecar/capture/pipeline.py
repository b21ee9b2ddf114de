"""The capture pipeline: a bounded queue of exchanges, parsed off the request path into records for the writer."""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import logging
import secrets
import time
import zlib
from collections import deque
from collections.abc import Callable
from typing import Any

from sidecar.capture.base import Exchange
from sidecar.capture.options import CaptureOptions
from sidecar.capture.registry import to_records
from sidecar.metrics import Metrics
from sidecar.settings import RouteConfig, Settings
from storage.records import Record

logger = logging.getLogger(__name__)

_DEFAULT_ROUTE = RouteConfig(path="*", methods=["POST"])
# Parse this many exchanges, then give the event loop back to the proxy.
_SLICE = 64
_DECODERS = {"gzip": 16 + zlib.MAX_WBITS, "x-gzip": 16 + zlib.MAX_WBITS, "deflate": zlib.MAX_WBITS}

RecordSink = Callable[[list[Record], int], int]


def sampled(request_id: str, rate: float) -> bool:
    """Deterministic sampling: the same request id is always in or always out for a given rate."""
    if rate >= 1.0:
        return True
    if rate <= 0.0:
        return False
    return zlib.crc32(request_id.encode()) < rate * 0x1_0000_0000


def decoded(body: bytes | None, encoding: str | None, limit: int) -> tuple[bytes | None, str | None]:
    """A decompressed copy of a body (gzip/deflate), bounded by `limit`; an error message if it can't be."""
    if body is None or not encoding or encoding.strip().lower() in ("identity", ""):
        return body, None
    wbits = _DECODERS.get(encoding.strip().lower())
    if wbits is None:
        return None, f"not captured: unsupported content-encoding {encoding!r}"
    try:
        d = zlib.decompressobj(wbits)
        out = d.decompress(body, limit + 1)
    except zlib.error as exc:
        return None, f"not captured: invalid {encoding} body ({exc})"
    if len(out) > limit:
        return None, f"not captured: decompressed body larger than {limit} bytes"
    return out, None


class Redactor:
    """Removes or salts-and-hashes named features before anything is stored."""

    def __init__(self, salt: bytes) -> None:
        self._salt = salt

    def apply(self, record: Record, names: list[str], mode: str) -> Record:
        """A copy of the record with the named features dropped or hashed."""
        if not record.features or not names:
            return record
        features = dict(record.features)
        for name in names:
            if name in features:
                if mode == "drop":
                    del features[name]
                else:
                    features[name] = self.digest(features[name])
        return dataclasses.replace(record, features=features)

    def digest(self, value: Any) -> str:
        """Salted SHA-256 of a value's text form (stable within one salt)."""
        return "sha256:" + hashlib.sha256(self._salt + repr(value).encode()).hexdigest()[:32]


class CapturePipeline:
    """Accepts exchanges without waiting (bounded, counted drops) and turns them into records in a task."""

    def __init__(self, settings: Settings, sink: RecordSink, metrics: Metrics) -> None:
        self._settings = settings
        self._sink = sink
        self._metrics = metrics
        cap = settings.capture
        self._max_items = cap.queue_max_exchanges
        self._max_bytes = cap.queue_max_bytes
        self._limit = cap.max_body_bytes
        salt = (
            cap.redaction_salt.get_secret_value().encode() if cap.redaction_salt else secrets.token_bytes(16)
        )
        self._redactor = Redactor(salt)
        self._queue: deque[tuple[Exchange, RouteConfig, int]] = deque()
        self._bytes = 0
        self._wakeup = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._closing = False

    def depth(self) -> tuple[int, int]:
        """Exchanges and body bytes currently queued."""
        return len(self._queue), self._bytes

    def submit(self, exchange: Exchange) -> None:
        """Queue an exchange for capture; never blocks, never raises. Overflow is counted and logged."""
        route = self._settings.route_for(exchange.method, exchange.path) or _DEFAULT_ROUTE
        failed = exchange.status >= 400 or exchange.error is not None
        if not route.capture or exchange.method not in route.methods:
            self._metrics.observe_request("uncaptured", exchange.status, None, exchange.latency_ms / 1000.0)
            return
        if not (failed and route.keep_errors) and not sampled(exchange.request_id, route.sample_rate):
            self._metrics.exchanges_sampled_out.inc()
            self._metrics.observe_request("sampled_out", exchange.status, None, exchange.latency_ms / 1000.0)
            return
        size = len(exchange.request_body or b"") + len(exchange.response_body or b"")
        if self._closing or len(self._queue) >= self._max_items or self._bytes + size > self._max_bytes:
            self._metrics.exchanges_dropped.inc()
            self._metrics.observe_request("dropped", exchange.status, None, exchange.latency_ms / 1000.0)
            logger.warning("capture queue full (%d exchanges, %d bytes): exchange dropped", *self.depth())
            return
        self._queue.append((exchange, route, size))
        self._bytes += size
        self._wakeup.set()

    async def start(self) -> None:
        """Start the parsing task."""
        self._task = asyncio.create_task(self._run(), name="driftcar-capture")

    async def close(self) -> None:
        """Parse everything still queued, then stop."""
        self._closing = True
        self._wakeup.set()
        if self._task is not None:
            await self._task

    async def _run(self) -> None:
        while True:
            if not self._queue:
                if self._closing:
                    return
                self._wakeup.clear()
                await self._wakeup.wait()
                continue
            batch: list[Record] = []
            nbytes = 0
            for _ in range(min(_SLICE, len(self._queue))):
                exchange, route, size = self._queue.popleft()
                self._bytes -= size
                batch.extend(self._records(exchange, route))
                nbytes += size
            if batch:
                self._sink(batch, nbytes)
            await asyncio.sleep(0)

    def _records(self, exchange: Exchange, route: RouteConfig) -> list[Record]:
        """Parse one exchange; any unexpected failure becomes a record with the reason (never raises)."""
        t0 = time.perf_counter()
        try:
            exchange = self._decoded(exchange)
            records = to_records(exchange, route.adapter)
            if route.redact:
                records = [self._redactor.apply(r, route.redact, route.redact_mode) for r in records]
        except Exception as exc:  # loop boundary: capture must never take the proxy down
            logger.exception("capture failed for request %s", exchange.request_id)
            self._metrics.capture_failures.inc()
            records = [_failure_record(exchange, f"capture failed: {type(exc).__name__}")]
        first = records[0] if records else None
        self._metrics.observe_request(
            first.route if first else "unknown",
            exchange.status,
            first.model if first else None,
            exchange.latency_ms / 1000.0,
        )
        logger.debug("parsed %s in %.1f us", exchange.request_id, (time.perf_counter() - t0) * 1e6)
        return records

    def _decoded(self, exchange: Exchange) -> Exchange:
        req, req_err = decoded(
            exchange.request_body, exchange.request_headers.get("Content-Encoding"), self._limit
        )
        resp, resp_err = decoded(
            exchange.response_body, exchange.response_headers.get("Content-Encoding"), self._limit
        )
        if req is exchange.request_body and resp is exchange.response_body:
            return exchange
        return dataclasses.replace(
            exchange, request_body=req, response_body=resp, error=exchange.error or req_err or resp_err
        )


def _failure_record(exchange: Exchange, error: str) -> Record:
    return Record(
        ts=exchange.ts,
        request_id=exchange.request_id,
        row=0,
        route="unknown",
        protocol="unknown",
        status=exchange.status,
        latency_ms=exchange.latency_ms,
        error=error,
    )


__all__ = ["CaptureOptions", "CapturePipeline", "Redactor", "decoded", "sampled"]
