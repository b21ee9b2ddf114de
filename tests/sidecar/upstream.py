"""A real model-server stand-in for proxy tests: an aiohttp app on 127.0.0.1 that records what it received."""

from __future__ import annotations

import asyncio
import gzip
import hashlib
from dataclasses import dataclass, field

import orjson
from aiohttp import web
from multidict import CIMultiDictProxy


@dataclass
class Seen:
    """One request as the upstream received it."""

    method: str
    path_qs: str
    raw_path: str
    headers: CIMultiDictProxy[str]
    body: bytes


@dataclass
class UpstreamState:
    """What the upstream saw, and knobs the tests turn."""

    seen: list[Seen] = field(default_factory=list)
    release: asyncio.Event = field(default_factory=asyncio.Event)
    cancelled: asyncio.Event = field(default_factory=asyncio.Event)
    started: asyncio.Event = field(default_factory=asyncio.Event)


STATE = web.AppKey("state", UpstreamState)


async def _record(request: web.Request) -> Seen:
    body = await request.read()
    seen = Seen(request.method, request.path_qs, request.raw_path, request.headers, body)
    request.app[STATE].seen.append(seen)
    return seen


async def echo(request: web.Request) -> web.Response:
    """Answers with the exact request body and its content type."""
    seen = await _record(request)
    headers = {
        "X-Upstream-Method": request.method,
        "Connection": "keep-alive, X-Secret-Hop",
        "X-Secret-Hop": "1",
    }
    ctype = request.headers.get("Content-Type")
    resp = web.Response(body=seen.body, headers=headers)
    if ctype:
        resp.headers["Content-Type"] = ctype
    return resp


async def predict(request: web.Request) -> web.Response:
    """The FastAPI tutorial shape: features in, `{"prediction": ...}` out."""
    seen = await _record(request)
    try:
        doc = orjson.loads(seen.body)
        value = 1 if float(doc.get("feature1", 0)) > 5 else 0
    except (orjson.JSONDecodeError, TypeError, ValueError, AttributeError):
        return web.json_response({"detail": [{"type": "json_invalid"}]}, status=422)
    return web.json_response({"prediction": value})


async def gzipped(request: web.Request) -> web.Response:
    """A gzip-encoded JSON response."""
    await _record(request)
    body = gzip.compress(b'{"prediction": 1}', mtime=0)
    return web.Response(body=body, headers={"Content-Encoding": "gzip", "Content-Type": "application/json"})


async def no_content_type(request: web.Request) -> web.StreamResponse:
    """A body with no Content-Type and no Server header at all."""
    await _record(request)
    resp = web.Response(body=b"raw-bytes")
    return resp


async def sse(request: web.Request) -> web.StreamResponse:
    """Server-sent events: one event, wait for the test's go-ahead, then a second."""
    await _record(request)
    resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
    await resp.prepare(request)
    await resp.write(b"data: first\n\n")
    await asyncio.wait_for(request.app[STATE].release.wait(), timeout=10)
    await resp.write(b"data: second\n\n")
    await resp.write_eof()
    return resp


async def slow(request: web.Request) -> web.Response:
    """Hangs until released or cancelled (for timeouts and client disconnects)."""
    await _record(request)
    state = request.app[STATE]
    state.started.set()
    try:
        await asyncio.wait_for(state.release.wait(), timeout=30)
    except asyncio.CancelledError:
        state.cancelled.set()
        raise
    return web.json_response({"prediction": "late"})


async def big(request: web.Request) -> web.StreamResponse:
    """A large chunked response (no Content-Length)."""
    await _record(request)
    size = int(request.query.get("size", "3000000"))
    resp = web.StreamResponse(headers={"Content-Type": "application/octet-stream"})
    await resp.prepare(request)
    chunk = bytes(range(256)) * 256
    sent = 0
    while sent < size:
        part = chunk[: size - sent]
        await resp.write(part)
        sent += len(part)
    await resp.write_eof()
    return resp


async def status(request: web.Request) -> web.Response:
    """Answers with the status code in the path and a JSON error body."""
    await _record(request)
    code = int(request.match_info["code"])
    return web.json_response({"error": f"status {code}"}, status=code)


async def sink(request: web.Request) -> web.Response:
    """A slow reader: takes the body a piece at a time, answers with its size and SHA-256 (keeps nothing)."""
    digest = hashlib.sha256()
    size = 0
    async for data in request.content.iter_chunked(1 << 16):
        digest.update(data)
        size += len(data)
        await asyncio.sleep(0.001)
    return web.json_response({"size": size, "sha256": digest.hexdigest()})


def create_upstream() -> web.Application:
    """The upstream app; its state is at `app[STATE]`."""
    app = web.Application(client_max_size=64 << 20, handler_args={"auto_decompress": False})
    app[STATE] = UpstreamState()
    app.router.add_route("*", "/echo{tail:.*}", echo)
    app.router.add_post("/predict", predict)
    app.router.add_route("*", "/gzip", gzipped)
    app.router.add_route("*", "/nocontenttype", no_content_type)
    app.router.add_get("/sse", sse)
    app.router.add_route("*", "/slow", slow)
    app.router.add_get("/big", big)
    app.router.add_route("*", "/status/{code}", status)
    app.router.add_post("/sink", sink)
    return app
