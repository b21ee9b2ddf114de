"""The proxy's HTTP/1.1 behaviour at the edges, on raw sockets: framing, pipelining, rejects, upstream failures.

Clients are `asyncio.open_connection` sockets and most upstreams are hand-written asyncio servers, so every
byte either side sends or receives is the test's own; a client or server library would hide exactly the
behaviour under test. Every wait is bounded by `TIMEOUT`.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import re
import time
import tracemalloc
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import orjson
import pytest
from aiohttp.test_utils import TestServer

from sidecar.app import PROXY
from sidecar.proxy.downstream import LINGER_SECONDS, MAX_HEADER_BYTES
from sidecar.proxy.upstream import UpstreamPool
from sidecar.server import Sidecar
from tests.sidecar.conftest import SidecarFactory, wait_records
from tests.sidecar.upstream import STATE

TIMEOUT = 5.0
OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
ERROR_HEAD = re.compile(
    rb"HTTP/1\.1 (\d{3}) [A-Za-z ]+\r\nContent-Type: application/json\r\nContent-Length: (\d+)\r\n"
    rb"X-Request-ID: [0-9a-f]{32}\r\nConnection: close\r\n\r\n"
)


# --- reading HTTP/1.1 off a raw socket ---------------------------------------------------------------------


@dataclass
class Message:
    """One HTTP message as read off the wire: start line, headers (names lower-cased), de-framed body."""

    start: bytes
    headers: list[tuple[bytes, bytes]]
    raw: bytes
    body: bytes = b""
    trailers: bytes = b""

    @property
    def status(self) -> int:
        """The status code of a response."""
        return int(self.start.split(b" ", 2)[1])

    def get(self, name: bytes) -> bytes | None:
        """The first value of a header, or None."""
        return next((v for k, v in self.headers if k == name), None)


async def read_message(
    reader: asyncio.StreamReader, *, request: bool = False, head_only: bool = False
) -> Message:
    """Read one request or response; a response without framing is read to EOF (close-delimited)."""
    head = await reader.readuntil(b"\r\n\r\n")
    start, *lines = head[:-4].split(b"\r\n")
    headers = [(n.strip().lower(), v.strip()) for n, _, v in (line.partition(b":") for line in lines)]
    msg = Message(start, headers, head)
    if head_only or (not request and (msg.status < 200 or msg.status in (204, 304))):
        return msg
    length = msg.get(b"content-length")
    if msg.get(b"transfer-encoding") is not None:
        assert msg.get(b"transfer-encoding") == b"chunked"
        raw, body = bytearray(), bytearray()
        while True:
            line = await reader.readuntil(b"\r\n")
            raw += line
            size = int(line.split(b";", 1)[0], 16)
            if size == 0:
                break
            data = await reader.readexactly(size + 2)
            assert data.endswith(b"\r\n")
            raw += data
            body += data[:-2]
        while (line := await reader.readuntil(b"\r\n")) != b"\r\n":
            msg.trailers += line
        msg.raw += bytes(raw) + msg.trailers + b"\r\n"
        msg.body = bytes(body)
    elif length is not None:
        msg.body = await reader.readexactly(int(length))
        msg.raw += msg.body
    elif not request:
        msg.body = await reader.read()
        msg.raw += msg.body
    return msg


def response(status: int = 200, body: bytes = b"", *headers: bytes) -> bytes:
    """A complete upstream response with a Content-Length."""
    lines = b"".join(h + b"\r\n" for h in headers)
    return b"HTTP/1.1 %d X\r\n%sContent-Length: %d\r\n\r\n%s" % (status, lines, len(body), body)


def chunked(*parts: bytes, trailers: bytes = b"") -> bytes:
    """A chunked body (with chunk extensions, to prove they are not passed on)."""
    return b"".join(b"%x;ext=1\r\n%s\r\n" % (len(p), p) for p in parts) + b"0\r\n" + trailers + b"\r\n"


# --- raw clients and upstreams --------------------------------------------------------------------------------


class Client:
    """A raw client connection to the proxy."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    def send(self, data: bytes) -> None:
        """Write bytes (flushed by the event loop)."""
        self.writer.write(data)

    async def response(self, *, head_only: bool = False) -> Message:
        """The next response."""
        async with asyncio.timeout(TIMEOUT):
            return await read_message(self.reader, head_only=head_only)

    async def exactly(self, n: int) -> bytes:
        """The next `n` bytes."""
        async with asyncio.timeout(TIMEOUT):
            return await self.reader.readexactly(n)

    async def rest(self) -> bytes:
        """Everything until the proxy closes the connection."""
        async with asyncio.timeout(TIMEOUT):
            with contextlib.suppress(ConnectionResetError):
                return await self.reader.read()
            return b""


ClientFactory = Callable[[Sidecar], Awaitable[Client]]


@pytest.fixture
async def connect() -> AsyncIterator[ClientFactory]:
    """Open raw client connections to a sidecar's proxy port (closed at teardown)."""
    clients: list[Client] = []

    async def factory(sidecar: Sidecar) -> Client:
        reader, writer = await asyncio.open_connection("127.0.0.1", sidecar.port)
        clients.append(Client(reader, writer))
        return clients[-1]

    yield factory
    for client in clients:
        client.writer.close()
        with contextlib.suppress(ConnectionError):
            await client.writer.wait_closed()


@dataclass
class Peer:
    """One connection accepted by a raw upstream."""

    upstream: RawUpstream
    index: int
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    requests: int = 0

    async def request(self) -> Message | None:
        """The next request on this connection (recorded), or None when the proxy closed it."""
        try:
            msg = await read_message(self.reader, request=True)
        except (asyncio.IncompleteReadError, ConnectionResetError):
            return None
        self.requests += 1
        self.upstream.requests.append(msg)
        return msg

    async def send(self, data: bytes) -> None:
        """Write bytes and wait until they are flushed."""
        self.writer.write(data)
        await self.writer.drain()


Handler = Callable[[Peer], Awaitable[None]]


@dataclass
class RawUpstream:
    """A hand-written HTTP/1.1 upstream on 127.0.0.1: `handler` serves each connection; all are counted."""

    handler: Handler
    url: str = ""
    connections: int = 0
    open: int = 0
    max_open: int = 0
    requests: list[Message] = field(default_factory=list)
    ended: list[int] = field(default_factory=list)
    """Indexes of connections whose handler has returned (the socket is then closed)."""
    errors: list[BaseException] = field(default_factory=list)
    """What handlers raised (their assertions fail the test at teardown)."""

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """One connection: count it, run the handler, close it."""
        self.connections += 1
        self.open += 1
        self.max_open = max(self.max_open, self.open)
        peer = Peer(self, self.connections, reader, writer)
        try:
            await self.handler(peer)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        except Exception as exc:
            self.errors.append(exc)
        finally:
            self.open -= 1
            self.ended.append(peer.index)
            writer.close()


RawFactory = Callable[[Handler], Awaitable[RawUpstream]]


@pytest.fixture
async def raw_upstream() -> AsyncIterator[RawFactory]:
    """Start raw upstreams; their servers and every connection handler are stopped at teardown."""
    servers: list[asyncio.Server] = []
    tasks: set[asyncio.Task[None]] = set()
    upstreams: list[RawUpstream] = []

    async def factory(handler: Handler) -> RawUpstream:
        upstream = RawUpstream(handler)
        upstreams.append(upstream)

        async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            # The handler runs in its own task: cancelling the one asyncio.start_server made logs an error.
            task = asyncio.ensure_future(upstream.serve(reader, writer))
            tasks.add(task)
            with contextlib.suppress(asyncio.CancelledError):
                await task

        server = await asyncio.start_server(serve, "127.0.0.1", 0)
        servers.append(server)
        upstream.url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
        return upstream

    yield factory
    for server in servers:
        server.close()
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    for server in servers:
        await server.wait_closed()
    assert [e for u in upstreams for e in u.errors] == []


def answer(reply: Callable[[Message], bytes] | bytes, *, close: bool = False, delay: float = 0.0) -> Handler:
    """A handler answering every request on the connection (optionally closing after each, unannounced)."""

    async def handler(peer: Peer) -> None:
        while (msg := await peer.request()) is not None:
            if delay:
                await asyncio.sleep(delay)
            await peer.send(reply(msg) if callable(reply) else reply)
            if close:
                return

    return handler


@pytest.fixture
def start(make_sidecar: SidecarFactory) -> SidecarFactory:
    """A sidecar that gives in-flight requests only a second at teardown."""

    async def factory(upstream_url: str, **overrides: Any) -> Sidecar:
        return await make_sidecar(upstream_url, **{"shutdown_timeout": 1.0, **overrides})

    return factory


async def eventually(check: Callable[[], bool], timeout: float = TIMEOUT) -> None:
    """Wait until `check()` holds."""
    async with asyncio.timeout(timeout):
        while not check():
            await asyncio.sleep(0.01)


# --- pipelining and bodiless responses ---------------------------------------------------------------------


@pytest.mark.parametrize("ids", [None, (b"id-1", b"id-2", b"id-3")], ids=["generated", "from-client"])
async def test_pipelined_requests_are_answered_in_order(
    ids: tuple[bytes, ...] | None, sidecar: Sidecar, upstream: TestServer, connect: ClientFactory
) -> None:
    bodies = [b"first", b"", b"third \xff"]
    methods = [b"POST", b"GET", b"PUT"]
    wire = b""
    for i, (method, body) in enumerate(zip(methods, bodies, strict=True)):
        rid = b"X-Request-ID: %s\r\n" % ids[i] if ids else b""
        wire += b"%s /echo/%d HTTP/1.1\r\nHost: x\r\n%sContent-Length: %d\r\n\r\n%s" % (
            method,
            i,
            rid,
            len(body),
            body,
        )
    client = await connect(sidecar)
    client.send(wire)  # all three at once
    responses = [await client.response() for _ in bodies]
    assert [r.status for r in responses] == [200, 200, 200]
    assert [r.body for r in responses] == bodies
    assert [r.get(b"x-upstream-method") for r in responses] == methods
    seen = upstream.app[STATE].seen
    assert [s.path_qs for s in seen] == ["/echo/0", "/echo/1", "/echo/2"]
    request_ids = [r.get(b"x-request-id") for r in responses]
    assert len(set(request_ids)) == 3
    assert [s.headers["X-Request-ID"].encode() for s in seen] == request_ids
    if ids:
        assert tuple(request_ids) == ids


@pytest.mark.parametrize(
    ("method", "upstream_reply", "expected_length"),
    [
        pytest.param(b"HEAD", b"HTTP/1.1 200 OK\r\nContent-Length: 1234\r\n\r\n", b"1234", id="HEAD-200"),
        pytest.param(b"HEAD", b"HTTP/1.1 404 Not Found\r\nContent-Length: 9\r\n\r\n", b"9", id="HEAD-404"),
        pytest.param(
            b"HEAD", b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", None, id="HEAD-chunked"
        ),
        pytest.param(b"GET", b"HTTP/1.1 204 No Content\r\n\r\n", None, id="GET-204"),
        pytest.param(
            b"DELETE", b"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n", None, id="DELETE-204"
        ),
        pytest.param(b"GET", b'HTTP/1.1 304 Not Modified\r\nETag: "v1"\r\n\r\n', None, id="GET-304"),
    ],
)
async def test_bodiless_responses_keep_the_client_connection(
    method: bytes,
    upstream_reply: bytes,
    expected_length: bytes | None,
    start: SidecarFactory,
    raw_upstream: RawFactory,
    connect: ClientFactory,
) -> None:
    upstream = await raw_upstream(answer(lambda m: upstream_reply if b" /thing " in m.start else OK))
    client = await connect(await start(upstream.url))
    client.send(
        b"%s /thing HTTP/1.1\r\nHost: x\r\n\r\nGET /next HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        % method
    )
    first = await client.response(head_only=True)
    rest = await client.rest()
    assert first.get(b"content-length") == expected_length
    assert first.get(b"transfer-encoding") is None
    # The next response follows the head at once: no body bytes in between.
    assert rest.startswith(b"HTTP/1.1 200 OK\r\n") and rest.endswith(b"\r\n\r\nok")
    assert [r.start.split(b" ")[0] for r in upstream.requests] == [method, b"GET"]


# --- Expect: 100-continue ------------------------------------------------------------------------------------


@pytest.mark.parametrize("framing", ["content-length", "chunked", "large"])
async def test_expect_100_continue_is_answered_by_the_proxy(
    framing: str, start: SidecarFactory, raw_upstream: RawFactory, connect: ClientFactory
) -> None:
    upstream = await raw_upstream(answer(lambda m: response(201, m.body)))
    sidecar = await start(upstream.url, capture={"max_body_bytes": 4})
    body = b"hello" if framing != "large" else b"x" * 1000
    client = await connect(sidecar)
    framing_header = (
        b"Transfer-Encoding: chunked" if framing == "chunked" else b"Content-Length: %d" % len(body)
    )
    client.send(b"POST /p HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n%s\r\n\r\n" % framing_header)
    assert await client.exactly(25) == b"HTTP/1.1 100 Continue\r\n\r\n"
    client.send(chunked(body) if framing == "chunked" else body)
    final = await client.response()
    assert (final.status, final.body) == (201, body)
    assert len(upstream.requests) == 1
    assert b"expect" not in {name for name, _ in upstream.requests[0].headers}
    assert upstream.requests[0].body == body


async def test_expect_100_continue_is_not_sent_to_an_http10_client(
    start: SidecarFactory, raw_upstream: RawFactory, connect: ClientFactory
) -> None:
    upstream = await raw_upstream(answer(lambda m: response(200, m.body)))
    client = await connect(await start(upstream.url))
    client.send(b"POST /p HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n")
    await asyncio.sleep(0.1)
    client.send(b"hi")
    assert (await client.rest()).startswith(b"HTTP/1.1 200 OK\r\n")  # no interim response first


async def test_expect_100_continue_never_lands_inside_an_earlier_streamed_response(
    start: SidecarFactory, raw_upstream: RawFactory, connect: ClientFactory
) -> None:
    release = asyncio.Event()

    async def handler(peer: Peer) -> None:
        await peer.request()
        await peer.send(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + b"5\r\nfirst\r\n")
        await release.wait()
        await peer.send(b"6\r\nsecond\r\n0\r\n\r\n")
        msg = await peer.request()
        assert msg is not None
        await peer.send(response(200, msg.body))

    upstream = await raw_upstream(handler)
    client = await connect(await start(upstream.url))
    client.send(b"GET /stream HTTP/1.1\r\nHost: x\r\n\r\n")
    head = await client.response(head_only=True)
    assert head.get(b"transfer-encoding") == b"chunked"
    client.send(b"POST /p HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n")
    await asyncio.sleep(0.1)
    release.set()
    first = await client.exactly(len(b"5\r\nfirst\r\n6\r\nsecond\r\n0\r\n\r\n"))
    assert first == b"5\r\nfirst\r\n6\r\nsecond\r\n0\r\n\r\n"
    client.send(b"hi")  # a client sends the body anyway once it stops waiting for 100
    second = await client.response()
    assert (second.status, second.body) == (200, b"hi")


# --- rejected requests ---------------------------------------------------------------------------------------

BAD_REQUESTS = {
    "request-line-garbage": b"HELLO\r\n\r\n",
    "request-line-extra-token": b"GET / HTTP/1.1 extra\r\nHost: x\r\n\r\n",
    "space-in-target": b"GET /a b HTTP/1.1\r\nHost: x\r\n\r\n",
    "bad-version": b"GET / HTTP/1.2\r\nHost: x\r\n\r\n",
    "bare-lf": b"GET / HTTP/1.1\nHost: x\n\n",
    "header-name-space": b"GET / HTTP/1.1\r\nHost: x\r\nX A: b\r\n\r\n",
    "header-space-before-colon": b"GET / HTTP/1.1\r\nHost: x\r\nX-A : b\r\n\r\n",
    "header-nul": b"GET / HTTP/1.1\r\nHost: x\r\nX-A: a\x00b\r\n\r\n",
    "header-bare-cr": b"GET / HTTP/1.1\r\nHost: x\r\nX-A: a\rb\r\n\r\n",
    "smuggle-cl-te": b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    "smuggle-te-cl": b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n",
    "smuggle-two-cl": b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!",
    "smuggle-cl-list": b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5, 6\r\n\r\nhello!",
    "smuggle-cl-sign": b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: +5\r\n\r\nhello",
    "smuggle-obs-fold": b"GET / HTTP/1.1\r\nHost: x\r\nX-A: a\r\n b\r\n\r\n",
    "smuggle-obs-fold-te": b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding:\r\n chunked\r\n\r\n0\r\n\r\n",
    "smuggle-te-not-chunked": b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\nabc",
    "smuggle-te-chunked-not-last": b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, gzip\r\n\r\n0\r\n\r\n",
    "bad-chunk-size": b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n",
    "asterisk-form": b"OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n",
    "authority-form": b"CONNECT evil:443 HTTP/1.1\r\nHost: evil:443\r\n\r\n",
    "absolute-form-ftp": b"GET ftp://evil/x HTTP/1.1\r\nHost: x\r\n\r\n",
    "http2-preface": b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
}


async def assert_rejected(client: Client, status: int) -> dict[str, Any]:
    """The proxy answered `status` with a JSON error and closed the connection; returns the JSON."""
    raw = await client.rest()
    head = ERROR_HEAD.match(raw)
    assert head is not None, raw
    assert int(head[1]) == status
    doc = orjson.loads(raw[head.end() :])
    assert len(raw) - head.end() == int(head[2])
    assert list(doc) == ["error"] and isinstance(doc["error"], str)
    return dict(doc)


@pytest.mark.parametrize("wire", list(BAD_REQUESTS.values()), ids=list(BAD_REQUESTS))
async def test_malformed_and_smuggling_requests_are_400_and_never_forwarded(
    wire: bytes, start: SidecarFactory, raw_upstream: RawFactory, connect: ClientFactory
) -> None:
    upstream = await raw_upstream(answer(OK))
    sidecar = await start(upstream.url)
    client = await connect(sidecar)
    client.send(wire)
    await assert_rejected(client, 400)
    # A well-formed request on a fresh connection still works, and is the only one the upstream ever saw.
    other = await connect(sidecar)
    other.send(b"GET /fine HTTP/1.1\r\nHost: x\r\n\r\n")
    assert (await other.response()).body == b"ok"
    assert [m.start for m in upstream.requests] == [b"GET /fine HTTP/1.1"]


async def test_rejection_after_pipelined_requests_answers_them_first(
    start: SidecarFactory, raw_upstream: RawFactory, connect: ClientFactory
) -> None:
    upstream = await raw_upstream(answer(OK, delay=0.05))
    sidecar = await start(upstream.url)
    client = await connect(sidecar)
    client.send(
        b"GET /a HTTP/1.1\r\nHost: x\r\n\r\nGET /b HTTP/1.1\r\nHost: x\r\n\r\nGET / HTTP/1.1\r\nX A: b\r\n\r\n"
    )
    for _ in range(2):
        assert (await client.response()).body == b"ok"
    assert "malformed request" in (await assert_rejected(client, 400))["error"]
    assert [m.start for m in upstream.requests] == [b"GET /a HTTP/1.1", b"GET /b HTTP/1.1"]
    # Half-closed after the 400; fully closed once the linger time is up, though this client never closes.
    await eventually(lambda: not sidecar.app[PROXY].core.connections, timeout=LINGER_SECONDS + 1.0)


def _many_headers(total: int) -> bytes:
    count = total // 1024 + 1
    return b"".join(b"X-Filler-%d: %s\r\n" % (i, b"v" * 1000) for i in range(count))


@pytest.mark.parametrize(
    "head",
    [
        pytest.param(
            b"GET / HTTP/1.1\r\nHost: x\r\n" + _many_headers(MAX_HEADER_BYTES) + b"\r\n", id="many-headers"
        ),
        pytest.param(
            b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"v" * (MAX_HEADER_BYTES + 1) + b"\r\n\r\n",
            id="one-header",
        ),
        pytest.param(b"GET /" + b"a" * (MAX_HEADER_BYTES + 1) + b" HTTP/1.1\r\nHost: x\r\n\r\n", id="target"),
    ],
)
async def test_request_heads_over_64_kib_are_431(
    head: bytes, start: SidecarFactory, raw_upstream: RawFactory, connect: ClientFactory
) -> None:
    upstream = await raw_upstream(answer(OK))
    client = await connect(await start(upstream.url))
    client.send(head)
    assert "too large" in (await assert_rejected(client, 431))["error"]
    assert upstream.requests == []


async def test_a_head_that_never_ends_is_431_without_buffering_it(
    start: SidecarFactory, raw_upstream: RawFactory, connect: ClientFactory
) -> None:
    upstream = await raw_upstream(answer(OK))
    client = await connect(await start(upstream.url))
    client.send(b"GET / HTTP/1.1\r\nHost: x\r\nX-Endless: ")
    for _ in range(64):  # 4 MiB of one header value, never terminated
        client.send(b"v" * 65536)
        with contextlib.suppress(ConnectionError):
            await client.writer.drain()
        if client.reader.at_eof() or client.writer.is_closing():
            break
    await assert_rejected(client, 431)


async def test_headers_just_under_the_limit_are_accepted(
    start: SidecarFactory, raw_upstream: RawFactory, connect: ClientFactory
) -> None:
    upstream = await raw_upstream(answer(OK))
    client = await connect(await start(upstream.url))
    client.send(b"GET / HTTP/1.1\r\nHost: x\r\n" + _many_headers(MAX_HEADER_BYTES - 4096) + b"\r\n")
    assert (await client.response()).body == b"ok"


# --- the request target --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("target", "forwarded"),
    [
        (b"http://evil/x?y=1", b"/x?y=1"),
        (b"HTTP://evil:8080", b"/"),
        (b"https://evil?q=1", b"/?q=1"),
        (b"http://user:pw@evil/a/b%2Fc", b"/a/b%2Fc"),
    ],
)
async def test_absolute_form_targets_are_forwarded_as_their_path_only(
    target: bytes,
    forwarded: bytes,
    start: SidecarFactory,
    raw_upstream: RawFactory,
    connect: ClientFactory,
    http: aiohttp.ClientSession,
) -> None:
    upstream = await raw_upstream(answer(OK))
    sidecar = await start(upstream.url)
    client = await connect(sidecar)
    client.send(b"POST %s HTTP/1.1\r\nHost: x\r\nX-Request-ID: abs-1\r\nContent-Length: 2\r\n\r\n{}" % target)
    assert (await client.response()).body == b"ok"
    (seen,) = upstream.requests
    assert seen.start == b"POST %s HTTP/1.1" % forwarded
    assert seen.get(b"host") == upstream.url.removeprefix("http://").encode()
    assert seen.get(b"x-forwarded-host") == b"x"
    (record,) = await wait_records(http, sidecar, 1)
    assert record["route"] == forwarded.split(b"?")[0].decode()


# --- HTTP/1.0 clients ----------------------------------------------------------------------------------------


async def test_http10_client_gets_keep_alive_only_when_asked(
    start: SidecarFactory, raw_upstream: RawFactory, connect: ClientFactory
) -> None:
    upstream = await raw_upstream(answer(OK))
    sidecar = await start(upstream.url)
    plain = await connect(sidecar)
    plain.send(b"GET /a HTTP/1.0\r\n\r\n")
    first = await plain.response()
    assert (first.body, first.get(b"connection")) == (b"ok", b"close")
    assert await plain.rest() == b""

    asked = await connect(sidecar)
    asked.send(b"GET /b HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
    second = await asked.response()
    assert (second.body, second.get(b"connection")) == (b"ok", b"keep-alive")
    asked.send(b"GET /c HTTP/1.0\r\n\r\n")
    third = await asked.response()
    assert (third.body, third.get(b"connection")) == (b"ok", b"close")
    assert await asked.rest() == b""


@pytest.mark.parametrize("keep_alive", [False, True])
async def test_streamed_response_to_http10_client_is_close_delimited(
    keep_alive: bool, sidecar: Sidecar, connect: ClientFactory
) -> None:
    size = 300_000
    client = await connect(sidecar)
    client.send(
        b"GET /big?size=%d HTTP/1.0\r\n%s\r\n" % (size, b"Connection: keep-alive\r\n" if keep_alive else b"")
    )
    raw = await client.rest()
    head, _, body = raw.partition(b"\r\n\r\n")
    assert b"\r\nConnection: close" in head
    assert b"Transfer-Encoding" not in head and b"Content-Length" not in head
    assert body == (bytes(range(256)) * 256 * 5)[:size]


# --- upstream response framing -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "parts",
    [
        pytest.param([b"hello", b" ", b"world"], id="text"),
        pytest.param([bytes(range(256)) * 300, b"\r\n0\r\n\r\n", b"\x00"], id="binary"),
        pytest.param([b"x" * 70_000] * 30, id="large"),
    ],
)
async def test_chunked_response_is_rechunked_byte_exact_without_trailers(
    parts: list[bytes], start: SidecarFactory, raw_upstream: RawFactory, connect: ClientFactory
) -> None:
    async def handler(peer: Peer) -> None:
        while await peer.request() is not None:
            await peer.send(b"HTTP/1.1 200 OK\r\nTrailer: X-Checksum\r\nTransfer-Encoding: chunked\r\n\r\n")
            for part in parts:
                await peer.send(chunked(part)[: -len(b"0\r\n\r\n")])
            await peer.send(b"0\r\nX-Checksum: abc\r\n\r\n")

    upstream = await raw_upstream(handler)
    client = await connect(await start(upstream.url))
    for _ in range(2):  # the connection is reusable afterwards
        client.send(b"GET /c HTTP/1.1\r\nHost: x\r\n\r\n")
        msg = await client.response()
        assert msg.get(b"transfer-encoding") == b"chunked"
        assert msg.get(b"trailer") is None and msg.trailers == b""
        assert msg.body == b"".join(parts)
        assert b"ext=" not in msg.raw and b"X-Checksum" not in msg.raw
        assert msg.raw.endswith(b"\r\n0\r\n\r\n")
    assert upstream.connections == 1


@pytest.mark.parametrize(
    "interim",
    [
        pytest.param([b"HTTP/1.1 103 Early Hints\r\nLink: </s.css>; rel=preload\r\n\r\n"], id="103"),
        pytest.param(
            [
                b"HTTP/1.1 100 Continue\r\n\r\n",
                b"HTTP/1.1 103 Early Hints\r\nLink: </a>\r\nLink: </b>\r\n\r\n",
            ],
            id="100-then-103",
        ),
        pytest.param([b"HTTP/1.1 103 Early", b" Hints\r\nLink: </s.css>\r\n", b"\r\n"], id="103-split"),
    ],
)
async def test_informational_responses_are_not_forwarded(
    interim: list[bytes], start: SidecarFactory, raw_upstream: RawFactory, connect: ClientFactory
) -> None:
    final = (
        b'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 17\r\n\r\n{"prediction": 1}'
    )

    async def handler(peer: Peer) -> None:
        while await peer.request() is not None:
            for part in interim:
                await peer.send(part)
                await asyncio.sleep(0.02)
            await peer.send(final)

    upstream = await raw_upstream(handler)
    client = await connect(await start(upstream.url))
    for _ in range(2):
        client.send(b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}")
        msg = await client.response()
        assert (msg.status, msg.body) == (200, b'{"prediction": 1}')
        assert msg.get(b"link") is None
        assert msg.raw.startswith(b"HTTP/1.1 200 OK\r\n")


async def test_unasked_protocol_switch_from_upstream_is_502(
    start: SidecarFactory, raw_upstream: RawFactory, connect: ClientFactory
) -> None:
    switch = (
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n\x81\x02hi"
    )
    upstream = await raw_upstream(answer(lambda m: switch if m.start.startswith(b"GET /ws") else OK))
    sidecar = await start(upstream.url)
    client = await connect(sidecar)
    client.send(b"GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
    msg = await client.response()
    assert msg.status == 502 and b"\x81" not in msg.raw
    assert await client.rest() == b""  # nothing after an Upgrade request can be parsed: the proxy closes
    other = await connect(sidecar)
    other.send(b"GET /next HTTP/1.1\r\nHost: x\r\n\r\n")
    assert (await other.response()).body == b"ok"
    assert upstream.requests[0].get(b"upgrade") is None  # Upgrade is hop-by-hop: never forwarded


# --- upstream connection failures ----------------------------------------------------------------------------


@pytest.mark.parametrize("method", [b"GET", b"POST"])
@pytest.mark.parametrize("timing", ["closed-while-idle", "closed-as-request-arrives"])
async def test_upstream_closing_a_keep_alive_connection_is_survived(
    method: bytes, timing: str, start: SidecarFactory, raw_upstream: RawFactory, connect: ClientFactory
) -> None:
    async def handler(peer: Peer) -> None:
        msg = await peer.request()
        assert msg is not None
        await peer.send(response(200, b"n=%d" % peer.index))  # no `Connection: close`
        if timing == "closed-as-request-arrives":
            await asyncio.sleep(0.2)  # the proxy has reused the connection by then

    upstream = await raw_upstream(handler)
    client = await connect(await start(upstream.url))
    for _ in range(3):
        client.send(b"%s /p HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}" % method)
        msg = await client.response()
        assert (msg.status, msg.body) == (200, b"n=%d" % upstream.connections)
        if timing == "closed-while-idle":
            await eventually(lambda: len(upstream.ended) == upstream.connections)
            await asyncio.sleep(0.05)
    assert len(upstream.requests) == 3


@pytest.mark.parametrize(
    "partial",
    [
        pytest.param(b"HTTP/1.1 200 OK\r\nContent-Le", id="in-head"),
        pytest.param(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhalf", id="in-body"),
    ],
)
async def test_reused_connection_dying_mid_response_is_502_without_retry(
    partial: bytes,
    start: SidecarFactory,
    raw_upstream: RawFactory,
    connect: ClientFactory,
    http: aiohttp.ClientSession,
) -> None:
    async def handler(peer: Peer) -> None:
        await peer.request()
        await peer.send(OK)
        await peer.request()
        await peer.send(partial)

    upstream = await raw_upstream(handler)
    sidecar = await start(upstream.url)
    client = await connect(sidecar)
    client.send(b"POST /p HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}")
    assert (await client.response()).body == b"ok"
    client.send(b"POST /p HTTP/1.1\r\nHost: x\r\nX-Request-ID: cut-1\r\nContent-Length: 2\r\n\r\n{}")
    msg = await client.response()
    assert msg.status == 502
    assert "upstream" in orjson.loads(msg.body)["error"]
    assert (upstream.connections, len(upstream.requests)) == (1, 2)
    records = await wait_records(http, sidecar, 2)
    cut = next(r for r in records if r["request_id"] == "cut-1")
    assert cut["status"] == 502 and "upstream" in cut["error"]


@pytest.mark.parametrize("framing", ["content-length", "chunked"])
async def test_upstream_dying_mid_streamed_body_cuts_the_client(
    framing: str,
    start: SidecarFactory,
    raw_upstream: RawFactory,
    connect: ClientFactory,
    http: aiohttp.ClientSession,
) -> None:
    half = b"y" * 5000
    if framing == "content-length":
        sent = b"HTTP/1.1 200 OK\r\nContent-Length: 10000\r\n\r\n" + half
    else:
        sent = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + chunked(half)[: -len(b"0\r\n\r\n")]

    async def handler(peer: Peer) -> None:
        await peer.request()
        await peer.send(sent)

    upstream = await raw_upstream(handler)
    sidecar = await start(upstream.url, capture={"max_body_bytes": 1000})  # 10000 bytes: streamed
    client = await connect(sidecar)
    client.send(b"POST /half HTTP/1.1\r\nHost: x\r\nX-Request-ID: half-1\r\nContent-Length: 2\r\n\r\n{}")
    head = await client.response(head_only=True)
    assert head.status == 200
    rest = await client.rest()  # the proxy closes: no silent short body, no error text spliced in
    if framing == "content-length":
        assert rest == half
    else:
        assert rest == b"%x\r\n%s\r\n" % (len(half), half)
    (record,) = await wait_records(http, sidecar, 1)
    assert (record["request_id"], record["status"]) == ("half-1", 200)  # the status the client saw
    assert "upstream closed" in record["error"]


async def test_upstream_dying_mid_buffered_body_is_502(
    start: SidecarFactory, raw_upstream: RawFactory, connect: ClientFactory
) -> None:
    upstream = await raw_upstream(answer(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhalf", close=True))
    client = await connect(await start(upstream.url))
    client.send(b"GET /half HTTP/1.1\r\nHost: x\r\n\r\n")
    msg = await client.response()
    assert msg.status == 502 and b"half" not in msg.body
    client.send(b"GET /again HTTP/1.1\r\nHost: x\r\n\r\n")  # the client connection is still usable
    assert (await client.response()).status == 502


@pytest.mark.parametrize(
    ("head", "first"),
    [
        pytest.param(b"Transfer-Encoding: chunked\r\n\r\n5\r\nfirst\r\n", b"5\r\nfirst\r\n", id="chunked"),
        pytest.param(b"Content-Length: 100000\r\n\r\nfirst", b"first", id="content-length"),
    ],
)
async def test_client_disconnect_during_streamed_response_closes_the_upstream_connection(
    head: bytes, first: bytes, start: SidecarFactory, raw_upstream: RawFactory, connect: ClientFactory
) -> None:
    async def handler(peer: Peer) -> None:
        msg = await peer.request()
        assert msg is not None
        if msg.start.startswith(b"GET /stream"):
            await peer.send(b"HTTP/1.1 200 OK\r\n" + head)
            assert await peer.reader.read() == b""  # the proxy closes this connection
            return
        await peer.send(OK)

    upstream = await raw_upstream(handler)
    sidecar = await start(upstream.url, capture={"max_body_bytes": 4})  # so 100000 bytes are streamed
    client = await connect(sidecar)
    client.send(b"GET /stream HTTP/1.1\r\nHost: x\r\n\r\n")
    await client.response(head_only=True)
    assert await client.exactly(len(first)) == first
    client.writer.close()
    await eventually(lambda: upstream.ended == [1])
    other = await connect(sidecar)
    other.send(b"GET /after HTTP/1.1\r\nHost: x\r\n\r\n")
    assert (await other.response()).body == b"ok"
    assert upstream.connections == 2


async def test_early_response_to_an_unfinished_upload_is_not_reused(
    start: SidecarFactory, raw_upstream: RawFactory, connect: ClientFactory
) -> None:
    firsts: list[bytes] = []

    async def handler(peer: Peer) -> None:
        head = await peer.reader.readuntil(b"\r\n\r\n")
        firsts.append(head.split(b"\r\n", 1)[0])
        await peer.send(response(413, b"too big"))  # answers without reading the body, keeps the connection
        with contextlib.suppress(ConnectionError):
            firsts.append((await peer.reader.read(65536))[:40])

    upstream = await raw_upstream(handler)
    sidecar = await start(upstream.url)
    uploader = await connect(sidecar)
    uploader.send(
        b"POST /upload HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" + b"5\r\nhello\r\n"
    )
    msg = await uploader.response()
    assert (msg.status, msg.get(b"connection")) == (413, b"close")
    other = await connect(sidecar)
    other.send(b"GET /next HTTP/1.1\r\nHost: x\r\n\r\n")
    assert (await other.response()).status == 413
    assert upstream.connections == 2  # the first connection still expects the rest of the upload
    assert firsts[0] == b"POST /upload HTTP/1.1"
    assert b"GET /next HTTP/1.1" in firsts


# --- flow control and limits ---------------------------------------------------------------------------------


async def test_large_streamed_request_body_is_flow_controlled(
    make_sidecar: SidecarFactory, upstream: TestServer, connect: ClientFactory
) -> None:
    sidecar = await make_sidecar(str(upstream.make_url("")))
    block = bytes(range(256)) * 256  # 64 KiB
    blocks = 320  # 20 MiB
    expected = hashlib.sha256(block * blocks).hexdigest()
    client = await connect(sidecar)
    client.send(b"POST /sink HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        for _ in range(blocks):
            client.send(chunked(block)[: -len(b"0\r\n\r\n")])
            async with asyncio.timeout(TIMEOUT):
                await client.writer.drain()
        client.send(b"0\r\n\r\n")
        msg = await client.response()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert msg.status == 200
    assert orjson.loads(msg.body) == {"size": len(block) * blocks, "sha256": expected}
    assert peak < 3 << 20, f"peak traced memory {peak / 2**20:.1f} MiB while proxying 20 MiB"


async def test_body_held_while_the_pool_is_busy_flows_once_connected(
    start: SidecarFactory, raw_upstream: RawFactory, connect: ClientFactory
) -> None:
    release = asyncio.Event()

    async def handler(peer: Peer) -> None:
        while (msg := await peer.request()) is not None:
            if msg.start.startswith(b"GET /slow"):
                await release.wait()
            await peer.send(response(200, b"%d" % len(msg.body)))

    upstream = await raw_upstream(handler)
    sidecar = await start(upstream.url, upstream_connections=1)
    slow = await connect(sidecar)
    slow.send(b"GET /slow HTTP/1.1\r\nHost: x\r\n\r\n")
    await eventually(lambda: len(upstream.requests) == 1)
    uploader = await connect(sidecar)
    block = b"z" * 65536
    blocks = 64  # 4 MiB: more than the proxy holds while it waits for a connection

    async def upload() -> None:
        uploader.send(b"POST /up HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
        for _ in range(blocks):
            uploader.send(chunked(block)[: -len(b"0\r\n\r\n")])
            await uploader.writer.drain()
        uploader.send(b"0\r\n\r\n")

    sending = asyncio.ensure_future(upload())
    await asyncio.sleep(0.2)
    release.set()
    assert (await slow.response()).body == b"0"
    async with asyncio.timeout(TIMEOUT):
        await sending
    assert (await uploader.response()).body == b"%d" % (blocks * len(block))


async def test_a_cancelled_pool_waiter_passes_its_wake_up_on(raw_upstream: RawFactory) -> None:
    upstream = await raw_upstream(answer(OK))
    port = int(upstream.url.rsplit(":", 1)[1])
    pool = UpstreamPool("127.0.0.1", port, limit=1, connect_timeout=1.0, keepalive=10.0)
    conn = await pool.acquire()
    first = asyncio.ensure_future(pool.acquire())
    second = asyncio.ensure_future(pool.acquire())
    await asyncio.sleep(0.01)  # both wait for the one connection
    pool.release(conn)  # wakes `first`...
    first.cancel()  # ...whose client goes away before it runs
    async with asyncio.timeout(TIMEOUT):
        assert await second is conn
    with pytest.raises(asyncio.CancelledError):
        await first
    conn.close()
    pool.close()
    await eventually(lambda: upstream.ended == [1])


@pytest.mark.parametrize("limit", [1, 4])
async def test_pool_limit_is_respected_under_50_concurrent_requests(
    limit: int, start: SidecarFactory, raw_upstream: RawFactory, http: aiohttp.ClientSession
) -> None:
    upstream = await raw_upstream(answer(OK, delay=0.01))
    sidecar = await start(upstream.url, upstream_connections=limit)

    async def one(i: int) -> bytes:
        async with http.post(f"http://127.0.0.1:{sidecar.port}/p/{i}", data=b"{}") as resp:
            assert resp.status == 200
            return await resp.read()

    async with asyncio.timeout(TIMEOUT * 2):
        bodies = await asyncio.gather(*(one(i) for i in range(50)))
    assert bodies == [b"ok"] * 50
    assert len(upstream.requests) == 50
    assert upstream.max_open == limit
    assert upstream.connections == limit


@pytest.mark.parametrize("state", ["fresh", "after-response", "mid-head"])
async def test_idle_client_connections_are_closed(
    state: str, start: SidecarFactory, raw_upstream: RawFactory, connect: ClientFactory
) -> None:
    upstream = await raw_upstream(answer(OK))
    client = await connect(await start(upstream.url, timeouts={"client_idle": 0.3}))
    if state == "after-response":
        client.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        assert (await client.response()).body == b"ok"
    elif state == "mid-head":
        client.send(b"GET / HTTP/1.1\r\nHost: x\r\nX-Slow: ")
    t0 = time.monotonic()
    assert await client.rest() == b""
    assert 0.2 < time.monotonic() - t0 < 3.0


async def test_a_request_outlasting_the_idle_timeout_is_answered_and_the_connection_kept(
    start: SidecarFactory, raw_upstream: RawFactory, connect: ClientFactory
) -> None:
    upstream = await raw_upstream(answer(OK, delay=1.0))
    client = await connect(await start(upstream.url, timeouts={"client_idle": 0.3}))
    for _ in range(2):  # the idle clock restarts after each response
        client.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        assert (await client.response()).body == b"ok"
    assert await client.rest() == b""  # then idle: closed
    assert upstream.connections == 1


@pytest.mark.parametrize("silent_after", [None, 4], ids=["keeps-sending", "goes-silent"])
async def test_the_read_timeout_counts_from_the_last_byte_received(
    silent_after: int | None, start: SidecarFactory, raw_upstream: RawFactory, connect: ClientFactory
) -> None:
    parts = [b"part%d;" % i for i in range(8)]  # one every 0.15 s: the whole body takes longer than `read`

    async def handler(peer: Peer) -> None:
        await peer.request()
        await peer.send(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(b"".join(parts)))
        for part in parts[:silent_after]:
            await asyncio.sleep(0.15)
            await peer.send(part)
        await asyncio.sleep(TIMEOUT if silent_after else 0)

    upstream = await raw_upstream(handler)
    client = await connect(await start(upstream.url, timeouts={"read": 0.6}))
    client.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    if silent_after is None:
        assert (await client.response()).body == b"".join(parts)
    else:
        # The response was buffered (small, with a length): the silence became a 504 before any byte was sent.
        msg = await client.response()
        assert msg.status == 504 and b"read 0.6s" in msg.body


async def test_the_total_timeout_bounds_an_exchange_the_read_timeout_does_not(
    start: SidecarFactory, raw_upstream: RawFactory, connect: ClientFactory
) -> None:
    async def handler(peer: Peer) -> None:
        await peer.request()
        await peer.send(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n")
        for _ in range(100):  # a byte every 0.1 s: never silent for `read`, but 10 s in all
            await asyncio.sleep(0.1)
            await peer.send(b"x")

    upstream = await raw_upstream(handler)
    client = await connect(await start(upstream.url, timeouts={"read": 2.0, "total": 0.5}))
    client.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    msg = await client.response()
    assert msg.status == 504 and b"total 0.5s" in msg.body


async def test_malformed_chunk_in_an_upload_under_way_cuts_it(
    start: SidecarFactory, raw_upstream: RawFactory, connect: ClientFactory
) -> None:
    got_first_chunk = asyncio.Event()
    received: list[bytes] = []

    async def handler(peer: Peer) -> None:
        received.append(await peer.reader.readuntil(b"5\r\nhello\r\n"))
        got_first_chunk.set()
        with contextlib.suppress(ConnectionResetError):
            received.append(await peer.reader.read())  # until the proxy drops the connection

    upstream = await raw_upstream(handler)
    sidecar = await start(upstream.url)
    client = await connect(sidecar)
    client.send(b"POST /up HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n")
    async with asyncio.timeout(TIMEOUT):
        await got_first_chunk.wait()
    client.send(b"zz\r\nnot a chunk\r\n")
    assert await client.rest() == b""  # the exchange was under way: no response can be made up for it
    await eventually(lambda: upstream.ended == [1])
    assert b"zz" not in b"".join(received)


# --- request trailers ----------------------------------------------------------------------------------------


async def test_request_trailers_never_become_forwarded_headers(
    start: SidecarFactory, raw_upstream: RawFactory, connect: ClientFactory
) -> None:
    upstream = await raw_upstream(answer(lambda m: response(200, m.body)))
    client = await connect(await start(upstream.url))
    client.send(
        b"POST /t HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
        + chunked(b"abc", trailers=b"X-Forwarded-For: 6.6.6.6\r\nX-Smuggled: 1\r\n")
    )
    assert (await client.response()).body == b"abc"
    (seen,) = upstream.requests
    assert seen.get(b"x-smuggled") is None
    assert seen.get(b"x-forwarded-for") == b"127.0.0.1"
    assert seen.trailers == b""
