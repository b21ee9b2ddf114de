"""KServe V2 / Open Inference Protocol: `POST /v2/models/NAME[/versions/V]/infer`, JSON or binary tensors.

Request `{"id": ..., "inputs": [{"name", "shape", "datatype", "data" | "parameters": {"binary_data_size"}}]}`,
response `{"model_name", "model_version", "id", "outputs": [...]}`. With the binary tensor extension the body
is a JSON header of `Inference-Header-Content-Length` bytes followed by the binary tensors, in the order of
the tensors that carry `parameters.binary_data_size` (see `sidecar.capture.tensors` for the layout).

Features: the first dimension of every input tensor is the batch. A tensor NAME of shape `[N]` or `[N, 1]` is
one feature `NAME`; `[N, k]` gives `NAME_0..NAME_{k-1}`; higher ranks give one list-valued feature `NAME`.
Configured `feature_names` rename these columns in order, across tensors. Predictions: with one output tensor,
its per-row value (scalar for `[N]`/`[N, 1]`, list for `[N, k]`); with several, a dict by output name. The
protocol's `id` is kept in `extra["id"]`.
"""

from __future__ import annotations

import re
from typing import Any, Final

from sidecar.capture.adapter import BaseAdapter, Parsed, RouteMatch
from sidecar.capture.base import AdapterOptions, CaptureError, Exchange
from sidecar.capture.decode import body_of, clip_text, load_json
from sidecar.capture.rows import Features, column_names
from sidecar.capture.tensors import binary_rows, check_shape, flatten, rows_of

HEADER_LENGTH: Final = "Inference-Header-Content-Length"
_ROUTE: Final = re.compile(r"/v2/models/([^/]+)(?:/versions/([^/]+))?/infer")
_PLAIN: Final = "/v2/models/{model}/infer"
_VERSIONED: Final = "/v2/models/{model}/versions/{version}/infer"

Tensor = tuple[str, list[int], list[Any]]
"""Name, shape and per-row values."""


class KServeV2Adapter(BaseAdapter):
    """Open Inference Protocol (KServe V2, Triton, MLServer) over REST, JSON and binary tensors."""

    name = "kserve_v2"

    def matches(self, exchange: Exchange) -> bool:
        """True for `/v2/models/.../infer` paths and for any request using the binary tensor extension."""
        return self.route(exchange.path) is not None or HEADER_LENGTH in exchange.request_headers

    def sniff(self, exchange: Exchange, request: dict[str, Any]) -> bool:
        """True for `{"inputs": [{"name", "shape", "datatype", ...}]}`."""
        inputs = request.get("inputs")
        return (
            isinstance(inputs, list)
            and bool(inputs)
            and isinstance(inputs[0], dict)
            and ("datatype" in inputs[0] and "shape" in inputs[0])
        )

    def route(self, path: str) -> RouteMatch | None:
        """`/v2/models/{model}/infer` or `/v2/models/{model}/versions/{version}/infer`."""
        if not path.startswith("/v2/models/"):
            return None
        match = _ROUTE.fullmatch(path)
        if match is None:
            return None
        model, version = match.groups()
        return RouteMatch(_VERSIONED if version else _PLAIN, model, version)

    def read_request(self, exchange: Exchange, route: RouteMatch, options: AdapterOptions) -> Parsed:
        """Feature rows from the input tensors."""
        document, binary = _document(exchange, "request")
        tensors = _tensors(document.get("inputs"), binary, "inputs")
        return Parsed(rows=_features(tensors, options.feature_names), extra=_id(document))

    def read_response(
        self, exchange: Exchange, route: RouteMatch, options: AdapterOptions, rows: int | None
    ) -> Parsed:
        """Predictions from the output tensors, with the model name and version the server reports."""
        document, binary = _document(exchange, "response")
        tensors = _tensors(document.get("outputs"), binary, "outputs")
        batch = _batch(tensors, "outputs")
        if len(tensors) == 1:
            predictions = tensors[0][2]
        else:
            predictions = [{name: values[i] for name, _, values in tensors} for i in range(batch)]
        model, version = document.get("model_name"), document.get("model_version")
        if type(version) is int:
            version = str(version)
        return Parsed(
            rows=predictions,
            model=model if isinstance(model, str) else None,
            version=version if isinstance(version, str) else None,
            extra=_id(document),
        )


def _document(exchange: Exchange, side: str) -> tuple[dict[str, Any], bytes]:
    """The JSON part of a body and the binary tensor bytes after it (empty without the extension)."""
    body = body_of(exchange, side)
    headers = exchange.request_headers if side == "request" else exchange.response_headers
    length = headers.get(HEADER_LENGTH)
    binary = b""
    if length is not None:
        try:
            size = int(length)
        except ValueError:
            raise CaptureError(f"{side}: invalid {HEADER_LENGTH} {length[:20]!r}") from None
        if size <= 0:
            raise CaptureError(f"{side}: invalid {HEADER_LENGTH} {size}")
        if size > len(body):
            raise CaptureError(f"{side}: {HEADER_LENGTH} {size} beyond body ({len(body)} bytes)")
        body, binary = body[:size], body[size:]
    document = load_json(body, side)
    if not isinstance(document, dict):
        raise CaptureError(f"{side} body is not a JSON object")
    return document, binary


def _tensors(items: Any, binary: bytes, key: str) -> list[Tensor]:
    """Decode the tensors of `inputs` or `outputs`, consuming the binary section in order."""
    if not isinstance(items, list) or not items:
        raise CaptureError(f"no {key} tensors")
    tensors: list[Tensor] = []
    offset = 0
    for index, item in enumerate(items):
        if not isinstance(item, dict):
            raise CaptureError(f"{key}[{index}] is not a tensor object")
        name = item.get("name")
        name = name if isinstance(name, str) else f"{key}-{index}"
        shape = check_shape(item.get("shape"), name)
        datatype = item.get("datatype")
        datatype = datatype if isinstance(datatype, str) else ""
        parameters = item.get("parameters")
        size = parameters.get("binary_data_size") if isinstance(parameters, dict) else None
        if size is not None:
            if type(size) is not int or size < 0:
                raise CaptureError(f"binary tensor {name!r}: invalid binary_data_size")
            if offset + size > len(binary):
                raise CaptureError(
                    f"binary tensor {name!r}: binary_data_size {size} beyond body "
                    f"({len(binary) - offset} bytes left)"
                )
            values = binary_rows(binary[offset : offset + size], datatype, shape, name)
            offset += size
        elif "data" in item:
            flat = flatten(item["data"], name)
            if datatype == "BYTES":
                flat = [clip_text(value) for value in flat]
            values = rows_of(flat, shape, name, datatype)
        else:
            raise CaptureError(f"tensor {name!r} has neither data nor binary_data_size")
        tensors.append((name, shape, values))
    if offset != len(binary):
        raise CaptureError(f"{len(binary) - offset} bytes after the binary {key} tensors")
    return tensors


def _batch(tensors: list[Tensor], key: str) -> int:
    sizes = {len(values) for _, _, values in tensors}
    if len(sizes) != 1:
        raise CaptureError(f"{key} tensors disagree on the batch size: {sorted(sizes)[:5]}")
    return sizes.pop()


def _features(tensors: list[Tensor], feature_names: list[str] | None) -> list[Features]:
    """One feature dict per row; see the module docstring for the naming rule."""
    batch = _batch(tensors, "inputs")
    default: list[str] = []
    widths: list[int] = []  # 0: one column holding the row's value; k: the row is a list of k columns
    for name, shape, values in tensors:
        width = shape[1] if len(shape) == 2 and shape[1] > 1 and values and isinstance(values[0], list) else 0
        widths.append(width)
        default.extend([f"{name}_{j}" for j in range(width)] if width else [name])
    names = column_names(len(default), feature_names, default)
    rows: list[Features] = []
    for i in range(batch):
        row: Features = {}
        column = 0
        for (_, _, values), width in zip(tensors, widths, strict=True):
            if width:
                row.update(zip(names[column : column + width], values[i], strict=True))
                column += width
            else:
                row[names[column]] = values[i]
                column += 1
        rows.append(row)
    return rows


def _id(document: dict[str, Any]) -> dict[str, Any]:
    ident = document.get("id")
    return {"id": ident} if isinstance(ident, str) else {}
