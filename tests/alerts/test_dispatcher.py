"""The dispatcher against real receivers on 127.0.0.1 and real databases: backoff bounds, giving up at
`max_age`, retries that keep their Idempotency-Key (after a 5xx and after a timeout), order per destination
while another destination flows, and two dispatchers sharing one PostgreSQL outbox."""

from __future__ import annotations

import asyncio
import inspect
import itertools
import logging
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from scipy import stats
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from alerts.config import AlertsSettings
from alerts.dispatcher import USER_AGENT, Dispatcher, load_secrets
from alerts.payload import AlertEvent, RunRef
from alerts.signing import IDEMPOTENCY_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER, verify
from alerts.store import AlertStore, OutboxEntry
from sidecar.server import free_port
from storage.engine import create_engine
from storage.migrate import upgrade
from storage.schema import alert_outbox
from tests.conftest import fresh_pg_database

SECRET = "dispatcher-test-secret-0123456789"
SECRET_ENV = "DISPATCHER_TEST_SECRET"
T0 = 1_790_000_000.0
FAST = {"initial_backoff": 0.05, "max_backoff": 0.2, "poll": 0.02}


@dataclass
class Seen:
    """One request as the receiver got it."""

    path: str
    key: str
    body: bytes
    headers: dict[str, str]


Script = Callable[[Seen, int], Awaitable[int]]
"""The receiver's answer (a status) to a request, given how many times it saw that key before."""


async def _ok(seen: Seen, before: int) -> int:
    return 200


@dataclass
class Receiver:
    """Webhook receivers on one server (one per path) that record every request and, like a consumer should,
    act on each Idempotency-Key once (`acted`, per path, in order)."""

    script: Script = _ok
    requests: list[Seen] = field(default_factory=list)
    acted: dict[str, list[str]] = field(default_factory=dict)
    in_flight: set[str] = field(default_factory=set)
    overlaps: list[str] = field(default_factory=list)

    def app(self) -> web.Application:
        """The aiohttp application: POST /{path}."""
        app = web.Application()
        app.router.add_post("/{path}", self._handle)
        return app

    def keys(self, path: str) -> list[str]:
        """Idempotency-Keys of every request to `path`, in arrival order."""
        return [s.key for s in self.requests if s.path == path]

    async def _handle(self, request: web.Request) -> web.Response:
        key = request.headers[IDEMPOTENCY_HEADER]
        seen = Seen(request.match_info["path"], key, await request.read(), dict(request.headers))
        before = sum(1 for s in self.requests if s.key == key)
        self.requests.append(seen)
        if key in self.in_flight:
            self.overlaps.append(key)
        self.in_flight.add(key)
        try:
            status = await self.script(seen, before)
        finally:
            self.in_flight.discard(key)
        acted = self.acted.setdefault(seen.path, [])
        if 200 <= status < 300 and key not in acted:
            acted.append(key)
        return web.json_response({"ok": status < 300}, status=status)


@pytest.fixture
async def receiver() -> AsyncIterator[tuple[Receiver, TestServer]]:
    """A scripted receiver on 127.0.0.1 (answers 200 until a test sets `script`)."""
    state = Receiver()
    server = TestServer(state.app(), host="127.0.0.1")
    await server.start_server()
    yield state, server
    await server.close()


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    """The dispatcher's client session."""
    async with aiohttp.ClientSession() as client:
        yield client


def event(event_id: str) -> AlertEvent:
    """A firing notification with id `event_id`."""
    return AlertEvent(
        id=event_id,
        status="firing",
        fingerprint="0" * 64,
        monitor="m",
        rule="r",
        severity="warning",
        action="notify",
        summary=f"{event_id} fires",
        starts_at=T0,
        ends_at=None,
        run=RunRef(1, T0 - 3600, T0, None, None),
        created_at=T0,
    )


async def queue(engine: AsyncEngine, *items: tuple[str, str], created_at: float | None = None) -> None:
    """Queue notifications (event id, destination) in this order, as `apply_run` does."""
    now = time.time() if created_at is None else created_at
    async with engine.begin() as conn:
        for event_id, destination in items:
            await conn.execute(
                alert_outbox.insert().values(
                    event_id=event_id,
                    destination=destination,
                    monitor="m",
                    event=event(event_id).to_json(),
                    created_at=now,
                    next_attempt_at=now,
                    attempts=0,
                    status="pending",
                )
            )


def make_dispatcher(
    engine: AsyncEngine, session: aiohttp.ClientSession, hooks: list[dict[str, Any]], **delivery: Any
) -> Dispatcher:
    """A dispatcher for these webhooks (signed with SECRET), retrying fast unless `delivery` says otherwise."""
    webhooks = [{"secret_env": SECRET_ENV, **h} for h in hooks]
    alerts = AlertsSettings.model_validate({"webhooks": webhooks, "delivery": {**FAST, **delivery}})
    return Dispatcher(engine, alerts, session, load_secrets(alerts), external_url="http://driftcar.test")


async def entries(engine: AsyncEngine) -> dict[str, OutboxEntry]:
    """Every notification by event id."""
    return {e.event_id: e for e in await AlertStore(engine).outbox(limit=1000)}


async def drive(dispatcher: Dispatcher, done: Callable[[], Awaitable[bool]], timeout: float = 15.0) -> None:
    """Run delivery rounds until `done()` (failing after `timeout` seconds)."""
    deadline = time.monotonic() + timeout
    while not await done():
        assert time.monotonic() < deadline, "the dispatcher did not get there in time"
        await dispatcher.run_once()
        await asyncio.sleep(0.02)


async def wait_until(done: Callable[[], bool | Awaitable[bool]], timeout: float, what: str) -> None:
    """Poll until `done()` (a plain or async check); fail with `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = done()
        if await result if inspect.isawaitable(result) else result:
            return
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.02)


def all_delivered(engine: AsyncEngine) -> Callable[[], Awaitable[bool]]:
    """A check: every notification in the outbox is delivered (the dispatcher has recorded it)."""

    async def check() -> bool:
        return {e.status for e in (await entries(engine)).values()} == {"delivered"}

    return check


@pytest.fixture(autouse=True)
def _secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(SECRET_ENV, SECRET)


async def test_backoff_is_full_jitter_between_a_tenth_and_all_of_the_capped_exponential(
    tmp_path: Path, session: aiohttp.ClientSession
) -> None:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'unused.db'}")
    alerts = AlertsSettings.model_validate({"delivery": {"initial_backoff": 1, "max_backoff": 300}})
    dispatcher = Dispatcher(engine, alerts, session, {}, external_url="")
    saved = random.getstate()
    random.seed(20_240)
    try:
        for attempt in range(1, 14):
            cap = min(300.0, 2.0 ** (attempt - 1))
            samples = [dispatcher.backoff(attempt) for _ in range(2000)]
            assert 0.1 * cap <= min(samples) and max(samples) <= cap
            # Uniform over the whole band (scipy's KS test as the oracle), not bunched at either end.
            assert stats.kstest(samples, "uniform", args=(0.1 * cap, 0.9 * cap)).pvalue > 0.001
        assert 30.0 <= dispatcher.backoff(10_000) <= 300.0  # no overflow for absurd attempt numbers
    finally:
        random.setstate(saved)
        await engine.dispose()


async def test_max_age_gives_up_counts_logs_and_keeps_every_attempt(
    migrated_engine: AsyncEngine,
    receiver: tuple[Receiver, TestServer],
    session: aiohttp.ClientSession,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="alerts.dispatcher")
    state, server = receiver

    async def broken(seen: Seen, before: int) -> int:
        return 500

    state.script = broken
    hooks = [
        {"name": "broken", "url": str(server.make_url("/broken")), "max_age": 0.6},
        {"name": "down", "url": f"http://127.0.0.1:{free_port()}/hook", "max_age": 0.6},
    ]
    dispatcher = make_dispatcher(migrated_engine, session, hooks)
    created = time.time()
    await queue(migrated_engine, ("e-broken", "broken"), ("e-down", "down"), created_at=created)

    async def both_dead() -> bool:
        return {e.status for e in (await entries(migrated_engine)).values()} == {"dead"}

    await drive(dispatcher, both_dead)
    found = await entries(migrated_engine)
    store = AlertStore(migrated_engine)
    total = 0
    for event_id, code, error in (("e-broken", 500, "HTTP 500: "), ("e-down", None, "ClientConnectorError")):
        entry = found[event_id]
        log = await store.attempts(entry.id)
        total += len(log)
        assert entry.attempts == len(log) >= 2 and entry.delivered_at is None
        assert entry.last_error is not None and entry.last_error.startswith(error)
        assert [a["attempt"] for a in log] == list(range(1, len(log) + 1))
        assert all(a["status_code"] == code and a["error"].startswith(error) for a in log)
        assert all(a["at"] - created < 0.6 for a in log[:-1]) and log[-1]["at"] - created >= 0.6
        for k, (earlier, later) in enumerate(itertools.pairwise(log), start=1):
            assert later["at"] - earlier["at"] >= 0.1 * min(0.2, 0.05 * 2 ** (k - 1))
    assert state.keys("broken") == ["e-broken"] * found["e-broken"].attempts
    assert (dispatcher.dead, dispatcher.delivered, dispatcher.failed_attempts) == (2, 0, total)
    given_up = [r for r in caplog.records if r.levelno == logging.ERROR and "given up" in r.getMessage()]
    assert sorted(r.getMessage().split()[1] for r in given_up) == ["e-broken", "e-down"]


async def test_a_5xx_then_a_2xx_delivers_with_the_same_key_and_signature(
    migrated_engine: AsyncEngine, receiver: tuple[Receiver, TestServer], session: aiohttp.ClientSession
) -> None:
    state, server = receiver

    async def flaky(seen: Seen, before: int) -> int:
        return 503 if before == 0 else 200

    state.script = flaky
    dispatcher = make_dispatcher(
        migrated_engine, session, [{"name": "ops", "url": str(server.make_url("/ops"))}]
    )
    await queue(migrated_engine, ("e-1", "ops"))

    async def delivered() -> bool:
        return (await entries(migrated_engine))["e-1"].status == "delivered"

    await drive(dispatcher, delivered)
    assert state.keys("ops") == ["e-1", "e-1"] and state.acted == {"ops": ["e-1"]}
    for seen in state.requests:
        verify([SECRET.encode()], seen.headers[TIMESTAMP_HEADER], seen.headers[SIGNATURE_HEADER], seen.body)
        assert seen.headers["Content-Type"] == "application/json"
        assert seen.headers["User-Agent"] == USER_AGENT
        assert orjson.loads(seen.body) == event("e-1").to_json()
    entry = (await entries(migrated_engine))["e-1"]
    assert (entry.attempts, entry.last_error) == (2, None) and entry.delivered_at is not None
    log = await AlertStore(migrated_engine).attempts(entry.id)
    assert [(a["attempt"], a["status_code"]) for a in log] == [(1, 503), (2, 200)]
    assert log[0]["error"].startswith("HTTP 503: ") and log[1]["error"] is None
    assert (dispatcher.delivered, dispatcher.failed_attempts, dispatcher.dead) == (1, 1, 0)


async def test_a_receiver_slower_than_the_timeout_gets_the_retry_with_the_same_key(
    migrated_engine: AsyncEngine, receiver: tuple[Receiver, TestServer], session: aiohttp.ClientSession
) -> None:
    state, server = receiver

    async def slow_first(seen: Seen, before: int) -> int:
        if before == 0:
            await asyncio.sleep(1.0)
        return 200

    state.script = slow_first
    hooks = [{"name": "ops", "url": str(server.make_url("/ops")), "timeout": 0.3}]
    dispatcher = make_dispatcher(migrated_engine, session, hooks)
    await queue(migrated_engine, ("e-slow", "ops"))

    async def delivered() -> bool:
        return (await entries(migrated_engine))["e-slow"].status == "delivered"

    await drive(dispatcher, delivered)
    entry = (await entries(migrated_engine))["e-slow"]
    log = await AlertStore(migrated_engine).attempts(entry.id)
    assert [(a["status_code"], a["error"]) for a in log] == [(None, "timed out"), (200, None)]
    assert log[0]["duration_ms"] >= 250  # it waited for the timeout, not for the answer
    await wait_until(lambda: not state.in_flight, 5.0, "the slow first request to finish")
    # The receiver got the notification twice, under one key; deduplicating by key, it acts on it once.
    assert state.keys("ops") == ["e-slow", "e-slow"] and state.acted == {"ops": ["e-slow"]}


async def test_a_failing_destination_keeps_its_order_while_another_flows(
    migrated_engine: AsyncEngine, receiver: tuple[Receiver, TestServer], session: aiohttp.ClientSession
) -> None:
    state, server = receiver
    outage = asyncio.Event()
    outage.set()

    async def script(seen: Seen, before: int) -> int:
        return 503 if seen.path == "slow" and outage.is_set() else 200

    state.script = script
    hooks = [{"name": n, "url": str(server.make_url(f"/{n}"))} for n in ("slow", "fast")]
    dispatcher = make_dispatcher(migrated_engine, session, hooks)
    slow, fast = ["s1", "s2", "s3"], ["f1", "f2", "f3"]
    await queue(
        migrated_engine,
        *[
            (e, d)
            for pair in zip(slow, fast, strict=True)
            for e, d in zip(pair, ("slow", "fast"), strict=True)
        ],
    )
    dispatcher.start()
    try:
        await wait_until(lambda: state.acted.get("fast") == fast, 10.0, "the healthy destination")
        await wait_until(lambda: len(state.keys("slow")) >= 3, 10.0, "retries of the failing destination")
        assert set(state.keys("slow")) == {"s1"}  # s2 and s3 wait behind s1
        outage.clear()
        await wait_until(all_delivered(migrated_engine), 10.0, "the recovered destination")
    finally:
        await dispatcher.stop()
    assert state.acted["slow"] == slow
    first_seen = list(dict.fromkeys(state.keys("slow")))
    assert first_seen == slow and state.keys("fast") == fast


@pytest.mark.postgres
async def test_two_dispatchers_on_one_postgres_outbox_never_send_a_notification_twice_at_once(
    receiver: tuple[Receiver, TestServer],
) -> None:
    state, server = receiver
    destinations = [f"d{i}" for i in range(4)]
    queued = [(f"e-{d}-{n:02d}", d) for n in range(10) for d in destinations]
    failing_first = {event_id for i, (event_id, _) in enumerate(queued) if i % 3 == 1}

    async def script(seen: Seen, before: int) -> int:
        await asyncio.sleep(0.03)  # long enough for the other dispatcher to try to take it meanwhile
        return 500 if seen.key in failing_first and before == 0 else 200

    state.script = script
    hooks = [{"name": d, "url": str(server.make_url(f"/{d}"))} for d in destinations]
    async with fresh_pg_database() as url:
        engines = [create_engine(url), create_engine(url)]
        sessions = [aiohttp.ClientSession(), aiohttp.ClientSession()]
        try:
            await upgrade(engines[0])
            await queue(engines[0], *queued)
            replicas = [make_dispatcher(e, s, hooks, batch=3) for e, s in zip(engines, sessions, strict=True)]
            for replica in replicas:
                replica.start()
            try:
                await wait_until(all_delivered(engines[0]), 60.0, "every delivery")
            finally:
                for replica in replicas:
                    await replica.stop()
        finally:
            for s in sessions:
                await s.close()
            for e in engines:
                await e.dispose()

    assert state.overlaps == []
    successes: dict[str, int] = {}
    for event_id, _ in queued:
        calls = state.keys(event_id.split("-")[1])
        successes[event_id] = calls.count(event_id) - (1 if event_id in failing_first else 0)
    assert set(successes.values()) == {1}, "a notification was delivered more than once"
    for d in destinations:
        assert state.acted[d] == [e for e, dest in queued if dest == d]
        assert list(dict.fromkeys(state.keys(d))) == state.acted[d]
    assert sum(r.delivered for r in replicas) == len(queued)
    assert all(r.delivered > 0 for r in replicas), "one replica did all the work: nothing was shared"


async def test_the_outbox_row_is_not_taken_twice_by_one_round(
    migrated_engine: AsyncEngine, receiver: tuple[Receiver, TestServer], session: aiohttp.ClientSession
) -> None:
    """A notification being delivered is leased: a second round meanwhile does not take it."""
    state, server = receiver
    release = asyncio.Event()

    async def held(seen: Seen, before: int) -> int:
        await release.wait()
        return 200

    state.script = held
    dispatcher = make_dispatcher(
        migrated_engine, session, [{"name": "ops", "url": str(server.make_url("/ops"))}]
    )
    await queue(migrated_engine, ("e-held", "ops"))
    first = asyncio.create_task(dispatcher.run_once())
    await wait_until(lambda: bool(state.requests), 5.0, "the first delivery to start")
    assert await dispatcher.run_once() is False
    release.set()
    assert await first is True
    async with migrated_engine.connect() as conn:
        (row,) = list(await conn.execute(select(alert_outbox)))
    assert (row.status, row.attempts, row.lease_until) == ("delivered", 1, None)
    assert state.keys("ops") == ["e-held"]
