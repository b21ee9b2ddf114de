"""`POST /ingest/kserve`: KServe's payload logger posts each request and response here as a CloudEvent.

Each event is checked, paired by id (`sidecar.ingest.pairing`) and, once paired or past the TTL, handed as
an `Exchange` to the same capture pipeline as proxied traffic (route sampling and redaction apply, and it
never waits on the store). The answer is 202 as soon as the event is held; 400 names a missing or invalid
attribute; 413 past `ingest.max_event_bytes`; 503 when the pairing buffer is full (the drop is counted).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator

from aiohttp import web

from sidecar.admin import json_response
from sidecar.app import PIPELINE, SETTINGS
from sidecar.capture.pipeline import CapturePipeline
from sidecar.ingest.auth import check_ingest_auth
from sidecar.ingest.body import read_limited
from sidecar.ingest.cloudevents import STRUCTURED, InferenceEvent, parse_binary, parse_structured
from sidecar.ingest.config import IngestSettings
from sidecar.ingest.errors import IngestBusy
from sidecar.ingest.exchange import to_exchange
from sidecar.ingest.metrics import INGEST_METRICS, IngestMetrics
from sidecar.ingest.pairing import NO_RESPONSE, Outcome, Pair, PairingBuffer
from sidecar.tasks import cancel_and_wait
from storage.stats import RateLimit

logger = logging.getLogger(__name__)

_DROP_LOG_INTERVAL = 10.0


class KServeIngest:
    """Pairs KServe logger events and submits each pair to capture; expires lone events in a task."""

    def __init__(self, settings: IngestSettings, pipeline: CapturePipeline, metrics: IngestMetrics) -> None:
        self._settings = settings
        self._pipeline = pipeline
        self._metrics = metrics
        self._buffer = PairingBuffer(settings.pairing_ttl, settings.max_pending, settings.max_pending_bytes)
        metrics.pending.set_function(lambda: self._buffer.depth()[0])
        self._task: asyncio.Task[None] | None = None
        self._unlogged_drops = 0
        self._may_log = RateLimit(_DROP_LOG_INTERVAL).allow

    def depth(self) -> tuple[int, int]:
        """Events waiting for their partner, and their body bytes."""
        return self._buffer.depth()

    def accept(self, event: InferenceEvent) -> Outcome:
        """Take one event (never waits); the outcome says whether it completed a pair, waits, or was dropped."""
        outcome, pair = self._buffer.add(event)
        if outcome in ("paired", "pending"):
            self._metrics.events.labels(event.kind).inc()
        else:
            self._metrics.dropped.labels(outcome).inc()
        if pair is not None:
            self._submit(pair)
        elif outcome == "full":
            self._unlogged_drops += 1
            if self._may_log("full"):
                count, nbytes = self._buffer.depth()
                logger.warning(
                    "kserve ingest: pairing buffer full (%d events, %d bytes): %d events dropped since the last "
                    "warning",
                    count,
                    nbytes,
                    self._unlogged_drops,
                )
                self._unlogged_drops = 0
        elif outcome != "pending":
            logger.debug("kserve ingest: %s %s event %s ignored", outcome, event.kind, event.id)
        return outcome

    def expire(self) -> int:
        """Submit the events that waited past the TTL alone; how many."""
        pairs = self._buffer.expire()
        for pair in pairs:
            self._submit(pair)
        return len(pairs)

    def start(self) -> None:
        """Start expiring lone events every quarter TTL (at most every second)."""
        self._task = asyncio.create_task(self._run(), name="driftcar-kserve-pairing")

    async def close(self) -> None:
        """Stop the task and submit every waiting event alone (capture closes after this)."""
        await cancel_and_wait(self._task)
        for pair in self._buffer.drain():
            self._submit(pair)

    async def _run(self) -> None:
        interval = min(self._settings.pairing_ttl / 4, 1.0)
        while True:
            await asyncio.sleep(interval)
            try:
                self.expire()
            except Exception:  # loop boundary: one bad pair must not stop expiry for good
                logger.exception("kserve ingest: expiring unpaired events failed")

    def _submit(self, pair: Pair) -> None:
        if pair.error is None:
            self._metrics.paired.inc()
        else:
            self._metrics.unpaired.labels("response" if pair.error == NO_RESPONSE else "request").inc()
        exchange, protocol = to_exchange(pair)
        self._pipeline.submit(exchange, adapter=protocol, proxied=False)


KSERVE_INGEST = web.AppKey("kserve_ingest", KServeIngest)


async def kserve_ctx(app: web.Application) -> AsyncIterator[None]:
    """Own the pairing buffer: started after capture, closed (lone events submitted) before capture closes."""
    ingest = KServeIngest(app[SETTINGS].ingest, app[PIPELINE], app[INGEST_METRICS])
    ingest.start()
    app[KSERVE_INGEST] = ingest
    yield
    await ingest.close()


async def post_kserve(request: web.Request) -> web.Response:
    """Accept one KServe logger CloudEvent (binary or structured mode): 202 once it is held."""
    check_ingest_auth(request)
    body = await read_limited(request, request.app[SETTINGS].ingest.max_event_bytes)
    if request.content_type == STRUCTURED:
        event = parse_structured(body)
    else:
        event = parse_binary(request.headers, body)
    outcome = request.app[KSERVE_INGEST].accept(event)
    if outcome == "full":
        raise IngestBusy("pairing buffer full: event dropped")
    return json_response({"status": "accepted", "outcome": outcome}, status=202)
