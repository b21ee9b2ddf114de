"""Bodies above `capture.max_body_bytes`, on either side, with a Content-Length or chunked: proxied whole (the
other end gets every byte, SHA-256 compared) and recorded as `not captured: <side> body too large (N bytes)`;
a body of exactly the limit is still captured."""

from __future__ import annotations

import hashlib
import io
from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from tests.sidecar.conftest import SidecarFactory, proxy_url, wait_records
from tests.sidecar.upstream import create_upstream

LIMIT = 64 << 10


def _payload(size: int) -> bytes:
    """`size` bytes that are valid JSON when small enough to be captured (`[1,1,...]` padded)."""
    body = b"[" + b"1," * ((size - 2) // 2)
    return (body + b"1" * (size - 1 - len(body)) + b"]")[:size]


async def _blob(request: web.Request) -> web.StreamResponse:
    """`size` bytes with a Content-Length, or chunked with `?chunked=1`."""
    body = _payload(int(request.query["size"]))
    await request.read()
    if request.query.get("chunked"):
        resp = web.StreamResponse(headers={"Content-Type": "application/json"})
        resp.enable_chunked_encoding()
        await resp.prepare(request)
        for i in range(0, len(body), 50_000):
            await resp.write(body[i : i + 50_000])
        await resp.write_eof()
        return resp
    return web.Response(body=body, headers={"Content-Type": "application/json"})


@pytest.fixture
async def blob_upstream() -> AsyncIterator[TestServer]:
    """The stand-in upstream (with its `/sink`) plus `/blob`, a large response on demand."""
    app = create_upstream()
    app.router.add_route("*", "/blob", _blob)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    yield server
    await server.close()


async def _pieces(body: bytes) -> AsyncIterator[bytes]:
    for i in range(0, len(body), 40_000):
        yield body[i : i + 40_000]


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
@pytest.mark.parametrize("size", [LIMIT, LIMIT + 1, 3_000_000])
async def test_large_request_body_reaches_the_upstream_whole(
    chunked: bool, size: int, make_sidecar: SidecarFactory, blob_upstream: TestServer
) -> None:
    sidecar = await make_sidecar(str(blob_upstream.make_url("")), capture={"max_body_bytes": LIMIT})
    body = _payload(size)
    request_id = f"req-{size}-{int(chunked)}"
    async with aiohttp.ClientSession() as http:
        async with http.post(
            proxy_url(sidecar, "/sink"),
            data=_pieces(body) if chunked else io.BytesIO(body),
            headers={"Content-Type": "application/json", "X-Request-ID": request_id},
        ) as resp:
            assert resp.status == 200
            assert await resp.json() == {"size": size, "sha256": hashlib.sha256(body).hexdigest()}
        (record,) = await wait_records(http, sidecar, 1, timeout=30)
    assert record["request_id"] == request_id
    if size <= LIMIT:
        assert not (record["error"] or "").startswith("not captured")
    else:
        assert record["error"].startswith(f"not captured: request body too large ({size} bytes)")


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
@pytest.mark.parametrize("size", [LIMIT, LIMIT + 1, 3_000_000])
async def test_large_response_body_reaches_the_client_whole(
    chunked: bool, size: int, make_sidecar: SidecarFactory, blob_upstream: TestServer
) -> None:
    sidecar = await make_sidecar(str(blob_upstream.make_url("")), capture={"max_body_bytes": LIMIT})
    url = proxy_url(sidecar, f"/blob?size={size}" + ("&chunked=1" if chunked else ""))
    async with aiohttp.ClientSession(auto_decompress=False) as http:
        async with http.post(url, json={"x": 1}) as resp:
            assert resp.status == 200
            received = await resp.read()
        assert hashlib.sha256(received).hexdigest() == hashlib.sha256(_payload(size)).hexdigest()
        records = await wait_records(http, sidecar, 1, timeout=30)
    if size <= LIMIT:
        assert not any((r["error"] or "").startswith("not captured") for r in records)
    else:
        assert {r["error"] for r in records} == {f"not captured: response body too large ({size} bytes)"}


async def test_both_bodies_too_large_name_both_sides(
    make_sidecar: SidecarFactory, blob_upstream: TestServer
) -> None:
    sidecar = await make_sidecar(str(blob_upstream.make_url("")), capture={"max_body_bytes": LIMIT})
    body = _payload(2 * LIMIT)
    async with aiohttp.ClientSession(auto_decompress=False) as http:
        async with http.post(proxy_url(sidecar, "/echo"), data=_pieces(body)) as resp:
            assert await resp.read() == body
        (record,) = await wait_records(http, sidecar, 1, timeout=30)
    assert record["error"] == (
        f"not captured: request body too large ({len(body)} bytes); "
        f"not captured: response body too large ({len(body)} bytes)"
    )
