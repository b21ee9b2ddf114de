"""A real proxy in front of an upstream that answers each request with the hostile response drawn for it
(looked up by request id): the harness for `test_proxy_hostile.py` and `bench.fuzz --proxy`.

Sidecar and upstream run on an event loop in a thread of their own for all examples; each (synchronous)
hypothesis example calls into it with `Harness.run`.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import sqlite3
import threading
from collections.abc import Awaitable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import aiohttp
from aiohttp import web
from aiohttp.test_utils import TestServer

from sidecar.server import Sidecar
from sidecar.settings import Settings
from tests.sidecar.capture.hostile import CAPTURE_LIMIT, Hostile
from tests.sidecar.scrape import scrape

T = TypeVar("T")
ANSWERS = web.AppKey("answers", dict[str, Hostile])
_NOT_FORWARDED = frozenset({"content-length", "transfer-encoding", "connection"})


async def _answer(request: web.Request) -> web.Response:
    """The hostile response drawn for this request id, byte for byte (aiohttp adds only its framing)."""
    await request.read()
    case = request.app[ANSWERS][request.headers["X-Request-ID"]]
    headers = [(k, v) for k, v in case.response_headers if k.lower() not in _NOT_FORWARDED]
    resp = web.Response(status=case.status, body=case.response_body)
    for name, value in headers:
        resp.headers.add(name, value)
    return resp


def _upstream() -> web.Application:
    app = web.Application(client_max_size=64 << 20, handler_args={"auto_decompress": False})
    app[ANSWERS] = {}
    app.router.add_route("*", "/{tail:.*}", _answer)
    return app


@dataclass
class Harness:
    """A hostile upstream, a sidecar in front of it, and a client, on `loop`."""

    loop: asyncio.AbstractEventLoop
    upstream: TestServer
    sidecar: Sidecar
    client: aiohttp.ClientSession
    database: Path
    sent: list[str] = field(default_factory=list)

    def run(self, coro: Awaitable[T], timeout: float = 60.0) -> T:
        """Run a coroutine on the harness loop and wait for its result."""
        return asyncio.run_coroutine_threadsafe(_as_coroutine(coro), self.loop).result(timeout)

    async def send(self, case: Hostile, request_id: str) -> tuple[int, bytes]:
        """POST the hostile request through the proxy; (status, response bytes as received)."""
        self.upstream.app[ANSWERS][request_id] = case
        headers = [(k, v) for k, v in case.request_headers if k.lower() not in _NOT_FORWARDED]
        async with self.client.request(
            case.method,
            f"http://127.0.0.1:{self.sidecar.port}{case.path}",
            data=io.BytesIO(case.request_body),  # raw bytes over 1 MiB make aiohttp warn
            headers=[*headers, ("X-Request-ID", request_id)],
            skip_auto_headers=["Content-Type"],
        ) as resp:
            return resp.status, await resp.read()

    async def stored(self, timeout: float = 60.0) -> tuple[set[str], int]:
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


async def _start(loop: asyncio.AbstractEventLoop, tmp_path: Path) -> Harness:
    upstream = TestServer(_upstream(), host="127.0.0.1")
    await upstream.start_server()
    sidecar = Sidecar(
        Settings.model_validate(
            {
                "upstream": str(upstream.make_url("")),
                "host": "127.0.0.1",
                "port": 0,
                "admin_port": 0,
                "database_url": f"sqlite+aiosqlite:///{tmp_path / 'hostile.db'}",
                "capture": {
                    "spool_dir": str(tmp_path / "spool"),
                    "flush_interval": 0.05,
                    "max_body_bytes": CAPTURE_LIMIT,
                },
                # Redaction runs on whatever the adapters made of the hostile bodies, too.
                "routes": [{"path": "*", "redact": ["feature1", "f0", "x_0", "sepal_length"]}],
                "shutdown_timeout": 5.0,
            }
        )
    )
    await sidecar.start()
    client = aiohttp.ClientSession(auto_decompress=False, timeout=aiohttp.ClientTimeout(total=60))
    return Harness(loop, upstream, sidecar, client, tmp_path / "hostile.db")


async def _stop(harness: Harness) -> None:
    await harness.client.close()
    await harness.sidecar.stop()
    await harness.upstream.close()


@contextlib.contextmanager
def running_harness(tmp_path: Path) -> Iterator[Harness]:
    """The harness on its own loop thread until the block ends; SQLite and spool under `tmp_path`."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="hostile-loop", daemon=True)
    thread.start()
    try:
        h = asyncio.run_coroutine_threadsafe(_start(loop, tmp_path), loop).result(60)
        try:
            yield h
        finally:
            h.run(_stop(h))
            h.run(loop.shutdown_asyncgens())
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()


def send_and_compare(harness: Harness, case: Hostile, request_id: str) -> None:
    """Send one hostile exchange; assert the client got the upstream's exact status and bytes."""
    status, body = harness.run(harness.send(case, request_id))
    assert (status, body) == (case.status, case.response_body), case.mutation
    harness.sent.append(request_id)


def assert_all_recorded(harness: Harness, timeout: float = 60.0) -> None:
    """Every request sent has records, none says `capture failed`, and the failure and drop counters are 0."""
    ids, failed = harness.run(harness.stored(timeout), timeout + 120.0)
    missing = set(harness.sent) - ids
    assert not missing, (
        f"{len(missing)} of {len(harness.sent)} requests left no record: {sorted(missing)[:5]}"
    )
    assert ids == set(harness.sent)  # nothing recorded that was not sent
    assert failed == 0
    metrics = harness.run(scrape(harness.client, harness.sidecar))
    assert {"driftcar_capture_failures", "driftcar_capture_exchanges_dropped"} <= metrics.families
    assert metrics.value("driftcar_capture_failures_total") == 0
    assert metrics.value("driftcar_capture_exchanges_dropped_total") == 0
