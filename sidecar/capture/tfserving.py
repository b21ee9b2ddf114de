"""TensorFlow Serving REST API: `POST /v1/models/NAME[/versions/N|/labels/L]:predict|classify|regress`.

`:predict` takes the row format `{"instances": [...]}` (answered by `{"predictions": [...]}`) or the columnar
format `{"inputs": {...} | [...]}` (answered by `{"outputs": ...}`), never both; `signature_name` is kept in
`extra["signature_name"]` and the method in `extra["method"]`. `:classify` and `:regress` take `{"examples":
[{...}], "context": {...}}` (context features are merged into every example) and answer `{"results": [...]}`;
a classification result `[["label", score], ...]` becomes `{"label": score, ...}`.

The JSON may contain NaN and Infinity (parsed by the stdlib fallback) and `{"b64": "..."}` values, stored as
`"<N bytes>"` markers. The path `/v1/models/NAME:predict` is also KServe V1's: the wire format is the same,
and `auto` reads it with this adapter (see `kserve_v1`). A version label is recorded as the model version.

Instances follow the shared naming rules (`sidecar.capture.rows`): dict instances keep their keys, list
instances are positional (`feature_names` or `f0..`), a scalar instance is `f0`; columnar inputs are rows of
their named columns (a single unnamed tensor is read like instances).
"""

from __future__ import annotations

import re
from typing import Any, Final

from sidecar.capture.adapter import BaseAdapter, Parsed, RouteMatch
from sidecar.capture.base import AdapterOptions, CaptureError, Exchange
from sidecar.capture.decode import body_of, load_json, message_of, replace_b64
from sidecar.capture.rows import Features, align, columnar_rows, instance_rows

_ROUTE: Final = re.compile(
    r"/v1/models/([^/:]+)(?:/versions/([^/:]+)|/labels/([^/:]+))?:(predict|classify|regress)"
)
_TEMPLATES: Final = {
    (kind, method): template.format(method=method)
    for method in ("predict", "classify", "regress")
    for kind, template in (
        ("plain", "/v1/models/{{model}}:{method}"),
        ("version", "/v1/models/{{model}}/versions/{{version}}:{method}"),
        ("label", "/v1/models/{{model}}/labels/{{label}}:{method}"),
    )
}


class TFServingAdapter(BaseAdapter):
    """TensorFlow Serving's REST predict, classify and regress APIs (and KServe V1, which copied predict)."""

    name = "tfserving"

    def sniff(self, exchange: Exchange, request: dict[str, Any]) -> bool:
        """True for a row-format body `{"instances": [...]}`."""
        return isinstance(request.get("instances"), list)

    def route(self, path: str) -> RouteMatch | None:
        """The TF Serving route for this path, with the method in `extra["method"]`."""
        if not path.startswith("/v1/models/"):
            return None
        match = _ROUTE.fullmatch(path)
        if match is None:
            return None
        model, version, label, method = match.groups()
        kind = "version" if version else "label" if label else "plain"
        extra: dict[str, Any] = {"method": method}
        if label:
            extra["version_label"] = label
        return RouteMatch(_TEMPLATES[kind, method], model, version or label, extra)

    def read_request(self, exchange: Exchange, route: RouteMatch, options: AdapterOptions) -> Parsed:
        """Instances, columnar inputs or examples as feature rows."""
        document = _json(body_of(exchange, "request"), "request")
        extra: dict[str, Any] = {}
        signature = document.get("signature_name")
        if isinstance(signature, str):
            extra["signature_name"] = signature
        if _method(route) == "predict":
            return Parsed(rows=predict_rows(document, options.feature_names), extra=extra)
        examples = document.get("examples")
        if not isinstance(examples, list) or not all(isinstance(e, dict) for e in examples):
            raise CaptureError("request has no examples list")
        context = document.get("context")
        if isinstance(context, dict) and context:
            examples = [{**context, **example} for example in examples]
        return Parsed(rows=examples, extra=extra)

    def read_response(
        self, exchange: Exchange, route: RouteMatch, options: AdapterOptions, rows: int | None
    ) -> Parsed:
        """Predictions, columnar outputs or classify/regress results, one per instance."""
        document = _json(body_of(exchange, "response"), "response")
        if _method(route) != "predict":
            results = document.get("results")
            if not isinstance(results, list):
                raise CaptureError(_missing(document, "results"))
            return Parsed(rows=[_classes(result) for result in results])
        if "predictions" in document:
            return Parsed(rows=align(document["predictions"], rows))
        if "outputs" in document:
            return Parsed(rows=align(document["outputs"], rows))
        raise CaptureError(_missing(document, "predictions or outputs"))


def predict_rows(document: dict[str, Any], feature_names: list[str] | None) -> list[Features]:
    """Feature rows of a row-format (`instances`) or columnar (`inputs`) predict request."""
    if "instances" in document and "inputs" in document:
        raise CaptureError("request has both instances and inputs")
    if "instances" in document:
        instances = document["instances"]
        if isinstance(instances, dict):
            return columnar_rows(instances, "instances")
        if not isinstance(instances, list):
            raise CaptureError("request instances is not a list")
        return instance_rows(instances, feature_names)
    if "inputs" in document:
        inputs = document["inputs"]
        if isinstance(inputs, dict):
            return columnar_rows(inputs, "inputs")
        return instance_rows(inputs if isinstance(inputs, list) else [inputs], feature_names)
    raise CaptureError("request has neither instances nor inputs")


def _json(body: bytes, side: str) -> dict[str, Any]:
    document = load_json(body, side)
    if b'"b64"' in body:
        document = replace_b64(document)
    if not isinstance(document, dict):
        raise CaptureError(f"{side} body is not a JSON object")
    return document


def _method(route: RouteMatch) -> str:
    method = route.extra.get("method") if route.extra else None
    return method if isinstance(method, str) else "predict"


def _missing(document: dict[str, Any], what: str) -> str:
    if "error" in document:
        return f"response reports an error: {message_of(document)[:500]}"
    return f"response has no {what}"


def _classes(result: Any) -> Any:
    """`[["cat", 0.7], ["dog", 0.3]]` -> `{"cat": 0.7, "dog": 0.3}` when labels are distinct strings."""
    if not isinstance(result, list) or not result:
        return result
    pairs = {}
    for item in result:
        if not (isinstance(item, list) and len(item) == 2 and isinstance(item[0], str) and item[0]):
            return result
        pairs[item[0]] = item[1]
    return pairs if len(pairs) == len(result) else result
