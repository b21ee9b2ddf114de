"""Seldon Core v1 protocol: `POST /api/v1.0/predictions` (also behind `/seldon/{namespace}/{deployment}/`).

Requests and responses share one message shape: `{"data": {"names": [...], "ndarray": [[...], ...]}}` or
`{"data": {"names": [...], "tensor": {"shape": [...], "values": [...]}}}` (flat, row-major), or `jsonData`,
`strData`, `binData` at the top level. Rows are the first dimension. Request features are positional, named by
`feature_names` if configured, else the request's `names`, else `f0..`; a `jsonData` object is one dict row.
Predictions are per row: a one-element row is its scalar, a longer row a list (e.g. class probabilities); the
response's `names` (class names) go to `extra["output_names"]` and `meta.puid` to `extra["id"]`. Errors are
`{"status": {"code": ..., "info": ..., "reason": ...}}`. A bare `/predict` (the microservice without the
executor) is shared with many servers, so it is recognised by body shape only.
"""

from __future__ import annotations

import re
from typing import Any, Final

from sidecar.capture.adapter import BaseAdapter, Parsed, RouteMatch
from sidecar.capture.base import AdapterOptions, CaptureError, Exchange
from sidecar.capture.decode import b64_size, body_of, bytes_marker, clip_text, load_json
from sidecar.capture.rows import Features, align, instance_rows, unwrap_singletons
from sidecar.capture.tensors import check_shape, flatten, rows_of

_PATHS: Final = frozenset({"/api/v1.0/predictions", "/api/v0.1/predictions"})
_INGRESS: Final = re.compile(r"/seldon/([^/]+)/([^/]+)/api/v1\.0/predictions")
_INGRESS_TEMPLATE: Final = "/seldon/{namespace}/{model}/api/v1.0/predictions"
_PAYLOADS: Final = ("jsonData", "strData", "binData")


class SeldonAdapter(BaseAdapter):
    """Seldon Core v1 (the `SeldonMessage` JSON format)."""

    name = "seldon"

    def sniff(self, exchange: Exchange, request: dict[str, Any]) -> bool:
        """True for `{"data": {"ndarray"|"tensor": ...}}` and top-level `jsonData`/`strData`/`binData`."""
        data = request.get("data")
        if isinstance(data, dict):
            return "ndarray" in data or "tensor" in data
        return any(key in request for key in _PAYLOADS)

    def route(self, path: str) -> RouteMatch | None:
        """`/api/v1.0/predictions` or `/seldon/{namespace}/{model}/api/v1.0/predictions`."""
        if path in _PATHS:
            return RouteMatch(path)
        if not path.startswith("/seldon/"):
            return None
        match = _INGRESS.fullmatch(path)
        return RouteMatch(_INGRESS_TEMPLATE, match.group(2)) if match is not None else None

    def read_request(self, exchange: Exchange, route: RouteMatch, options: AdapterOptions) -> Parsed:
        """Feature rows from `data` (ndarray or tensor) or a payload field."""
        document = _object(body_of(exchange, "request"), "request")
        data = document.get("data")
        if isinstance(data, dict):
            names = data.get("names")
            names = names if isinstance(names, list) else None
            return Parsed(rows=instance_rows(_values(data), options.feature_names, names))
        return Parsed(rows=_payload_rows(document))

    def read_response(
        self, exchange: Exchange, route: RouteMatch, options: AdapterOptions, rows: int | None
    ) -> Parsed:
        """One prediction per row; class names and the request's puid go to `extra`."""
        document = _object(body_of(exchange, "response"), "response")
        extra: dict[str, Any] = {}
        meta = document.get("meta")
        if isinstance(meta, dict) and isinstance(meta.get("puid"), str):
            extra["id"] = meta["puid"]
        data = document.get("data")
        if isinstance(data, dict):
            names = data.get("names")
            if isinstance(names, list) and names:
                extra["output_names"] = names[:100]
            return Parsed(rows=unwrap_singletons(_values(data)), extra=extra)
        if "jsonData" in document:
            return Parsed(rows=align(document["jsonData"], rows), extra=extra)
        payload = _payload_rows(document)
        return Parsed(rows=[next(iter(row.values())) for row in payload], extra=extra)


def _object(body: bytes, side: str) -> dict[str, Any]:
    document = load_json(body, side)
    if not isinstance(document, dict):
        raise CaptureError(f"{side} body is not a JSON object")
    return document


def _values(data: dict[str, Any]) -> list[Any]:
    """Rows of an `ndarray` (nested lists) or a `tensor` (flat values reshaped by shape)."""
    if "ndarray" in data:
        ndarray = data["ndarray"]
        if not isinstance(ndarray, list):
            raise CaptureError("data.ndarray is not a list")
        return ndarray
    tensor = data.get("tensor")
    if not isinstance(tensor, dict):
        raise CaptureError("data has neither ndarray nor tensor")
    shape = check_shape(tensor.get("shape"), "tensor")
    values = tensor.get("values")
    if not isinstance(values, list):
        raise CaptureError("data.tensor.values is not a list")
    return rows_of(flatten(values, "tensor"), shape, "tensor")


def _payload_rows(document: dict[str, Any]) -> list[Features]:
    if "jsonData" in document:
        value = document["jsonData"]
        return [value] if isinstance(value, dict) else [{"jsonData": value}]
    if isinstance(document.get("strData"), str):
        return [{"strData": clip_text(document["strData"])}]
    if isinstance(document.get("binData"), str):
        return [{"binData": bytes_marker(b64_size(document["binData"]))}]
    raise CaptureError("body has none of data, jsonData, strData, binData")
