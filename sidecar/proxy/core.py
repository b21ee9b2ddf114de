"""One proxied exchange: request head to the upstream, the response back byte-exact, the copy to capture."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
import time
from collections.abc import Callable

from multidict import CIMultiDict, CIMultiDictProxy
from yarl import URL

from sidecar.capture.base import CLIENT_DISCONNECTED, CUT_AT_SHUTDOWN, Exchange
from sidecar.logs import REQUEST_ID
from sidecar.proxy.downstream import ClientConnection, RequestState, Tee
from sidecar.proxy.http import (
    LAST_CHUNK,
    REQUEST_DROP,
    RESPONSE_DROP,
    STREAMED_TYPES,
    Header,
    chunk,
    connection_tokens,
    error_response,
    header_value,
    reason,
    request_id_from,
)
from sidecar.proxy.upstream import UpstreamConnection, UpstreamError, UpstreamPool, UpstreamTimeout
from sidecar.settings import Settings

logger = logging.getLogger(__name__)

CaptureSink = Callable[[Exchange], None]


def _multidict(headers: list[Header]) -> CIMultiDictProxy[str]:
    # A list, not a generator: multidict reads a list's items directly, but probes a generator for mapping methods
    # first (a failed lookup that formats an AttributeError) and walks it item by item: ~1.8k instructions per
    # call against ~11k (callgrind), twice per request.
    return CIMultiDictProxy(CIMultiDict([(k.decode("latin-1"), v.decode("latin-1")) for k, v in headers]))


_EMPTY: CIMultiDictProxy[str] = CIMultiDictProxy(CIMultiDict())
# Without a total timeout: asyncio.timeout(None) would cost ~18k instructions per request for nothing (a Timeout,
# the current task, and enum state checks that are slow lookups on Python 3.11), this ~4k (callgrind).
_NO_DEADLINE = contextlib.nullcontext()
# Exchanges cancelled with their client connection: nothing can be written to the client any more.
_CANCELLED = frozenset({CLIENT_DISCONNECTED, CUT_AT_SHUTDOWN})


def _end_of_head(keep: bool, http11: bool) -> bytes:
    """The Connection header (when one is needed) and the blank line ending a response head."""
    if not keep:
        return b"Connection: close\r\n\r\n"
    # An HTTP/1.0 client closes unless told the connection persists (RFC 9112 §9.3).
    return b"\r\n" if http11 else b"Connection: keep-alive\r\n\r\n"


class ProxyCore:
    """Forwards requests to one upstream over pooled keep-alive connections; reports exchanges to capture."""

    def __init__(self, settings: Settings, capture: CaptureSink, on_retry: Callable[[], None] | None = None) -> None:
        url = URL(settings.upstream)
        if url.scheme not in ("http", "https") or not url.host:
            raise ValueError(f"upstream must be an http(s) URL with a host, got {settings.upstream!r}")
        context = ssl.create_default_context() if url.scheme == "https" else None
        t = settings.timeouts
        self.pool = UpstreamPool(
            url.host, url.port or (443 if context else 80), limit=settings.upstream_connections,
            connect_timeout=t.connect, keepalive=t.upstream_keepalive, ssl_context=context,
        )
        host_header = url.host if url.port in (None, 80, 443) or url.explicit_port is None else f"{url.host}:{url.port}"
        self._host = host_header.encode()
        self._prefix = url.raw_path.rstrip("/").encode()
        self._read_timeout = t.read
        self._total_timeout = t.total
        self.capture_limit = settings.capture.max_body_bytes
        self.client_idle_timeout = t.client_idle
        self._capture = capture
        self._on_retry = on_retry
        self.cutting = False
        """Set when shutdown_timeout ran out: exchanges cancelled from now on were cut by driftcar."""
        self.connections: set[ClientConnection] = set()

    def _request_head(self, r: RequestState, request_id: str, peer: str) -> bytes:
        drop = REQUEST_DROP | connection_tokens(r.headers)
        out = [b"%s %s%s HTTP/1.1\r\nHost: %s\r\n" % (r.method, self._prefix, r.target, self._host)]
        forwarded_for = peer.encode()
        original_host = b""
        for name, value in r.headers:
            lower = name.lower()
            if lower == b"x-forwarded-for":
                forwarded_for = value + b", " + forwarded_for
                continue
            if lower == b"host":
                original_host = value
            if lower in drop or lower in (b"x-forwarded-proto", b"x-forwarded-host"):
                continue
            out.append(name + b": " + value + b"\r\n")
        out.append(b"X-Forwarded-For: %s\r\nX-Forwarded-Proto: http\r\n" % forwarded_for)
        if original_host:
            out.append(b"X-Forwarded-Host: %s\r\n" % original_host)
        out.append(b"X-Request-ID: %s\r\n" % request_id.encode())
        if r.chunked:
            out.append(b"Transfer-Encoding: chunked\r\n")
        elif r.length is not None:
            out.append(b"Content-Length: %d\r\n" % r.length)
        out.append(b"\r\n")
        return b"".join(out)

    async def _send(self, client: ClientConnection, r: RequestState, head: bytes) -> UpstreamConnection:
        """Open or reuse a connection, send the request, wait for the response head (one safe retry)."""
        for attempt in (0, 1):
            conn = await self.pool.acquire()
            try:
                conn.begin(self._read_timeout, head_only=r.method == b"HEAD")
                if r.streaming:
                    conn.write(head)
                    if not r.complete:
                        client.pace(conn)
                    r.attach(conn)
                else:
                    conn.write(head + b"".join(r.body) if r.body else head)
                await conn.response_head()
                return conn
            except UpstreamError as exc:
                conn.abort()
                conn.finish()
                # A reused keep-alive connection the upstream had just closed: nothing was processed.
                retry = attempt == 0 and conn.reused and exc.sent_nothing and not r.streaming
                if not retry or isinstance(exc, UpstreamTimeout):
                    raise
                if self._on_retry is not None:
                    self._on_retry()
            except BaseException:
                conn.abort()
                conn.finish()
                raise
        raise AssertionError("unreachable")

    async def handle(self, client: ClientConnection, r: RequestState) -> bool:
        """Proxy one request; True when the client connection may be kept alive."""
        started = time.time()
        t0 = time.perf_counter()
        request_id = request_id_from(header_value(r.headers, b"x-request-id"))
        keep = r.keep_alive and not client.closing
        status = 502
        error: str | None = None
        conn: UpstreamConnection | None = None
        resp_headers: list[Header] = []
        tee = Tee(self.capture_limit)
        head_sent = False
        resp_status = 0
        try:
            async with asyncio.timeout(self._total_timeout) if self._total_timeout is not None else _NO_DEADLINE:
                conn = await self._send(client, r, self._request_head(r, request_id, client.peer))
                status = resp_status = conn.status
                resp_headers = conn.headers
                keep, chunked = await self._respond(client, r, conn, request_id, tee, keep)
                head_sent = True
                if chunked is not None:
                    await self._stream(client, conn, tee, chunked)
        except UpstreamTimeout as exc:
            status, error = 504, str(exc)
        except TimeoutError:
            status, error = 504, f"upstream timed out (total {self._total_timeout:g}s)"
        except UpstreamError as exc:
            status, error = 502, str(exc) if str(exc).startswith("upstream unavailable") else \
                f"upstream unavailable: {exc}"
        except asyncio.CancelledError:
            error = CUT_AT_SHUTDOWN if self.cutting else CLIENT_DISCONNECTED
            raise
        finally:
            if conn is not None:
                if error is not None or not r.complete:
                    conn.abort()  # mid-exchange, or the upstream still expects the rest of the request body
                conn.finish()
            if error is not None and error not in _CANCELLED:
                # Only a failed exchange logs, so only it pays for the context variable (JSON logs show it).
                token = REQUEST_ID.set(request_id)
                logger.debug("request %s: %s", request_id, error)
                REQUEST_ID.reset(token)
                if head_sent:
                    status = resp_status  # what the client saw; the error says the body was cut
                    keep = False  # the status line is gone; cutting the connection is the only signal left
                else:
                    keep = keep and r.complete and r.http11
                    client.write(error_response(status, error, request_id, close=not keep))
            if not r.complete:
                keep = False  # the client is still sending a body nobody will read
            self._capture(
                Exchange(
                    method=r.method.decode("ascii", "replace"),
                    path=r.target.split(b"?", 1)[0].decode("latin-1"),
                    query=r.target.partition(b"?")[2].decode("latin-1"),
                    request_headers=_multidict(r.headers),
                    request_body=r.tee.body,
                    status=status,
                    response_headers=_multidict(resp_headers) if resp_headers else _EMPTY,
                    response_body=tee.body,
                    request_id=request_id,
                    ts=started,
                    latency_ms=(time.perf_counter() - t0) * 1000.0,
                    error=error,
                    truncated=(frozenset({"request"}) if r.tee.over else frozenset())
                    | (frozenset({"response"}) if tee.over else frozenset()),
                    request_size=r.tee.size if r.tee.over else None,
                    response_size=tee.size if tee.over else None,
                )
            )
        return keep

    async def _respond(
        self, client: ClientConnection, r: RequestState, conn: UpstreamConnection, request_id: str, tee: Tee,
        keep: bool,
    ) -> tuple[bool, bool | None]:
        """Send the response head, and the body when buffered; returns (keep-alive, chunked or None when done)."""
        status = conn.status
        drop = RESPONSE_DROP | connection_tokens(conn.headers)
        lines = [b"HTTP/1.1 %d %s\r\n" % (status, reason(status))]
        has_id = False
        length: int | None = None
        ctype = b""
        for name, value in conn.headers:
            lower = name.lower()
            if lower == b"content-length":
                length = int(value)
            elif lower == b"content-type":
                ctype = value
            elif lower == b"x-request-id":
                has_id = True
            if lower not in drop:
                lines.append(name + b": " + value + b"\r\n")
        if not has_id:
            lines.append(b"X-Request-ID: %s\r\n" % request_id.encode())
        no_body = r.method == b"HEAD" or status in (204, 304)
        buffered = no_body or (length is not None and length <= self.capture_limit and not ctype.startswith(STREAMED_TYPES))
        if buffered:
            await conn.response_done()
            keep = keep and r.complete  # a request body still arriving is not read on: the connection ends
            body = b"" if no_body else b"".join(conn.body)
            tee.feed(body)
            if length is not None and (no_body and status != 204):
                lines.append(b"Content-Length: %d\r\n" % length)
            elif not no_body:
                lines.append(b"Content-Length: %d\r\n" % len(body))
            lines.append(_end_of_head(keep, r.http11))
            lines.append(body)
            client.write(b"".join(lines))
            return keep, None
        chunked = length is None and r.http11
        keep = keep and r.complete
        if length is None and not r.http11:
            keep = False  # an HTTP/1.0 client: the body ends when the connection does
        if length is not None:
            lines.append(b"Content-Length: %d\r\n" % length)
        elif chunked:
            lines.append(b"Transfer-Encoding: chunked\r\n")
        lines.append(_end_of_head(keep, r.http11))
        client.write(b"".join(lines))
        return keep, chunked

    async def _stream(self, client: ClientConnection, conn: UpstreamConnection, tee: Tee, chunked: bool) -> None:
        """Forward the response body as it arrives, at the client's pace."""

        def sink(data: bytes) -> None:
            tee.feed(data)
            client.write(chunk(data) if chunked else data)

        transport = conn.transport
        if transport is not None:
            client.on_pause_writing = transport.pause_reading
            client.on_resume_writing = transport.resume_reading
        try:
            conn.stream_body(sink)
            await conn.response_done()
        finally:
            client.on_pause_writing = client.on_resume_writing = None
        if chunked:
            client.write(LAST_CHUNK)


class ProxyServer:
    """The listening socket and its connections; graceful stop drains in-flight requests."""

    def __init__(self, core: ProxyCore, host: str, port: int) -> None:
        self.core = core
        self._host = host
        self._port = port
        self._server: asyncio.Server | None = None
        self.port = 0

    async def start(self) -> None:
        """Bind and start accepting."""
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            lambda: ClientConnection(self.core), self._host, self._port, backlog=1024
        )
        self.port = int(self._server.sockets[0].getsockname()[1])

    async def stop(self, timeout: float) -> None:
        """Stop accepting, let in-flight requests finish (up to `timeout`), then close everything."""
        if self._server is not None:
            self._server.close()
        for conn in list(self.core.connections):
            conn.shutdown()
        deadline = time.monotonic() + timeout
        while self.core.connections and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        self.core.cutting = True
        for conn in list(self.core.connections):
            if conn.transport is not None:
                conn.transport.abort()
        self.core.pool.close()
        if self._server is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), timeout=1.0)
