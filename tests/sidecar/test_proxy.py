"""The proxy through real HTTP: byte-exact forwarding, headers, streaming, upstream failures."""

from __future__ import annotations

import asyncio
import gzip
from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from sidecar.server import Sidecar, free_port
from tests.sidecar.conftest import SidecarFactory, proxy_url, wait_records
from tests.sidecar.upstream import STATE

BODY = b'{"feature1": 5.1, "feature2": 3.5, "feature3": 1.4}'


@pytest.mark.parametrize("method", ["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"])
async def test_every_method_is_forwarded_byte_exact(
    method: str, sidecar: Sidecar, upstream: TestServer, http: aiohttp.ClientSession
) -> None:
    payload = bytes(range(256)) * 4 if method != "GET" else b""
    async with http.request(
        method,
        proxy_url(sidecar, "/echo/a%2Fb?x=1&y=%20"),
        data=payload,
        headers={"Content-Type": "application/x-custom"},
    ) as resp:
        body = await resp.read()
    assert resp.status == 200
    assert resp.headers["X-Upstream-Method"] == method
    seen = upstream.app[STATE].seen[-1]
    assert seen.method == method
    assert seen.raw_path == "/echo/a%2Fb?x=1&y=%20"
    assert seen.body == payload
    assert body == payload


async def test_gzip_request_body_reaches_upstream_compressed_and_is_captured(
    sidecar: Sidecar, upstream: TestServer, http: aiohttp.ClientSession
) -> None:
    compressed = gzip.compress(BODY, mtime=0)
    async with http.post(
        proxy_url(sidecar, "/echo"),
        data=compressed,
        headers={"Content-Encoding": "gzip", "Content-Type": "application/json", "X-Request-ID": "gz-1"},
    ) as resp:
        assert await resp.read() == compressed
    seen = upstream.app[STATE].seen[-1]
    assert seen.headers["Content-Encoding"] == "gzip"
    assert seen.body == compressed
    records = await wait_records(http, sidecar, 1)
    assert records[0]["request_id"] == "gz-1"
    assert records[0]["features"] == {"feature1": 5.1, "feature2": 3.5, "feature3": 1.4}


async def test_gzip_response_is_passed_through_compressed(
    sidecar: Sidecar, http: aiohttp.ClientSession
) -> None:
    async with http.post(proxy_url(sidecar, "/gzip"), json={"feature1": 1}) as resp:
        raw = await resp.read()
    assert resp.headers["Content-Encoding"] == "gzip"
    assert gzip.decompress(raw) == b'{"prediction": 1}'
    records = await wait_records(http, sidecar, 1)
    assert records[0]["prediction"] == 1


async def test_no_headers_are_invented_for_the_upstream(sidecar: Sidecar, upstream: TestServer) -> None:
    # A raw client: no User-Agent, no Accept, no Content-Type (tritonclient's JSON mode sends none).
    reader, writer = await asyncio.open_connection("127.0.0.1", sidecar.port)
    writer.write(b"POST /echo HTTP/1.1\r\nHost: example.test\r\nContent-Length: 2\r\n\r\n{}")
    await writer.drain()
    head = await reader.readuntil(b"\r\n\r\n")
    writer.close()
    assert head.startswith(b"HTTP/1.1 200")
    seen = upstream.app[STATE].seen[-1]
    for name in ("Content-Type", "User-Agent", "Accept", "Accept-Encoding"):
        assert name not in seen.headers
    assert seen.headers["X-Forwarded-Host"] == "example.test"
    assert seen.headers["X-Forwarded-Proto"] == "http"
    assert seen.headers["X-Forwarded-For"] == "127.0.0.1"


async def test_hop_by_hop_headers_are_dropped_both_ways(
    sidecar: Sidecar, upstream: TestServer, http: aiohttp.ClientSession
) -> None:
    headers = {
        "Connection": "keep-alive, X-Private",
        "X-Private": "secret",
        "Keep-Alive": "timeout=5",
        "Proxy-Authorization": "Basic Zm9vOmJhcg==",
        "TE": "trailers",
        "X-Forwarded-For": "10.0.0.1",
        "X-Kept": "yes",
    }
    async with http.post(proxy_url(sidecar, "/echo"), data=b"x", headers=headers) as resp:
        await resp.read()
    seen = upstream.app[STATE].seen[-1]
    for name in ("X-Private", "Keep-Alive", "Proxy-Authorization", "TE"):
        assert name not in seen.headers
    assert seen.headers["X-Kept"] == "yes"
    assert seen.headers["X-Forwarded-For"] == "10.0.0.1, 127.0.0.1"
    assert "X-Secret-Hop" not in resp.headers  # named in the upstream's Connection header


async def test_request_id_is_propagated_or_generated(
    sidecar: Sidecar, upstream: TestServer, http: aiohttp.ClientSession
) -> None:
    async with http.post(
        proxy_url(sidecar, "/predict"), data=BODY, headers={"X-Request-ID": "abc-123"}
    ) as resp:
        assert resp.headers["X-Request-ID"] == "abc-123"
    assert upstream.app[STATE].seen[-1].headers["X-Request-ID"] == "abc-123"
    async with http.post(
        proxy_url(sidecar, "/predict"), data=BODY, headers={"X-Request-ID": "bad id; <script>"}
    ) as resp:
        generated = resp.headers["X-Request-ID"]
    assert generated != "bad id; <script>" and len(generated) == 32
    assert upstream.app[STATE].seen[-1].headers["X-Request-ID"] == generated


async def test_response_without_content_type_gets_none_added(
    make_sidecar: SidecarFactory, http: aiohttp.ClientSession
) -> None:
    raw = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-Only: 1\r\n\r\nhello"

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(raw)
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    sidecar = await make_sidecar(f"http://127.0.0.1:{port}")
    async with http.get(proxy_url(sidecar, "/anything")) as resp:
        assert await resp.read() == b"hello"
    assert "Content-Type" not in resp.headers
    assert "Server" not in resp.headers
    assert resp.headers["X-Only"] == "1"
    server.close()


async def test_chunked_request_body_is_streamed(
    sidecar: Sidecar, upstream: TestServer, http: aiohttp.ClientSession
) -> None:
    parts = [b'{"feature1": ', b"7.5, ", b'"feature2": 1}']

    async def gen() -> AsyncIterator[bytes]:
        for p in parts:
            yield p

    async with http.post(
        proxy_url(sidecar, "/predict"), data=gen(), headers={"Content-Type": "application/json"}
    ) as r:
        assert await r.json() == {"prediction": 1}
    assert upstream.app[STATE].seen[-1].body == b"".join(parts)
    records = await wait_records(http, sidecar, 1)
    assert records[0]["features"] == {"feature1": 7.5, "feature2": 1}


async def test_large_bodies_are_proxied_whole_and_recorded_as_not_captured(
    make_sidecar: SidecarFactory, upstream: TestServer, http: aiohttp.ClientSession
) -> None:
    sidecar = await make_sidecar(str(upstream.make_url("")), capture={"max_body_bytes": 1000})
    payload = b"z" * 500_000
    async with http.post(proxy_url(sidecar, "/echo"), data=payload) as resp:
        assert await resp.read() == payload
    assert upstream.app[STATE].seen[-1].body == payload
    async with http.get(proxy_url(sidecar, "/big?size=3000000")) as resp:
        assert len(await resp.read()) == 3_000_000
    records = await wait_records(http, sidecar, 1)
    assert any("too large" in (r["error"] or "") for r in records)


async def test_server_sent_events_stream_through(
    sidecar: Sidecar, upstream: TestServer, http: aiohttp.ClientSession
) -> None:
    async with http.get(proxy_url(sidecar, "/sse")) as resp:
        first = await asyncio.wait_for(resp.content.readuntil(b"\n\n"), timeout=5)
        assert first == b"data: first\n\n"  # arrived while the upstream is still waiting
        upstream.app[STATE].release.set()
        assert await resp.content.read() == b"data: second\n\n"


async def test_upstream_unreachable_is_502_json_and_captured(
    make_sidecar: SidecarFactory, http: aiohttp.ClientSession
) -> None:
    sidecar = await make_sidecar(f"http://127.0.0.1:{free_port()}")
    async with http.post(
        proxy_url(sidecar, "/predict"), data=BODY, headers={"X-Request-ID": "down-1"}
    ) as resp:
        assert resp.status == 502
        doc = await resp.json()
    assert "upstream unavailable" in doc["error"]
    assert resp.headers["X-Request-ID"] == "down-1"
    records = await wait_records(http, sidecar, 1)
    assert records[0]["status"] == 502 and "upstream unavailable" in records[0]["error"]


async def test_upstream_timeout_is_504_json(
    make_sidecar: SidecarFactory, upstream: TestServer, http: aiohttp.ClientSession
) -> None:
    sidecar = await make_sidecar(str(upstream.make_url("")), timeouts={"read": 0.3})
    async with http.post(proxy_url(sidecar, "/slow"), data=BODY) as resp:
        assert resp.status == 504
        assert "timed out" in (await resp.json())["error"]
    records = await wait_records(http, sidecar, 1)
    assert records[0]["status"] == 504


async def test_client_disconnect_cancels_the_upstream_call(sidecar: Sidecar, upstream: TestServer) -> None:
    state = upstream.app[STATE]
    _reader, writer = await asyncio.open_connection("127.0.0.1", sidecar.port)
    writer.write(b"POST /slow HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}")
    await writer.drain()
    await asyncio.wait_for(state.started.wait(), timeout=5)
    writer.close()
    await asyncio.wait_for(state.cancelled.wait(), timeout=5)


@pytest.mark.parametrize("code", [400, 404, 415, 422, 500, 503])
async def test_error_statuses_pass_through_and_are_recorded(
    code: int, sidecar: Sidecar, http: aiohttp.ClientSession
) -> None:
    async with http.post(proxy_url(sidecar, f"/status/{code}"), json={"a": 1}) as resp:
        assert resp.status == code
        assert await resp.json() == {"error": f"status {code}"}
    records = await wait_records(http, sidecar, 1)
    assert records[0]["status"] == code
    assert records[0]["error"]
