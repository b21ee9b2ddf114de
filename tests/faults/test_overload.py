"""Overload: the store stalls (a transaction holds `LOCK TABLE records IN ACCESS EXCLUSIVE MODE`) under load with
small queue and spool caps. Memory stays bounded, every request is answered, every lost record is counted."""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter

import asyncpg
import pytest
from sqlalchemy.engine import make_url

from tests.faults.conftest import DriftcarFactory
from tests.faults.load import Load
from tests.faults.procs import DROPPED, EXCHANGES_DROPPED, REJECTED, WRITTEN, Driftcar, Upstream, stored_ids

REQUESTS = 2000
PAD = 32_000
"""Each request carries ~32 kB: unbounded queues would hold the whole ~64 MB of bodies, and more as records."""
CAPS = {
    "queue_max_exchanges": 8,
    "queue_max_bytes": 256 << 10,
    "writer_max_records": 64,
    "writer_max_bytes": 2 << 20,
    "batch_size": 32,
    "flush_interval": 0.05,
    "spool_max_bytes": 1 << 20,
}
RSS_CAP = 48 << 20
"""Documented in docs/reliability.md: with these caps the process grows by less than this above its idle size."""


def _body(i: int) -> dict[str, object]:
    return {"feature1": 6.0, "feature2": float(i), "note": "x" * PAD}


async def _peak_rss(driftcar: Driftcar, stop: asyncio.Event) -> int:
    peak = 0
    while not stop.is_set():
        peak = max(peak, driftcar.rss_bytes())
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 0.02)
    return peak


@pytest.mark.slow
async def test_stalled_store_under_load_bounds_memory_answers_everything_and_counts_every_drop(
    private_pg_url: str, upstream_proc: Upstream, start_driftcar: DriftcarFactory
) -> None:
    driftcar = await start_driftcar(upstream_proc.url, private_pg_url, {"capture": CAPS})
    async with Load(f"{driftcar.url}/predict", "warm", workers=4, max_requests=50, body=_body) as warm:
        await warm.complete()
    await driftcar.scrape_until(WRITTEN, 50)
    idle_rss = driftcar.rss_bytes()
    dsn = make_url(private_pg_url).set(drivername="postgresql").render_as_string(hide_password=False)
    locker = await asyncpg.connect(dsn)
    try:
        lock = locker.transaction()
        await lock.start()
        await locker.execute("LOCK TABLE records IN ACCESS EXCLUSIVE MODE")
        stop = asyncio.Event()
        sampler = asyncio.create_task(_peak_rss(driftcar, stop))
        async with Load(
            f"{driftcar.url}/predict", "over", workers=16, max_requests=REQUESTS, body=_body
        ) as load:
            await load.complete()
        stop.set()
        peak_rss = await sampler
        await lock.rollback()  # the store is back
    finally:
        await locker.close()
    assert load.bad == {} and load.refused == {}, load.summary()  # the request path never waited on the store
    assert len(load.answered) == REQUESTS
    m = await driftcar.settled()
    dropped = m.value(DROPPED) + m.value(EXCHANGES_DROPPED)
    assert dropped > 0  # the queues and the spool overflowed while the store stalled
    assert m.value(REJECTED) == 0
    assert await driftcar.sigterm() == 0
    stored = await stored_ids(private_pg_url)
    assert max(Counter(stored).values()) == 1
    assert set(stored) <= set(warm.answered + load.answered)
    assert len(stored) + dropped == len(warm.answered) + REQUESTS  # sent == stored + dropped, exactly
    log = driftcar.log()
    assert "records (queue and spool full)" in log or m.value(DROPPED) == 0
    assert "capture queue full" in log or m.value(EXCHANGES_DROPPED) == 0
    growth = peak_rss - idle_rss
    print(
        f"\noverload: sent {REQUESTS + 50}, stored {len(stored)}, records dropped {m.value(DROPPED):g}, "
        f"exchanges dropped {m.value(EXCHANGES_DROPPED):g}; RSS idle {idle_rss / 2**20:.0f} MiB, "
        f"peak {peak_rss / 2**20:.0f} MiB (+{growth / 2**20:.1f} MiB, cap +{RSS_CAP >> 20} MiB)"
    )
    assert growth < RSS_CAP
