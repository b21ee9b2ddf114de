"""Every recorded server exchange through the real proxy into a real store: bytes untouched, records right."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from multidict import CIMultiDict

from sidecar.server import Sidecar
from storage.records import Record
from tests.fixtures.protocols import CASES, ProtocolCase, assert_records_match
from tests.sidecar.conftest import SidecarFactory, proxy_url, wait_records

WIRE_CASES = [c for c in CASES if c.wire]
CASE_HEADER = "X-Test-Case"
SEEN = web.AppKey("seen", dict)


async def _replay(request: web.Request) -> web.Response:
    """Answer with the recorded response of the case named in the request (and remember what arrived)."""
    name = request.headers[CASE_HEADER]
    case = next(c for c in WIRE_CASES if c.name == name)
    request.app[SEEN][name] = (request.raw_path, await request.read(), request.headers.copy())
    headers = CIMultiDict(case.response_headers)
    return web.Response(status=case.status, headers=headers, body=case.response_body)


@pytest.fixture
async def replay_upstream() -> AsyncIterator[TestServer]:
    """A model server that answers each case with its exact recorded response."""
    app = web.Application(handler_args={"auto_decompress": False})
    app[SEEN] = {}
    app.router.add_route("*", "/{tail:.*}", _replay)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    yield server
    await server.close()


def _routes(cases: list[ProtocolCase]) -> list[dict[str, Any]]:
    """A route config per case that needs adapter options (exact path, so cases don't collide)."""
    return [{"path": c.path, "adapter": c.options} for c in cases if c.options]


async def _send(
    http: aiohttp.ClientSession, sidecar: Sidecar, upstream: TestServer, case: ProtocolCase, request_id: str
) -> None:
    headers = CIMultiDict(case.request_headers)
    headers[CASE_HEADER] = case.name
    headers["X-Request-ID"] = request_id
    url = proxy_url(sidecar, case.path + (f"?{case.query}" if case.query else ""))
    async with http.request(case.method, url, data=case.request_body, headers=headers) as resp:
        body = await resp.read()
    assert resp.status == case.status, case.name
    assert body == case.response_body, f"{case.name}: response bytes changed"
    for name, value in case.response_headers:
        assert resp.headers.get(name) == value, f"{case.name}: response header {name}"
    _raw_path, seen_body, seen_headers = upstream.app[SEEN][case.name]
    assert seen_body == case.request_body, f"{case.name}: request bytes changed"
    for name, value in case.request_headers:
        assert seen_headers.get(name) == value, f"{case.name}: request header {name}"


def _stored(found: list[dict[str, Any]], request_id: str) -> list[Record]:
    rows = sorted((r for r in found if r["request_id"] == request_id), key=lambda r: r["row"])
    return [Record(**r) for r in rows]


@pytest.mark.parametrize("case", WIRE_CASES, ids=[c.name for c in WIRE_CASES])
async def test_case_through_the_proxy(
    case: ProtocolCase, make_sidecar: SidecarFactory, replay_upstream: TestServer, http: aiohttp.ClientSession
) -> None:
    sidecar = await make_sidecar(str(replay_upstream.make_url("")), routes=_routes([case]))
    await _send(http, sidecar, replay_upstream, case, "req-0001")
    records = _stored(await wait_records(http, sidecar, len(case.rows)), "req-0001")
    assert_records_match(records, case, request_id="req-0001", stored=True)


@pytest.mark.postgres
async def test_every_case_into_postgresql(
    postgres_url: str, make_sidecar: SidecarFactory, replay_upstream: TestServer, http: aiohttp.ClientSession
) -> None:
    """All cases through one sidecar on the real PostgreSQL server."""
    cases = [
        c for c in WIRE_CASES if not c.options or c.path not in {o.path for o in WIRE_CASES if o is not c}
    ]
    sidecar = await make_sidecar(
        str(replay_upstream.make_url("")), database_url=postgres_url, routes=_routes(cases)
    )
    for i, case in enumerate(cases):
        await _send(http, sidecar, replay_upstream, case, f"pg-{i}")
    expected = sum(len(c.rows) for c in cases)
    found = await wait_records(http, sidecar, expected)
    for i, case in enumerate(cases):
        assert_records_match(_stored(found, f"pg-{i}"), case, request_id=f"pg-{i}", stored=True)
