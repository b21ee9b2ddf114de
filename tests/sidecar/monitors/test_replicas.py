"""Two `driftcar serve` processes on one PostgreSQL database: each scheduled window is run exactly once.

Both replicas fire the same monitor every 2 s (the schedule is aligned to the clock, so they compute the same
window); the database's unique (monitor, window) claim gives it to one. Their logs prove the race happened:
for every window both were up for, one replica logged the claim and the other "already claimed".
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import time
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
import yaml
from aiohttp.test_utils import TestServer

from sidecar.server import free_port
from storage.engine import create_engine
from storage.migrate import upgrade
from storage.records import Record
from storage.references import ReferenceStore
from storage.runs import RunStore
from storage.store import RecordStore
from tests.processes import DRIFTCAR, wait_http
from tests.storage.helpers import predict_records

MONITOR = "replicated"
CLAIMED = re.compile(
    r"monitor replicated: run (?P<run>\d+) \(schedule\) claimed window \[(?P<start>[\d.]+), (?P<end>[\d.]+)\)"
)
FINISHED = re.compile(r"monitor replicated: run (\d+) ok")
LOST = re.compile(r"monitor replicated: window \[(?P<start>[\d.]+), (?P<end>[\d.]+)\) is already claimed")


def _records(n: int, now: float) -> list[Record]:
    rng = np.random.default_rng(3)
    rows = [
        (
            {"x0": float(rng.normal()), "x1": float(rng.normal(0.5)), "c": str(rng.choice(["a", "b"]))},
            int(rng.integers(0, 2)),
        )
        for _ in range(n)
    ]
    return predict_records(now - 600, rows, id_prefix="r", every=590 / n)


async def _fill(url: str) -> None:
    engine = create_engine(url)
    try:
        await upgrade(engine)
        await RecordStore(engine).insert(_records(400, time.time()))
        rng = np.random.default_rng(4)
        reference = pd.DataFrame(
            {
                "x0": rng.normal(size=400),
                "x1": rng.normal(0.5, size=400),
                "c": rng.choice(["a", "b"], 400),
                "prediction": rng.integers(0, 2, 400),
            }
        )
        await ReferenceStore(engine).put_reference(MONITOR, reference, "upload")
    finally:
        await engine.dispose()


async def _runs(url: str) -> list[tuple[int, float, float, str, str]]:
    engine = create_engine(url)
    try:
        runs = await RunStore(engine).list_runs(MONITOR, limit=500)
    finally:
        await engine.dispose()
    return [(r.id, r.window_start, r.window_end, r.status, r.replica) for r in runs]


async def test_two_replicas_run_each_scheduled_window_once(
    tmp_path: Path, upstream: TestServer, postgres_url: str
) -> None:
    await _fill(postgres_url)
    config = tmp_path / "driftcar.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "upstream": str(upstream.make_url("")).rstrip("/"),
                "host": "127.0.0.1",
                "database_url": postgres_url,
                "monitors": [
                    {
                        "name": MONITOR,
                        "window": {"minutes": 15},
                        "schedule": {"every": 5},
                        "min_rows": 50,
                    }
                ],
            }
        ),
        encoding="utf-8",
    )
    procs = []
    for name in ("replica-a", "replica-b"):
        port, admin = free_port(), free_port()
        env = {
            **os.environ,
            "DRIFTCAR_REPLICA": name,
            "DRIFTCAR_CAPTURE__SPOOL_DIR": str(tmp_path / f"spool-{name}"),
        }
        proc = await asyncio.create_subprocess_exec(
            *DRIFTCAR,
            "serve",
            "--config",
            str(config),
            "--port",
            str(port),
            "--admin-port",
            str(admin),
            env=env,
            stderr=asyncio.subprocess.PIPE,
            cwd=tmp_path,
        )
        procs.append((name, proc, admin))
    lines: dict[str, list[str]] = {name: [] for name, _, _ in procs}

    async def collect(name: str, proc: asyncio.subprocess.Process) -> None:
        assert proc.stderr is not None
        async for line in proc.stderr:
            lines[name].append(line.decode(errors="replace"))

    readers = [asyncio.create_task(collect(name, proc)) for name, proc, _ in procs]
    try:
        for _, proc, admin in procs:
            await wait_http(f"http://127.0.0.1:{admin}/healthz", proc)
        # Until two windows were fought over: one replica claimed each, the other was turned away.
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and len(_contested(lines)) < 2:
            await asyncio.sleep(0.5)
    finally:
        for _, proc, _ in procs:
            if proc.returncode is None:
                proc.send_signal(signal.SIGTERM)
        for (name, proc, _), reader in zip(procs, readers, strict=True):
            await asyncio.wait_for(proc.wait(), timeout=60)
            await reader
            assert proc.returncode == 0, "".join(lines[name])[-3000:]

    contested = _contested(lines)
    assert len(contested) >= 2, "".join(lines["replica-a"])[-3000:]
    runs = await _runs(postgres_url)
    windows = Counter((start, end) for _, start, end, _, _ in runs)
    assert all(count == 1 for count in windows.values()), windows
    by_window = {(start, end): (status, replica) for _, start, end, status, replica in runs}
    won = {name: _windows(CLAIMED, lines[name]) for name in lines}
    # No window was claimed by both replicas, and every claim is the stored run's replica.
    assert not won["replica-a"] & won["replica-b"]
    for name, claimed in won.items():
        assert all(by_window[w][1] == name for w in claimed)
    for window, winner in contested.items():
        assert by_window[window] == ("ok", winner)


def _windows(pattern: re.Pattern[str], lines: list[str]) -> set[tuple[float, float]]:
    return {(float(m.group("start")), float(m.group("end"))) for line in lines if (m := pattern.search(line))}


def _contested(lines: dict[str, list[str]]) -> dict[tuple[float, float], str]:
    """Windows one replica claimed and finished while the other was turned away, by winner."""
    out = {}
    for name, other in (("replica-a", "replica-b"), ("replica-b", "replica-a")):
        done = {m.group(1) for line in lines[name] if (m := FINISHED.search(line))}
        claimed = [m for line in lines[name] if (m := CLAIMED.search(line))]
        finished = {
            (float(m.group("start")), float(m.group("end"))) for m in claimed if m.group("run") in done
        }
        for window in finished & _windows(LOST, lines[other]):
            out[window] = name
    return out
