"""The capture pipeline: a bounded queue of exchanges, parsed off the request path into records for the writer."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import secrets
import zlib
from collections import deque
from collections.abc import Callable

from sidecar.capture.adapter import BaseAdapter
from sidecar.capture.base import CLIENT_DISCONNECTED, CUT_AT_SHUTDOWN, Adapter, Exchange
from sidecar.capture.options import AdapterName, CaptureOptions
from sidecar.capture.redaction import Redactor
from sidecar.capture.registry import REGISTRY, to_records
from sidecar.metrics import Metrics
from sidecar.settings import RouteConfig, Settings
from storage.records import Record
from storage.stats import RateLimit

logger = logging.getLogger(__name__)

_DEFAULT_ROUTE = RouteConfig(path="*", methods=["POST"])
# Parse this many exchanges, then give the event loop back to the proxy.
_SLICE = 16
_DECODERS = {"gzip": 16 + zlib.MAX_WBITS, "x-gzip": 16 + zlib.MAX_WBITS, "deflate": zlib.MAX_WBITS}
# Overload drops every exchange: one warning per interval (with the count since the last one), not one each.
_DROP_LOG_INTERVAL = 10.0

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
    decoder = zlib.decompressobj(wbits)
    try:
        out = decoder.decompress(body, limit + 1)
    except zlib.error as exc:
        if wbits != zlib.MAX_WBITS:
            return None, f"not captured: invalid {encoding} body ({exc})"
        try:  # "deflate" is zlib-wrapped by the RFC, but some servers send raw deflate (browsers accept both)
            decoder = zlib.decompressobj(-zlib.MAX_WBITS)
            out = decoder.decompress(body, limit + 1)
        except zlib.error:
            return None, f"not captured: invalid {encoding} body ({exc})"
    if len(out) > limit:
        return None, f"not captured: decompressed body larger than {limit} bytes"
    if not decoder.eof:  # zlib returns what it could of a stream cut short: a prefix is not the body
        return None, f"not captured: truncated {encoding} body"
    return out, None


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
        self._unlogged_drops = 0
        self._may_log = RateLimit(_DROP_LOG_INTERVAL).allow

    @property
    def redactor(self) -> Redactor:
        """The redactor (and salt) capture uses, for records that arrive already parsed."""
        return self._redactor

    def depth(self) -> tuple[int, int]:
        """Exchanges and body bytes currently queued."""
        return len(self._queue), self._bytes

    def submit(self, exchange: Exchange, adapter: AdapterName | None = None, proxied: bool = True) -> None:
        """Queue an exchange for capture; never blocks, never raises. Overflow is counted and logged.

        `adapter` reads the exchange when the route's adapter is `auto` (ingested traffic whose protocol is
        known); `proxied=False` for exchanges that never went through the proxy (no upstream error counted).
        """
        route = self._settings.route_for(exchange.method, exchange.path) or _DEFAULT_ROUTE
        if adapter is not None and route.adapter.adapter == "auto":
            route = route.model_copy(update={"adapter": route.adapter.model_copy(update={"adapter": adapter})})
        if exchange.error is not None and proxied:
            self._metrics.upstream_errors.labels(_error_kind(exchange)).inc()
        failed = exchange.status >= 400 or exchange.error is not None
        if not self._settings.capture.enabled or not route.capture or exchange.method not in route.methods:
            self._observe_unparsed(exchange, route)
            return
        if not (failed and route.keep_errors) and not sampled(exchange.request_id, route.sample_rate):
            self._metrics.exchanges_sampled_out.inc()
            self._observe_unparsed(exchange, route)
            return
        size = len(exchange.request_body or b"") + len(exchange.response_body or b"")
        if self._closing or len(self._queue) >= self._max_items or self._bytes + size > self._max_bytes:
            self._metrics.exchanges_dropped.inc()
            self._observe_unparsed(exchange, route)
            self._unlogged_drops += 1
            if self._may_log("drop"):
                logger.warning(
                    "capture queue full (%d exchanges, %d bytes): %d exchanges dropped since the last warning",
                    *self.depth(),
                    self._unlogged_drops,
                )
                self._unlogged_drops = 0
            return
        self._queue.append((exchange, route, size))
        self._bytes += size
        self._wakeup.set()

    def _observe_unparsed(self, exchange: Exchange, route: RouteConfig) -> None:
        """Count a request that is not parsed under the route and model its path names (as a parse would)."""
        template, model = route_of(exchange, route.adapter)
        self._metrics.observe_request(template, exchange.status, model, exchange.latency_ms / 1000.0)

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
                try:
                    self._sink(batch, nbytes)
                except Exception:  # loop boundary: a writer bug must not stop capture for good
                    logger.exception("record writer refused %d records", len(batch))
            await asyncio.sleep(0)

    def _records(self, exchange: Exchange, route: RouteConfig) -> list[Record]:
        """Parse one exchange; any unexpected failure becomes a record with the reason (never raises)."""
        try:
            exchange = self._decoded(exchange)
            records = to_records(exchange, route.adapter)
            if route.redact:
                records = self._redactor.apply(records, route.redact, route.redact_mode)
        except Exception as exc:  # loop boundary: capture must never take the proxy down
            rid = exchange.request_id
            logger.exception("capture failed for request %s", rid, extra={"request_id": rid})
            self._metrics.capture_failures.inc()
            records = [_failure_record(exchange, f"capture failed: {type(exc).__name__}")]
        first = records[0] if records else None
        self._metrics.observe_request(
            first.route if first else "unknown",
            exchange.status,
            first.model if first else None,
            exchange.latency_ms / 1000.0,
        )
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


def route_of(exchange: Exchange, options: CaptureOptions) -> tuple[str, str | None]:
    """The route template and model the path names, without reading a body: what parsing would label.

    Selection follows `registry.select` up to its body sniffing, which only ever picks adapters for paths
    they don't know, whose records are labelled with the literal path anyway.
    """
    adapter: Adapter | None
    if options.adapter != "auto":
        adapter = REGISTRY.get(options.adapter)
    elif options.inputs is None and options.outputs is None:
        adapter = REGISTRY.by_path(exchange)
    else:
        adapter = None  # paths configured: the generic adapter, labelled with the literal path
    match = adapter.route(exchange.path) if isinstance(adapter, BaseAdapter) else None
    if match is None:
        return exchange.path, options.model
    return match.template, options.model or match.model


def _error_kind(exchange: Exchange) -> str:
    """The `kind` label of `driftcar_upstream_errors_total` for an exchange the proxy marked failed."""
    if exchange.error == CLIENT_DISCONNECTED:
        return "client_disconnected"
    if exchange.error == CUT_AT_SHUTDOWN:
        return "cut_at_shutdown"
    if exchange.status == 504 or "timed out" in (exchange.error or ""):
        return "timeout"
    return "unavailable"


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


__all__ = ["CaptureOptions", "CapturePipeline", "Redactor", "decoded", "route_of", "sampled"]
