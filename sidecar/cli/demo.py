"""`driftcar demo`: a model server, driftcar in front of it on SQLite with a scheduled monitor, and traffic
that drifts halfway; the monitor's reports find no drift in the first half, then the drift and its bias."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sys
import tempfile
import textwrap
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import aiohttp
from aiohttp import web

if TYPE_CHECKING:
    from sidecar.server import Sidecar
    from storage.runs import RunInfo

logger = logging.getLogger(__name__)

MONITOR = "loans"
EVERY = 5.0
"""Seconds between the monitor's scheduled runs."""
RUN_TIMEOUT = 60.0
"""How long to wait for a scheduled run (the first also waits for the report worker to import Evidently)."""
MIN_REQUESTS = 200
"""Half the baseline's rows, the reference and the window, must reach the monitor's `min_rows` (100)."""


def _requests(value: str) -> int:
    try:
        n = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {value!r}") from None
    if n < MIN_REQUESTS:
        raise argparse.ArgumentTypeError(f"at least {MIN_REQUESTS}, so that each report has rows enough")
    return n


def configure(parser: argparse.ArgumentParser) -> None:
    """Demo options."""
    parser.add_argument(
        "--requests",
        type=_requests,
        default=2000,
        help="requests to send, the second half drifted (default 2000)",
    )
    parser.add_argument("--port", type=int, default=8080, help="driftcar proxy port (default 8080; 0: any)")
    parser.add_argument(
        "--admin-port", dest="admin_port", type=int, default=9090, help="admin port (default 9090)"
    )
    parser.add_argument(
        "--dir", help="where the SQLite database and spool go (default: a new temporary folder)"
    )
    parser.add_argument(
        "--linger",
        type=float,
        default=None,
        help="seconds to keep serving after the traffic (default: until Ctrl-C on a terminal, else exit at once)",
    )


def _monitor(rows: int) -> dict[str, Any]:
    """The demo's monitor: drift of the model's inputs and prediction and approvals by sex, every few seconds,
    on the newest `rows` records against the first `rows` captured (the default reference)."""
    from sidecar.demo.model_server import MODEL_FEATURES

    return {
        "name": MONITOR,
        "features": MODEL_FEATURES,
        "fairness": {"protected": ["sex"], "favorable": 1},
        "schedule": {"every": EVERY},
        "window": {"records": rows},
        "reference": {"first_n": rows},
    }


async def _flushed(sidecar: Sidecar, rows: int) -> str:
    """Wait (up to 10 s) until the writer has stored `rows` records in all; its counters as one line."""
    stats = sidecar.app_writer_stats()
    deadline = time.monotonic() + 10.0
    while stats.written + stats.spooled < rows and time.monotonic() < deadline:
        await asyncio.sleep(0.1)  # the writer flushes every 0.5 s
        stats = sidecar.app_writer_stats()
    return f"records written: {stats.written}, spooled: {stats.spooled}, dropped: {stats.dropped}"


async def _next_run(http: aiohttp.ClientSession, admin: str, after: float) -> RunInfo | str:
    """The monitor's first scheduled run for a time at or after `after`, once finished, as `GET
    /api/monitors/{name}/runs` lists it; or why there is none within RUN_TIMEOUT."""
    from sidecar.demo.summary import run_from_json

    url = f"{admin}/api/monitors/{MONITOR}/runs?limit=20"
    deadline = time.monotonic() + RUN_TIMEOUT
    problem = "none had started"
    while time.monotonic() < deadline:
        try:
            async with http.get(url) as resp:
                resp.raise_for_status()
                runs = [run_from_json(doc) for doc in (await resp.json())["runs"]]
        except (aiohttp.ClientError, TimeoutError) as exc:
            problem = f"the admin API did not answer: {exc!r}"
        else:
            due = sorted((r for r in runs if r.window_end >= after), key=lambda r: r.window_end)
            if due and due[0].status != "running":
                return due[0]
            problem = f"run {due[0].id} was still running" if due else "none had started"
        await asyncio.sleep(0.5)
    return f"no scheduled run of monitor {MONITOR!r} finished within {RUN_TIMEOUT:g} s ({problem})"


async def _phase(
    sidecar: Sidecar, http: aiohttp.ClientSession, rows_before: int, requests: int, *, drifted: bool
) -> tuple[int, RunInfo | None]:
    """Send one phase of traffic, wait until it is stored and for the scheduled run after it; print both."""
    from sidecar.demo.summary import describe_run
    from sidecar.demo.traffic import send_traffic

    proxy, admin = f"http://127.0.0.1:{sidecar.port}", f"http://127.0.0.1:{sidecar.admin_port}"
    sent = await send_traffic(proxy, requests=requests, drifted=drifted)
    print(
        f"  sent {sent.requests} requests ({sent.rows} rows); statuses {sent.statuses}; failed {sent.failed}"
    )
    rows = rows_before + sent.rows
    print(f"  {await _flushed(sidecar, rows)}")
    print(f"  waiting for the next scheduled run of {MONITOR!r} (every {EVERY:g} s) ...", flush=True)
    run = await _next_run(http, admin, after=time.time())
    print(textwrap.indent(run if isinstance(run, str) else describe_run(run, admin), "  "), flush=True)
    return rows, None if isinstance(run, str) else run


async def _demo(args: argparse.Namespace) -> int:
    from sidecar.demo.model_server import MODEL_FEATURES, create_model_app
    from sidecar.demo.traffic import plan
    from sidecar.server import Sidecar
    from sidecar.settings import Settings

    workdir = Path(args.dir or tempfile.mkdtemp(prefix="driftcar-demo-"))
    workdir.mkdir(parents=True, exist_ok=True)  # noqa: ASYNC240 - once, before anything runs
    print(f"driftcar demo: training the model server (scikit-learn, synthetic loan data) in {workdir}")
    model_runner = web.AppRunner(await create_model_app(), access_log=None)
    await model_runner.setup()
    site = web.TCPSite(model_runner, "127.0.0.1", 0)
    await site.start()
    model_port = model_runner.addresses[0][1]
    baseline = args.requests // 2
    drifted = args.requests - baseline
    # The reference is the baseline's first half, and each run judges as many rows: after the baseline, its
    # second half (unseen rows, same distribution); after the drift, drifted rows only.
    half = sum(plan(baseline)) // 2
    settings = Settings.model_validate(
        {
            "upstream": f"http://127.0.0.1:{model_port}",
            "host": "127.0.0.1",
            "port": args.port,
            "admin_port": args.admin_port,
            "database_url": f"sqlite+aiosqlite:///{workdir / 'driftcar.db'}",
            "capture": {"spool_dir": str(workdir / "spool")},
            "monitors": [_monitor(half)],
        }
    )
    sidecar = Sidecar(settings)
    await sidecar.start()
    proxy, admin = f"http://127.0.0.1:{sidecar.port}", f"http://127.0.0.1:{sidecar.admin_port}"
    run: RunInfo | None = None
    try:
        print(f"model server on 127.0.0.1:{model_port}; driftcar proxy on {proxy}, admin on {admin}")
        print(
            f"monitor {MONITOR!r}: every {EVERY:g} s, a report on the newest {half:,} records against the first "
            f"{half:,} captured (the\n  default reference): drift of the model's {len(MODEL_FEATURES)} inputs "
            "and its prediction, approval rates by sex"
        )
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as http:
            print(f"\n1. baseline: {baseline} requests like the training data")
            rows, _ = await _phase(sidecar, http, 0, baseline, drifted=False)
            print(f"\n2. drift: {drifted} requests with lower incomes, more debt and shifted regions")
            rows, run = await _phase(sidecar, http, rows, drifted, drifted=True)
        print("\nwhere to look:")
        print(f"  reports          {admin}/reports (every run of {MONITOR!r}; a new one every {EVERY:g} s)")
        if run is not None and run.has_html:
            print(f"  drift report     {admin}/reports/{run.id} (its summary: {admin}/reports/{run.id}.json)")
        print(f"  runs             {admin}/api/monitors/{MONITOR}/runs")
        print(f"  newest records   {admin}/api/records?limit=5")
        print(f"  metrics          {admin}/metrics")
        print(f"  readiness        {admin}/readyz")
        print(f"  database         {workdir / 'driftcar.db'} (tables records, report_runs)")
        await _linger(args.linger)
    finally:
        await sidecar.stop()
        await model_runner.cleanup()
    return 0 if run is not None and run.status == "ok" else 1


async def _linger(seconds: float | None) -> None:
    if seconds == 0 or (seconds is None and not sys.stdin.isatty()):
        return
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    print("serving until Ctrl-C" if seconds is None else f"serving for {seconds:g} s", flush=True)
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), timeout=seconds)


def run(args: argparse.Namespace) -> int:
    """Run the demo."""
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
    if logging.getLogger().getEffectiveLevel() > logging.DEBUG:
        # The demo tells of the runs itself; the scheduler's and the runner's lines, a few every 5 s (and
        # "skipped: maximum number of running instances" whenever a report takes longer), would drown it.
        logging.getLogger("apscheduler").setLevel(logging.ERROR)
        logging.getLogger("sidecar.monitors").setLevel(logging.WARNING)
    return asyncio.run(_demo(args))
