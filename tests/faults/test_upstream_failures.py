"""The model server as a separate process, killed (SIGKILL), restarted, frozen (SIGSTOP) and hanging: driftcar
answers 502/504 within its configured timeouts, recovers without a restart, and records every failed call."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import aiohttp
import pytest

from tests.faults.conftest import DriftcarFactory
from tests.faults.procs import Driftcar, Upstream, predict_body, stored_rows

TIMEOUTS = {"connect": 1.0, "read": 1.5}
# Far above every configured timeout: a request that got here was never cut off by driftcar.
CLIENT_TIMEOUT = aiohttp.ClientTimeout(total=30)


async def _send(
    http: aiohttp.ClientSession, driftcar: Driftcar, prefix: str, count: int, path: str = "/predict"
) -> list[tuple[str, int, str, float]]:
    """`count` concurrent requests; (request id, status, error message or "", seconds) for each."""

    async def one(i: int) -> tuple[str, int, str, float]:
        rid = f"{prefix}-{i}"
        t0 = time.perf_counter()
        async with http.post(
            driftcar.url + path, json=predict_body(i), headers={"X-Request-ID": rid}, timeout=CLIENT_TIMEOUT
        ) as resp:
            doc = await resp.json()
            assert resp.headers["X-Request-ID"] == rid
        return rid, resp.status, doc.get("error", ""), time.perf_counter() - t0

    return list(await asyncio.gather(*(one(i) for i in range(count))))


@pytest.mark.slow
async def test_upstream_killed_restarted_frozen_and_hanging(
    tmp_path: Path, upstream_proc: Upstream, start_driftcar: DriftcarFactory
) -> None:
    database_url = f"sqlite+aiosqlite:///{tmp_path / 'driftcar.db'}"
    driftcar = await start_driftcar(upstream_proc.url, database_url, {"timeouts": TIMEOUTS})
    assert driftcar.proc is not None
    pid = driftcar.proc.pid
    async with aiohttp.ClientSession() as http:
        ok = await _send(http, driftcar, "before", 20)
        await upstream_proc.kill()  # its keep-alive connections to driftcar die with it
        dead = await _send(http, driftcar, "dead", 10)
        await upstream_proc.start()  # a new process on the same port
        back = await _send(http, driftcar, "back", 10)
        upstream_proc.pause()  # connections are accepted by the kernel; nobody answers
        try:
            frozen = await _send(http, driftcar, "frozen", 5)
        finally:
            upstream_proc.resume()
        thawed = await _send(http, driftcar, "thawed", 10)
        hung = await _send(http, driftcar, "hung", 3, path="/hang")
        after = await _send(http, driftcar, "after", 10)
    assert driftcar.proc.pid == pid and driftcar.proc.returncode is None  # never restarted
    for group in (ok, back, thawed, after):
        assert [status for _, status, _, _ in group] == [200] * len(group)
    assert [(status, error.startswith("upstream unavailable")) for _, status, error, _ in dead] == [(502, True)] * 10
    for group in (frozen, hung):
        assert [(status, "timed out (read 1.5s)" in error) for _, status, error, _ in group] == [
            (504, True)
        ] * len(group)
    assert await driftcar.sigterm() == 0
    # Every request is a record; the failed ones carry the proxy's error and the status the client saw.
    rows = {rid: (status, error) for rid, status, error in await stored_rows(database_url, ["request_id", "status", "error"])}
    expected = {rid: (status, error or None) for group in (ok, dead, back, frozen, thawed, hung, after) for rid, status, error, _ in group}
    assert rows == expected
    print(
        f"\n502 after the kill: max {max(s for *_, s in dead):.3f}s; 504 frozen: max {max(s for *_, s in frozen):.3f}s, "
        f"hanging: max {max(s for *_, s in hung):.3f}s (read timeout {TIMEOUTS['read']}s)"
    )
