"""Webhook receiver down while alerts fire, `driftcar serve` SIGTERMed and started again meanwhile: once the
receiver comes up, each notification is delivered exactly once, in order, signed. Real processes throughout:
driftcar on a SQLite file, the receiver `tests.faults.webhook_receiver` recording every delivery it gets.

Windows (tests/alerts/windows.py): A shifted (the rule fires), B steady (it resolves) — judged by the first
process, the receiver's port closed; C shifted again (it fires again) — judged by the second process.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import socket
import sqlite3
import sys
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest

from sidecar.server import free_port
from tests.alerts.windows import T0, N, fill_three_windows, sidecar_config
from tests.faults.conftest import DriftcarFactory
from tests.faults.procs import ROOT, Driftcar
from tests.processes import wait_http

SECRET = "a-webhook-secret-of-some-length"
WAIT = 60.0  # generous: a slow, shared machine; nothing here is timed


class Receiver:
    """`python -m tests.faults.webhook_receiver` on a port reserved now and listened on from `start`.

    Until then a socket bound to the port (not listening) holds it: connections to it are refused, and no other
    process, nor an outgoing connection's ephemeral port, can take it meanwhile.
    """

    def __init__(self, tmp: Path) -> None:
        self._reserved: socket.socket | None = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._reserved.bind(("127.0.0.1", 0))
        self.port: int = self._reserved.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}/hook"
        self.secret_file = tmp / "hook-secret"
        self.secret_file.write_text(SECRET + "\n", encoding="utf-8")
        self.out = tmp / "deliveries.jsonl"
        self.proc: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        """Release the port, start the process on it and wait until it answers."""
        self.release()
        args = [str(self.port), str(self.secret_file), str(self.out)]
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "tests.faults.webhook_receiver", *args, cwd=ROOT
        )
        await wait_http(f"http://127.0.0.1:{self.port}/ready", self.proc, timeout=WAIT)

    def deliveries(self) -> list[dict[str, Any]]:
        """Every delivery received so far, in arrival order."""
        if not self.out.exists():
            return []
        return [orjson.loads(line) for line in self.out.read_bytes().splitlines()]

    def release(self) -> None:
        """Close the reserving socket (never connected: the port is free again at once)."""
        if self._reserved is not None:
            self._reserved.close()
            self._reserved = None

    async def stop(self) -> None:
        """SIGTERM, SIGKILL if it lingers."""
        if self.proc is None or self.proc.returncode is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(self.proc.wait(), 10)
        except TimeoutError:
            self.proc.kill()
            await self.proc.wait()


@pytest.fixture
async def receiver(tmp_path: Path) -> AsyncIterator[Receiver]:
    """The receiver, not started (stopped at teardown if the test started it)."""
    created = Receiver(tmp_path)
    yield created
    created.release()
    await created.stop()


async def _run(http: aiohttp.ClientSession, driftcar: Driftcar, start: float) -> None:
    params = {"from": str(start), "to": str(start + N)}
    async with http.post(f"{driftcar.admin}/api/monitors/m/run", params=params) as resp:
        doc = await resp.json()
        assert resp.status == 200 and doc["status"] == "ok", doc


async def _gate(http: aiohttp.ClientSession, driftcar: Driftcar) -> int:
    async with http.get(f"{driftcar.admin}/gate/m") as resp:
        return resp.status


async def _outbox(http: aiohttp.ClientSession, driftcar: Driftcar) -> dict[str, Any]:
    async with http.get(f"{driftcar.admin}/api/alerts/outbox") as resp:
        assert resp.status == 200
        doc: dict[str, Any] = await resp.json()
        return doc


async def _outbox_until(
    http: aiohttp.ClientSession, driftcar: Driftcar, what: str, done: Callable[[dict[str, Any]], bool]
) -> dict[str, Any]:
    """Poll the outbox until `done` holds for it; fail naming `what` after WAIT seconds."""
    doc: dict[str, Any] = {}
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(WAIT):
            while True:
                doc = await _outbox(http, driftcar)
                if done(doc):
                    return doc
                await asyncio.sleep(0.1)
    raise AssertionError(f"outbox not {what} within {WAIT:g}s: {doc.get('notifications')}")


def _attempts(outbox: dict[str, Any]) -> list[int]:
    return [n["attempts"] for n in outbox["notifications"]]


def _stored_outbox(db: Path) -> list[tuple[str, str, int]]:
    """(event id, status, attempts) of every outbox row, oldest first, read straight from the file."""
    with contextlib.closing(sqlite3.connect(db)) as conn:
        query = "SELECT event_id, status, attempts FROM alert_outbox ORDER BY id"
        return [(str(e), str(s), int(a)) for e, s, a in conn.execute(query)]


@pytest.mark.slow
async def test_receiver_down_and_driftcar_restarted_deliver_each_notification_once_in_order(
    tmp_path: Path, receiver: Receiver, start_driftcar: DriftcarFactory
) -> None:
    database_url = await fill_three_windows(tmp_path)
    db = tmp_path / "alerts.db"
    webhook = {"name": "ops", "url": receiver.url, "secret_file": str(receiver.secret_file), "timeout": 30}
    config = sidecar_config(database_url, webhook, max_backoff=0.5)
    del config["database_url"]  # the command line gives it
    upstream = f"http://127.0.0.1:{free_port()}"  # nothing is proxied here
    async with aiohttp.ClientSession() as http:
        driftcar = await start_driftcar(upstream, database_url, config)
        await _run(http, driftcar, T0)  # A: fires
        assert await _gate(http, driftcar) == 503
        await _run(http, driftcar, T0 + N)  # B: resolves
        assert await _gate(http, driftcar) == 200
        # The dispatcher has tried the closed port a few times; the second waits behind the first.
        outbox = await _outbox_until(
            http, driftcar, "2 pending, tried twice", lambda o: max(_attempts(o), default=0) >= 2
        )
        assert outbox["counts"] == {"pending": 2} and min(_attempts(outbox)) == 0
        assert await driftcar.sigterm() == 0
        assert "driftcar stopped" in driftcar.log()
        before_restart = _stored_outbox(db)
        assert [status for _, status, _ in before_restart] == ["pending", "pending"]

        await driftcar.start()  # same database, ports and config
        await _run(http, driftcar, T0 + 2 * N)  # C: fires again
        assert await _gate(http, driftcar) == 503
        assert (await _outbox(http, driftcar))["counts"] == {"pending": 3}
        started_at = time.monotonic()
        await receiver.start()
        outbox = await _outbox_until(
            http, driftcar, "3 delivered", lambda o: bool(o["counts"] == {"delivered": 3})
        )
        catch_up = time.monotonic() - started_at
        first_id = outbox["notifications"][-1]["id"]
        async with http.get(f"{driftcar.admin}/api/alerts/outbox/{first_id}/attempts") as resp:
            first_attempts = (await resp.json())["attempts"]
        assert await driftcar.sigterm() == 0
        await receiver.stop()
    # Read once nobody can send any more; the receiver writes each delivery down before it answers.
    deliveries = receiver.deliveries()

    in_order = [n["event_id"] for n in reversed(outbox["notifications"])]  # the API lists newest first
    assert in_order[:2] == [event_id for event_id, _, _ in before_restart]
    assert [d["key"] for d in deliveries] == in_order  # each once, in the order they were queued
    assert [d["error"] for d in deliveries] == [None] * 3 and all(d["signature_ok"] for d in deliveries)
    bodies = [orjson.loads(d["body"]) for d in deliveries]
    assert [b["id"] for b in bodies] == in_order
    assert [(b["status"], b["rule"]) for b in bodies] == [
        ("firing", "x0-drift"),
        ("resolved", "x0-drift"),
        ("firing", "x0-drift"),
    ]
    assert len({b["fingerprint"] for b in bodies}) == 1
    delivered_at = [n["delivered_at"] for n in reversed(outbox["notifications"])]
    assert delivered_at == sorted(delivered_at)
    assert [(e, s) for e, s, _ in _stored_outbox(db)] == [(e, "delivered") for e in in_order]
    # The first notification's delivery log spans both processes: refusals, then the one success.
    codes = [a["status_code"] for a in first_attempts]
    assert codes[-1] == 200 and codes[:-1] == [None] * (len(codes) - 1)
    assert len(codes) > before_restart[0][2] >= 2
    print(
        f"\nwebhook outage: first notification tried {before_restart[0][2]} times before the restart, "
        f"{len(codes)} in all; all 3 delivered {catch_up:.2f} s after starting the receiver (its start-up included)"
    )
