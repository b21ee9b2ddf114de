"""`to_records` never raises and always returns at least one storable record, whatever the bytes."""

from __future__ import annotations

import json
import struct
from typing import Any, get_args

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sidecar.capture.base import Exchange
from sidecar.capture.options import AdapterName, CaptureOptions
from sidecar.capture.registry import to_records
from storage.records import Record
from tests.fixtures.protocols import CASES, make_exchange

FUZZ = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
PATHS = sorted(
    {c.path for c in CASES} | {"/", "/v2/models//infer", "/v1/models/a:b:predict", "/seldon/x/api"}
)
ADAPTERS: list[str] = list(get_args(AdapterName))
DATATYPES = [
    "BOOL",
    "INT8",
    "INT16",
    "INT32",
    "INT64",
    "UINT8",
    "UINT16",
    "UINT32",
    "UINT64",
    "FP16",
    "FP32",
    "FP64",
    "BF16",
    "BYTES",
    "FP8",
    "",
    "STRING",
]

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=10), children, max_size=5)
    ),
    max_leaves=30,
)


def _check(exchange: Exchange, options: CaptureOptions | None = None) -> list[Record]:
    records = to_records(exchange, options)
    assert records
    assert [r.row for r in records] == list(range(len(records)))
    for record in records:
        assert isinstance(record, Record)
        orjson.dumps([record.features, record.prediction, record.extra])  # storable (NaN becomes null)
        assert record.error is None or record.error.encode("utf-8")
        # the boundary's catch-all must not be what handled it: adapters catch their own bad input
        assert not (record.error or "").startswith("capture failed"), record.error
        assert record.request_id == exchange.request_id
    return records


def _dumps(value: Any) -> bytes:
    try:
        return orjson.dumps(value)
    except orjson.JSONEncodeError:  # lone surrogates in generated text
        return b"{}"


@FUZZ
@given(
    path=st.sampled_from(PATHS) | st.text(max_size=40),
    request_body=st.none() | st.binary(max_size=300),
    response_body=st.none() | st.binary(max_size=300),
    status=st.integers(min_value=100, max_value=599),
    header_length=st.none() | st.text(max_size=8) | st.integers(-10, 400).map(str),
    adapter=st.sampled_from(ADAPTERS),
    truncated=st.frozensets(st.sampled_from(["request", "response"])),
)
def test_garbage_bytes(
    path: str,
    request_body: bytes | None,
    response_body: bytes | None,
    status: int,
    header_length: str | None,
    adapter: str,
    truncated: frozenset[str],
) -> None:
    headers: tuple[tuple[str, str], ...] = (("Content-Type", "application/json"),)
    if header_length is not None:
        headers = (*headers, ("Inference-Header-Content-Length", header_length))
    exchange = make_exchange(
        path,
        request_body,
        response_body,
        status=status,
        request_headers=headers,
        response_headers=headers,
        truncated=truncated,
    )
    _check(exchange, CaptureOptions.model_validate({"adapter": adapter}))


@FUZZ
@given(
    case=st.sampled_from(CASES),
    cut=st.integers(min_value=0, max_value=400),
    side=st.sampled_from(["request", "response"]),
    junk=st.sampled_from([b"", b"NaN", b"\xff\xfe", b"]]]", b"\x00", b'"\\ud800"', b"Infinity,"]),
    adapter=st.sampled_from(ADAPTERS),
)
def test_truncated_and_corrupted_fixtures(case: Any, cut: int, side: str, junk: bytes, adapter: str) -> None:
    exchange = case.exchange()
    body = exchange.request_body if side == "request" else exchange.response_body
    corrupted = (body or b"")[:cut] + junk
    exchange = make_exchange(
        exchange.path,
        corrupted if side == "request" else exchange.request_body,
        corrupted if side == "response" else exchange.response_body,
        status=exchange.status,
        request_headers=tuple(exchange.request_headers.items()),
        response_headers=tuple(exchange.response_headers.items()),
    )
    _check(exchange, CaptureOptions.model_validate({**case.options, "adapter": adapter}))


@FUZZ
@given(
    request=json_values,
    response=json_values,
    path=st.sampled_from(PATHS),
    feature_names=st.none() | st.lists(st.text(min_size=1, max_size=5), unique=True, max_size=4),
    inputs=st.sampled_from([None, "$", "a", "a[*]", "a[*].b", "[0]", "$['x y']"]),
    outputs=st.sampled_from([None, "$", "predictions", "r[*].p"]),
)
def test_wrong_types(
    request: Any,
    response: Any,
    path: str,
    feature_names: list[str] | None,
    inputs: str | None,
    outputs: str | None,
) -> None:
    options = CaptureOptions(feature_names=feature_names, inputs=inputs, outputs=outputs)
    _check(make_exchange(path, _dumps(request), _dumps(response)), options)
    _check(make_exchange(path, _dumps(request), _dumps(response)))


shapes = st.lists(st.integers(min_value=-3, max_value=6) | st.sampled_from([10**12, 2**63]), max_size=4)
tensor_key = st.sampled_from(["instances", "inputs", "data", "dataframe_split", "input", "examples"])


@FUZZ
@given(
    key=tensor_key,
    shape=shapes | json_values,
    data=json_values,
    datatype=st.sampled_from(DATATYPES),
    names=st.none() | st.lists(json_values, max_size=4),
    path=st.sampled_from(PATHS),
)
def test_protocol_shaped_nonsense(
    key: str, shape: Any, data: Any, datatype: str, names: Any, path: str
) -> None:
    tensor = {"name": "t", "shape": shape, "datatype": datatype, "data": data}
    documents = [
        {key: data},
        {"inputs": [tensor], "outputs": [tensor]},
        {"outputs": [tensor, {**tensor, "name": "u"}]},
        {"data": {"names": names, "tensor": {"shape": shape, "values": data}}},
        {"data": {"names": names, "ndarray": data}},
        {"dataframe_split": {"columns": names, "data": data}},
        {"input": data, "status": datatype, "output": data},
        {"examples": data, "context": data, "results": data},
    ]
    for request in documents:
        for response in documents:
            _check(make_exchange(path, _dumps(request), _dumps(response)))


@FUZZ
@given(
    shape=shapes,
    datatype=st.sampled_from(DATATYPES),
    size=st.integers(min_value=-5, max_value=64) | st.sampled_from([2**40, 2**64]) | st.text(max_size=3),
    raw=st.binary(max_size=64),
    header_delta=st.integers(min_value=-20, max_value=20),
    two=st.booleans(),
)
def test_lying_binary_tensors(
    shape: list[int], datatype: str, size: Any, raw: bytes, header_delta: int, two: bool
) -> None:
    tensor = {"name": "t", "shape": shape, "datatype": datatype, "parameters": {"binary_data_size": size}}
    header = json.dumps({"inputs": [tensor, tensor] if two else [tensor], "outputs": [tensor]}).encode()
    declared = str(len(header) + header_delta)
    headers = (("Inference-Header-Content-Length", declared),)
    for path in ("/v2/models/m/infer", "/anything"):
        exchange = make_exchange(
            path, header + raw, header + raw, request_headers=headers, response_headers=headers
        )
        _check(exchange)


def test_deeply_nested_documents() -> None:
    for opener, closer in ((b"[", b"]"), (b'{"a":', b"}")):
        for depth in (1_000, 100_000):
            body = opener * depth + b"1" + closer * depth
            for path in PATHS:
                for status in (200, 500):
                    _check(make_exchange(path, body, body, status=status))
                    _check(make_exchange(path, opener * depth, closer * depth, status=status))


def test_huge_documents() -> None:
    rows = 20_000
    instances = b'{"instances": [' + b",".join([b"[1.5, 2.5, 3.5, 4.5]"] * rows) + b"]}"
    predictions = b'{"predictions": [' + b",".join([b"1"] * rows) + b"]}"
    records = _check(make_exchange("/v1/models/m:predict", instances, predictions))
    assert len(records) == rows
    assert records[-1].features == {"f0": 1.5, "f1": 2.5, "f2": 3.5, "f3": 4.5}
    floats = struct.pack(f"<{rows * 4}f", *([0.5] * rows * 4))
    header = orjson.dumps(
        {
            "inputs": [
                {
                    "name": "x",
                    "shape": [rows, 4],
                    "datatype": "FP32",
                    "parameters": {"binary_data_size": len(floats)},
                }
            ]
        }
    )
    exchange = make_exchange(
        "/v2/models/m/infer",
        header + floats,
        b"{}",
        request_headers=(("Inference-Header-Content-Length", str(len(header))),),
    )
    records = _check(exchange)
    assert len(records) == rows
    assert records[0].features == {"x_0": 0.5, "x_1": 0.5, "x_2": 0.5, "x_3": 0.5}
