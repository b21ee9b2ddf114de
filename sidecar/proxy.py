"""The transparent reverse proxy: forwards every request byte-exact and hands each exchange to capture."""

from __future__ import annotations

import asyncio
import logging
import re
import time
import uuid
from collections.abc import AsyncIterator, Callable

import aiohttp
import orjson
from aiohttp import hdrs, web
from multidict import CIMultiDict, CIMultiDictProxy
from yarl import URL

from sidecar.capture.base import Exchange
from sidecar.settings import Settings

logger = logging.getLogger(__name__)

# RFC 9110 §7.6.1 connection-specific headers, never forwarded in either direction.
HOP_BY_HOP = frozenset(
    h.lower()
    for h in (
        "Connection",
        "Keep-Alive",
        "Proxy-Authenticate",
        "Proxy-Authorization",
        "Proxy-Connection",
        "TE",
        "Trailer",
        "Trailers",
        "Transfer-Encoding",
        "Upgrade",
    )
)
# aiohttp writes these itself from the request/response it sends.
_REQUEST_SKIP = HOP_BY_HOP | {"host", "content-length"}
_RESPONSE_SKIP = HOP_BY_HOP | {"content-length"}
# Headers aiohttp's client would add on its own; the upstream must see only what the client sent.
CLIENT_AUTO_HEADERS = ("User-Agent", "Accept", "Accept-Encoding", "Content-Type")

_REQUEST_ID_OK = re.compile(r"[A-Za-z0-9._:@/+=-]{1,128}")
REQUEST_ID_HEADER = "X-Request-ID"
_STREAMED_TYPES = ("text/event-stream", "application/x-ndjson", "multipart/x-mixed-replace")

CaptureSink = Callable[[Exchange], None]


def request_id_of(headers: CIMultiDictProxy[str]) -> str:
    """The client's X-Request-ID when it is a safe token, else a new random one."""
    rid = headers.get(REQUEST_ID_HEADER)
    if rid is not None and _REQUEST_ID_OK.fullmatch(rid):
        return rid
    return uuid.uuid4().hex


def _connection_tokens(headers: CIMultiDictProxy[str]) -> set[str]:
    """Header names listed in `Connection:`, which are hop-by-hop too."""
    value = headers.get(hdrs.CONNECTION)
    if not value:
        return set()
    return {t.strip().lower() for t in value.split(",") if t.strip()}


class _ExactResponse(web.Response):
    """A buffered response whose headers are exactly the upstream's (aiohttp would add Content-Type/Server)."""

    _keep_absent: tuple[str, ...] = ()

    async def _prepare_headers(self) -> None:
        await super()._prepare_headers()
        for name in self._keep_absent:
            self._headers.popall(name, None)


class _ExactStreamResponse(web.StreamResponse):
    """A streamed response that, like `_ExactResponse`, adds no header the upstream did not send."""

    _keep_absent: tuple[str, ...] = ()

    async def _prepare_headers(self) -> None:
        await super()._prepare_headers()
        for name in self._keep_absent:
            self._headers.popall(name, None)


class Proxy:
    """Forwards requests to one upstream over a shared session and reports each exchange to `capture`."""

    def __init__(self, settings: Settings, session: aiohttp.ClientSession, capture: CaptureSink) -> None:
        self._upstream = URL(settings.upstream)
        self._base_path = self._upstream.path.rstrip("/")
        self._session = session
        self._capture = capture
        self._limit = settings.capture.max_body_bytes
        self._capture_on = settings.capture.enabled
        t = settings.timeouts
        self._timeout = aiohttp.ClientTimeout(total=t.total, connect=t.connect, sock_read=t.read)

    def _upstream_url(self, request: web.BaseRequest) -> URL:
        # raw_path keeps the client's exact encoding (no normalisation between client and upstream).
        return self._upstream.with_path(self._base_path + request.raw_path, encoded=True)

    def _request_headers(self, request: web.BaseRequest, request_id: str) -> CIMultiDict[str]:
        src = request.headers
        drop = _REQUEST_SKIP | _connection_tokens(src)
        out: CIMultiDict[str] = CIMultiDict((k, v) for k, v in src.items() if k.lower() not in drop)
        peer = request.remote or ""
        prior = src.get(hdrs.X_FORWARDED_FOR)
        out[hdrs.X_FORWARDED_FOR] = f"{prior}, {peer}" if prior else peer
        out[hdrs.X_FORWARDED_PROTO] = request.scheme
        if hdrs.HOST in src:
            out[hdrs.X_FORWARDED_HOST] = src[hdrs.HOST]
        out[REQUEST_ID_HEADER] = request_id
        return out

    @staticmethod
    def _response_headers(upstream: CIMultiDictProxy[str], request_id: str) -> CIMultiDict[str]:
        drop = _RESPONSE_SKIP | _connection_tokens(upstream)
        out: CIMultiDict[str] = CIMultiDict((k, v) for k, v in upstream.items() if k.lower() not in drop)
        if REQUEST_ID_HEADER not in out:
            out[REQUEST_ID_HEADER] = request_id
        return out

    async def handle(self, request: web.BaseRequest) -> web.StreamResponse:
        """Proxy one request; 502/504 as JSON when the upstream fails before answering."""
        started = time.time()
        t0 = time.perf_counter()
        request_id = request_id_of(request.headers)
        headers = self._request_headers(request, request_id)
        length = request.content_length
        tee = _Tee(self._limit)
        data: bytes | AsyncIterator[bytes] | None
        if not request.body_exists:
            data = None
        elif length is not None and length <= self._limit:
            data = await request.read()
            tee.feed(data)
        else:
            if length is not None:
                headers[hdrs.CONTENT_LENGTH] = str(length)
            data = tee.relay(request.content)
        status = 502
        error: str | None = None
        upstream_headers: CIMultiDictProxy[str] = CIMultiDictProxy(CIMultiDict())
        resp_tee = _Tee(self._limit)
        try:
            async with self._session.request(
                request.method,
                self._upstream_url(request),
                headers=headers,
                data=data,
                allow_redirects=False,
                skip_auto_headers=CLIENT_AUTO_HEADERS,
                timeout=self._timeout,
            ) as upstream:
                status = upstream.status
                upstream_headers = upstream.headers
                return await self._respond(request, upstream, request_id, resp_tee)
        except TimeoutError:
            status, error = 504, f"upstream timed out ({self._describe_timeout()})"
            logger.debug("upstream timeout for request %s", request_id)
            return _error_response(504, error, request_id)
        except (aiohttp.ClientConnectionError, aiohttp.ClientPayloadError) as exc:
            status, error = 502, f"upstream unavailable: {type(exc).__name__}"
            logger.debug("upstream error for request %s: %s", request_id, exc)
            return _error_response(502, error, request_id)
        except asyncio.CancelledError:
            error = "client disconnected"
            raise
        finally:
            if self._capture_on:
                self._capture(
                    Exchange(
                        method=request.method,
                        path=request.path,
                        query=request.query_string,
                        request_headers=request.headers,
                        request_body=tee.body,
                        status=status,
                        response_headers=upstream_headers,
                        response_body=resp_tee.body,
                        request_id=request_id,
                        ts=started,
                        latency_ms=(time.perf_counter() - t0) * 1000.0,
                        error=error or resp_tee.error,
                        truncated=tee.truncated("request") | resp_tee.truncated("response"),
                        request_size=tee.size if tee.truncated("request") else None,
                        response_size=resp_tee.size if resp_tee.truncated("response") else None,
                    )
                )

    async def _respond(
        self, request: web.BaseRequest, upstream: aiohttp.ClientResponse, request_id: str, tee: _Tee
    ) -> web.StreamResponse:
        headers = self._response_headers(upstream.headers, request_id)
        absent = tuple(h for h in (hdrs.CONTENT_TYPE, hdrs.SERVER, hdrs.DATE) if h not in upstream.headers)
        length = upstream.content_length
        ctype = upstream.headers.get(hdrs.CONTENT_TYPE, "")
        streamed = ctype.startswith(_STREAMED_TYPES)
        if request.method == hdrs.METH_HEAD or upstream.status in (204, 304):
            if length is not None:
                headers[hdrs.CONTENT_LENGTH] = str(length)
            resp = _ExactStreamResponse(status=upstream.status, reason=upstream.reason, headers=headers)
            resp._keep_absent = absent
            await resp.prepare(request)
            await resp.write_eof()
            return resp
        if length is not None and length <= self._limit and not streamed:
            body = await upstream.read()
            tee.feed(body)
            buffered = _ExactResponse(
                status=upstream.status, reason=upstream.reason, headers=headers, body=body
            )
            buffered._keep_absent = absent
            return buffered
        if length is not None:
            headers[hdrs.CONTENT_LENGTH] = str(length)
        resp = _ExactStreamResponse(status=upstream.status, reason=upstream.reason, headers=headers)
        resp._keep_absent = absent
        await resp.prepare(request)
        try:
            async for chunk in upstream.content.iter_any():
                tee.feed(chunk)
                await resp.write(chunk)
        except (aiohttp.ClientPayloadError, aiohttp.ClientConnectionError, TimeoutError) as exc:
            # Headers are gone already: the only honest signal left is to cut the client's connection.
            tee.error = f"upstream failed mid-response: {type(exc).__name__}"
            logger.debug("upstream failed while streaming request %s: %s", request_id, exc)
            if request.transport is not None:
                request.transport.close()
            return resp
        await resp.write_eof()
        return resp

    def _describe_timeout(self) -> str:
        t = self._timeout
        return f"connect {t.connect}s, read {t.sock_read}s, total {t.total}s"


class _Tee:
    """Keeps a copy of a body up to `limit` bytes for capture; beyond that only counts."""

    __slots__ = ("_chunks", "_limit", "error", "size")

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._chunks: list[bytes] = []
        self.size = 0
        self.error: str | None = None

    def feed(self, chunk: bytes) -> None:
        """Account for a chunk and keep it while under the limit."""
        self.size += len(chunk)
        if self.size <= self._limit:
            self._chunks.append(chunk)
        elif self._chunks:
            self._chunks.clear()

    @property
    def body(self) -> bytes | None:
        """The whole body, or None when it exceeded the limit."""
        if self.size > self._limit:
            return None
        if len(self._chunks) == 1:
            return self._chunks[0]
        return b"".join(self._chunks)

    def truncated(self, side: str) -> frozenset[str]:
        """`{side}` when the body exceeded the limit."""
        return frozenset((side,)) if self.size > self._limit else frozenset()

    async def relay(self, stream: aiohttp.StreamReader) -> AsyncIterator[bytes]:
        """Stream a request body to the upstream while keeping the capture copy."""
        async for chunk in stream.iter_any():
            self.feed(chunk)
            yield chunk


def _error_response(status: int, message: str, request_id: str) -> web.Response:
    return web.Response(
        status=status,
        body=orjson.dumps({"error": message}),
        content_type="application/json",
        headers={REQUEST_ID_HEADER: request_id},
    )
