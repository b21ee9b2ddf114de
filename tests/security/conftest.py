"""Fixtures for the security tests: the proxy tests' sidecar factory and a raw upstream that keeps every byte."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest

from tests.sidecar.conftest import http, make_sidecar, postgres_url, sqlite_url

__all__ = ["http", "make_sidecar", "postgres_url", "sqlite_url"]


@dataclass
class RawRecorder:
    """A hand-written HTTP/1.1 upstream on 127.0.0.1 that keeps each request's bytes exactly as received.

    It answers every request with `status` and `body` (Content-Length framed, keep-alive).
    """

    status: int = 200
    body: bytes = b'{"prediction": 1}'
    url: str = ""
    requests: list[bytes] = field(default_factory=list)
    """Each request: its head (request line and headers) and body, as the bytes that arrived."""

    @property
    def targets(self) -> list[bytes]:
        """The request target of each request, byte for byte."""
        return [r.split(b"\r\n", 1)[0].split(b" ")[1] for r in self.requests]

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Read requests (Content-Length or chunked bodies) and answer each, until the peer closes."""
        with contextlib.suppress(asyncio.IncompleteReadError, ConnectionError):
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lower = head.lower()
                body = b""
                if b"\r\ntransfer-encoding: chunked" in lower:
                    while True:
                        line = await reader.readuntil(b"\r\n")
                        body += line
                        size = int(line.split(b";")[0], 16)
                        body += await reader.readexactly(size + 2)
                        if size == 0:
                            break
                elif b"\r\ncontent-length:" in lower:
                    length = int(lower.split(b"\r\ncontent-length:", 1)[1].split(b"\r\n", 1)[0])
                    body = await reader.readexactly(length)
                self.requests.append(head + body)
                writer.write(
                    b"HTTP/1.1 %d X\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s"
                    % (self.status, len(self.body), self.body)
                )
                await writer.drain()
        writer.close()


@pytest.fixture
async def recorder() -> AsyncIterator[RawRecorder]:
    """A raw recording upstream (stopped at teardown)."""
    upstream = RawRecorder()
    server = await asyncio.start_server(upstream.serve, "127.0.0.1", 0)
    upstream.url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
    yield upstream
    server.close()
    await server.wait_closed()
