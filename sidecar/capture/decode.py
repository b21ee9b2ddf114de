"""Body decoding shared by the adapters: JSON with NaN/Infinity, payload markers, upstream error messages.

Large opaque payloads are never stored: a base64 value (`{"b64": "..."}`, TF Serving), a data URI (Cog) or a
binary BYTES element is replaced by a short marker `"<N bytes>"` giving its decoded size.
"""

from __future__ import annotations

import json
from typing import Any, Final

import orjson

from sidecar.capture.base import CaptureError, Exchange

ERROR_LIMIT: Final = 500
"""Longest upstream error message kept (characters)."""
TEXT_LIMIT: Final = 1024
"""Longer strings in opaque payloads (BYTES tensors, data URIs) become size markers."""
_MAX_DEPTH: Final = 64
_STORABLE_DEPTH: Final = 250


def bytes_marker(size: int) -> str:
    """The marker stored instead of an opaque payload of `size` bytes."""
    return f"<{size} bytes>"


def load_json(body: bytes, side: str) -> Any:
    """Parse a JSON body (orjson, else the stdlib parser for NaN/Infinity); CaptureError if it is not JSON."""
    if not body or body.isspace():
        raise CaptureError(f"{side} body is empty")
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        document = _fallback(body, side, str(exc))
    if body.count(b"[") + body.count(b"{") > _STORABLE_DEPTH:
        _check_storable(document, side)
    return document


def _fallback(body: bytes, side: str, first_error: str) -> Any:
    """TF Serving allows NaN/Infinity, which orjson rejects; the stdlib parser accepts them."""
    try:
        document = json.loads(body)
        orjson.dumps(document)  # the stdlib parser also accepts lone surrogates, which the store cannot write
    except (ValueError, RecursionError, orjson.JSONEncodeError):
        raise CaptureError(f"{side} body is not JSON ({first_error[:120]})") from None
    return document


def _check_storable(document: Any, side: str) -> None:
    """CaptureError when the document is nested too deeply for the store's encoder (orjson: 255 levels)."""
    try:
        # Wrapped in a few lists: whatever the adapters and the store build around a value must still encode.
        orjson.dumps([[[[document]]]])
    except orjson.JSONEncodeError:
        raise CaptureError(f"{side} body is nested too deeply") from None


def body_of(exchange: Exchange, side: str) -> bytes:
    """The request or response body; CaptureError naming why it was not captured."""
    body = exchange.request_body if side == "request" else exchange.response_body
    if body is not None:
        return body
    if side in exchange.truncated:
        raise CaptureError(truncated_message(exchange, side))
    raise CaptureError(f"{side} body not captured")


def truncated_message(exchange: Exchange, side: str) -> str:
    """`not captured: <side> body too large (N bytes)`, with the size when it is known."""
    size = exchange.request_size if side == "request" else exchange.response_size
    if size is None:
        headers = exchange.request_headers if side == "request" else exchange.response_headers
        length = headers.get("Content-Length", "")
        size = int(length) if length.isascii() and length.isdigit() else None
    if size is None:
        return f"not captured: {side} body too large"
    return f"not captured: {side} body too large ({size} bytes)"


def replace_b64(value: Any, depth: int = 0) -> Any:
    """A copy of a document with every `{"b64": "..."}` object replaced by a size marker."""
    if depth > _MAX_DEPTH:
        return value
    if isinstance(value, dict):
        if len(value) == 1 and isinstance(value.get("b64"), str):
            return bytes_marker(b64_size(value["b64"]))
        return {key: replace_b64(item, depth + 1) for key, item in value.items()}
    if isinstance(value, list):
        return [replace_b64(item, depth + 1) for item in value]
    return value


def b64_size(text: str) -> int:
    """Decoded size of a base64 string (padding-aware, without decoding it)."""
    stripped = text.rstrip("=")
    return len(stripped) * 3 // 4


def clip_text(value: Any) -> Any:
    """A string longer than TEXT_LIMIT (or a data URI) becomes a size marker; anything else is unchanged."""
    if isinstance(value, str) and (len(value) > TEXT_LIMIT or value.startswith("data:")):
        _, sep, data = value.partition(";base64,")
        return bytes_marker(b64_size(data) if sep else len(value.encode("utf-8", "surrogatepass")))
    return value


def error_message(status: int, body: bytes | None) -> str:
    """`HTTP <status>: <the upstream's message>` trimmed to about ERROR_LIMIT characters."""
    message = _message(body) if body else ""
    if not message:
        return f"HTTP {status}"
    if len(message) > ERROR_LIMIT:
        message = message[: ERROR_LIMIT - 3] + "..."
    return f"HTTP {status}: {message}"


def _message(body: bytes) -> str:
    text = body[: ERROR_LIMIT * 4].decode("utf-8", "replace").strip()
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError:
        return text
    return message_of(document) or text


def message_of(document: Any, depth: int = 0) -> str:
    """The human part of an error body: `error`, MLflow `error_code: message`, FastAPI `detail`, Seldon."""
    if isinstance(document, str):
        return document.strip()
    if not isinstance(document, dict):
        return _compact(document)
    error = document.get("error")
    if isinstance(error, str) and error:
        return error
    if isinstance(error, dict) and depth < 2:  # {"error": {"message": ...}}
        return message_of(error, depth + 1)
    message = document.get("message")
    if isinstance(message, str):
        code = document.get("error_code")
        return f"{code}: {message}" if isinstance(code, str) else message
    detail = document.get("detail")
    if isinstance(detail, str):
        return detail
    if isinstance(detail, list):
        return "; ".join(_detail_item(item) for item in detail[:10])
    status = document.get("status")  # Seldon: {"status": {"code": ..., "info": ..., "reason": ...}}
    if isinstance(status, dict) and isinstance(status.get("info"), str):
        reason = status.get("reason")
        return f"{reason}: {status['info']}" if isinstance(reason, str) and reason else status["info"]
    return _compact(document)


def _detail_item(item: Any) -> str:
    """One FastAPI/pydantic validation error as `body.feature1: Input should be a valid number`."""
    message = item.get("msg") if isinstance(item, dict) else None
    if isinstance(message, str):
        loc = item.get("loc")
        if isinstance(loc, list) and loc:
            return (
                ".".join(part if isinstance(part, str) else _compact(part) for part in loc) + ": " + message
            )
        return message
    return _compact(item)


def _compact(value: Any) -> str:
    """Compact JSON text of a value, or "" when it cannot be encoded (e.g. nested too deeply)."""
    try:
        return orjson.dumps(value)[: ERROR_LIMIT * 2].decode("utf-8", "replace")
    except orjson.JSONEncodeError:
        return ""
