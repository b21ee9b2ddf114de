"""MLflow scoring server (`mlflow models serve`, Databricks Model Serving): `POST /invocations`.

Request bodies (JSON unless `Content-Type: text/csv`):

- `{"dataframe_split": {"columns": [...], "data": [[...], ...], "index": [...]}}`: positional rows named by
  `feature_names` if configured, else by `columns`, else `f0..`; `index` is ignored;
- `{"dataframe_records": [{...}, ...]}`: dict rows keep their keys;
- `{"instances": [...]}`: like TF Serving (dicts keep keys, lists are positional); a dict is columnar;
- `{"inputs": {...} | [...]}`: a dict of equal-length lists is columnar, a dict of scalars is one row, a list
  is read like `instances`;
- CSV: a header row names the columns (`feature_names` override them), numbers are parsed as int or float,
  empty cells are None.

`params` (MLflow >= 2.6) is kept in `extra["params"]`. Responses are `{"predictions": ...}` (or a bare value
from MLflow 1.x): a list is one prediction per row (a class, or a probability vector from `predict_proba`), a
list of dicts (a DataFrame output) gives dict predictions. Errors are `{"error_code": ..., "message": ...}`.
"""

from __future__ import annotations

import csv
import io
import re
from typing import Any, Final

from sidecar.capture.adapter import BaseAdapter, Parsed, RouteMatch
from sidecar.capture.base import AdapterOptions, CaptureError, Exchange
from sidecar.capture.decode import body_of, load_json
from sidecar.capture.rows import Features, align, column_names, columnar_rows, instance_rows

_INVOCATIONS: Final = "/invocations"
_DATABRICKS: Final = re.compile(r"/serving-endpoints/([^/]+)/invocations")
_DATABRICKS_TEMPLATE: Final = "/serving-endpoints/{model}/invocations"
_FORMATS: Final = ("dataframe_split", "dataframe_records", "instances", "inputs")


class MLflowAdapter(BaseAdapter):
    """The MLflow pyfunc scoring protocol."""

    name = "mlflow"

    def sniff(self, exchange: Exchange, request: dict[str, Any]) -> bool:
        """True for `dataframe_split` and `dataframe_records` bodies."""
        return "dataframe_split" in request or "dataframe_records" in request

    def route(self, path: str) -> RouteMatch | None:
        """`/invocations`, `/serving-endpoints/{model}/invocations`, or another path ending so."""
        if not path.endswith(_INVOCATIONS):
            return None
        if path == _INVOCATIONS:
            return RouteMatch(_INVOCATIONS)
        match = _DATABRICKS.fullmatch(path)
        if match is not None:
            return RouteMatch(_DATABRICKS_TEMPLATE, match.group(1))
        return RouteMatch(path)

    def read_request(self, exchange: Exchange, route: RouteMatch, options: AdapterOptions) -> Parsed:
        """Feature rows from any of MLflow's input formats."""
        body = body_of(exchange, "request")
        content_type = exchange.request_headers.get("Content-Type", "")
        if content_type.partition(";")[0].strip().lower() == "text/csv":
            return Parsed(rows=_csv_rows(body, options.feature_names))
        document = load_json(body, "request")
        if isinstance(document, list):  # MLflow 1.x: a bare list of records
            return Parsed(rows=instance_rows(document, options.feature_names))
        if not isinstance(document, dict):
            raise CaptureError("request body is not a JSON object")
        extra: dict[str, Any] = {}
        params = document.get("params")
        if isinstance(params, dict) and params:
            extra["params"] = params
        for key in _FORMATS:
            if key in document:
                return Parsed(rows=_rows(key, document[key], options.feature_names), extra=extra)
        raise CaptureError("request has none of " + ", ".join(_FORMATS))

    def read_response(
        self, exchange: Exchange, route: RouteMatch, options: AdapterOptions, rows: int | None
    ) -> Parsed:
        """One prediction per row from `{"predictions": ...}` or a bare value."""
        document = load_json(body_of(exchange, "response"), "response")
        if isinstance(document, dict) and "predictions" in document:
            document = document["predictions"]
        return Parsed(rows=align(document, rows))


def _rows(key: str, value: Any, feature_names: list[str] | None) -> list[Features]:
    if key == "dataframe_split":
        if not isinstance(value, dict) or not isinstance(value.get("data"), list):
            raise CaptureError("dataframe_split has no data list")
        columns = value.get("columns")
        return instance_rows(value["data"], feature_names, columns if isinstance(columns, list) else None)
    if isinstance(value, dict):
        if key == "inputs" and not any(isinstance(v, list) for v in value.values()):
            return [value]
        return columnar_rows(value, key)
    if isinstance(value, list):
        return instance_rows(value, feature_names)
    if key == "inputs":
        return instance_rows([value], feature_names)
    raise CaptureError(f"{key} is not a list")


def _csv_rows(body: bytes, feature_names: list[str] | None) -> list[Features]:
    if not body or body.isspace():
        raise CaptureError("request body is empty")
    try:
        lines = list(csv.reader(io.StringIO(body.decode("utf-8"))))
    except (UnicodeDecodeError, csv.Error) as exc:
        raise CaptureError(f"request body is not CSV ({str(exc)[:120]})") from None
    lines = [line for line in lines if line]
    if not lines:
        raise CaptureError("request CSV has no header row")
    header, data = lines[0], lines[1:]
    names = column_names(len(header), feature_names, header)
    rows: list[Features] = []
    for number, line in enumerate(data, start=2):
        if len(line) != len(names):
            raise CaptureError(f"request CSV line {number} has {len(line)} fields, the header {len(names)}")
        rows.append({name: _number(cell) for name, cell in zip(names, line, strict=True)})
    return rows


def _number(cell: str) -> Any:
    if not cell:
        return None
    try:
        return int(cell)
    except ValueError:
        pass
    try:
        return float(cell)
    except ValueError:
        return cell
