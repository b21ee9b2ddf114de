"""Report benchmark: a monitor's run end to end from PostgreSQL, and the proxy's latency during it.

Default mode (end to end): a fresh PostgreSQL database gets `--rows` captured records of one model (12
features: 10 numeric, `segment`, the protected `sex`; a binary prediction; labels for `--label-share` of them
through `FeedbackStore`; the second half shifted) and a stored reference of `--reference-rows` rows. A real
`driftcar serve` process (proxy + admin, one monitor with its schedule disabled; instrumented, see
TRACED_DRIFTCAR) runs in front of a trivial upstream. After a small warm-up run, an open-loop generator
measures the proxy's latency at `--rate` req/s while idle, then again while `POST /api/monitors/{name}/run`
computes the report over the whole window. Prints the run's time split into load / statistics / HTML / the
rest (from driftcar's log), peak RSS of driftcar and of its report worker, the latency ratios, and where
driftcar's event loop stalled. Then, unless `--no-probe`, times the pickling of the frames the run ships
to its worker. Targets (printed, never asserted): the run <= 30 s for 1M records; p99 during <= idle + 20%.
Everything shares the machine's cores; the figures say how busy it was.

`--frames`: the former benchmark, `run_report` on in-memory frames (no database, no proxy).
Run from the repository root: `.venv/bin/python -m bench.report [--quick] [--rows N] [--rate R]`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import os
import re
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from multiprocessing.reduction import ForkingPickler
from pathlib import Path
from typing import TYPE_CHECKING, Any

import aiohttp
import numpy as np
import pandas as pd
import yaml
from sqlalchemy import text

from bench.ingest import DEFAULT_PG_URL, database
from bench.proxy import BODY, UPSTREAM_CODE, children, cpu_seconds, free_port, process, wait_port
from detectors.fairness import FairnessOptions
from sidecar.monitors.config import MonitorConfig
from sidecar.reports import ReportContext, ReportSpec, create_report_pool, render_in_pool, run_report
from sidecar.reports.pool import evidently_loaded, preload_evidently
from storage.engine import create_engine
from storage.feedback import FeedbackItem, FeedbackStore
from storage.migrate import upgrade
from storage.records import Record
from storage.references import ReferenceStore
from storage.store import RecordStore
from storage.windows import load_window

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncEngine

ROOT = Path(__file__).resolve().parent.parent
NUMERIC = [f"x{i}" for i in range(10)]
FEATURES = [*NUMERIC, "segment", "sex"]
TARGET_SECONDS = 30.0
TARGET_P99_RATIO = 1.2
MONITOR, MODEL = "loans", "loan-approval"
T0 = 1_764_000_000.0
RECORDS_PER_SECOND = 100.0
BATCH = 50_000
SHIFT = 0.3
_RUN_LOG = re.compile(
    r"run (\d+) ok: (\d+) rows, \d+ flag\(s\), load ([\d.]+) s, statistics ([\d.]+) s, html ([\d.]+) s"
)
_TRACE_LINE = re.compile(r"^BENCH-LOOP (\w+) ([\d.]+) ([\d.]+) ?(.*)$", re.M)
# `driftcar serve` with instruments: a 5 ms ticker on the loop (`late`: lateness > 50 ms), a watchdog thread
# that logs the loop thread's stack 60 ms into a stall (`stack`), or, when it could not run itself for 60 ms
# (`gil`: the GIL was held), every thread's stack once it runs again; and full garbage collections > 20 ms.
# Lines: `BENCH-LOOP kind epoch-seconds ms [where]` on stderr.
TRACED_DRIFTCAR = textwrap.dedent(
    """
    import asyncio, gc, sys, threading, time, traceback
    import sidecar.server

    def emit(kind, ms, where=""):
        sys.stderr.write(f"BENCH-LOOP {kind} {time.time():.3f} {ms:.1f} {where}\\n")

    def where(frame):
        stack = traceback.extract_stack(frame)[-5:] if frame is not None else []
        return " < ".join(f"{f.filename.rsplit('/', 2)[-1]}:{f.lineno} {f.name}" for f in reversed(stack))

    def others():
        names = {t.ident: t.name for t in threading.enumerate()}
        frames = sys._current_frames()
        frames.pop(threading.get_ident(), None)
        idle = ("wait", "get", "select", "poll", "sleep", "_recv", "_recv_bytes", "accept", "run_forever")
        busy = {i: f for i, f in frames.items() if f.f_code.co_name not in idle}
        return "; ".join(f"{names.get(i, i)}: {where(f)}" for i, f in busy.items())

    def watchdog(loop_thread, beat):
        seen = 0.0
        while True:
            before = time.perf_counter()
            time.sleep(0.01)
            now = time.perf_counter()
            if now - before > 0.06:
                emit("gil", (now - before) * 1000, others())
            if now - beat[0] > 0.06 and beat[0] != seen:
                seen = beat[0]
                emit("stack", (now - beat[0]) * 1000, where(sys._current_frames().get(loop_thread)))

    async def ticker(beat):
        loop = asyncio.get_running_loop()
        while True:
            due = loop.time() + 0.005
            await asyncio.sleep(0.005)
            beat[0] = time.perf_counter()
            if loop.time() - due > 0.05:
                emit("late", (loop.time() - due) * 1000)

    def collected(phase, info, started=[0.0]):
        if info["generation"] == 2:
            if phase == "start":
                started[0] = time.perf_counter()
            elif time.perf_counter() - started[0] > 0.02:
                emit("gc2", (time.perf_counter() - started[0]) * 1000)

    start = sidecar.server.Sidecar.start

    async def traced(self):
        await start(self)
        beat = [time.perf_counter()]
        self.bench_ticker = asyncio.get_running_loop().create_task(ticker(beat))
        threading.Thread(target=watchdog, args=(threading.get_ident(), beat), daemon=True).start()

    sidecar.server.Sidecar.start = traced
    gc.callbacks.append(collected)
    if len(sys.argv) > 1 and sys.argv[1].startswith("--switch-interval="):
        sys.setswitchinterval(float(sys.argv.pop(1).split("=", 1)[1]))
    from sidecar.cli import main
    sys.exit(main(sys.argv[1:]))
    """
)


def make_frame(rows: int, seed: int, shift: float) -> pd.DataFrame:
    """Seeded rows; `shift` moves four numeric columns and the segment mix and lowers one group's approvals."""
    rng = np.random.default_rng(seed)
    data: dict[str, Any] = {}
    for i, name in enumerate(NUMERIC):
        moved = shift if i < 4 else 0.0
        data[name] = rng.normal(moved, 1.0, rows) if i % 2 == 0 else rng.lognormal(moved, 0.5, rows)
    p = np.array([0.3, 0.25, 0.2, 0.1, 0.1 + shift / 4, 0.05])
    segments = np.array(["north", "south", "east", "west", "online", "partner"], dtype=object)
    data["segment"] = rng.choice(segments, rows, p=p / p.sum())
    sex = rng.choice(np.array(["female", "male"], dtype=object), rows)
    logit = 0.8 * data["x0"] - 0.3 * data["x5"] + rng.normal(0, 1, rows)
    label = (logit + rng.normal(0, 0.5, rows) > 0).astype(np.int64)
    approve = logit > (shift * (sex == "female"))
    data["sex"] = sex
    data["prediction"] = approve.astype(np.int64)
    data["label"] = label
    return pd.DataFrame(data)


def _status_mb(field: str, pid: int | str = "self") -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"{field} not in /proc/{pid}/status")


def _reset_peak(pid: int | str = "self") -> None:
    Path(f"/proc/{pid}/clear_refs").write_text("5")  # reset the peak RSS (VmHWM) to the current RSS


def _load_average() -> str:
    return ", ".join(Path("/proc/loadavg").read_text().split()[:3])


# --- end to end: fill PostgreSQL ------------------------------------------------------------------------------


def _records(traffic: pd.DataFrame, offset: int, n: int) -> list[Record]:
    """Records `offset .. offset + n` of the traffic frame, one request each, 100 records per second from T0."""
    part = traffic.iloc[offset : offset + n]
    columns = [part[name].tolist() for name in FEATURES]
    return [
        Record(
            ts=T0 + i / RECORDS_PER_SECOND,
            request_id=f"{i:012x}",
            row=0,
            route="/predict",
            protocol="generic",
            status=200,
            latency_ms=3.0 + (i % 17) * 0.1,
            model=MODEL,
            model_version="3",
            features=dict(zip(FEATURES, values, strict=True)),
            prediction=prediction,
        )
        for i, values, prediction in zip(
            range(offset, offset + n), zip(*columns, strict=True), part["prediction"].tolist(), strict=True
        )
    ]


async def fill(url: str, args: argparse.Namespace) -> None:
    """Migrate, insert the records, their labels and the reference, ANALYZE; print how long each took."""
    engine = create_engine(url)
    try:
        await upgrade(engine)
        half = args.rows // 2
        traffic = pd.concat(
            [make_frame(half, args.seed + 1, 0.0), make_frame(args.rows - half, args.seed + 2, SHIFT)],
            ignore_index=True,
        )
        store, started = RecordStore(engine), time.perf_counter()
        for offset in range(0, args.rows, BATCH):
            await store.insert(_records(traffic, offset, min(BATCH, args.rows - offset)))
        records_s, started = time.perf_counter() - started, time.perf_counter()
        labelled = np.flatnonzero(np.random.default_rng(args.seed).random(args.rows) < args.label_share)
        labels, feedback = traffic["label"].to_numpy(), FeedbackStore(engine)
        for offset in range(0, len(labelled), BATCH):
            await feedback.add_feedback(
                [FeedbackItem(f"{i:012x}", int(labels[i])) for i in labelled[offset : offset + BATCH]]
            )
        labels_s, started = time.perf_counter() - started, time.perf_counter()
        del traffic
        reference = make_frame(args.reference_rows, args.seed, 0.0)
        info = await ReferenceStore(engine).put_reference(MONITOR, reference, "upload", "bench reference")
        reference_s, started = time.perf_counter() - started, time.perf_counter()
        async with engine.begin() as conn:
            await conn.execute(text("ANALYZE"))
        print(
            f"fill (not part of the target): {args.rows:,} records {records_s:.1f} s; {len(labelled):,} labels "
            f"{labels_s:.1f} s; reference v{info.version} {info.n_rows:,} rows ({info.size_bytes / 1e6:.0f} MB "
            f"Parquet) {reference_s:.1f} s; ANALYZE {time.perf_counter() - started:.1f} s",
            flush=True,
        )
    finally:
        await engine.dispose()


# --- end to end: driftcar, load, run ---------------------------------------------------------------------------


def monitor_config(args: argparse.Namespace) -> dict[str, Any]:
    """The benchmark's monitor: every feature, fairness on `sex`, on-demand runs only."""
    return {
        "name": MONITOR,
        "model": MODEL,
        "window": {"minutes": 60},
        "schedule": {"every": "1h", "enabled": False},
        "fairness": {"protected": ["sex"], "favorable": 1},
        "html_max_rows": args.html_max_rows,
    }


@contextmanager
def driftcar(
    config: Path, admin_port: int, log: Path, switch_interval: float | None = None
) -> Iterator[subprocess.Popen[bytes]]:
    """`driftcar serve --config` (with TRACED_DRIFTCAR's instruments) for the duration of the block, its log
    (INFO) written to `log`."""
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-c",
                TRACED_DRIFTCAR,
                *([f"--switch-interval={switch_interval}"] if switch_interval else []),
                *("--log-level", "INFO", "serve", "--config", str(config)),
            ],
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=out,
        )
        try:
            wait_port(admin_port)  # bound after the proxy's port
            yield proc
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()


def report_workers(pid: int) -> list[int]:
    """The report pool's workers: the children of driftcar's forkserver."""
    out: list[int] = []
    for child in children(pid)[1:]:
        with contextlib.suppress(FileNotFoundError):
            if b"multiprocessing.forkserver" in Path(f"/proc/{child}/cmdline").read_bytes():
                out.extend(int(c) for c in Path(f"/proc/{child}/task/{child}/children").read_text().split())
    return out


def busy_cores() -> tuple[float, float]:
    """Jiffies the machine spent busy and in total since boot (from /proc/stat)."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]
    return sum(fields) - idle, sum(fields)


@dataclass(frozen=True, slots=True)
class Latencies:
    """One open-loop load: (scheduled send time, latency) per request, both in seconds."""

    samples: list[tuple[float, float]]
    errors: int
    send_lag_max: float
    """The generator's own worst lateness in sending a request (its loop shares the cores)."""

    def between(self, start: float, end: float) -> Latencies:
        """The requests scheduled in [start, end)."""
        return Latencies([s for s in self.samples if start <= s[0] < end], 0, self.send_lag_max)

    def pct(self, q: float) -> float:
        """The q-quantile of the latencies, in milliseconds (NaN when empty)."""
        values = sorted(latency for _, latency in self.samples)
        return values[min(len(values) - 1, int(len(values) * q))] * 1000 if values else float("nan")


async def open_loop(
    http: aiohttp.ClientSession, url: str, rate: int, seconds: float, stop: asyncio.Event | None = None
) -> Latencies:
    """POST at a fixed rate for `seconds` or until `stop` is set; latency counts from the scheduled send."""
    samples: list[tuple[float, float]] = []
    errors, lag = 0, 0.0
    pending: set[asyncio.Task[None]] = set()

    async def one(due: float) -> None:
        nonlocal errors
        try:
            async with http.post(url, data=BODY, headers={"Content-Type": "application/json"}) as resp:
                await resp.read()
                errors += resp.status != 200
        except (TimeoutError, aiohttp.ClientError):
            errors += 1
        samples.append((due, time.perf_counter() - due))

    start = time.perf_counter() + 0.05
    for i in range(int(rate * seconds)):
        if stop is not None and stop.is_set():
            break
        due = start + i / rate
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        lag = max(lag, time.perf_counter() - due)
        task = asyncio.create_task(one(due))
        pending.add(task)
        task.add_done_callback(pending.discard)
    if pending:
        await asyncio.wait(pending, timeout=60)
    return Latencies(samples, errors, lag)


async def trigger_run(http: aiohttp.ClientSession, admin: int, start: float, end: float) -> dict[str, Any]:
    """The admin API's on-demand run of the monitor over [start, end), waited for."""
    url = f"http://127.0.0.1:{admin}/api/monitors/{MONITOR}/run"
    async with http.post(url, params={"from": repr(start), "to": repr(end)}) as resp:
        body: dict[str, Any] = await resp.json()
        return body


@dataclass(frozen=True, slots=True)
class RunFigures:
    """What the end-to-end phase measured."""

    outcome: dict[str, Any]
    wall_s: float
    stages: tuple[float, float, float] | None
    """load, statistics and HTML seconds from driftcar's log line of the run."""
    idle: Latencies
    during: Latencies
    run_started: float
    rss_idle_mb: float
    rss_peak_mb: float
    worker_peak_mb: float | None
    cpu_driftcar_s: float
    cpu_worker_s: float
    cores_busy: float
    trace: list[tuple[str, float, float, str]]
    """The instruments' lines during the run: kind, seconds since the run started, milliseconds, where."""


async def measure(url: str, work: Path, args: argparse.Namespace) -> RunFigures:
    """Start the upstream and driftcar, warm up, measure idle, run the monitor under load."""
    up_port, port, admin = free_port(), free_port(), free_port()
    config = work / "driftcar.yaml"
    settings = {
        "upstream": f"http://127.0.0.1:{up_port}",
        "host": "127.0.0.1",
        "port": port,
        "admin_port": admin,
        "database_url": url,
        "capture": {"spool_dir": str(work / "spool")},
        "monitors": [monitor_config(args)],
        "reports": {"workers": 1},
    }
    config.write_text(yaml.safe_dump(settings))
    log = work / "driftcar.log"
    proxy_url = f"http://127.0.0.1:{port}/predict"
    end = T0 + args.rows / RECORDS_PER_SECOND
    with (
        process([sys.executable, "-c", UPSTREAM_CODE, str(up_port)], up_port),
        driftcar(config, admin, log, args.switch_interval) as proc,
    ):
        load_http = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=256), timeout=aiohttp.ClientTimeout(total=30)
        )
        admin_http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=args.run_timeout))
        async with load_http, admin_http:
            # Warm-up: a 2,000-record run (the worker has imported Evidently, the reference path is hot), load.
            warm = await trigger_run(admin_http, admin, T0, T0 + 2_000 / RECORDS_PER_SECOND)
            if warm.get("status") != "ok":
                raise RuntimeError(f"warm-up run: {warm}")
            await open_loop(load_http, proxy_url, args.rate, 2.0)
            await asyncio.sleep(1.0)
            idle = await open_loop(load_http, proxy_url, args.rate, args.seconds)
            workers = report_workers(proc.pid)
            for pid in [proc.pid, *workers]:
                _reset_peak(pid)
            for pid in workers if args.worker_nice else []:
                os.setpriority(os.PRIO_PROCESS, pid, args.worker_nice)
            rss_idle = _status_mb("VmRSS", proc.pid)
            cpu_main, cpu_workers, cores = cpu_seconds([proc.pid]), cpu_seconds(workers), busy_cores()
            stop = asyncio.Event()
            loading = asyncio.create_task(open_loop(load_http, proxy_url, args.rate, args.run_timeout, stop))
            await asyncio.sleep(0.5)  # the generator is at its rate before the run starts
            started, started_epoch = time.perf_counter(), time.time()
            outcome = await trigger_run(admin_http, admin, T0, end)
            wall = time.perf_counter() - started
            stop.set()
            during = await loading
            cores_after = busy_cores()
            figures = RunFigures(
                outcome=outcome,
                wall_s=wall,
                stages=None,
                idle=idle,
                during=during.between(started, started + wall),
                run_started=started,
                rss_idle_mb=rss_idle,
                rss_peak_mb=_status_mb("VmHWM", proc.pid),
                worker_peak_mb=max((_status_mb("VmHWM", w) for w in workers), default=None),
                cpu_driftcar_s=cpu_seconds([proc.pid]) - cpu_main,
                cpu_worker_s=cpu_seconds(workers) - cpu_workers,
                cores_busy=(cores_after[0] - cores[0]) / (cores_after[1] - cores[1]) * (os.cpu_count() or 1),
                trace=[],
            )
    logged = log.read_text(errors="replace")
    figures.trace.extend(
        (kind, float(at) - started_epoch, float(ms), where)
        for kind, at, ms, where in _TRACE_LINE.findall(logged)
        if 0 <= float(at) - started_epoch <= wall
    )
    lines = _RUN_LOG.findall(logged)
    ours = [m for m in lines if int(m[1]) == args.rows]
    if ours:
        load_s, stats_s, html_s = (float(v) for v in ours[-1][2:])
        figures = replace(figures, stages=(load_s, stats_s, html_s))
    elif outcome.get("status") != "ok":
        print(logged[-4000:], file=sys.stderr)
    return figures


# --- end to end: which step blocks an event loop ---------------------------------------------------------------


async def pickling(url: str, args: argparse.Namespace) -> None:
    """How long pickling the frames takes: `render_in_pool`'s queue feeder thread does it with the GIL held."""
    monitor = MonitorConfig.model_validate(monitor_config(args))
    engine = create_engine(url)
    try:
        await _pickling(engine, monitor, T0 + args.rows / RECORDS_PER_SECOND)
    finally:
        await engine.dispose()


async def _pickling(engine: AsyncEngine, monitor: MonitorConfig, end: float) -> None:
    """How long pickling the frames takes: `render_in_pool`'s queue feeder thread does it with the GIL held."""
    _, reference = await ReferenceStore(engine).get_reference(MONITOR)
    window = await load_window(engine, start=T0, end=end, **monitor.record_filter())
    timed: list[tuple[float, str]] = []
    for name, frame in (("reference", reference), ("window", window)):
        for column in frame.columns:
            started = time.perf_counter()
            ForkingPickler.dumps(frame[[column]])
            timed.append((time.perf_counter() - started, f"{name}.{column}"))
    slim = window.drop(columns=["ts", "request_id", "row"])
    print("\npickling the frames, as render_in_pool's queue feeder thread does (the GIL held throughout):")
    for label, frame in (
        ("window as loaded", window),
        ("  without ts, request_id, row", slim),
        ("  and with equal strings shared", _shared_strings(slim)),
        ("reference (from Parquet: strings shared)", reference),
    ):
        started = time.perf_counter()
        size = len(ForkingPickler.dumps(frame))
        print(f"  {label:44} {time.perf_counter() - started:6.2f} s  {size / 1e6:5.0f} MB")
    slowest = ", ".join(f"{c} {t:.2f} s" for t, c in sorted(timed, reverse=True)[:4])
    print(f"  slowest columns: {slowest}")


def _shared_strings(frame: pd.DataFrame) -> pd.DataFrame:
    """The frame with each low-cardinality text column's equal values as one object (as Arrow does)."""
    out = frame.copy()
    for name in out.columns:
        if out[name].dtype == object:
            codes, uniques = pd.factorize(out[name])
            if len(uniques) <= len(out) // 100:
                out[name] = np.asarray(uniques, dtype=object)[codes]
    return out


# --- end to end: the table ------------------------------------------------------------------------------------


def _verdict(ok: bool) -> str:
    return "met" if ok else "MISSED"


def print_figures(f: RunFigures, args: argparse.Namespace, load_before: str) -> bool:
    """The summary table; True when the run was sane (ok, every record of the window)."""
    run = f.outcome.get("run") or {}
    status, n_rows = f.outcome.get("status"), run.get("n_rows")
    summary = run.get("summary") or {}
    drifted = [c["column"] for c in (summary.get("drift") or {}).get("columns", []) if c.get("drifted")]
    errors = [f"{e['section']}: {e['error']}" for e in summary.get("errors", [])]
    print(
        f"\n=== monitor run over {args.rows:,} records from PostgreSQL; reference {args.reference_rows:,} rows; "
        f"proxy at {args.rate} req/s ==="
    )
    print(
        f"(the load generator, the upstream, driftcar, its report worker and PostgreSQL share {os.cpu_count()} "
        f"cores; load average before {load_before}, after {_load_average()})"
        + (f"; report worker reniced to {args.worker_nice}" if args.worker_nice else "")
        + (f"; driftcar's switch interval {args.switch_interval} s" if args.switch_interval else "")
    )
    print(
        f"run: status {status}, {n_rows if n_rows is None else f'{n_rows:,}'} rows, "
        f"{len(summary.get('flags', []))} flags, drifted: {', '.join(drifted) or '-'}; "
        f"section errors: {', '.join(errors) or 'none'}"
    )
    print(f"{'':46} {'measured':>10} {'target':>10} {'ratio':>7}")
    print(
        f"{'run end to end (POST .../run, waited)':46} {f.wall_s:8.1f} s {TARGET_SECONDS:8.0f} s "
        f"{f.wall_s / TARGET_SECONDS:6.2f}x  {_verdict(f.wall_s <= TARGET_SECONDS)}"
    )
    if f.stages is not None:
        load_s, stats_s, html_s = f.stages
        rest = f.wall_s - load_s - stats_s - html_s
        for name, value in (
            ("  load (reference + window, in the worker)", load_s),
            ("  statistics (worker; HTML drawn alongside)", stats_s),
            ("  HTML (worker; the wait after the statistics)", html_s),
            ("  rest (frames to the worker and back, store)", rest),
        ):
            print(f"{name:46} {value:8.1f} s")
    print(
        f"{'peak RSS driftcar / report worker':46} {f.rss_peak_mb:6.0f} MB / "
        f"{f'{f.worker_peak_mb:.0f} MB' if f.worker_peak_mb else '?'} (driftcar at rest {f.rss_idle_mb:.0f} MB)"
    )
    print(
        f"{'CPU during the run: driftcar / worker':46} {f.cpu_driftcar_s:6.1f} s / {f.cpu_worker_s:.1f} s; "
        f"machine busy {f.cores_busy:.2f} of {os.cpu_count()} cores"
    )
    load_s = f.stages[0] if f.stages else 0.0
    parts = [
        ("idle", f.idle),
        ("during the run", f.during),
        ("  while loading", f.during.between(f.run_started, f.run_started + load_s)),
        ("  while computing and storing", f.during.between(f.run_started + load_s, float("inf"))),
    ]
    print(f"\nproxy latency, open loop at {args.rate} req/s (from each request's scheduled send):")
    print(f"  {'':30} {'requests':>9} {'p50 ms':>8} {'p99 ms':>8} {'p99.9 ms':>9} {'max ms':>8}")
    for name, lat in parts:
        print(
            f"  {name:30} {len(lat.samples):9,} {lat.pct(0.5):8.2f} {lat.pct(0.99):8.2f} "
            f"{lat.pct(0.999):9.1f} {lat.pct(1.0):8.1f}"
        )
    print(
        f"  errors: idle {f.idle.errors}, during {f.during.errors}; generator's worst send lag: idle "
        f"{f.idle.send_lag_max * 1000:.1f} ms, during {f.during.send_lag_max * 1000:.1f} ms"
    )
    p50, p99 = f.during.pct(0.5) / f.idle.pct(0.5), f.during.pct(0.99) / f.idle.pct(0.99)
    print(
        f"  during / idle: p50 {p50:.2f}x, p99 {p99:.2f}x (target p99 <= {TARGET_P99_RATIO:.2f}x: "
        f"{_verdict(p99 <= TARGET_P99_RATIO)})"
    )
    worst = sorted(f.during.samples, key=lambda s: s[1], reverse=True)[:5]
    print(
        "  slowest requests during the run (at +s from the run's start): "
        + ", ".join(f"+{due - f.run_started:.1f} s {lat * 1000:.0f} ms" for due, lat in sorted(worst))
    )
    print_trace(f.trace, load_s)
    return status == "ok" and n_rows == args.rows


def print_trace(trace: list[tuple[str, float, float, str]], load_s: float) -> None:
    """What the instruments in driftcar saw during the run."""
    late = [(at, ms) for kind, at, ms, _ in trace if kind == "late"]
    print("\ndriftcar's event loop during the run (5 ms ticker; watchdog thread; full GCs > 20 ms):")
    for name, lo, hi in (
        ("while loading", 0.0, load_s),
        ("while computing and storing", load_s, float("inf")),
    ):
        part = [ms for at, ms in late if lo <= at < hi]
        print(
            f"  {name:30} loop late > 50 ms {len(part):4d} times, {sum(part) / 1000:5.2f} s in all, "
            f"worst {max(part, default=0.0):6.0f} ms"
        )
    gil = [ms for kind, _, ms, _ in trace if kind == "gil"]
    collections = [ms for kind, _, ms, _ in trace if kind == "gc2"]
    print(
        f"  watchdog thread kept off the GIL > 60 ms: {len(gil)} times, worst {max(gil, default=0.0):.0f} ms; "
        f"full GCs > 20 ms: {len(collections)}, worst {max(collections, default=0.0):.0f} ms"
    )
    for name, lo, hi in (("loading", 0.0, load_s), ("computing and storing", load_s, float("inf"))):
        print(f"  longest while {name} (+s from the run's start, kind, ms, where):")
        events = [t for t in trace if lo <= t[1] < hi]
        for kind, at, ms, where in sorted(events, key=lambda t: t[2], reverse=True)[:4]:
            print(f"    +{at:6.2f} s {kind:5} {ms:6.0f} ms {where[:400]}")


async def end_to_end(args: argparse.Namespace) -> int:
    """Fill a fresh database, measure the run through a real driftcar, probe the loop; 1 if the run failed."""
    load_before = _load_average()
    print(
        f"end-to-end report benchmark: {args.rows:,} records, reference {args.reference_rows:,} rows, "
        f"{os.cpu_count()} cores, load average {load_before}",
        flush=True,
    )
    with tempfile.TemporaryDirectory(prefix="driftcar-bench-report-") as workdir:
        async with database("postgresql", args.pg_url, Path(workdir)) as url:
            await fill(url, args)
            figures = await measure(url, Path(workdir), args)
            sane = print_figures(figures, args, load_before)
            if args.probe:
                await pickling(url, args)
    if not sane:
        print(f"\nthe run was not ok over {args.rows:,} rows: {figures.outcome}", file=sys.stderr)
    return 0 if sane else 1


# --- frames: run_report on in-memory frames ------------------------------------------------------------------


def frames(args: argparse.Namespace) -> int:
    """Build the frames, run one report in this process (and through a pool with `--pool`), print the figures."""
    reference = make_frame(args.rows, args.seed, 0.0)
    current = make_frame(args.rows, args.seed + 1, SHIFT)
    if args.no_label:
        reference, current = reference.drop(columns="label"), current.drop(columns="label")
    spec = ReportSpec(
        monitor="bench",
        prediction="prediction",
        label=None if args.no_label else "label",
        fairness=FairnessOptions(protected=["sex"]),
        html_max_rows=args.html_max_rows,
    )
    preload_evidently()
    gc.collect()
    _reset_peak()
    baseline = _status_mb("VmRSS")
    started = time.perf_counter()
    result = run_report(
        reference, current, spec, ReportContext(reference_version=1, reference_source="upload")
    )
    wall = time.perf_counter() - started
    peak = _status_mb("VmHWM")
    t, s = result.timings, result.summary
    print(
        f"frames: 2 x {args.rows:,} rows x {len(reference.columns)} columns (10 numeric, segment, sex, "
        f"prediction{'' if args.no_label else ', label'}); HTML sample {args.html_max_rows:,} rows per side"
    )
    print(f"statistics (every row)   {t.statistics_s:7.2f} s   (the HTML drawn alongside, in a thread)")
    print(f"HTML, the wait after them {t.html_s:6.2f} s   {len(result.html or b'') / 1e6:.1f} MB")
    print(
        f"total                    {t.total_s:7.2f} s   (wall {wall:.2f} s; target <= {TARGET_SECONDS:g} s:"
        f" {_verdict(wall <= TARGET_SECONDS)})"
    )
    print(
        f"peak RSS                 {peak:7.0f} MB   (+{peak - baseline:.0f} MB above the frames, {baseline:.0f} MB)"
    )
    drifted = sorted(f.column or "" for f in s.flags_of("column_drift"))
    print(f"findings: {len(s.flags)} flags; drifted columns {', '.join(drifted)}; errors {len(s.errors)}")
    if args.pool:
        pool = create_report_pool(1)
        try:
            pool.submit(evidently_loaded).result(timeout=120)  # warm: Evidently imported in the worker
            started = time.perf_counter()
            asyncio.run(asyncio.wait_for(render_in_pool(pool, reference, current, spec), timeout=600))
            print(
                f"through the pool           {time.perf_counter() - started:6.2f} s   (wall, frames pickled over)"
            )
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
    return 1 if s.errors else 0


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--rows", type=int, default=None, help="records in the window (default 1,000,000)")
    parser.add_argument("--reference-rows", type=int, default=None, help="default: as many as --rows")
    parser.add_argument("--quick", action="store_true", help="50,000 rows and 5 s idle load: a smoke test")
    parser.add_argument("--rate", type=int, default=400, help="open-loop requests per second (default 400)")
    parser.add_argument("--seconds", type=float, default=None, help="idle measurement (default 10 s)")
    parser.add_argument("--run-timeout", type=float, default=600.0, help="longest wait for the run")
    parser.add_argument("--label-share", type=float, default=0.2, help="records with a label (default 0.2)")
    parser.add_argument("--html-max-rows", type=int, default=50_000)
    parser.add_argument(
        "--worker-nice", type=int, default=0, help="experiment: renice the report worker before the run"
    )
    parser.add_argument(
        "--switch-interval", type=float, default=None, help="experiment: sys.setswitchinterval in driftcar"
    )
    parser.add_argument(
        "--no-probe", dest="probe", action="store_false", help="skip timing the pickling of the frames"
    )
    parser.add_argument(
        "--pg-url",
        default=os.environ.get("DRIFTCAR_TEST_PG_URL", DEFAULT_PG_URL),
        help="PostgreSQL server to create the database on",
    )
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--frames", action="store_true", help="time run_report on in-memory frames instead")
    parser.add_argument("--no-label", action="store_true", help="--frames: leave the label out")
    parser.add_argument("--pool", action="store_true", help="--frames: also time it through a report pool")
    args = parser.parse_args(argv)
    args.rows = args.rows or (50_000 if args.quick else 1_000_000)
    args.reference_rows = args.reference_rows or args.rows
    args.seconds = args.seconds or (5.0 if args.quick else 10.0)
    return args


def main(argv: list[str] | None = None) -> int:
    """Run the chosen mode."""
    args = parse_args(argv)
    if args.frames:
        return frames(args)
    import uvloop

    return uvloop.run(end_to_end(args))


if __name__ == "__main__":
    raise SystemExit(main())
