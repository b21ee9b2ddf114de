"""Client connections: parse requests with llhttp (httptools), hand each to the exchange, keep order."""

from __future__ import annotations

import asyncio
import collections
import logging
from typing import TYPE_CHECKING, cast

import httptools

from sidecar.proxy.http import (
    CONTINUE,
    LAST_CHUNK,
    Header,
    chunk,
    error_response,
    header_value,
    new_request_id,
)

if TYPE_CHECKING:
    from sidecar.proxy.core import ProxyCore
    from sidecar.proxy.upstream import UpstreamConnection

logger = logging.getLogger(__name__)

MAX_HEADER_BYTES = 64 * 1024
MAX_PIPELINED = 8
# Streamed request bodies wait in memory only until the upstream connection is open.
PENDING_BODY_LIMIT = 1 << 20


class RequestTooLarge(Exception):
    """Request headers beyond MAX_HEADER_BYTES."""


class Tee:
    """Keeps a copy of a body up to `limit` bytes for capture; beyond that only counts."""

    __slots__ = ("_chunks", "_limit", "size")

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._chunks: list[bytes] = []
        self.size = 0

    def feed(self, data: bytes) -> None:
        """Account for a chunk and keep it while under the limit."""
        self.size += len(data)
        if self.size <= self._limit:
            self._chunks.append(data)
        elif self._chunks:
            self._chunks = []

    @property
    def over(self) -> bool:
        """True when the body exceeded the limit (and was not kept)."""
        return self.size > self._limit

    @property
    def body(self) -> bytes | None:
        """The whole body, or None when it exceeded the limit."""
        if self.size > self._limit:
            return None
        return self._chunks[0] if len(self._chunks) == 1 else b"".join(self._chunks)


class RequestState:
    """One request as parsed so far; a streamed body is forwarded as it arrives."""

    __slots__ = (
        "body", "chunked", "complete", "headers", "http11", "keep_alive", "length", "method", "pending",
        "streaming", "target", "tee", "upstream",
    )

    def __init__(self, limit: int) -> None:
        self.method = b""
        self.target = b""
        self.headers: list[Header] = []
        self.http11 = True
        self.keep_alive = True
        self.chunked = False
        self.length: int | None = None
        self.streaming = False
        self.complete = False
        self.body: list[bytes] = []
        self.pending = 0
        self.tee = Tee(limit)
        self.upstream: UpstreamConnection | None = None

    def attach(self, conn: UpstreamConnection) -> None:
        """The upstream is connected and has the request head: send what waited, then forward directly."""
        self.upstream = conn
        for part in self.body:
            conn.write(chunk(part) if self.chunked else part)
        self.body = []
        self.pending = 0
        if self.complete and self.chunked:
            conn.write(LAST_CHUNK)

    def forward(self, data: bytes) -> None:
        """A chunk of a streamed body: to the upstream if connected, else held."""
        if self.upstream is not None and not self.upstream.closed:
            self.upstream.write(chunk(data) if self.chunked else data)
        elif self.upstream is None:
            self.body.append(data)
            self.pending += len(data)

    def end(self) -> None:
        """The streamed body is complete."""
        self.complete = True
        if self.upstream is not None and not self.upstream.closed and self.chunked:
            self.upstream.write(LAST_CHUNK)


class ClientConnection(asyncio.Protocol):
    """One client connection: requests are parsed, queued and answered in order (pipelining-safe)."""

    def __init__(self, core: ProxyCore) -> None:
        self.core = core
        self._limit = core.capture_limit
        self.transport: asyncio.Transport | None = None
        self.peer = ""
        self.closed = False
        self.closing = False
        self._parser = httptools.HttpRequestParser(self)
        self._current: RequestState | None = None
        self._queue: collections.deque[RequestState] = collections.deque()
        self._task: asyncio.Task[None] | None = None
        self._header_bytes = 0
        self._ignore_input = False
        self._idle_timer: asyncio.TimerHandle | None = None
        self.on_pause_writing: collections.abc.Callable[[], None] | None = None
        self.on_resume_writing: collections.abc.Callable[[], None] | None = None

    @property
    def busy(self) -> bool:
        """A request is being parsed, queued or answered."""
        return self._current is not None or bool(self._queue) or self._task is not None

    # --- asyncio.Protocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's transports don't subclass asyncio's
        peer = transport.get_extra_info("peername")
        self.peer = str(peer[0]) if isinstance(peer, tuple) else ""
        self.core.connections.add(self)
        self._arm_idle()

    def data_received(self, data: bytes) -> None:
        if self._ignore_input:
            return
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            # The request was dispatched without its Upgrade header; nothing after it can be parsed.
            self._ignore_input = True
            for request in self._queue:
                request.keep_alive = False
        except RequestTooLarge:
            self._reject(431, "request headers too large")
        except httptools.HttpParserError as exc:
            self._reject(400, f"malformed request: {exc}")

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self._cancel_idle()
        self.core.connections.discard(self)
        if self._task is not None:
            self._task.cancel()

    def pause_writing(self) -> None:
        if self.on_pause_writing is not None:
            self.on_pause_writing()

    def resume_writing(self) -> None:
        if self.on_resume_writing is not None:
            self.on_resume_writing()

    # --- httptools callbacks
    def on_message_begin(self) -> None:
        self._cancel_idle()
        self._current = RequestState(self._limit)
        self._header_bytes = 0

    def on_url(self, url: bytes) -> None:
        assert self._current is not None
        self._current.target += url

    def on_header(self, name: bytes, value: bytes) -> None:
        assert self._current is not None
        self._header_bytes += len(name) + len(value)
        if self._header_bytes > MAX_HEADER_BYTES:
            raise RequestTooLarge
        self._current.headers.append((name, value))

    def on_headers_complete(self) -> None:
        r = self._current
        assert r is not None
        p = self._parser
        r.method = p.get_method()
        r.http11 = p.get_http_version() == "1.1"
        r.keep_alive = p.should_keep_alive()
        r.chunked = header_value(r.headers, b"transfer-encoding") is not None
        cl = header_value(r.headers, b"content-length")
        r.length = int(cl) if cl is not None else None
        r.streaming = r.chunked or (r.length is not None and r.length > self._limit)
        expect = header_value(r.headers, b"expect")
        if expect is not None and expect.lower() == b"100-continue" and self.transport is not None:
            self.transport.write(CONTINUE)
        if r.streaming:
            self._dispatch(r)

    def on_body(self, data: bytes) -> None:
        r = self._current
        assert r is not None
        r.tee.feed(data)
        if r.streaming:
            r.forward(data)
            if r.pending > PENDING_BODY_LIMIT and self.transport is not None:
                self.transport.pause_reading()
        else:
            r.body.append(data)

    def on_message_complete(self) -> None:
        r = self._current
        assert r is not None
        self._current = None
        if r.streaming:
            r.end()
        else:
            r.complete = True
            self._dispatch(r)

    # --- dispatching
    def _dispatch(self, request: RequestState) -> None:
        self._queue.append(request)
        if len(self._queue) > MAX_PIPELINED and self.transport is not None:
            self.transport.pause_reading()
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        try:
            while self._queue and not self.closed:
                request = self._queue.popleft()
                keep = await self.core.handle(self, request)
                if not keep or self.closing:
                    self.close()
                    return
                if self.transport is not None and not self.transport.is_reading():
                    self.transport.resume_reading()
        finally:
            self._task = None
            if not self.closed and not self.busy:
                self._arm_idle()

    def write(self, data: bytes) -> None:
        """Send bytes to the client (dropped silently once it has gone away)."""
        if self.transport is not None and not self.closed:
            self.transport.write(data)

    def close(self) -> None:
        """Close after what was written has been flushed."""
        if self.transport is not None and not self.closed:
            self.transport.close()

    def shutdown(self) -> None:
        """Stop after the current request (idle connections close now)."""
        self.closing = True
        if not self.busy:
            self.close()

    def _reject(self, status: int, message: str) -> None:
        self._ignore_input = True
        logger.debug("rejecting request from %s: %s", self.peer, message)
        if self._task is None:
            self.write(error_response(status, message, new_request_id(), close=True))
            self.close()
        else:
            self._queue.clear()
            self.closing = True

    def _arm_idle(self) -> None:
        self._cancel_idle()
        loop = asyncio.get_running_loop()
        self._idle_timer = loop.call_later(self.core.client_idle_timeout, self.close)

    def _cancel_idle(self) -> None:
        if self._idle_timer is not None:
            self._idle_timer.cancel()
            self._idle_timer = None
