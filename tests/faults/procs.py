"""Real processes for fault tests: the upstream and `driftcar serve`, their metrics, memory and stored records."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sqlite3
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import yaml
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy.engine import make_url

from sidecar.server import free_port
from tests.processes import DRIFTCAR, wait_http
from tests.sidecar.scrape import Scrape

ROOT = Path(__file__).resolve().parents[2]
# Counters as exposed (a CounterMetricFamily gets `_total`) and the in-memory gauges.
ACCEPTED = "driftcar_records_accepted_total"
WRITTEN = "driftcar_records_written_total"
SPOOLED = "driftcar_records_spooled_total"
REPLAYED = "driftcar_records_replayed_total"
DROPPED = "driftcar_records_dropped_total"
REJECTED = "driftcar_records_rejected_total"
EXCHANGES_DROPPED = "driftcar_capture_exchanges_dropped_total"
CAPTURE_QUEUE = "driftcar_capture_queue_exchanges"
WRITER_QUEUE = "driftcar_writer_queue_records"
SPOOL_BYTES = "driftcar_spool_bytes"


async def _stop(proc: asyncio.subprocess.Process, sig: int, timeout: float) -> int:
    """Send `sig` unless it has exited; wait for the exit (SIGKILL after `timeout`); return the exit code."""
    if proc.returncode is None:
        proc.send_signal(sig)
    try:
        return await asyncio.wait_for(proc.wait(), timeout)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise AssertionError(f"process {proc.pid} did not exit within {timeout}s of signal {sig}") from None


class Upstream:
    """The model server (`tests.faults.upstream_app`) in its own process, on a fixed port across restarts."""

    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        """Start the process and wait until it answers."""
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "tests.faults.upstream_app", str(self.port), cwd=ROOT
        )
        await wait_http(f"{self.url}/seen", self.proc, timeout=30)

    async def seen(self) -> list[str]:
        """Request ids `/predict` received since the process started."""
        async with aiohttp.ClientSession() as http, http.get(f"{self.url}/seen") as resp:
            ids: list[str] = await resp.json()
            return ids

    async def kill(self) -> None:
        """SIGKILL: the model server dies with its connections open."""
        if self.proc is not None:
            await _stop(self.proc, signal.SIGKILL, 10)

    def pause(self) -> None:
        """SIGSTOP: the kernel still accepts connections, nobody answers them."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        """SIGCONT after `pause`."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGCONT)


class Driftcar:
    """`python -m sidecar.cli serve` as a child process; stderr goes to a file the test can read."""

    def __init__(
        self, tmp: Path, upstream: str, database_url: str, config: dict[str, Any] | None = None
    ) -> None:
        self.tmp = tmp
        self.upstream = upstream
        self.database_url = database_url
        config = config or {}
        capture = {"spool_dir": str(tmp / "spool"), **config.get("capture", {})}
        self.config: dict[str, Any] = {**config, "capture": capture}
        self.port = free_port()
        self.admin_port = free_port()
        self.proc: asyncio.subprocess.Process | None = None
        self.starts = 0

    @property
    def url(self) -> str:
        """The proxy's base URL."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def admin(self) -> str:
        """The admin server's base URL."""
        return f"http://127.0.0.1:{self.admin_port}"

    @property
    def stderr_path(self) -> Path:
        """Where the current (last started) process logs."""
        return self.tmp / f"driftcar-{self.starts}.log"

    async def start(self) -> None:
        """Start a process (same ports, database and spool as before) and wait until `/healthz` answers."""
        self.starts += 1
        config = self.tmp / "driftcar.yaml"
        config.write_text(yaml.safe_dump(self.config), encoding="utf-8")
        args = [
            *DRIFTCAR, "serve", "--config", str(config), "--upstream", self.upstream, "--host", "127.0.0.1",
            "--port", str(self.port), "--admin-port", str(self.admin_port), "--database-url", self.database_url,
        ]  # fmt: skip
        env = {k: v for k, v in os.environ.items() if not k.startswith("DRIFTCAR_")}
        with self.stderr_path.open("wb") as err:
            self.proc = await asyncio.create_subprocess_exec(*args, stderr=err, cwd=ROOT, env=env)
        await wait_http(f"{self.admin}/healthz", self.proc, timeout=60)

    def log(self) -> str:
        """What the last process wrote to stderr."""
        return self.stderr_path.read_text(encoding="utf-8", errors="replace")

    async def sigterm(self, timeout: float = 60.0) -> int:
        """Graceful stop; the exit code."""
        assert self.proc is not None
        return await _stop(self.proc, signal.SIGTERM, timeout)

    async def kill9(self) -> None:
        """SIGKILL: whatever was only in memory is gone."""
        assert self.proc is not None
        await _stop(self.proc, signal.SIGKILL, 10)

    async def close(self) -> None:
        """Teardown: kill the process if a test left it running."""
        if self.proc is not None and self.proc.returncode is None:
            await self.kill9()

    @property
    def spool_dir(self) -> Path:
        """The spool directory (the same for every start)."""
        return Path(self.config["capture"]["spool_dir"])

    def spooled_lines(self) -> int:
        """Records in the spool directory's segment files (open or sealed), as the disk holds them now."""
        segments = [*self.spool_dir.glob("*.open"), *self.spool_dir.glob("*.seg")]
        return sum(path.read_bytes().count(b"\n") for path in segments)

    def rss_bytes(self) -> int:
        """Resident memory of the process now (VmRSS from /proc)."""
        assert self.proc is not None
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
        raise AssertionError("no VmRSS line")

    async def scrape(self) -> Scrape:
        """GET /metrics, parsed."""
        async with aiohttp.ClientSession() as http, http.get(f"{self.admin}/metrics") as resp:
            assert resp.status == 200
            text = await resp.text()
        families = list(text_string_to_metric_families(text))
        return Scrape(frozenset(f.name for f in families), tuple(s for f in families for s in f.samples))

    async def scrape_until(self, name: str, at_least: float, timeout: float = 30.0) -> Scrape:
        """Scrape until the sample `name` reaches `at_least`; fail with the last value after `timeout`."""
        last = 0.0
        try:
            async with asyncio.timeout(timeout):
                while True:
                    m = await self.scrape()
                    last = m.value(name)
                    if last >= at_least:
                        return m
                    await asyncio.sleep(0.05)
        except TimeoutError:
            raise AssertionError(f"{name} = {last:g} after {timeout}s, expected >= {at_least:g}") from None

    async def settled(self, timeout: float = 60.0) -> Scrape:
        """Scrape until nothing is in memory or the spool and every accepted record is written or replayed."""
        last: Scrape | None = None
        try:
            async with asyncio.timeout(timeout):
                while True:
                    last = m = await self.scrape()
                    done = m.value(WRITTEN) + m.value(REPLAYED) + m.value(REJECTED)
                    idle = m.value(CAPTURE_QUEUE) == m.value(WRITER_QUEUE) == m.value(SPOOL_BYTES) == 0
                    if idle and done >= m.value(ACCEPTED):
                        return m
                    await asyncio.sleep(0.1)
        except TimeoutError:
            values = {n: last.value(n) for n in (ACCEPTED, WRITTEN, SPOOLED, REPLAYED, SPOOL_BYTES)} if last else {}
            raise AssertionError(f"records not settled within {timeout}s: {values}") from None


def predict_body(i: int) -> dict[str, float]:
    """A small FastAPI-style request body."""
    return {"feature1": 6.0 if i % 2 else 4.0, "feature2": float(i)}


async def stored_ids(database_url: str, where: str = "") -> list[str]:
    """Request ids of the stored records, read straight from the database (`where`: an SQL condition)."""
    return [row[0] for row in await stored_rows(database_url, ["request_id"], where)]


async def stored_rows(database_url: str, columns: Sequence[str], where: str = "") -> list[tuple[Any, ...]]:
    """Selected columns of every stored record (SQLite or PostgreSQL), optionally filtered by `where`."""
    select = f"SELECT {', '.join(columns)} FROM records" + (f" WHERE {where}" if where else "")
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        assert url.database is not None
        with contextlib.closing(sqlite3.connect(url.database)) as db:
            return [tuple(r) for r in db.execute(select)]
    conn = await asyncpg.connect(url.set(drivername="postgresql").render_as_string(hide_password=False))
    try:
        return [tuple(r) for r in await conn.fetch(select)]
    finally:
        await conn.close()
