"""`driftcar demo`: a model server, driftcar in front of it on SQLite with a scheduled monitor and its alert
rules, a local webhook receiver, and traffic that drifts halfway; the monitor's reports find no drift in the
first half and nothing fires, then the drift and its bias, whose alerts the receiver prints and the rollout
gate turns into a 503."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import secrets
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
    from sidecar.demo.receiver import Inbox
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
ALERT_TIMEOUT = 30.0
"""How long to wait for the receiver to get the alerts firing after the drift."""
SECRET_ENV = "DRIFTCAR_DEMO_WEBHOOK_SECRET"
"""Where the webhook's secret, generated per run, is put: driftcar reads secrets from the environment or a
file, never from its configuration."""
WEBHOOK = "demo-receiver"
RULES: list[dict[str, Any]] = [
    {
        "name": "disparate-impact",
        "when": "fairness",
        "attribute": "sex",
        "metric": "demographic_parity_ratio",
        "below": 0.8,
        "severity": "critical",
        "action": "rollback",
    },
    {"name": "input-drift", "when": "dataset_drift", "severity": "warning", "action": "retrain"},
]
"""The monitor's alert rules: the four-fifths rule on approvals by sex, and drift of the inputs as a whole."""


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
        "alerts": RULES,
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


def _say(line: str) -> None:
    """The receiver's lines, indented like the phase they arrive in."""
    print(f"  {line}", flush=True)


async def _alerts_after_baseline(http: aiohttp.ClientSession, admin: str, inbox: Inbox) -> None:
    """Say that no alert fired on the baseline (or which did), and what the rollout gate answers."""
    from sidecar.demo.alerting import alert_states, fired, gate

    states = await alert_states(http, admin, MONITOR)
    if isinstance(states, str):
        print(f"  alerts: unknown ({states})")
    elif rules := fired(states, inbox):
        print(
            f"  alerts: UNEXPECTED on the baseline: {', '.join(rules)} (small windows make approval rates "
            "noisy; try more --requests)"
        )
    else:
        print("  alerts: none fired (the receiver got nothing)")
    print(f"  {(await gate(http, admin, MONITOR))[1]}")


async def _alerts_after_drift(http: aiohttp.ClientSession, admin: str, inbox: Inbox) -> bool:
    """Wait until the receiver has every alert firing now, then show the rollout gate's answer; True if the
    alerts arrived and the gate fails."""
    from sidecar.demo.alerting import alert_states, gate, undelivered, wait_delivered

    firing = await alert_states(http, admin, MONITOR, "firing")
    delivered = False
    if isinstance(firing, str) or not firing:
        expected = ", ".join(r["name"] for r in RULES)
        print(f"  alerts firing: {firing or 'none'} (expected {expected}); see {admin}/api/alerts")
    elif missing := undelivered(firing, inbox):
        print(
            f"  waiting (up to {ALERT_TIMEOUT:g} s) for the receiver to get {', '.join(missing)} ...",
            flush=True,
        )
        if missing := await wait_delivered(firing, inbox, ALERT_TIMEOUT):
            print(
                f"  the receiver did not get {', '.join(missing)} within {ALERT_TIMEOUT:g} s ({inbox.rejected} "
                f"request(s) refused); the deliveries: {admin}/api/alerts/outbox"
            )
        delivered = not missing
    else:
        delivered = True
    if delivered and not isinstance(firing, str):
        rules = " and ".join(f"{s.rule} ({s.severity}, {s.action})" for s in firing)
        print(f"  alerts firing: {rules}, each delivered once to the receiver (above)")
    status, line = await gate(http, admin, MONITOR)
    print(f"  {line}")
    return delivered and status == 503


async def _start_receiver(stack: contextlib.AsyncExitStack, secret: str) -> tuple[str, Inbox]:
    """The webhook receiver on 127.0.0.1 (any port): its URL and what it receives."""
    from sidecar.demo.receiver import INBOX, PATH, create_receiver_app

    app = create_receiver_app(secret.encode(), _say)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    stack.push_async_callback(runner.cleanup)
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    return f"http://127.0.0.1:{runner.addresses[0][1]}{PATH}", app[INBOX]


async def _demo(args: argparse.Namespace) -> int:
    async with contextlib.AsyncExitStack() as stack:
        return await _run_demo(args, stack)


async def _run_demo(args: argparse.Namespace, stack: contextlib.AsyncExitStack) -> int:
    """The demo; `stack` stops what it starts in reverse order: driftcar, the receiver, the model server."""
    from sidecar.demo.model_server import MODEL_FEATURES, create_model_app
    from sidecar.demo.traffic import plan
    from sidecar.server import Sidecar
    from sidecar.settings import Settings

    workdir = Path(args.dir or tempfile.mkdtemp(prefix="driftcar-demo-"))
    workdir.mkdir(parents=True, exist_ok=True)  # noqa: ASYNC240 - once, before anything runs
    print(f"driftcar demo: training the model server (scikit-learn, synthetic loan data) in {workdir}")
    model_runner = web.AppRunner(await create_model_app(), access_log=None)
    await model_runner.setup()
    stack.push_async_callback(model_runner.cleanup)
    await web.TCPSite(model_runner, "127.0.0.1", 0).start()
    model_port = model_runner.addresses[0][1]
    secret = secrets.token_urlsafe(32)
    os.environ[SECRET_ENV] = secret
    receiver, inbox = await _start_receiver(stack, secret)
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
            "alerts": {"webhooks": [{"name": WEBHOOK, "url": receiver, "secret_env": SECRET_ENV}]},
        }
    )
    sidecar = Sidecar(settings)
    await sidecar.start()
    stack.push_async_callback(sidecar.stop)
    proxy, admin = f"http://127.0.0.1:{sidecar.port}", f"http://127.0.0.1:{sidecar.admin_port}"
    print(f"model server on 127.0.0.1:{model_port}; driftcar proxy on {proxy}, admin on {admin}")
    print(
        f"monitor {MONITOR!r}: every {EVERY:g} s, a report on the newest {half:,} records against the first "
        f"{half:,} captured (the\n  default reference): drift of the model's {len(MODEL_FEATURES)} inputs "
        "and its prediction, approval rates by sex"
    )
    print(
        f"alert rules of {MONITOR!r}: disparate-impact (approval-rate ratio by sex below 0.8: critical, action "
        "rollback)\n  and input-drift (dataset drift: warning, action retrain); notifications go to a local "
        f"receiver at\n  {receiver}, which checks their signatures (HMAC with a secret made for this run "
        f"and given\n  to driftcar in ${SECRET_ENV})"
    )
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as http:
        print(f"\n1. baseline: {baseline} requests like the training data")
        rows, _ = await _phase(sidecar, http, 0, baseline, drifted=False)
        await _alerts_after_baseline(http, admin, inbox)
        print(
            f"\n2. drift: {drifted} requests with lower incomes (women's most), more debt and shifted regions"
        )
        rows, run = await _phase(sidecar, http, rows, drifted, drifted=True)
        alerted = await _alerts_after_drift(http, admin, inbox)
    print("\nwhere to look:")
    print(f"  reports          {admin}/reports (every run of {MONITOR!r}; a new one every {EVERY:g} s)")
    if run is not None and run.has_html:
        print(f"  drift report     {admin}/reports/{run.id} (its summary: {admin}/reports/{run.id}.json)")
    print(f"  runs             {admin}/api/monitors/{MONITOR}/runs")
    print(f"  alerts           {admin}/api/alerts (their deliveries: {admin}/api/alerts/outbox)")
    print(
        f"  rollout gate     {admin}/gate/{MONITOR} (503 while an alert of severity warning or worse fires)"
    )
    print(f"  newest records   {admin}/api/records?limit=5")
    print(f"  metrics          {admin}/metrics")
    print(f"  readiness        {admin}/readyz")
    print(
        f"  database         {workdir / 'driftcar.db'} (tables records, report_runs, alert_states, alert_outbox)"
    )
    await _linger(args.linger)
    return 0 if run is not None and run.status == "ok" and alerted else 1


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
        # Likewise the alerts' (the receiver prints each); failed deliveries are warnings and still show.
        logging.getLogger("alerts").setLevel(logging.WARNING)
    return asyncio.run(_demo(args))
