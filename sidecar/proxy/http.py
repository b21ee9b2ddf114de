"""HTTP/1.1 details the proxy needs: header filtering, framing, request ids and error responses."""

from __future__ import annotations

import itertools
import os
import re
from http import HTTPStatus

import orjson

Header = tuple[bytes, bytes]

# RFC 9110 §7.6.1 connection-specific headers, never forwarded in either direction.
HOP_BY_HOP = frozenset(
    {
        b"connection", b"keep-alive", b"proxy-authenticate", b"proxy-authorization", b"proxy-connection",
        b"te", b"trailer", b"trailers", b"transfer-encoding", b"upgrade",
    }
)
# The proxy writes its own framing and Host; Expect: 100-continue is answered by the proxy itself.
REQUEST_DROP = HOP_BY_HOP | {b"host", b"content-length", b"expect", b"x-request-id"}
RESPONSE_DROP = HOP_BY_HOP | {b"content-length"}
STREAMED_TYPES = (b"text/event-stream", b"application/x-ndjson", b"multipart/x-mixed-replace")

_REQUEST_ID_OK = re.compile(rb"[A-Za-z0-9._:@/+=-]{1,128}")
_ABSOLUTE_FORM = re.compile(rb"(?i)https?://[^/?#]*")
_ID_PREFIX = os.urandom(8).hex()
_ID_COUNTER = itertools.count(1)
_REASONS = {s.value: s.phrase.encode() for s in HTTPStatus}


def new_request_id() -> str:
    """A unique request id: a random per-process prefix and a counter (cheaper than uuid4 per request)."""
    return f"{_ID_PREFIX}{next(_ID_COUNTER):016x}"


def request_id_from(value: bytes | None) -> str:
    """The client's X-Request-ID when it is a safe token (no spaces, quotes or control bytes), else a new one."""
    if value is not None and _REQUEST_ID_OK.fullmatch(value):
        return value.decode("ascii")
    return new_request_id()


def origin_form(target: bytes) -> bytes | None:
    """The path and query of an absolute-form target (`http://host/p?q` -> `/p?q`); None for any other form.

    The upstream is fixed, so the authority a client names never chooses where a request goes: it is dropped.
    """
    m = _ABSOLUTE_FORM.match(target)
    if m is None:
        return None
    rest = target[m.end():]
    return rest if rest[:1] == b"/" else b"/" + rest


def connection_tokens(headers: list[Header]) -> set[bytes]:
    """Header names listed in `Connection:` (hop-by-hop as well), lower-cased."""
    tokens: set[bytes] = set()
    for name, value in headers:
        if name.lower() == b"connection":
            tokens.update(t.strip().lower() for t in value.split(b",") if t.strip())
    return tokens


def header_value(headers: list[Header], name: bytes) -> bytes | None:
    """The first value of a header (name lower-case), or None."""
    for k, v in headers:
        if k.lower() == name:
            return v
    return None


def reason(status: int) -> bytes:
    """The standard reason phrase for a status code."""
    return _REASONS.get(status, b"Unknown")


def chunk(data: bytes) -> bytes:
    """One chunk of a chunked body."""
    return b"%x\r\n%s\r\n" % (len(data), data)


LAST_CHUNK = b"0\r\n\r\n"
CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"


def error_response(status: int, message: str, request_id: str, *, close: bool) -> bytes:
    """A complete `{"error": ...}` JSON response, as bytes."""
    body = orjson.dumps({"error": message})
    head = (
        b"HTTP/1.1 %d %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\nX-Request-ID: %s\r\n"
        % (status, reason(status), len(body), request_id.encode())
    )
    return head + (b"Connection: close\r\n\r\n" if close else b"\r\n") + body
