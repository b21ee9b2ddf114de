"""PostgreSQL (a private server) stopped for 30 s under load: no request fails, every record arrives once."""

from __future__ import annotations

import asyncio
import time
from collections import Counter

import pytest

from tests.faults.conftest import DriftcarFactory
from tests.faults.load import Load
from tests.faults.pgserver import PgServer
from tests.faults.procs import DROPPED, REPLAYED, SPOOLED, WRITTEN, Upstream, stored_ids

OUTAGE_SECONDS = 30.0


@pytest.mark.slow
async def test_postgresql_down_for_30s_under_load_loses_no_request_and_no_record(
    pg_server: PgServer, private_pg_url: str, upstream_proc: Upstream, start_driftcar: DriftcarFactory
) -> None:
    # retry_max 1 s: the store is probed every second while down, so recovery follows the restart closely.
    driftcar = await start_driftcar(upstream_proc.url, private_pg_url, {"capture": {"retry_max": 1.0}})
    async with Load(f"{driftcar.url}/predict", "outage", workers=8, rate=100) as load:
        await load.until_answered(100)
        await asyncio.to_thread(pg_server.stop)
        answered_at_stop = len(load.answered)
        down = await driftcar.scrape_until(SPOOLED, 1, timeout=30)
        assert down.value("driftcar_store_up") == 0
        await asyncio.sleep(OUTAGE_SECONDS)
        answered_in_outage = len(load.answered) - answered_at_stop
        await asyncio.to_thread(pg_server.start)
        await driftcar.scrape_until(REPLAYED, 1, timeout=60)
        await load.until_answered(len(load.answered) + 100)
        await load.finish()
    assert load.bad == {} and load.refused == {}, load.summary()
    m = await driftcar.settled(timeout=120)
    # What was answered while the database was down went through the spool (but for the last second's, which
    # waited in the queue for the next probe), and came back from it.
    assert answered_in_outage > OUTAGE_SECONDS * 10
    assert m.value(SPOOLED) >= answered_in_outage - 500
    assert m.value(REPLAYED) == m.value(SPOOLED)
    assert m.value(DROPPED) == 0
    assert m.value(WRITTEN) + m.value(REPLAYED) == len(load.answered)
    assert await driftcar.sigterm() == 0
    stored = await stored_ids(private_pg_url)
    assert max(Counter(stored).values()) == 1
    assert sorted(stored) == sorted(load.answered)
    print(f"\n{load.summary()}; spooled {m.value(SPOOLED):g}, written {m.value(WRITTEN):g}")


@pytest.mark.slow
async def test_sigterm_with_the_store_down_spools_everything_and_the_next_start_replays_it(
    pg_server: PgServer, private_pg_url: str, upstream_proc: Upstream, start_driftcar: DriftcarFactory
) -> None:
    driftcar = await start_driftcar(upstream_proc.url, private_pg_url, {"shutdown_timeout": 10})
    await asyncio.to_thread(pg_server.stop)
    async with Load(f"{driftcar.url}/predict", "down", workers=8, max_requests=200) as load:
        await load.complete()
    assert len(load.answered) == 200, load.summary()
    # No waiting for the spool: whatever is still queued is spooled by the shutdown itself.
    t0 = time.perf_counter()
    assert await driftcar.sigterm(timeout=60) == 0
    stopped_in = time.perf_counter() - t0
    assert driftcar.spooled_lines() == 200
    assert not list(driftcar.spool_dir.glob("*.open"))  # sealed (fsync'd) at shutdown
    await asyncio.to_thread(pg_server.start)
    await driftcar.start()
    m = await driftcar.settled()
    assert (m.value(REPLAYED), m.value(WRITTEN)) == (200, 0)
    assert await driftcar.sigterm() == 0
    stored = await stored_ids(private_pg_url)
    assert max(Counter(stored).values()) == 1
    assert sorted(stored) == sorted(load.answered)
    print(f"\nSIGTERM with the store down: exited in {stopped_in:.2f}s")
