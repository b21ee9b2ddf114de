"""Replicate Cog: `POST /predictions` (or `PUT /predictions/{id}`) `{"input": {...}}` -> `{"output": ...}`.

One prediction per request: the features are the `input` object (keys kept; data URIs and strings longer than
1 KiB become `"<N bytes>"` markers), the prediction is `output` as it is (a scalar, list or object). The
status decides success, not the HTTP code: `"failed"` comes back with HTTP 200 and is recorded with the body's
`error`; `"canceled"` likewise. A 202 answer to `Prefer: respond-async` (`"starting"`/`"processing"`) has no
output yet: it is recorded with the reason, the result goes to the client's webhook. Cog's prediction `id` is
kept in `extra["id"]` and `metrics.predict_time` in `extra["predict_time"]`. 409 "at capacity" is an HTTP
error.
"""

from __future__ import annotations

import re
from typing import Any, Final

from sidecar.capture.adapter import BaseAdapter, Parsed, RouteMatch
from sidecar.capture.base import AdapterOptions, CaptureError, Exchange
from sidecar.capture.decode import ERROR_LIMIT, body_of, clip_text, load_json

_PREDICTIONS: Final = "/predictions"
_BY_ID: Final = re.compile(r"/predictions/([^/]+)(/cancel)?")
_REQUEST_KEYS: Final = frozenset(
    {"input", "id", "webhook", "webhook_events_filter", "output_file_prefix", "context", "created_at"}
)
_PENDING: Final = frozenset({"starting", "processing"})


class CogAdapter(BaseAdapter):
    """Cog's HTTP prediction API (Python server <= 0.16 and the Rust server)."""

    name = "cog"

    def sniff(self, exchange: Exchange, request: dict[str, Any]) -> bool:
        """True for `{"input": {...}}` bodies answered with a Cog status."""
        return (
            isinstance(request.get("input"), dict)
            and request.keys() <= _REQUEST_KEYS
            and b'"status"' in (exchange.response_body or b"")
        )

    def route(self, path: str) -> RouteMatch | None:
        """`/predictions`, `/predictions/{id}` or `/predictions/{id}/cancel`."""
        if path == _PREDICTIONS:
            return RouteMatch(_PREDICTIONS)
        if not path.startswith("/predictions/"):
            return None
        match = _BY_ID.fullmatch(path)
        if match is None:
            return None
        return RouteMatch("/predictions/{id}/cancel" if match.group(2) else "/predictions/{id}")

    def read_request(self, exchange: Exchange, route: RouteMatch, options: AdapterOptions) -> Parsed:
        """The `input` object as one row."""
        document = load_json(body_of(exchange, "request"), "request")
        inputs = document.get("input") if isinstance(document, dict) else None
        if not isinstance(inputs, dict):
            raise CaptureError("request has no input object")
        return Parsed(rows=[{key: clip_text(value) for key, value in inputs.items()}])

    def read_response(
        self, exchange: Exchange, route: RouteMatch, options: AdapterOptions, rows: int | None
    ) -> Parsed:
        """The output, or the reason there is none (failed, canceled, still running)."""
        document = load_json(body_of(exchange, "response"), "response")
        if not isinstance(document, dict):
            raise CaptureError("response body is not a JSON object")
        extra = _extra(document)
        status = document.get("status")
        output = _output(document.get("output"))
        if status == "succeeded" or (status is None and "output" in document):
            return Parsed(rows=[output], extra=extra)
        if status == "failed":
            error = document.get("error")
            reason = error[:ERROR_LIMIT] if isinstance(error, str) and error else "prediction failed"
            return Parsed(rows=[None], extra=extra, error=reason)
        if status == "canceled":
            return Parsed(rows=[None], extra=extra, error="prediction canceled")
        if isinstance(status, str) and status in _PENDING:
            return Parsed(rows=[None], extra=extra, error=f"prediction {status}: output goes to the webhook")
        raise CaptureError(f"response has no prediction status ({str(status)[:40]})")


def _output(output: Any) -> Any:
    if isinstance(output, list):
        return [clip_text(item) for item in output]
    return clip_text(output)


def _extra(document: dict[str, Any]) -> dict[str, Any]:
    extra: dict[str, Any] = {}
    ident = document.get("id")
    if isinstance(ident, str):
        extra["id"] = ident
    metrics = document.get("metrics")
    if isinstance(metrics, dict) and isinstance(metrics.get("predict_time"), int | float):
        extra["predict_time"] = metrics["predict_time"]
    return extra
