"""KServe logger events waiting for their partner in a table every replica shares (`ingest.pairing: store`).

A claim settles the race between replicas in the database, on SQLite and PostgreSQL alike, with no lock held
between requests: the first event of a key is an `INSERT ... ON CONFLICT DO NOTHING` (`pending`); its partner,
finding the key taken, runs `UPDATE ... SET state = 'done' WHERE state = 'waiting' AND kind <> mine RETURNING`
and only one transaction can move a row out of `waiting` (PostgreSQL re-checks the condition after waiting for
a concurrent update; SQLite runs one writer at a time), so exactly one replica gets the pair. Otherwise the
row says `duplicate` (same kind still waiting) or `late` (already done). Expiry moves rows waiting past the TTL
to `done` with the same kind of UPDATE, so each lone event is returned to exactly one replica. A `done` row
keeps its key, not its body, for one more TTL so that repeats are recognised, then is deleted.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, fields
from typing import Any, Literal

from sqlalchemy import delete, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from storage.errors import translated
from storage.schema import ingest_pending as t

logger = logging.getLogger(__name__)

ClaimOutcome = Literal["pending", "paired", "duplicate", "late", "full"]
_KEY_COLUMNS = ["namespace", "service", "component", "event_id"]
_EVENT_COLUMNS = (
    t.c.id,
    t.c.namespace,
    t.c.service,
    t.c.component,
    t.c.event_id,
    t.c.kind,
    t.c.source,
    t.c.endpoint,
    t.c.time,
    t.c.status,
    t.c.content_type,
    t.c.body,
    t.c.received,
)


@dataclass(frozen=True, slots=True)
class StoredEvent:
    """One logged request or response as the table holds it."""

    namespace: str
    service: str
    component: str
    event_id: str
    kind: Literal["request", "response"]
    source: str
    endpoint: str
    time: float | None
    status: int | None
    content_type: str | None
    body: bytes
    received: float
    """Wall-clock time the event arrived (for a partner: the first event of the pair)."""


@dataclass(frozen=True, slots=True)
class Claim:
    """What a claim did: the outcome, and the partner event when it completed a pair."""

    outcome: ClaimOutcome
    partner: StoredEvent | None = None


def _values(event: StoredEvent) -> dict[str, Any]:
    """The event's fields by name: its columns in `ingest_pending`."""
    return {f.name: getattr(event, f.name) for f in fields(StoredEvent)}


def _event(row: Any) -> StoredEvent:
    values = {f.name: getattr(row, f.name) for f in fields(StoredEvent)}
    return StoredEvent(**{**values, "body": bytes(values["body"])})


class PendingEventStore:
    """Claims, expires and counts the events waiting in `ingest_pending`."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._dialect = postgresql if engine.dialect.name == "postgresql" else sqlite

    async def claim(self, event: StoredEvent, *, open_new: bool = True, now: float | None = None) -> Claim:
        """Take one event: `paired` with the waiting partner, `pending` (stored to wait), `duplicate`, `late`.

        With `open_new=False` (the caller's limits are reached) an event without a waiting partner is not
        stored and the outcome is `full`, unless its key says `duplicate` or `late`.
        """
        now = time.time() if now is None else now
        key = (
            t.c.namespace == event.namespace,
            t.c.service == event.service,
            t.c.component == event.component,
            t.c.event_id == event.event_id,
        )
        insert = (
            self._dialect.insert(t)
            .values(**_values(event), state="waiting", done_at=None)
            .on_conflict_do_nothing(index_elements=_KEY_COLUMNS)
            .returning(t.c.id)
        )
        take = (
            update(t)
            .where(*key, t.c.state == "waiting", t.c.kind != event.kind)
            .values(state="done", done_at=now)
            .returning(*_EVENT_COLUMNS)
        )
        with translated():
            async with self._engine.begin() as conn:
                if open_new and (await conn.execute(insert)).scalar_one_or_none() is not None:
                    return Claim("pending")
                row = (await conn.execute(take)).one_or_none()
                if row is not None:
                    await self._empty(conn, [row.id])
                    return Claim("paired", _event(row))
                existing = (await conn.execute(select(t.c.state).where(*key))).scalar_one_or_none()
        if existing == "waiting":
            return Claim("duplicate")
        if existing == "done" or open_new:
            # With open_new, a conflict without a row means the done row was purged meanwhile: late.
            return Claim("late")
        return Claim("full")

    async def expire(self, ttl: float, *, now: float | None = None, limit: int = 100) -> list[StoredEvent]:
        """Move up to `limit` events waiting longer than `ttl` to `done` and return them, oldest first.

        Run by every replica at once, each event is returned to exactly one of them.
        """
        now = time.time() if now is None else now
        due = (
            select(t.c.id)
            .where(t.c.state == "waiting", t.c.received <= now - ttl)
            .order_by(t.c.id)
            .limit(limit)
        )
        take = (
            update(t)
            .where(t.c.id.in_(due), t.c.state == "waiting")
            .values(state="done", done_at=now)
            .returning(*_EVENT_COLUMNS)
        )
        with translated():
            async with self._engine.begin() as conn:
                rows = (await conn.execute(take)).all()
                await self._empty(conn, [row.id for row in rows])
        return [_event(row) for row in sorted(rows, key=lambda r: r.id)]

    async def purge_done(self, ttl: float, *, now: float | None = None) -> int:
        """Delete the keys of events done longer than `ttl` ago (a repeat after that is new again); how many."""
        now = time.time() if now is None else now
        with translated():
            async with self._engine.begin() as conn:
                result = await conn.execute(delete(t).where(t.c.state == "done", t.c.done_at <= now - ttl))
        return int(result.rowcount or 0)

    async def waiting(self) -> tuple[int, int]:
        """Events waiting in the table (from every replica), and their body bytes."""
        query = select(func.count(), func.coalesce(func.sum(func.length(t.c.body)), 0)).where(
            t.c.state == "waiting"
        )
        with translated():
            async with self._engine.connect() as conn:
                count, nbytes = (await conn.execute(query)).one()
        return int(count), int(nbytes)

    @staticmethod
    async def _empty(conn: AsyncConnection, ids: list[int]) -> None:
        # RETURNING gives the values after the update, so the body is emptied by a second statement.
        if ids:
            await conn.execute(update(t).where(t.c.id.in_(ids)).values(body=b""))
