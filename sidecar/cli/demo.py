"""`driftcar demo`: a model server, driftcar in front of it on SQLite, and traffic with an injected drift."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sys
import tempfile
from pathlib import Path

from aiohttp import web

logger = logging.getLogger(__name__)


def configure(parser: argparse.ArgumentParser) -> None:
    """Demo options."""
    parser.add_argument("--requests", type=int, default=2000, help="requests to send (default 2000)")
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


async def _demo(args: argparse.Namespace) -> int:
    from sidecar.demo.model_server import create_model_app
    from sidecar.demo.traffic import send_traffic
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
    settings = Settings.model_validate(
        {
            "upstream": f"http://127.0.0.1:{model_port}",
            "host": "127.0.0.1",
            "port": args.port,
            "admin_port": args.admin_port,
            "database_url": f"sqlite+aiosqlite:///{workdir / 'driftcar.db'}",
            "capture": {"spool_dir": str(workdir / "spool")},
        }
    )
    sidecar = Sidecar(settings)
    await sidecar.start()
    proxy, admin = f"http://127.0.0.1:{sidecar.port}", f"http://127.0.0.1:{sidecar.admin_port}"
    try:
        print(f"model server on 127.0.0.1:{model_port}; driftcar proxy on {proxy}, admin on {admin}")
        print(
            f"sending {args.requests} requests (baseline, then drifted: lower income, more debt, shifted regions)"
        )
        result = await send_traffic(proxy, requests=args.requests)
        print(
            f"sent {result.requests} requests ({result.rows} rows); statuses {result.statuses}; failed {result.failed}"
        )
        stats = sidecar.app_writer_stats()
        for _ in range(100):  # the writer flushes every 0.5 s
            if stats.written + stats.spooled >= result.rows:
                break
            await asyncio.sleep(0.1)
            stats = sidecar.app_writer_stats()
        print(f"records written: {stats.written}, spooled: {stats.spooled}, dropped: {stats.dropped}")
        from sidecar.demo.summary import summary

        print()
        print(await asyncio.to_thread(summary, workdir / "driftcar.db"))
        print()
        print("where to look:")
        print(f"  newest records   {admin}/api/records?limit=5")
        print(f"  metrics          {admin}/metrics")
        print(f"  readiness        {admin}/readyz")
        print(f"  database         {workdir / 'driftcar.db'} (table records)")
        await _linger(args.linger)
    finally:
        await sidecar.stop()
        await model_runner.cleanup()
    return 0


async def _linger(seconds: float | None) -> None:
    if seconds == 0 or (seconds is None and not sys.stdin.isatty()):
        return
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    print("serving until Ctrl-C" if seconds is None else f"serving for {seconds:g} s")
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), timeout=seconds)


def run(args: argparse.Namespace) -> int:
    """Run the demo."""
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
    return asyncio.run(_demo(args))
