"""Pairing through the database (`ingest.pairing: store`): every replica on one database shares the waiting events.

The table and its race-free claims live in `storage.pending_events`; this module turns `InferenceEvent`s into
rows and claims back into `Pair`s, exactly the pairs the in-memory buffer would have made, so a pair split
across replicas is recorded like one that met in a single process. `max_pending` and `max_pending_bytes` are
checked against a count of the table's waiting events refreshed by `expire` (about every second) and kept up
to date with this replica's own claims in between, so with several replicas the limit is approximate.
"""

from __future__ import annotations

import time

from sidecar.ingest.cloudevents import InferenceEvent
from sidecar.ingest.config import IngestSettings
from sidecar.ingest.pairing import Outcome, Pair
from storage.pending_events import PendingEventStore, StoredEvent

EXPIRE_BATCH = 100
"""Lone events claimed per expiry statement (their bodies are loaded at once)."""


def to_stored(event: InferenceEvent, received: float) -> StoredEvent:
    """The row for an event that arrived at `received` (wall clock)."""
    return StoredEvent(
        namespace=event.namespace,
        service=event.service,
        component=event.component,
        event_id=event.id,
        kind=event.kind,
        source=event.source,
        endpoint=event.endpoint,
        time=event.time,
        status=event.status,
        content_type=event.content_type,
        body=event.body,
        received=received,
    )


def from_stored(stored: StoredEvent) -> InferenceEvent:
    """The event a row holds."""
    return InferenceEvent(
        id=stored.event_id,
        kind=stored.kind,
        source=stored.source,
        service=stored.service,
        namespace=stored.namespace,
        component=stored.component,
        endpoint=stored.endpoint,
        time=stored.time,
        status=stored.status,
        content_type=stored.content_type,
        body=stored.body,
    )


def _alone(stored: StoredEvent) -> Pair:
    event = from_stored(stored)
    if event.kind == "request":
        return Pair(event, None, stored.received)
    return Pair(None, event, stored.received)


class SharedPairing:
    """Pairs events through `ingest_pending`; raises `storage.errors.StorageError` when the table is unusable."""

    def __init__(self, store: PendingEventStore, settings: IngestSettings) -> None:
        self._store = store
        self._settings = settings
        self._count = 0
        self._bytes = 0

    def depth(self) -> tuple[int, int]:
        """Events waiting in the shared table (every replica's), and their body bytes: as last counted."""
        return self._count, self._bytes

    async def add(self, event: InferenceEvent) -> tuple[Outcome, Pair | None]:
        """Take one event: the completed pair when its partner was waiting (here or on another replica)."""
        size = len(event.body)
        open_new = (
            self._count < self._settings.max_pending
            and self._bytes + size <= self._settings.max_pending_bytes
        )
        claim = await self._store.claim(to_stored(event, time.time()), open_new=open_new)
        if claim.outcome == "pending":
            self._count += 1
            self._bytes += size
        if claim.partner is None:
            return claim.outcome, None
        partner = claim.partner
        self._count = max(0, self._count - 1)
        self._bytes = max(0, self._bytes - len(partner.body))
        first = from_stored(partner)
        request, response = (first, event) if event.kind == "response" else (event, first)
        return "paired", Pair(request, response, partner.received)

    async def expire(self) -> list[Pair]:
        """Claim up to `EXPIRE_BATCH` events that waited past the TTL, oldest first (each goes to exactly one
        replica); fewer than `EXPIRE_BATCH` means none is left."""
        batch = await self._store.expire(self._settings.pairing_ttl, limit=EXPIRE_BATCH)
        self._count = max(0, self._count - len(batch))
        return [_alone(stored) for stored in batch]

    async def tidy(self) -> None:
        """Forget the keys of pairs finished more than a TTL ago, and recount the waiting events."""
        await self._store.purge_done(self._settings.pairing_ttl)
        await self.refresh()

    async def refresh(self) -> None:
        """Recount the waiting events (at start)."""
        self._count, self._bytes = await self._store.waiting()
