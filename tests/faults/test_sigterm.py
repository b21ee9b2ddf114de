"""SIGTERM (twice) to a real `driftcar serve` under steady load: in-flight requests finish, every answer is stored
once; requests slower than `shutdown_timeout` are cut, and still recorded."""

from __future__ import annotations

import asyncio
import signal
from collections import Counter
from pathlib import Path

import pytest

from sidecar.capture.base import CUT_AT_SHUTDOWN
from tests.faults.conftest import DriftcarFactory
from tests.faults.load import Load
from tests.faults.procs import Upstream, stored_ids, stored_rows


@pytest.mark.slow
async def test_sigterm_drains_in_flight_requests_and_stores_each_answered_record_once(
    database_url: str, upstream_proc: Upstream, start_driftcar: DriftcarFactory
) -> None:
    driftcar = await start_driftcar(upstream_proc.url, database_url, {"shutdown_timeout": 30})
    # The model takes 200 ms: at any moment most of the 16 clients' requests are inside the upstream.
    async with Load(
        f"{driftcar.url}/predict", "term", workers=16, headers={"X-Delay": "0.2"}, stop_on_refusal=True
    ) as load:
        await load.until_answered(150)
        answered_at_signal, in_flight_at_signal = len(load.answered), load.in_flight
        assert driftcar.proc is not None
        driftcar.proc.send_signal(signal.SIGTERM)
        await asyncio.sleep(0.05)
        # A second SIGTERM while draining (a supervisor repeating itself) must not cut the drain short.
        assert await driftcar.sigterm(timeout=60) == 0
        await load.finish()
        seen = await upstream_proc.seen()
    assert load.bad == {}, load.summary()
    assert in_flight_at_signal > 0 and len(load.answered) > answered_at_signal, load.summary()
    # Every request that reached the model got its complete answer; the others were refused, never half-served.
    assert sorted(seen) == sorted(load.answered)
    assert set(load.refused).isdisjoint(seen)
    # Every answered request's record is in the store, once; nothing else is.
    stored = await stored_ids(database_url)
    assert max(Counter(stored).values()) == 1
    assert sorted(stored) == sorted(load.answered)
    assert "SIGTERM: already shutting down" in driftcar.log() and "driftcar stopped" in driftcar.log()


@pytest.mark.slow
async def test_sigterm_cuts_requests_slower_than_shutdown_timeout_and_records_them(
    tmp_path: Path, upstream_proc: Upstream, start_driftcar: DriftcarFactory
) -> None:
    database_url = f"sqlite+aiosqlite:///{tmp_path / 'driftcar.db'}"
    driftcar = await start_driftcar(upstream_proc.url, database_url, {"shutdown_timeout": 1.0})
    # The model takes 20 s; driftcar waits 1 s after SIGTERM, then cuts the connections.
    async with Load(
        f"{driftcar.url}/predict", "slow", workers=3, max_requests=3, headers={"X-Delay": "20"}
    ) as load:
        async with asyncio.timeout(30):
            while len(await upstream_proc.seen()) < 3:
                await asyncio.sleep(0.05)
        assert await driftcar.sigterm(timeout=15) == 0
        await load.complete(timeout=15)
    assert load.answered == [] and load.bad == {} and sorted(load.refused) == ["slow-0", "slow-1", "slow-2"]
    rows = await stored_rows(database_url, ["request_id", "status", "error"])
    # Recorded as cut by driftcar, not as if the clients had gone away.
    assert sorted(rows) == [(f"slow-{i}", 502, CUT_AT_SHUTDOWN) for i in range(3)]
