"""Soak: a real `driftcar serve` under sustained open-loop load, then SIGTERM; nothing answered may be missing.

Starts the benchmark upstream and `driftcar serve` (SQLite in a temporary directory, or a new database on the
PostgreSQL server `--database-url` names, dropped afterwards), sends `--rate` requests/s for `--seconds`, each
with its own request id and its latency measured from its scheduled send time, then SIGTERMs driftcar and counts
the records in the database. Prints records sent, answered and stored (exact, by request id), drops from
/metrics, p50/p99 latency and the driftcar process's peak RSS.
Run: `python -m bench.soak --seconds 60 --rate 500 [--database-url postgresql://postgres@127.0.0.1/test]`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import sqlite3
import sys
import tempfile
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import asyncpg
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy.engine import make_url

from bench.proxy import BODY, ROOT, UPSTREAM_CODE, free_port, wait_port

MAX_SECONDS = 3600
METRICS = (
    "driftcar_records_accepted_total",
    "driftcar_records_written_total",
    "driftcar_records_spooled_total",
    "driftcar_records_replayed_total",
    "driftcar_records_dropped_total",
    "driftcar_capture_exchanges_dropped_total",
)


@dataclass
class Run:
    """What the load generator saw."""

    sent: int = 0
    answered: list[str] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)
    latencies: list[float] = field(default_factory=list)
    late: list[float] = field(default_factory=list)
    """How late the generator itself started each request (it shares the cores with everything else)."""


def rss(pid: int, key: str = "VmRSS") -> int:
    """A memory figure of a process from /proc/PID/status, in bytes (0 once it has exited)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1]) * 1024
    except FileNotFoundError:
        pass
    return 0


async def sample_peak(pid: int, stop: asyncio.Event) -> int:
    """Peak RSS of `pid` while `stop` is not set (VmHWM where the kernel keeps it, else 10 Hz samples)."""
    peak = 0
    while not stop.is_set():
        peak = max(peak, rss(pid), rss(pid, "VmHWM"))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 0.1)
    return peak


async def open_loop(url: str, rate: int, seconds: float, prefix: str) -> Run:
    """Send `rate` requests/s for `seconds`, each at its scheduled time, bounded by `seconds` + 60 s overall."""
    run = Run()
    total = int(rate * seconds)
    timeout = aiohttp.ClientTimeout(total=30)
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=512), timeout=timeout) as http:

        async def one(i: int, due: float) -> None:
            rid = f"{prefix}-{i}"
            run.late.append(time.perf_counter() - due)
            headers = {"Content-Type": "application/json", "X-Request-ID": rid}
            try:
                async with http.post(url, data=BODY, headers=headers) as resp:
                    await resp.read()
                    if resp.status == 200:
                        run.answered.append(rid)
                    else:
                        run.errors[f"HTTP {resp.status}"] += 1
            except (aiohttp.ClientError, TimeoutError) as exc:
                run.errors[type(exc).__name__] += 1
            run.latencies.append(time.perf_counter() - due)

        tasks: set[asyncio.Task[None]] = set()
        start = time.perf_counter() + 0.1
        for i in range(total):
            due = start + i / rate
            delay = due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            task = asyncio.create_task(one(i, due))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
            run.sent += 1
        if tasks:
            await asyncio.wait_for(asyncio.gather(*tasks), timeout=60)
    return run


async def scrape(admin_port: int) -> dict[str, float]:
    """The writer's and capture's counters from /metrics."""
    async with aiohttp.ClientSession() as http, http.get(f"http://127.0.0.1:{admin_port}/metrics") as resp:
        text = await resp.text()
    values = {name: 0.0 for name in METRICS}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name in values:
                values[sample.name] += sample.value
    return values


def _dsn(url: str, database: str | None = None) -> str:
    parsed = make_url(url).set(drivername="postgresql")
    if database is not None:
        parsed = parsed.set(database=database)
    return parsed.render_as_string(hide_password=False)


async def create_database(base_url: str) -> tuple[str, str]:
    """A new database next to `base_url`'s; its name and SQLAlchemy URL."""
    name = f"driftcar_soak_{uuid.uuid4().hex[:12]}"
    conn = await asyncpg.connect(_dsn(base_url))
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return name, make_url(base_url).set(drivername="postgresql+asyncpg", database=name).render_as_string(False)


async def drop_database(base_url: str, name: str) -> None:
    """Drop the soak's database."""
    conn = await asyncpg.connect(_dsn(base_url))
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


async def stored_ids(database_url: str) -> list[str]:
    """Every stored record's request id, straight from the database."""
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        assert url.database is not None
        with contextlib.closing(sqlite3.connect(url.database)) as db:
            return [r[0] for r in db.execute("SELECT request_id FROM records")]
    conn = await asyncpg.connect(_dsn(database_url))
    try:
        return [r["request_id"] for r in await conn.fetch("SELECT request_id FROM records")]
    finally:
        await conn.close()


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))] * 1000 if ordered else float("nan")


async def spawn(args: list[str], port: int, env: dict[str, str] | None = None) -> asyncio.subprocess.Process:
    """Start a server process (its stderr passes through) and wait until it listens on `port`."""
    proc = await asyncio.create_subprocess_exec(*args, env=env, stdout=asyncio.subprocess.DEVNULL)
    try:
        await asyncio.to_thread(wait_port, port)
    except BaseException:
        await end(proc)
        raise
    return proc


async def end(proc: asyncio.subprocess.Process) -> None:
    """Kill the process unless it has exited, and reap it."""
    if proc.returncode is None:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        await proc.wait()


async def drive(
    args: argparse.Namespace, database_url: str, work: Path
) -> tuple[Run, dict[str, float], int, float, int, str]:
    """Upstream and driftcar up, the load, SIGTERM: the run, the counters, exit code, shutdown s, peak RSS."""
    up_port, port, admin = free_port(), free_port(), free_port()
    cmd = [
        str(ROOT / ".venv/bin/driftcar"), "--log-level", "WARNING", "serve", "--upstream",
        f"http://127.0.0.1:{up_port}", "--host", "127.0.0.1", "--port", str(port), "--admin-port", str(admin),
        "--database-url", database_url,
    ]  # fmt: skip
    env = {**os.environ, "DRIFTCAR_CAPTURE__SPOOL_DIR": str(work / "spool")}
    prefix = f"soak-{uuid.uuid4().hex[:8]}"
    upstream = await spawn([sys.executable, "-c", UPSTREAM_CODE, str(up_port)], up_port)
    try:
        driftcar = await spawn(cmd, admin, env)
        try:
            stop = asyncio.Event()
            sampler = asyncio.create_task(sample_peak(driftcar.pid, stop))
            run = await open_loop(f"http://127.0.0.1:{port}/predict", args.rate, args.seconds, prefix)
            counters = await scrape(admin)
            t0 = time.perf_counter()
            driftcar.send_signal(signal.SIGTERM)
            code = await asyncio.wait_for(driftcar.wait(), 120)
            shutdown = time.perf_counter() - t0
            stop.set()
            peak = await sampler
        finally:
            await end(driftcar)
    finally:
        await end(upstream)
    return run, counters, code, shutdown, peak, prefix


async def soak(args: argparse.Namespace, work: Path) -> int:
    """Run the soak and print its table; 1 when a record is missing or duplicated."""
    database_url, created = f"sqlite+aiosqlite:///{work / 'driftcar.db'}", None
    if args.database_url:
        created, database_url = await create_database(args.database_url)
    try:
        run, counters, code, shutdown, peak, prefix = await drive(args, database_url, work)
        stored = await stored_ids(database_url)
    finally:
        if created is not None:
            await drop_database(args.database_url, created)
    counts = Counter(stored)
    missing = len(set(run.answered) - counts.keys())
    duplicated = sum(n - 1 for n in counts.values() if n > 1)
    backend = make_url(database_url).get_backend_name()
    print(
        f"\nsoak: {args.seconds:g} s at {args.rate} req/s open loop, store {backend}, {os.cpu_count()} cores; "
        f"driftcar exit code {code} after SIGTERM, shutdown {shutdown:.2f} s"
    )
    print(
        f"{'sent':>7} {'answered':>9} {'errors':>7} {'stored':>7} {'missing':>8} {'dup':>4} {'rec drop':>9}"
        f" {'exch drop':>9} {'spooled':>8} {'p50 ms':>7} {'p99 ms':>7} {'max ms':>8} {'gen p99 late ms':>16}"
        f" {'peak RSS MiB':>12}"
    )
    print(
        f"{run.sent:7d} {len(run.answered):9d} {sum(run.errors.values()):7d} {len(stored):7d} {missing:8d}"
        f" {duplicated:4d} {counters['driftcar_records_dropped_total']:9.0f}"
        f" {counters['driftcar_capture_exchanges_dropped_total']:9.0f}"
        f" {counters['driftcar_records_spooled_total']:8.0f} {_pct(run.latencies, 0.5):7.2f}"
        f" {_pct(run.latencies, 0.99):7.2f} {_pct(run.latencies, 1.0):8.1f} {_pct(run.late, 0.99):16.2f}"
        f" {peak / 2**20:12.0f}"
    )
    if run.errors:
        print(f"errors: {dict(run.errors)}")
    drops = counters["driftcar_records_dropped_total"] + counters["driftcar_capture_exchanges_dropped_total"]
    foreign = len(counts.keys() - {f"{prefix}-{i}" for i in range(run.sent)})
    ok = code == 0 and duplicated == foreign == 0 and missing <= drops
    print("every answered request stored once (or counted as dropped): " + ("yes" if ok else "NO"))
    return 0 if ok else 1


def main() -> int:
    """Parse options, run the soak in a temporary directory."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=60.0, help=f"load duration (at most {MAX_SECONDS})")
    parser.add_argument("--rate", type=int, default=500, help="requests per second, open loop")
    parser.add_argument(
        "--database-url", help="PostgreSQL server to create the soak's database on (default: SQLite)"
    )
    args = parser.parse_args()
    if not 0 < args.seconds <= MAX_SECONDS or args.rate < 1:
        parser.error(f"need 0 < --seconds <= {MAX_SECONDS} and --rate >= 1")
    with tempfile.TemporaryDirectory(prefix="driftcar-soak-") as work:
        return asyncio.run(soak(args, Path(work)))


if __name__ == "__main__":
    raise SystemExit(main())
