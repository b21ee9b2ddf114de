"""A real sidecar (SQLite under `tmp_path`) in front of an upstream app, both on an event loop in a thread of
their own, for tests whose (synchronous) hypothesis examples call into it with `ProxyHarness.run`: the harness
of `test_proxy_fuzz.py`, `test_proxy_hostile.py` (through `hostile_proxy.py`) and `bench.fuzz --proxy`.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import threading
from collections.abc import Awaitable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import aiohttp
from aiohttp import web
from aiohttp.test_utils import TestServer

from sidecar.server import Sidecar
from sidecar.settings import Settings

T = TypeVar("T")
TIMEOUT = 60.0
"""Bounds every call into the loop and every client request (generous: the machine may be slow)."""


@dataclass
class ProxyHarness:
    """An upstream, a sidecar in front of it, and a client, on `loop`; `sent` lists the request ids sent."""

    loop: asyncio.AbstractEventLoop
    upstream: TestServer
    sidecar: Sidecar
    client: aiohttp.ClientSession
    database: Path
    sent: list[str] = field(default_factory=list)

    def run(self, coro: Awaitable[T], timeout: float = TIMEOUT) -> T:
        """Run a coroutine on the harness loop and wait for its result."""
        return asyncio.run_coroutine_threadsafe(_as_coroutine(coro), self.loop).result(timeout)

    def url(self, path: str) -> str:
        """The proxy's URL for `path` (with its query, if any)."""
        return f"http://127.0.0.1:{self.sidecar.port}{path}"

    async def stored(self, timeout: float = TIMEOUT) -> tuple[set[str], int]:
        """(request ids with records, records saying `capture failed`), polled until every request sent is
        there. Read with SQL: a long fuzz run stores millions of records (huge arrays), too many to load."""
        deadline = self.loop.time() + timeout
        while True:
            ids, failed = await asyncio.to_thread(_stored, self.database)
            if set(self.sent) <= ids or self.loop.time() > deadline:
                return ids, failed
            await asyncio.sleep(0.1)


def _stored(database: Path) -> tuple[set[str], int]:
    with contextlib.closing(sqlite3.connect(database)) as db:
        ids = {row[0] for row in db.execute("SELECT DISTINCT request_id FROM records")}
        failed = db.execute("SELECT count(*) FROM records WHERE error LIKE 'capture failed%'").fetchone()[0]
    return ids, int(failed)


async def _as_coroutine(awaitable: Awaitable[T]) -> T:
    return await awaitable


async def _start(
    loop: asyncio.AbstractEventLoop,
    tmp_path: Path,
    upstream_app: web.Application,
    upstream_path: str,
    capture_limit: int,
    overrides: Mapping[str, Any],
) -> ProxyHarness:
    upstream = TestServer(upstream_app, host="127.0.0.1")
    await upstream.start_server()
    database = tmp_path / "proxy.db"
    sidecar = Sidecar(
        Settings.model_validate(
            {
                "upstream": str(upstream.make_url(upstream_path)),
                "host": "127.0.0.1",
                "port": 0,
                "admin_port": 0,
                "database_url": f"sqlite+aiosqlite:///{database}",
                "capture": {
                    "spool_dir": str(tmp_path / "spool"),
                    "flush_interval": 0.05,
                    "max_body_bytes": capture_limit,
                },
                "shutdown_timeout": 5.0,
                **overrides,
            }
        )
    )
    await sidecar.start()
    client = aiohttp.ClientSession(auto_decompress=False, timeout=aiohttp.ClientTimeout(total=TIMEOUT))
    return ProxyHarness(loop, upstream, sidecar, client, database)


async def _stop(harness: ProxyHarness) -> None:
    await harness.client.close()
    await harness.sidecar.stop()
    await harness.upstream.close()


@contextlib.contextmanager
def running_proxy(
    tmp_path: Path,
    upstream_app: web.Application,
    *,
    capture_limit: int,
    upstream_path: str = "",
    overrides: Mapping[str, Any] | None = None,
) -> Iterator[ProxyHarness]:
    """The harness on its own loop thread until the block ends: `upstream_app` served on 127.0.0.1, the
    sidecar's upstream its `upstream_path`, capture bodies up to `capture_limit`, `overrides` on top."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="proxy-harness-loop", daemon=True)
    thread.start()
    try:
        start = _start(loop, tmp_path, upstream_app, upstream_path, capture_limit, overrides or {})
        h = asyncio.run_coroutine_threadsafe(start, loop).result(TIMEOUT)
        try:
            yield h
        finally:
            h.run(_stop(h))
            h.run(loop.shutdown_asyncgens())
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()
