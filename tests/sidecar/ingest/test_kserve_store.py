"""`ingest.pairing: store`: KServe logger events paired across driftcar replicas that share one database."""

from __future__ import annotations

import asyncio
import sqlite3
from collections import Counter
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from sidecar.server import Sidecar
from storage.engine import create_engine
from storage.pending_events import PendingEventStore
from storage.schema import ingest_pending
from tests.faults.pgserver import PgServer, pg_server, private_pg_url
from tests.faults.procs import Driftcar
from tests.sidecar.conftest import SidecarFactory, wait_records
from tests.sidecar.ingest.events import V1_PAIR, V1_REQUEST, V1_RESPONSE, V2_PAIR, event
from tests.sidecar.ingest.test_kserve import by_request, post
from tests.sidecar.scrape import Scrape, eventually, scrape

# A loaded CI machine may take seconds for a claim: the outcomes asserted here are the claims' own, not `pending`
# answered after store_timeout.
STORE = {"pairing": "store", "pairing_ttl": 3600, "store_timeout": 60}
__all__ = ["pg_server", "private_pg_url"]  # fixtures of the private PostgreSQL server


async def replicas(
    make_sidecar: SidecarFactory, upstream: TestServer, tmp_path: Path, url: str, n: int = 2, **ingest: Any
) -> list[Sidecar]:
    """`n` sidecars on one database, pairing through it (each with its own spool directory)."""
    return [
        await make_sidecar(
            str(upstream.make_url("")),
            database_url=url,
            capture={"spool_dir": str(tmp_path / f"spool-{i}")},
            ingest={**STORE, **ingest},
        )
        for i in range(n)
    ]


async def total(http: aiohttp.ClientSession, sidecars: list[Sidecar], name: str, **labels: str) -> float:
    """A metric summed over the replicas."""
    return sum([(await scrape(http, s)).value(name, **labels) for s in sidecars])


async def waiting_rows(url: str) -> int:
    """Events waiting in the shared table, counted in the database itself."""
    engine = create_engine(url)
    try:
        return (await PendingEventStore(engine).waiting())[0]
    finally:
        await engine.dispose()


def comparable(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Records without their database ids, in request and row order."""
    rows = [{k: v for k, v in r.items() if k != "id"} for r in records]
    return sorted(rows, key=lambda r: (r["request_id"], r["row"]))


@pytest.mark.parametrize("order", ["request first", "response first"])
async def test_halves_on_two_replicas_are_recorded_once_like_one_replica(
    make_sidecar: SidecarFactory,
    upstream: TestServer,
    http: aiohttp.ClientSession,
    tmp_path: Path,
    database_url: str,
    order: str,
) -> None:
    a, b = await replicas(make_sidecar, upstream, tmp_path, database_url)
    single = await make_sidecar(
        str(upstream.make_url("")),
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'single.db'}",
        capture={"spool_dir": str(tmp_path / "spool-single")},
    )
    for first, second in (V1_PAIR, V2_PAIR):
        if order == "response first":
            first, second = second, first
        assert (await post(http, a, first)) == (202, {"status": "accepted", "outcome": "pending"})
        assert (await post(http, b, second)) == (202, {"status": "accepted", "outcome": "paired"})
        for ev in (first, second):
            assert (await post(http, single, ev))[0] == 202
    shared = await wait_records(http, a, 4)
    alone = await wait_records(http, single, 4)
    assert len(shared) == 4 and all(r["error"] is None for r in shared)
    assert comparable(shared) == comparable(alone)
    assert await total(http, [a, b], "driftcar_ingest_paired_total") == 2
    assert await total(http, [a, b], "driftcar_ingest_unpaired_total") == 0
    assert await waiting_rows(database_url) == 0


async def test_concurrent_halves_on_two_replicas_pair_exactly_once(
    make_sidecar: SidecarFactory,
    upstream: TestServer,
    http: aiohttp.ClientSession,
    tmp_path: Path,
    database_url: str,
) -> None:
    replica = await replicas(make_sidecar, upstream, tmp_path, database_url)
    ids = [f"race-{i:03d}" for i in range(40)]

    async def send(i: int, kind: str) -> str:
        ev = event(kind, ids[i], V1_REQUEST if kind == "request" else V1_RESPONSE)
        status, doc = await post(http, replica[(i + (kind == "response")) % 2], ev)
        assert status == 202, doc
        outcome: str = doc["outcome"]
        return outcome

    outcomes = await asyncio.gather(
        *(send(i, kind) for i in range(len(ids)) for kind in ("request", "response"))
    )
    assert Counter(outcomes) == {"pending": len(ids), "paired": len(ids)}
    records = await wait_records(http, replica[0], 2 * len(ids), timeout=30)
    assert Counter((r["request_id"], r["row"]) for r in records) == Counter(
        (i, row) for i in ids for row in (0, 1)
    )
    assert {(r["error"], r["status"]) for r in records} == {(None, 200)}
    assert [r["prediction"] for r in by_request(records)[ids[0]]] == [0, 2]
    assert await total(http, replica, "driftcar_ingest_paired_total") == len(ids)
    assert await total(http, replica, "driftcar_ingest_unpaired_total") == 0


async def test_a_lone_event_is_recorded_alone_by_exactly_one_replica(
    make_sidecar: SidecarFactory,
    upstream: TestServer,
    http: aiohttp.ClientSession,
    tmp_path: Path,
    sqlite_url: str,
) -> None:
    replica = await replicas(make_sidecar, upstream, tmp_path, sqlite_url, pairing_ttl=0.3)
    assert (await post(http, replica[0], event("request", "only-request", V1_REQUEST)))[1][
        "outcome"
    ] == "pending"
    assert (await post(http, replica[1], V2_PAIR[1]))[1]["outcome"] == "pending"

    async def both_claimed() -> bool:
        unpaired = await total(http, replica, "driftcar_ingest_unpaired_total")
        return unpaired >= 2 and await waiting_rows(sqlite_url) == 0

    await eventually(both_claimed)
    records = by_request(await wait_records(http, replica[0], 4))
    assert {(r["row"], r["error"]) for r in records["only-request"]} == {
        (0, "no response logged"),
        (1, "no response logged"),
    }
    assert {(r["row"], r["error"]) for r in records["9a3e55b0-v2"]} == {
        (0, "no request logged"),
        (1, "no request logged"),
    }
    # Claimed rows are done: no replica can claim them again, so the counts are final.
    assert await total(http, replica, "driftcar_ingest_unpaired_total", missing="response") == 1
    assert await total(http, replica, "driftcar_ingest_unpaired_total", missing="request") == 1


async def test_duplicates_and_late_events_across_replicas_are_counted_not_recorded(
    make_sidecar: SidecarFactory,
    upstream: TestServer,
    http: aiohttp.ClientSession,
    tmp_path: Path,
    sqlite_url: str,
) -> None:
    a, b = await replicas(make_sidecar, upstream, tmp_path, sqlite_url)
    request, response = V1_PAIR
    expected = [(a, request, "pending"), (b, request, "duplicate"), (b, response, "paired")]
    expected += [(a, response, "late"), (b, request, "late"), (a, request, "late")]
    for replica, ev, outcome in expected:
        assert (await post(http, replica, ev))[1]["outcome"] == outcome
    for replica, ev in ((a, V2_PAIR[0]), (b, V2_PAIR[1])):  # a later pair flushes through both pipelines
        await post(http, replica, ev)
    records = await wait_records(http, a, 4)
    assert sorted((r["request_id"], r["row"], r["error"]) for r in records) == [
        ("5f0c1d7e-v1", 0, None),
        ("5f0c1d7e-v1", 1, None),
        ("9a3e55b0-v2", 0, None),
        ("9a3e55b0-v2", 1, None),
    ]
    assert await total(http, [a, b], "driftcar_ingest_events_dropped_total", reason="duplicate") == 1
    assert await total(http, [a, b], "driftcar_ingest_events_dropped_total", reason="late") == 3
    assert await total(http, [a, b], "driftcar_ingest_paired_total") == 2


async def test_a_stopped_replicas_waiting_event_pairs_on_another(
    make_sidecar: SidecarFactory,
    upstream: TestServer,
    http: aiohttp.ClientSession,
    tmp_path: Path,
    database_url: str,
) -> None:
    a, b = await replicas(make_sidecar, upstream, tmp_path, database_url)
    assert (await post(http, a, V1_PAIR[0]))[1]["outcome"] == "pending"
    await a.stop()  # graceful: the event stays in the table instead of being recorded alone
    assert await waiting_rows(database_url) == 1
    assert (await post(http, b, V1_PAIR[1]))[1]["outcome"] == "paired"
    records = await wait_records(http, b, 2)
    assert sorted((r["row"], r["error"], r["prediction"]) for r in records) == [(0, None, 0), (1, None, 2)]


@pytest.mark.slow
async def test_a_killed_replicas_waiting_event_pairs_on_another(
    make_sidecar: SidecarFactory,
    upstream: TestServer,
    http: aiohttp.ClientSession,
    tmp_path: Path,
    sqlite_url: str,
) -> None:
    (tmp_path / "proc").mkdir()
    killed = Driftcar(tmp_path / "proc", str(upstream.make_url("")), sqlite_url, {"ingest": STORE})
    await killed.start()
    try:
        async with http.post(
            f"{killed.admin}/ingest/kserve", data=V2_PAIR[0].body, headers=V2_PAIR[0].headers
        ) as resp:
            assert (resp.status, await resp.json()) == (202, {"status": "accepted", "outcome": "pending"})
        await killed.kill9()
    finally:
        await killed.close()
    (b,) = await replicas(make_sidecar, upstream, tmp_path, sqlite_url, n=1)
    assert (await post(http, b, V2_PAIR[1]))[1]["outcome"] == "paired"
    records = await wait_records(http, b, 2)
    assert sorted((r["row"], r["error"], r["model_version"]) for r in records) == [
        (0, None, "3"),
        (1, None, "3"),
    ]


async def test_every_replica_reports_the_shared_waiting_count_and_limit(
    make_sidecar: SidecarFactory,
    upstream: TestServer,
    http: aiohttp.ClientSession,
    tmp_path: Path,
    sqlite_url: str,
) -> None:
    a, b = await replicas(make_sidecar, upstream, tmp_path, sqlite_url, max_pending=1)
    assert (await post(http, a, V1_PAIR[0]))[1]["outcome"] == "pending"

    async def b_sees_it() -> bool:
        return (await scrape(http, b)).value("driftcar_ingest_pending_events") == 1

    await eventually(b_sees_it)
    status, doc = await post(http, b, V2_PAIR[0])
    assert (status, doc) == (503, {"error": "pairing buffer full: event dropped"})
    assert (await post(http, b, V1_PAIR[1]))[1]["outcome"] == "paired"  # a partner is always taken
    assert await total(http, [a, b], "driftcar_ingest_events_dropped_total", reason="full") == 1


async def test_a_failing_store_falls_back_to_memory(
    make_sidecar: SidecarFactory,
    upstream: TestServer,
    http: aiohttp.ClientSession,
    tmp_path: Path,
    database_url: str,
) -> None:
    (a,) = await replicas(make_sidecar, upstream, tmp_path, database_url, n=1)
    engine = create_engine(database_url)
    try:
        async with engine.begin() as conn:
            await conn.run_sync(lambda sync: ingest_pending.drop(sync))
    finally:
        await engine.dispose()
    for ev, outcome in ((V1_PAIR[0], "pending"), (V1_PAIR[0], "duplicate"), (V1_PAIR[1], "paired")):
        assert await post(http, a, ev) == (202, {"status": "accepted", "outcome": outcome})
    records = await wait_records(http, a, 2)
    assert sorted((r["row"], r["error"], r["prediction"]) for r in records) == [(0, None, 0), (1, None, 2)]
    metrics: Scrape = await scrape(http, a)
    # The first event found the table gone; the others of its key followed it into memory.
    assert metrics.value("driftcar_ingest_store_fallbacks_total", reason="error") == 1
    assert metrics.value("driftcar_ingest_paired_total") == 1


async def test_a_slow_store_answers_pending_and_the_claim_finishes_in_the_background(
    make_sidecar: SidecarFactory,
    upstream: TestServer,
    http: aiohttp.ClientSession,
    tmp_path: Path,
    sqlite_url: str,
) -> None:
    (a,) = await replicas(make_sidecar, upstream, tmp_path, sqlite_url, n=1, store_timeout=0.2)
    lock = sqlite3.connect(sqlite_url.split("///", 1)[1], isolation_level=None)
    try:
        lock.execute("BEGIN IMMEDIATE")  # the claim now waits for the write lock (busy_timeout 5 s)
        assert await post(http, a, V1_PAIR[0]) == (202, {"status": "accepted", "outcome": "pending"})
        assert lock.execute("SELECT count(*) FROM ingest_pending").fetchone() == (0,)
    finally:
        lock.execute("ROLLBACK")
        lock.close()

    async def stored() -> bool:
        return await waiting_rows(sqlite_url) == 1

    await eventually(stored)
    assert (await post(http, a, V1_PAIR[1]))[1]["outcome"] == "paired"
    assert len(await wait_records(http, a, 2)) == 2
    assert (await scrape(http, a)).value("driftcar_ingest_store_fallbacks_total") == 0


@pytest.mark.slow
@pytest.mark.postgres
async def test_postgresql_down_events_pair_in_memory_and_are_recorded_after(
    pg_server: PgServer, private_pg_url: str, make_sidecar: SidecarFactory, upstream: TestServer,
    http: aiohttp.ClientSession, tmp_path: Path,
) -> None:  # fmt: skip
    (a,) = await replicas(make_sidecar, upstream, tmp_path, private_pg_url, n=1)
    await asyncio.to_thread(pg_server.stop)  # the private server: connections are refused from now on
    try:
        assert await post(http, a, V1_PAIR[0]) == (202, {"status": "accepted", "outcome": "pending"})
        assert await post(http, a, V1_PAIR[1]) == (202, {"status": "accepted", "outcome": "paired"})
        metrics = await scrape(http, a)
        assert metrics.value("driftcar_ingest_store_fallbacks_total", reason="error") == 1
        assert metrics.value("driftcar_ingest_paired_total") == 1
    finally:
        await asyncio.to_thread(pg_server.start)
    records = await wait_records(
        http, a, 2, timeout=60
    )  # spooled by the writer, replayed once the store is up
    assert sorted((r["row"], r["error"], r["prediction"]) for r in records) == [(0, None, 0), (1, None, 2)]


async def test_memory_mode_is_the_default_and_leaves_the_table_alone(
    sidecar: Sidecar, http: aiohttp.ClientSession, sqlite_url: str
) -> None:
    assert (await post(http, sidecar, V1_PAIR[0]))[1]["outcome"] == "pending"
    assert (await scrape(http, sidecar)).value("driftcar_ingest_pending_events") == 1
    assert await waiting_rows(sqlite_url) == 0
