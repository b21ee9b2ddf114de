"""`POST /ingest/kserve`: KServe's payload logger posts each request and response here as a CloudEvent.

Each event is checked, paired by id (`sidecar.ingest.pairing` in memory, or `sidecar.ingest.shared` through
the database with `ingest.pairing: store`) and, once paired or past the TTL, handed as an `Exchange` to the
same capture pipeline as proxied traffic (route sampling and redaction apply, and it never waits on the
records' store). The answer is 202 as soon as the event is held; 400 names a missing or invalid attribute;
413 past `ingest.max_event_bytes`; 503 when the pairing buffer is full (the drop is counted).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncEngine

from sidecar.admin import json_response
from sidecar.app import ENGINE, PIPELINE, SETTINGS
from sidecar.capture.pipeline import CapturePipeline
from sidecar.ingest.auth import check_ingest_auth
from sidecar.ingest.body import read_limited
from sidecar.ingest.cloudevents import STRUCTURED, InferenceEvent, parse_binary, parse_structured
from sidecar.ingest.config import IngestSettings
from sidecar.ingest.errors import IngestBusy
from sidecar.ingest.exchange import to_exchange
from sidecar.ingest.metrics import INGEST_METRICS, IngestMetrics
from sidecar.ingest.pairing import NO_RESPONSE, Outcome, Pair, PairingBuffer
from sidecar.ingest.shared import EXPIRE_BATCH, SharedPairing
from sidecar.tasks import cancel_and_wait
from storage.errors import StorageError
from storage.pending_events import PendingEventStore
from storage.stats import RateLimit

logger = logging.getLogger(__name__)

_DROP_LOG_INTERVAL = 10.0
# Claims waiting on the store at once (past store_timeout they finish in the background); beyond, memory.
_MAX_INFLIGHT = 256
_CLOSE_WAIT = 10.0  # seconds shutdown waits for claims still running on the store


class KServeIngest:
    """Pairs KServe logger events and submits each pair to capture; expires lone events in a task.

    With `ingest.pairing: store` the events wait in the database table shared by every replica
    (`SharedPairing`); an event the table cannot take is paired in this process's buffer instead (counted),
    and so is every later event of the same key, so the two halves still meet.
    """

    def __init__(
        self,
        settings: IngestSettings,
        pipeline: CapturePipeline,
        metrics: IngestMetrics,
        engine: AsyncEngine | None = None,
    ) -> None:
        self._settings = settings
        self._pipeline = pipeline
        self._metrics = metrics
        self._buffer = PairingBuffer(settings.pairing_ttl, settings.max_pending, settings.max_pending_bytes)
        self._shared: SharedPairing | None = None
        if settings.pairing == "store":
            if engine is None:
                raise ValueError("ingest.pairing: store needs the database engine")
            self._shared = SharedPairing(PendingEventStore(engine), settings)
        metrics.pending.set_function(lambda: self.depth()[0])
        self._task: asyncio.Task[None] | None = None
        self._inflight: set[asyncio.Task[Outcome]] = set()
        self._unlogged_drops = 0
        self._unlogged_fallbacks = 0
        self._may_log = RateLimit(_DROP_LOG_INTERVAL).allow

    def depth(self) -> tuple[int, int]:
        """Events waiting for their partner, and their body bytes (with the shared table's, as last counted)."""
        count, nbytes = self._buffer.depth()
        if self._shared is not None:
            shared_count, shared_bytes = self._shared.depth()
            count, nbytes = count + shared_count, nbytes + shared_bytes
        return count, nbytes

    async def accept(self, event: InferenceEvent) -> Outcome:
        """Take one event; the outcome says whether it completed a pair, waits, or was dropped.

        In memory mode this never waits. In store mode it waits for the table at most `store_timeout`
        seconds, then answers `pending` while the claim finishes in the background.
        """
        if self._shared is None or self._buffer.knows(event.key):
            return self._take(event, *self._buffer.add(event))
        if len(self._inflight) >= _MAX_INFLIGHT:
            return self._fall_back(event, "busy")
        task = asyncio.create_task(self._claim(event), name="driftcar-kserve-claim")
        self._inflight.add(task)
        task.add_done_callback(self._inflight.discard)
        try:
            return await asyncio.wait_for(asyncio.shield(task), self._settings.store_timeout)
        except TimeoutError:
            logger.debug("kserve ingest: %s event %s still being claimed", event.kind, event.id)
            return "pending"

    async def _claim(self, event: InferenceEvent) -> Outcome:
        assert self._shared is not None
        try:
            outcome, pair = await self._shared.add(event)
        except StorageError as exc:
            return self._fall_back(event, "error", exc)
        except asyncio.CancelledError:
            # Shutdown gave up on the store: the event was answered 202, so it is recorded from memory.
            self._fall_back(event, "error")
            raise
        return self._take(event, outcome, pair)

    def _fall_back(self, event: InferenceEvent, reason: str, exc: BaseException | None = None) -> Outcome:
        self._metrics.fallbacks.labels(reason).inc()
        self._unlogged_fallbacks += 1
        if self._may_log("fallback"):
            logger.warning(
                "kserve ingest: pairing table unusable (%s): %d events paired in memory since the last warning",
                exc if exc is not None else reason,
                self._unlogged_fallbacks,
            )
            self._unlogged_fallbacks = 0
        return self._take(event, *self._buffer.add(event))

    def _take(self, event: InferenceEvent, outcome: Outcome, pair: Pair | None) -> Outcome:
        if outcome in ("paired", "pending"):
            self._metrics.events.labels(event.kind).inc()
        else:
            self._metrics.dropped.labels(outcome).inc()
        if pair is not None:
            self._submit(pair)
        elif outcome == "full":
            self._unlogged_drops += 1
            if self._may_log("full"):
                count, nbytes = self.depth()
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
        """Submit the events that waited past the TTL in this process's buffer alone; how many."""
        pairs = self._buffer.expire()
        for pair in pairs:
            self._submit(pair)
        return len(pairs)

    async def expire_shared(self) -> int:
        """Submit alone the shared table's events that waited past the TTL and that this replica claimed
        (each goes to exactly one replica), then tidy the table; how many."""
        if self._shared is None:
            return 0
        total = 0
        while True:
            pairs = await self._shared.expire()
            for pair in pairs:
                self._submit(pair)
            total += len(pairs)
            if len(pairs) < EXPIRE_BATCH:
                break
        await self._shared.tidy()
        return total

    async def start(self) -> None:
        """Count the shared table's waiting events, then expire lone events every quarter TTL (at most every
        second)."""
        if self._shared is not None:
            try:
                await self._shared.refresh()
            except StorageError as exc:
                logger.warning("kserve ingest: cannot count the pairing table's waiting events: %s", exc)
        self._task = asyncio.create_task(self._run(), name="driftcar-kserve-pairing")

    async def close(self) -> None:
        """Stop the task and submit every event waiting in memory alone (capture closes after this); events
        waiting in the shared table stay there for another replica or the next start."""
        await cancel_and_wait(self._task)
        if self._inflight:
            _, late = await asyncio.wait(set(self._inflight), timeout=_CLOSE_WAIT)
            for task in late:
                task.cancel()
            if late:
                await asyncio.wait(late)
        for pair in self._buffer.drain():
            self._submit(pair)

    async def _run(self) -> None:
        interval = min(self._settings.pairing_ttl / 4, 1.0)
        while True:
            await asyncio.sleep(interval)
            try:
                self.expire()
                await self.expire_shared()
            except StorageError as exc:
                if self._may_log("expire"):
                    logger.warning("kserve ingest: expiring the pairing table's events failed: %s", exc)
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
    """Own the pairing: started after capture, closed (events in memory submitted) before capture closes."""
    ingest = KServeIngest(app[SETTINGS].ingest, app[PIPELINE], app[INGEST_METRICS], app[ENGINE])
    await ingest.start()
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
    outcome = await request.app[KSERVE_INGEST].accept(event)
    if outcome == "full":
        raise IngestBusy("pairing buffer full: event dropped")
    return json_response({"status": "accepted", "outcome": outcome}, status=202)
