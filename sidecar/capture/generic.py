"""Any JSON model API: the FastAPI tutorial shape, BentoML, bare lists, or paths configured per route.

Without `inputs`/`outputs` paths the request is read as follows:

- an object is one row with its keys as features (`{"feature1": 5.1, ...}`), except an object with a single
  key whose value is a list of lists or of objects (BentoML: `{"input_series": [[...], [...]]}`), which is a
  batch;
- a list of lists or of objects is a batch, one row per element; a list of scalars is one positional row;
- a scalar is one row with a single feature.

Positional rows are named by `feature_names` if configured, else `f0..`. The response: an object with a single
key is unwrapped (`{"prediction": 0}` -> `0`, `{"predictions": [0, 2]}` -> `[0, 2]`); then a list is one
prediction per row; when the request has one row, a list of another length (class probabilities) or an object
(several outputs) is that row's prediction; an object of per-row lists is zipped into one dict per row.

With paths (`sidecar.capture.jsonpath`) the value found is read by the same rules; a path with `[*]` is always
a batch (one row or prediction per element). `inputs: "$"` reads the whole body as one row, even with one key.
Routes are the literal request path (the proxy bounds their number); the model name comes from `model`.
"""

from __future__ import annotations

from typing import Any

from sidecar.capture.adapter import BaseAdapter, Parsed, RouteMatch
from sidecar.capture.base import AdapterOptions, CaptureError, Exchange
from sidecar.capture.decode import body_of, load_json
from sidecar.capture.jsonpath import MISSING, compile_path
from sidecar.capture.rows import Features, align, instance_rows


class GenericAdapter(BaseAdapter):
    """JSON in, JSON out, with optional input and output paths."""

    name = "generic"

    def matches(self, exchange: Exchange) -> bool:
        """Never by path: generic is the fallback when no other adapter recognises the exchange."""
        return False

    def route(self, path: str) -> RouteMatch | None:
        """None: generic routes are the literal path."""
        return None

    def read_request(self, exchange: Exchange, route: RouteMatch, options: AdapterOptions) -> Parsed:
        """Feature rows from the body, or from the value at the `inputs` path."""
        document = load_json(body_of(exchange, "request"), "request")
        if options.inputs is None:
            return Parsed(rows=_rows(document, options.feature_names, unwrap=True))
        path = compile_path(options.inputs)
        value = path.evaluate(document)
        if value is MISSING:
            raise CaptureError(f"inputs path {options.inputs!r} not found in request")
        if path.batched:
            return Parsed(rows=instance_rows(value, options.feature_names))
        return Parsed(rows=_rows(value, options.feature_names, unwrap=False))

    def read_response(
        self, exchange: Exchange, route: RouteMatch, options: AdapterOptions, rows: int | None
    ) -> Parsed:
        """One prediction per row from the body, or from the value at the `outputs` path."""
        document = load_json(body_of(exchange, "response"), "response")
        if options.outputs is None:
            if isinstance(document, dict) and len(document) == 1:
                document = next(iter(document.values()))
            return Parsed(rows=align(document, rows, lenient=True))
        path = compile_path(options.outputs)
        value = path.evaluate(document)
        if value is MISSING:
            raise CaptureError(f"outputs path {options.outputs!r} not found in response")
        return Parsed(rows=value if path.batched else align(value, rows, lenient=True))


def _rows(value: Any, feature_names: list[str] | None, unwrap: bool) -> list[Features]:
    if isinstance(value, dict):
        if unwrap and len(value) == 1:
            inner = next(iter(value.values()))
            if _is_batch(inner):
                return instance_rows(inner, feature_names)
        return [value]
    if isinstance(value, list):
        if not value:
            return []
        return instance_rows(value if _is_batch(value) else [value], feature_names)
    return instance_rows([value], feature_names)


def _is_batch(value: Any) -> bool:
    """A non-empty list whose first element is a list or an object."""
    return isinstance(value, list) and bool(value) and isinstance(value[0], list | dict)
