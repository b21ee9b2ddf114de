"""`driftcar serve` as a real process: configuration errors, and SIGTERM under load loses nothing."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
from pathlib import Path

import aiohttp
from aiohttp.test_utils import TestServer

from sidecar.server import free_port
from tests.processes import DRIFTCAR, wait_http


async def test_unknown_config_key_is_rejected_before_starting(tmp_path: Path) -> None:
    config = tmp_path / "bad.yaml"
    config.write_text("upstream: http://127.0.0.1:1\ncapture:\n  max_body_byte: 10\n", encoding="utf-8")
    proc = await asyncio.create_subprocess_exec(
        *DRIFTCAR, "serve", "--config", str(config), stderr=asyncio.subprocess.PIPE, cwd=tmp_path
    )
    _, err = await asyncio.wait_for(proc.communicate(), timeout=30)
    assert proc.returncode == 2
    assert b"capture.max_body_byte: unknown key" in err


async def test_sigterm_under_load_completes_requests_and_stores_every_record(
    tmp_path: Path, upstream: TestServer
) -> None:
    port, admin = free_port(), free_port()
    db = tmp_path / "driftcar.db"
    env = {**os.environ, "DRIFTCAR_CAPTURE__SPOOL_DIR": str(tmp_path / "spool")}
    proc = await asyncio.create_subprocess_exec(
        *DRIFTCAR,
        "serve",
        "--upstream",
        str(upstream.make_url("")).rstrip("/"),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--admin-port",
        str(admin),
        "--database-url",
        f"sqlite:///{db}",
        env=env,
        cwd=tmp_path,
    )
    ok = 0
    refused = 0
    try:
        await wait_http(f"http://127.0.0.1:{admin}/healthz", proc)
        stop_sending = asyncio.Event()

        async def client(http: aiohttp.ClientSession, n: int) -> None:
            nonlocal ok, refused
            for i in range(400):
                if stop_sending.is_set():
                    return
                try:
                    async with http.post(
                        f"http://127.0.0.1:{port}/predict", json={"feature1": 6.0, "feature2": float(i)}
                    ) as resp:
                        assert resp.status == 200, await resp.text()
                        await resp.read()
                        ok += 1
                except aiohttp.ClientConnectionError:
                    refused += 1  # after SIGTERM the port is closed: not accepted, so not counted
                    return

        async with aiohttp.ClientSession() as http:
            clients = [asyncio.create_task(client(http, n)) for n in range(8)]
            while ok < 300:
                await asyncio.sleep(0.01)
            proc.send_signal(signal.SIGTERM)
            await asyncio.sleep(0.5)
            stop_sending.set()
            await asyncio.gather(*clients)
        assert await asyncio.wait_for(proc.wait(), timeout=30) == 0
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    stored = sqlite3.connect(db).execute("select count(*) from records where error is null").fetchone()[0]
    assert ok >= 300
    assert stored == ok
