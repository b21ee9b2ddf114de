"""`kill -9`: what was spooled survives and is replayed once on restart; under load the loss is bounded by what
the metrics said was in memory (the capture queue and the writer's queue)."""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path

import pytest

from tests.faults.conftest import DriftcarFactory
from tests.faults.load import Load
from tests.faults.pgserver import PgServer
from tests.faults.procs import (
    CAPTURE_QUEUE,
    REPLAYED,
    SPOOLED,
    WRITER_QUEUE,
    WRITTEN,
    Upstream,
    stored_ids,
)

N = 300


@pytest.mark.slow
async def test_kill9_after_spooling_then_restart_stores_exactly_the_spooled_records(
    pg_server: PgServer, private_pg_url: str, upstream_proc: Upstream, start_driftcar: DriftcarFactory
) -> None:
    driftcar = await start_driftcar(upstream_proc.url, private_pg_url, {"capture": {"retry_max": 1.0}})
    await asyncio.to_thread(pg_server.stop)
    async with Load(f"{driftcar.url}/predict", "spooled", workers=8, max_requests=N) as load:
        await load.complete()
    assert len(load.answered) == N, load.summary()
    m = await driftcar.scrape_until(SPOOLED, N)
    assert (m.value(SPOOLED), m.value(WRITTEN), m.value(WRITER_QUEUE)) == (N, 0, 0)
    await driftcar.kill9()
    assert driftcar.spooled_lines() == N  # on disk (in the page cache at least) when the process died
    await asyncio.to_thread(pg_server.start)
    await driftcar.start()  # same database, same spool directory
    m = await driftcar.settled()
    assert (m.value(REPLAYED), m.value(WRITTEN)) == (N, 0)
    assert await driftcar.sigterm() == 0
    stored = await stored_ids(private_pg_url)
    assert max(Counter(stored).values()) == 1
    assert sorted(stored) == sorted(load.answered)


@pytest.mark.slow
async def test_kill9_under_load_loses_at_most_what_was_in_memory(
    tmp_path: Path, upstream_proc: Upstream, start_driftcar: DriftcarFactory
) -> None:
    database_url = f"sqlite+aiosqlite:///{tmp_path / 'driftcar.db'}"
    driftcar = await start_driftcar(upstream_proc.url, database_url)
    async with Load(f"{driftcar.url}/predict", "kill", workers=8) as load:
        await load.until_answered(500)
        await driftcar.scrape_until(WRITTEN, 1)  # the writer has committed batches: some of it is stored
        # Everything answered before this snapshot is, at the scrape, stored or counted in a queue; what is
        # answered later may be lost too. kill -9 follows the scrape at once.
        answered_before = len(load.answered)
        m = await driftcar.scrape()
        await driftcar.kill9()
        await load.finish()
    in_memory = m.value(CAPTURE_QUEUE) + m.value(WRITER_QUEUE)
    assert load.bad == {}, load.summary()
    await driftcar.start()  # replays whatever the spool held (nothing, or what overflowed the queue)
    await driftcar.settled()
    assert await driftcar.sigterm() == 0
    stored = await stored_ids(database_url)
    assert stored and max(Counter(stored).values()) == 1
    assert set(stored) <= set(load.answered)
    lost = len(load.answered) - len(stored)
    assert 0 <= lost <= in_memory + len(load.answered) - answered_before
    print(
        f"\nkill -9 under load: answered {len(load.answered)}, stored {len(stored)}, lost {lost}; "
        f"in memory at the last scrape {in_memory:g}, answered after it {len(load.answered) - answered_before}"
    )
