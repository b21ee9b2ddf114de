"""Fixtures for the consumer: its secret in the environment, consumer apps on 127.0.0.1, a recording receiver."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from multidict import CIMultiDictProxy

from alerts.consumer.app import create_app
from alerts.consumer.config import parse_config
from tests.alerts.consumer.helpers import SECRET, SECRET_ENV, Consumer

ConsumerFactory = Callable[..., Awaitable[Consumer]]


@pytest.fixture(autouse=True)
def _consumer_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(SECRET_ENV, SECRET)
    # MLflow's client would otherwise try to report usage to its makers from every test.
    monkeypatch.setenv("MLFLOW_DISABLE_TELEMETRY", "true")


def consumer_config(tmp_path: Path, **values: Any) -> dict[str, Any]:
    """A config mapping: the test secret, a dedupe file in tmp_path, then `values` on top."""
    return {
        "secrets": [{"secret_env": SECRET_ENV}],
        "dedupe": {"path": str(tmp_path / "dedupe.db")},
        **values,
    }


@pytest.fixture
async def make_consumer(tmp_path: Path) -> AsyncIterator[ConsumerFactory]:
    """Start consumer apps from config keyword arguments (merged over `consumer_config`); all closed at teardown."""
    servers: list[TestServer] = []
    http = aiohttp.ClientSession()

    async def factory(**values: Any) -> Consumer:
        config = parse_config(consumer_config(tmp_path, **values))
        server = TestServer(create_app(config), host="127.0.0.1")
        try:
            await server.start_server()
        except BaseException:
            if server.runner is not None:  # close what the contexts before the failing one opened
                await server.runner.cleanup()
            raise
        servers.append(server)
        return Consumer(str(server.make_url("")).rstrip("/"), http, server)

    try:
        yield factory
    finally:
        for server in servers:
            await server.close()
        await http.close()


@dataclass
class Received:
    """One request the receiver got."""

    method: str
    path_qs: str
    headers: CIMultiDictProxy[str]
    body: bytes


@dataclass
class Receiver:
    """A recording HTTP server; answers the statuses in `answers` in turn, then 200."""

    server: TestServer
    seen: list[Received] = field(default_factory=list)
    answers: list[int] = field(default_factory=list)

    def url(self, path: str) -> str:
        """Absolute URL of a path on the receiver."""
        return str(self.server.make_url(path))


RECEIVER = web.AppKey("receiver", Receiver)


async def _record(request: web.Request) -> web.Response:
    receiver = request.app[RECEIVER]
    receiver.seen.append(Received(request.method, request.path_qs, request.headers, await request.read()))
    status = receiver.answers.pop(0) if receiver.answers else 200
    return web.json_response({"id": f"run-{len(receiver.seen)}"}, status=status)


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    """The stand-in for Prefect or any other URL an `http` action calls."""
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", _record)
    server = TestServer(app, host="127.0.0.1")
    state = Receiver(server)
    app[RECEIVER] = state
    await server.start_server()
    try:
        yield state
    finally:
        await server.close()
