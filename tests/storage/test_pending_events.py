"""The shared pairing table: claims, their races between engines, expiry exactly once, and the migration."""

from __future__ import annotations

import asyncio
from collections import Counter
from dataclasses import replace
from typing import Literal

import pytest
from sqlalchemy import inspect, select
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from storage.engine import create_engine
from storage.errors import StoreUnavailable
from storage.migrate import downgrade, upgrade
from storage.pending_events import PendingEventStore, StoredEvent
from storage.schema import ingest_pending
from storage.store import RecordStore
from tests.storage.helpers import make_records

T0 = 1_800_000_000.0


def stored(
    kind: Literal["request", "response"], event_id: str = "id-1", body: bytes = b"{}", received: float = T0
) -> StoredEvent:
    """An event of the sklearn-iris predictor."""
    return StoredEvent(
        namespace="default",
        service="sklearn-iris",
        component="predictor",
        event_id=event_id,
        kind=kind,
        source="http://localhost:9081/",
        endpoint="default",
        time=T0 - 1.0 if kind == "request" else None,
        status=None if kind == "request" else 500,
        content_type="application/json",
        body=body,
        received=received,
    )


async def bodies(engine: AsyncEngine) -> dict[str, tuple[str, bytes]]:
    """event id -> (state, body) of every row."""
    async with engine.connect() as conn:
        rows = (
            await conn.execute(
                select(ingest_pending.c.event_id, ingest_pending.c.state, ingest_pending.c.body)
            )
        ).all()
    return {row.event_id: (row.state, bytes(row.body)) for row in rows}


async def test_claims_pair_once_then_say_duplicate_or_late(migrated_engine: AsyncEngine) -> None:
    store = PendingEventStore(migrated_engine)
    request = stored("request", body=b'{"instances": [[1, 2]]}')
    response = stored("response", body=b'{"predictions": [1]}', received=T0 + 5)
    assert (await store.claim(request)).outcome == "pending"
    assert await store.waiting() == (1, len(request.body))
    assert (await store.claim(request)).outcome == "duplicate"
    claim = await store.claim(response, now=T0 + 5)
    # The partner comes back whole: every attribute, the body, and when the first event arrived.
    assert (claim.outcome, claim.partner) == ("paired", request)
    assert await bodies(migrated_engine) == {"id-1": ("done", b"")}
    assert await store.waiting() == (0, 0)
    assert (await store.claim(response)).outcome == "late"
    assert (await store.claim(request)).outcome == "late"
    # Another component's event with the same id is another pair.
    assert (await store.claim(replace(request, component="transformer"))).outcome == "pending"


async def test_when_full_only_partners_are_taken(migrated_engine: AsyncEngine) -> None:
    store = PendingEventStore(migrated_engine)
    await store.claim(stored("request", "waiting"))
    assert (await store.claim(stored("request", "new"), open_new=False)).outcome == "full"
    assert (await store.claim(stored("request", "waiting"), open_new=False)).outcome == "duplicate"
    claim = await store.claim(stored("response", "waiting"), open_new=False)
    assert claim.outcome == "paired" and claim.partner is not None and claim.partner.kind == "request"
    assert set(await bodies(migrated_engine)) == {"waiting"}


async def test_expiry_and_purge(migrated_engine: AsyncEngine) -> None:
    store = PendingEventStore(migrated_engine)
    for i in range(5):
        await store.claim(stored("request" if i % 2 else "response", f"old-{i}", received=T0 + i))
    await store.claim(stored("request", "fresh", received=T0 + 100))
    expired = await store.expire(30.0, now=T0 + 32.5, limit=2)
    assert [e.event_id for e in expired] == ["old-0", "old-1"]
    assert [e.event_id for e in await store.expire(30.0, now=T0 + 32.5)] == ["old-2"]
    assert [e.event_id for e in await store.expire(30.0, now=T0 + 40)] == ["old-3", "old-4"]
    assert expired[0] == stored("response", "old-0")
    assert await store.waiting() == (1, 2)
    # A claimed event's key stays for a TTL: its partner arriving now is late, not a new lone event.
    assert (await store.claim(stored("request", "old-0"))).outcome == "late"
    assert await store.purge_done(30.0, now=T0 + 62.5) == 3  # done at T0 + 32.5; the other two at T0 + 40
    assert set(await bodies(migrated_engine)) == {"old-3", "old-4", "fresh"}
    assert (await store.claim(stored("request", "old-0"))).outcome == "pending"


async def _two_engines(url: str) -> tuple[AsyncEngine, AsyncEngine]:
    return create_engine(url), create_engine(url)


async def test_concurrent_halves_pair_exactly_once(migrated_engine: AsyncEngine, database_url: str) -> None:
    one, two = await _two_engines(database_url)
    try:
        stores = (PendingEventStore(one), PendingEventStore(two))
        ids = [f"race-{i}" for i in range(60)]

        async def post(i: int, kind: Literal["request", "response"]) -> tuple[str, str]:
            side = (i + (kind == "response")) % 2  # the two halves of every id go to different engines
            claim = await stores[side].claim(stored(kind, ids[i], body=kind.encode()))
            if claim.partner is not None:
                assert claim.partner.body == (b"response" if kind == "request" else b"request")
            return ids[i], claim.outcome

        results = await asyncio.gather(
            *(post(i, kind) for i in range(len(ids)) for kind in ("request", "response"))
        )
        outcomes = Counter(outcome for _, outcome in results)
        assert outcomes == {"pending": len(ids), "paired": len(ids)}
        assert Counter(i for i, outcome in results if outcome == "paired") == Counter(ids)
    finally:
        await one.dispose()
        await two.dispose()


async def test_concurrent_expiry_returns_each_event_once(
    migrated_engine: AsyncEngine, database_url: str
) -> None:
    store = PendingEventStore(migrated_engine)
    for i in range(150):
        await store.claim(stored("request", f"lone-{i}", received=T0))
    one, two = await _two_engines(database_url)
    try:

        async def drain(engine: AsyncEngine) -> list[str]:
            got: list[str] = []
            while batch := await PendingEventStore(engine).expire(1.0, now=T0 + 2, limit=20):
                got.extend(e.event_id for e in batch)
            return got

        first, second = await asyncio.gather(drain(one), drain(two))
    finally:
        await one.dispose()
        await two.dispose()
    assert sorted(first + second) == sorted(f"lone-{i}" for i in range(150))
    assert await store.waiting() == (0, 0)


async def test_dropped_table_is_store_unavailable(migrated_engine: AsyncEngine) -> None:
    async with migrated_engine.begin() as conn:
        await conn.run_sync(lambda sync: ingest_pending.drop(sync))
    with pytest.raises(StoreUnavailable):
        await PendingEventStore(migrated_engine).claim(stored("request"))


def _tables(connection: Connection) -> set[str]:
    return set(inspect(connection).get_table_names())


async def test_0004_upgrades_an_existing_database_and_downgrades(engine: AsyncEngine) -> None:
    await upgrade(engine, "0003")
    await RecordStore(engine).insert(make_records(3))
    async with engine.connect() as conn:
        assert "ingest_pending" not in await conn.run_sync(_tables)
    await upgrade(engine)
    assert await RecordStore(engine).count() == 3
    store = PendingEventStore(engine)
    assert (await store.claim(stored("request"))).outcome == "pending"
    assert (await store.claim(stored("response"))).outcome == "paired"
    await downgrade(engine, "0003")
    async with engine.connect() as conn:
        assert "ingest_pending" not in await conn.run_sync(_tables)
    assert await RecordStore(engine).count() == 3
