"""Keep-alive connections to the model server, parsed with llhttp (httptools), pooled and bounded."""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import ssl
import time
from collections.abc import Callable
from typing import cast

import httptools

from sidecar.proxy.http import Header

logger = logging.getLogger(__name__)


class UpstreamError(Exception):
    """The upstream could not be reached or broke the exchange."""

    def __init__(self, message: str, *, sent_nothing: bool = False) -> None:
        super().__init__(message)
        self.sent_nothing = sent_nothing
        """True when no byte of a response arrived (a retry on a fresh connection is safe)."""


class UpstreamTimeout(UpstreamError):
    """The upstream did not answer (or went silent) within the configured time."""


BodySink = Callable[[bytes], None]


class UpstreamConnection(asyncio.Protocol):
    """One HTTP/1.1 connection to the upstream; one exchange at a time."""

    def __init__(self, pool: UpstreamPool) -> None:
        self._pool = pool
        self._loop = asyncio.get_running_loop()
        self.transport: asyncio.Transport | None = None
        self._parser = httptools.HttpResponseParser(self)
        self.closed = False
        self.idle_since = 0.0
        self.reused = False
        self.status = 0
        self.headers: list[Header] = []
        self.body: list[bytes] = []
        self.received = 0
        self._head_fut: asyncio.Future[None] | None = None
        self._done_fut: asyncio.Future[None] | None = None
        self._sink: BodySink | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._read_timeout = 0.0
        self._last_read = 0.0
        self._head_only = False
        self.keep_alive = True
        self._drain: asyncio.Future[None] | None = None
        self.on_resume_writing: Callable[[], None] | None = None
        self.on_pause_writing: Callable[[], None] | None = None
        self._chunked_or_sized = True
        self.counted = True
        """Counts against the pool's limit until the connection is lost."""

    # --- asyncio.Protocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's transports don't subclass asyncio's

    def data_received(self, data: bytes) -> None:
        self.received += len(data)
        if self._timer is not None:
            self._last_read = self._loop.time()  # the armed timer moves its deadline on when it fires
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError as exc:
            cause = exc.__context__  # what a callback raised (httptools wraps it)
            if not isinstance(cause, UpstreamError):
                cause = UpstreamError(f"invalid response from upstream: {exc}")
            self._fail(cause)
            self.close()

    def eof_received(self) -> bool:
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self._cancel_timer()
        self._pool.forget(self)
        if self._head_fut is not None or self._done_fut is not None:
            # An exchange was under way: a close-delimited body ends here, anything else is an error.
            if self._done_fut is not None and not self._done_fut.done() and self.status and not self._chunked_or_sized:
                self.keep_alive = False
                self._done_fut.set_result(None)
            else:
                nothing = self.received == 0
                self._fail(UpstreamError("upstream closed the connection", sent_nothing=nothing))
        if self._drain is not None and not self._drain.done():
            self._drain.set_result(None)

    def pause_writing(self) -> None:
        if self.on_pause_writing is not None:
            self.on_pause_writing()

    def resume_writing(self) -> None:
        if self.on_resume_writing is not None:
            self.on_resume_writing()

    # --- httptools callbacks
    def on_header(self, name: bytes, value: bytes) -> None:
        if not self.status:  # after the head: a trailer field, dropped (it must not become a header)
            self.headers.append((name, value))

    def on_headers_complete(self) -> None:
        status = self._parser.get_status_code()
        if 100 <= status < 200:
            if status == 101:  # Upgrade is never forwarded, so the upstream cannot have been asked to switch
                raise UpstreamError("upstream switched protocols unasked")
            self.headers = []  # informational (103 Early Hints): not forwarded; the final response follows
            return
        self.status = status
        self.keep_alive = self._parser.should_keep_alive()
        self._chunked_or_sized = any(
            k.lower() in (b"content-length", b"transfer-encoding") for k, _ in self.headers
        ) or status in (204, 304)
        if self._head_fut is not None and not self._head_fut.done():
            self._head_fut.set_result(None)
        if self._head_only:
            # A response to HEAD announces a length but has no body; llhttp would wait for it.
            self.keep_alive = False
            self.on_message_complete()

    def on_body(self, data: bytes) -> None:
        if self._sink is not None:
            self._sink(data)
        else:
            self.body.append(data)

    def on_message_complete(self) -> None:
        if not self.status:
            return
        self._cancel_timer()
        if self._done_fut is not None and not self._done_fut.done():
            self._done_fut.set_result(None)

    # --- exchange API
    def begin(self, read_timeout: float, head_only: bool) -> None:
        """Prepare for a new exchange (resets the response state, arms the read timer)."""
        self.status = 0
        self.headers = []
        self.body = []
        self.received = 0
        self._sink = None
        self._chunked_or_sized = True
        self._head_only = head_only
        self._head_fut = self._loop.create_future()
        self._done_fut = self._loop.create_future()
        self._read_timeout = read_timeout
        self._arm_timer()

    def write(self, data: bytes) -> None:
        """Send bytes of the request."""
        if self.transport is None or self.closed:
            raise UpstreamError("upstream connection closed while sending", sent_nothing=True)
        self.transport.write(data)

    async def response_head(self) -> None:
        """Wait for the status line and headers."""
        assert self._head_fut is not None
        await self._head_fut

    async def response_done(self) -> None:
        """Wait for the end of the response body."""
        assert self._done_fut is not None
        await self._done_fut

    def stream_body(self, sink: BodySink) -> None:
        """Deliver body chunks to `sink` as they arrive (after first flushing what was buffered)."""
        pending, self.body = self.body, []
        for part in pending:
            sink(part)
        self._sink = sink

    def finish(self) -> None:
        """The exchange is over; return the connection to the pool or close it."""
        self._cancel_timer()
        self._head_fut = self._done_fut = None
        self._sink = None
        self.on_pause_writing = self.on_resume_writing = None
        if self.transport is not None and self.transport.is_reading() is False:
            self.transport.resume_reading()
        if self.keep_alive and not self.closed:
            self._pool.release(self)
        else:
            self.close()

    def close(self) -> None:
        """Close the connection (it will not be reused)."""
        self.keep_alive = False
        if self.transport is not None and not self.closed:
            self.transport.close()
        self.closed = True

    def abort(self) -> None:
        """Drop the connection at once (client went away, timeout)."""
        self.keep_alive = False
        if self.transport is not None:
            self.transport.abort()
        self.closed = True

    # --- internals
    def _arm_timer(self) -> None:
        self._cancel_timer()
        self._last_read = self._loop.time()
        self._timer = self._loop.call_at(self._last_read + self._read_timeout, self._timed_out)

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _timed_out(self) -> None:
        deadline = self._last_read + self._read_timeout
        if self._loop.time() < deadline:
            # Data arrived since the timer was set: wait out the rest (one timer per exchange, not one per read).
            self._timer = self._loop.call_at(deadline, self._timed_out)
            return
        self._timer = None
        self._fail(UpstreamTimeout(f"upstream timed out (read {self._read_timeout:g}s)"))
        self.abort()

    def _fail(self, exc: UpstreamError) -> None:
        for fut in (self._head_fut, self._done_fut):
            if fut is not None and not fut.done():
                fut.set_exception(exc)
                fut.exception()  # mark retrieved: the other future carries it to the caller


class UpstreamPool:
    """At most `limit` connections to one upstream; idle ones are reused for `keepalive` seconds."""

    def __init__(
        self, host: str, port: int, *, limit: int, connect_timeout: float, keepalive: float,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self.host = host
        self.port = port
        self._limit = limit
        self._connect_timeout = connect_timeout
        self._keepalive = keepalive
        self._ssl = ssl_context
        self._idle: collections.deque[UpstreamConnection] = collections.deque()
        self._open = 0
        self._waiters: collections.deque[asyncio.Future[None]] = collections.deque()
        self._closed = False

    async def acquire(self) -> UpstreamConnection:
        """An idle live connection, or a new one (waiting while `limit` are busy)."""
        now = time.monotonic()
        while self._idle:
            conn = self._idle.pop()
            if not conn.closed and now - conn.idle_since < self._keepalive:
                conn.reused = True
                return conn
            conn.close()
        while self._open >= self._limit:
            waiter = asyncio.get_running_loop().create_future()
            self._waiters.append(waiter)
            try:
                await waiter
            except asyncio.CancelledError:
                if waiter.done() and not waiter.cancelled():
                    self._wake()  # woken, then cancelled: hand the wake-up on, or the next waiter starves
                raise
            if self._idle:
                return await self.acquire()
        self._open += 1
        try:
            return await self._connect()
        except BaseException:
            self._open -= 1
            self._wake()
            raise

    async def _connect(self) -> UpstreamConnection:
        loop = asyncio.get_running_loop()
        try:
            _, conn = await asyncio.wait_for(
                loop.create_connection(
                    lambda: UpstreamConnection(self), self.host, self.port, ssl=self._ssl,
                    server_hostname=self.host if self._ssl else None,
                ),
                timeout=self._connect_timeout,
            )
        except TimeoutError:
            raise UpstreamTimeout(f"upstream connect timed out ({self._connect_timeout:g}s)") from None
        except OSError as exc:
            raise UpstreamError(f"upstream unavailable: {exc.strerror or type(exc).__name__}") from None
        return conn

    def release(self, conn: UpstreamConnection) -> None:
        """Put a connection back for reuse."""
        if self._closed:
            conn.close()
            return
        conn.idle_since = time.monotonic()
        self._idle.append(conn)
        self._wake()

    def forget(self, conn: UpstreamConnection) -> None:
        """A connection closed: it no longer counts against the limit."""
        if not conn.counted:
            return
        conn.counted = False
        self._open -= 1
        with contextlib.suppress(ValueError):
            self._idle.remove(conn)
        self._wake()

    def _wake(self) -> None:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return

    def close(self) -> None:
        """Close idle connections; busy ones close when their exchange ends."""
        self._closed = True
        while self._idle:
            self._idle.pop().close()
