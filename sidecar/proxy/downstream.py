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
    origin_form,
)

if TYPE_CHECKING:
    from sidecar.proxy.core import ProxyCore
    from sidecar.proxy.upstream import UpstreamConnection

logger = logging.getLogger(__name__)

MAX_HEADER_BYTES = 64 * 1024
MAX_PIPELINED = 8
# Streamed request bodies wait in memory only until the upstream connection is open.
PENDING_BODY_LIMIT = 1 << 20
# After rejecting a request, what the client still sends is read and dropped for this long.
LINGER_SECONDS = 2.0


class RequestRejected(Exception):
    """A request the proxy answers itself with `status` and closes on (raised inside parser callbacks)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


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
        self._head_chunks_bytes = 0
        self._ignore_input = False
        self._rejection: bytes | None = None
        self._idle_timer: asyncio.TimerHandle | None = None
        self._idle_since = 0.0
        self._loop = asyncio.get_running_loop()
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
            return
        except httptools.HttpParserError as exc:
            # httptools wraps what a callback raised in HttpParserCallbackError (the original is the context).
            cause = exc.__context__
            if isinstance(cause, RequestRejected):
                self._reject(cause.status, str(cause))
            else:
                self._reject(400, f"malformed request: {exc}")
            return
        r = self._current
        if r is not None and not r.method:
            # Still in the head: llhttp holds a partial header line or target until it ends, so bound those
            # bytes here. The chunk the request began in is not counted (it may end the previous request).
            if self._head_chunks_bytes < 0:
                self._head_chunks_bytes = 0
            else:
                self._head_chunks_bytes += len(data)
                if self._head_chunks_bytes > MAX_HEADER_BYTES:
                    self._reject(431, "request headers too large")

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
        self._current = RequestState(self._limit)
        self._header_bytes = 0
        self._head_chunks_bytes = -1

    def on_url(self, url: bytes) -> None:
        assert self._current is not None
        self._header_bytes += len(url)
        if self._header_bytes > MAX_HEADER_BYTES:
            raise RequestRejected(431, "request headers too large")
        self._current.target += url

    def on_header(self, name: bytes, value: bytes) -> None:
        r = self._current
        assert r is not None
        if r.method:
            return  # a trailer field after a chunked body: never merged into the forwarded headers
        self._header_bytes += len(name) + len(value)
        if self._header_bytes > MAX_HEADER_BYTES:
            raise RequestRejected(431, "request headers too large")
        r.headers.append((name, value))

    def on_headers_complete(self) -> None:
        r = self._current
        assert r is not None
        p = self._parser
        if r.target[:1] != b"/":
            path = origin_form(r.target)
            if path is None:
                raise RequestRejected(400, "request target must be a path or an absolute http(s) URL")
            r.target = path
        r.method = p.get_method()
        r.http11 = p.get_http_version() == "1.1"
        r.keep_alive = p.should_keep_alive()
        r.chunked = header_value(r.headers, b"transfer-encoding") is not None
        cl = header_value(r.headers, b"content-length")
        r.length = int(cl) if cl is not None else None
        r.streaming = r.chunked or (r.length is not None and r.length > self._limit)
        expect = header_value(r.headers, b"expect")
        # Not to HTTP/1.0, nor while an earlier response is on its way (the interim response would land inside
        # it): the client then sends the body once it stops waiting (RFC 9110 §10.1.1).
        if (
            expect is not None and expect.lower() == b"100-continue" and r.http11 and self.transport is not None
            and self._task is None and not self._queue
        ):
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
        # The idle timer stays armed: it never closes a connection with a request dispatched (`_idle_expired`).
        self._queue.append(request)
        if len(self._queue) > MAX_PIPELINED and self.transport is not None:
            self.transport.pause_reading()
        if self._task is None:
            self._task = self._loop.create_task(self._run())

    async def _run(self) -> None:
        try:
            while self._queue and not self.closed:
                request = self._queue.popleft()
                keep = await self.core.handle(self, request)
                if not keep or self.closing:
                    self._rejection = None  # this response already ended the connection
                    self.close()
                    return
                if self.transport is not None and not self.transport.is_reading():
                    self.transport.resume_reading()
            if self._rejection is not None:
                self.write(self._rejection)
                self._close_lingering()
        finally:
            self._task = None
            # Idle until the next request is dispatched: a client dribbling a head (or a small body) is cut
            # after the idle timeout too. (After a rejection the linger timer stays.)
            if not self.closed and not self._queue and not self._ignore_input:
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

    def pace(self, upstream: UpstreamConnection) -> None:
        """Read the rest of a streamed request body only as fast as `upstream` takes it."""
        transport = self.transport
        if transport is None:
            return
        upstream.on_pause_writing = transport.pause_reading
        upstream.on_resume_writing = transport.resume_reading
        transport.resume_reading()  # it may have paused on PENDING_BODY_LIMIT while the upstream connected

    def _reject(self, status: int, message: str) -> None:
        """Answer `status` after the requests before this one, then close."""
        self._ignore_input = True
        logger.debug("rejecting request from %s: %s", self.peer, message)
        r, self._current = self._current, None
        if r is not None and r.streaming:
            # Dispatched at its head, but its body is broken: it must not reach the upstream.
            if r in self._queue:
                self._queue.remove(r)
            elif self._task is not None:
                self._task.cancel()  # its exchange is under way and can never complete: cut it
                self.close()
                return
        rejection = error_response(status, message, new_request_id(), close=True)
        if self._task is None:
            self.write(rejection)
            self._close_lingering()
        else:
            self._rejection = rejection  # written by _run once the earlier responses are out

    def _close_lingering(self) -> None:
        """Half-close after an error response and drop what still arrives, so that a client still sending
        reads the response (closing with unread bytes would reset the connection and lose it)."""
        transport = self.transport
        if transport is None or self.closed or not transport.can_write_eof():
            self.close()
            return
        transport.write_eof()
        transport.resume_reading()
        self._cancel_idle()
        self._idle_timer = asyncio.get_running_loop().call_later(LINGER_SECONDS, self.close)

    def _arm_idle(self) -> None:
        """Start the idle clock: the connection closes `client_idle_timeout` from now unless a request is then
        being answered (a request still arriving does not count: a client dribbling a head is cut too).

        One timer serves many requests: when it fires early it moves on to the latest deadline, which is cheaper
        than cancelling and creating a timer per request (measured).
        """
        self._idle_since = self._loop.time()
        if self._idle_timer is None:
            deadline = self._idle_since + self.core.client_idle_timeout
            self._idle_timer = self._loop.call_at(deadline, self._idle_expired)

    def _idle_expired(self) -> None:
        self._idle_timer = None
        if self._task is not None or self._queue:
            return  # a request is being answered: `_run` starts the idle clock again when it is done
        deadline = self._idle_since + self.core.client_idle_timeout
        if self._loop.time() < deadline:
            self._idle_timer = self._loop.call_at(deadline, self._idle_expired)
        else:
            self.close()

    def _cancel_idle(self) -> None:
        if self._idle_timer is not None:
            self._idle_timer.cancel()
            self._idle_timer = None
