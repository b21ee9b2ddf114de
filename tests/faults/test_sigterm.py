"""SIGTERM to a real `driftcar serve` under steady load: in-flight requests finish, every answer is stored once."""

from __future__ import annotations

import signal
from collections import Counter

import pytest

from tests.faults.conftest import DriftcarFactory
from tests.faults.load import Load
from tests.faults.procs import Upstream, stored_ids


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
    assert "driftcar stopped" in driftcar.log()
