"""The KServe V2 adapter: JSON and binary tensors, feature naming, outputs, malformed tensors."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from sidecar.capture.base import Exchange
from sidecar.capture.options import CaptureOptions
from sidecar.capture.registry import to_records
from tests.fixtures.protocols import (
    HEADER_LENGTHS,
    ProtocolCase,
    assert_records_match,
    case,
    cases_for,
    make_exchange,
)

PATH = "/v2/models/m/infer"
DEEP: list[Any] = [1.0]
for _ in range(40):
    DEEP = [DEEP]
OUTPUT = b'{"outputs":[{"name":"o","shape":[1],"datatype":"INT64","data":[1]}]}'


def _json_request(inputs: list[dict[str, Any]], response: bytes = OUTPUT, **options: Any) -> list[Any]:
    exchange = make_exchange(PATH, orjson.dumps({"inputs": inputs}), response)
    return [(r.features, r.prediction, r.error) for r in to_records(exchange, CaptureOptions(**options))]


def _binary_exchange(inputs: list[dict[str, Any]], raw: bytes, header_length: str | None = None) -> Exchange:
    header = orjson.dumps({"inputs": inputs})
    length = header_length if header_length is not None else str(len(header))
    return make_exchange(
        PATH, header + raw, OUTPUT, request_headers=(("Inference-Header-Content-Length", length),)
    )


@pytest.mark.parametrize("item", cases_for("kserve_v2"), ids=lambda c: c.name)
def test_fixture_cases(item: ProtocolCase) -> None:
    assert_records_match(to_records(item.exchange(), item.capture_options()), item)


@pytest.mark.parametrize(("name", "lengths"), HEADER_LENGTHS.items())
def test_fixture_header_lengths_are_exact(name: str, lengths: tuple[str, str | None]) -> None:
    fixture = case(name)
    request_length, response_length = lengths
    assert dict(fixture.request_headers)["Inference-Header-Content-Length"] == request_length
    assert fixture.request_body[int(request_length) - 1 : int(request_length)] == b"}"
    orjson.loads(fixture.request_body[: int(request_length)])
    if response_length is not None:
        assert dict(fixture.response_headers)["inference-header-content-length"] == response_length
        orjson.loads(fixture.response_body[: int(response_length)])


def test_mixed_json_and_binary_inputs() -> None:
    inputs: list[dict[str, Any]] = [
        {"name": "a", "shape": [1, 2], "datatype": "INT32", "data": [7, 8]},
        {"name": "b", "shape": [1], "datatype": "FP64", "parameters": {"binary_data_size": 8}},
        {"name": "c", "shape": [1, 1], "datatype": "UINT8", "parameters": {"binary_data_size": 1}},
    ]
    records = to_records(_binary_exchange(inputs, b"\x00\x00\x00\x00\x00\x00\x04\x40" + b"\x09"))
    assert [(r.features, r.prediction, r.error) for r in records] == [
        ({"a_0": 7, "a_1": 8, "b": 2.5, "c": 9}, 1, None)
    ]


@pytest.mark.parametrize(
    ("inputs", "options", "features"),
    [
        ([{"name": "x", "shape": [1], "datatype": "FP32", "data": [0.5]}], {}, {"x": 0.5}),
        ([{"name": "x", "shape": [1, 1], "datatype": "FP32", "data": [[0.5]]}], {}, {"x": 0.5}),
        ([{"name": "x", "shape": [], "datatype": "FP32", "data": 0.5}], {}, {"x": 0.5}),
        (
            [{"name": "img", "shape": [1, 2, 2], "datatype": "INT32", "data": [1, 2, 3, 4]}],
            {},
            {"img": [[1, 2], [3, 4]]},
        ),
        (
            [{"name": "img", "shape": [1, 2, 2], "datatype": "INT32", "data": [[[1, 2], [3, 4]]]}],
            {},
            {"img": [[1, 2], [3, 4]]},
        ),
        (
            [
                {"name": "a", "shape": [1, 2], "datatype": "FP32", "data": [1.0, 2.0]},
                {"name": "b", "shape": [1], "datatype": "BYTES", "data": ["x"]},
            ],
            {"feature_names": ["height", "width"]},
            {"height": 1.0, "width": 2.0, "b": "x"},
        ),
        (
            [
                {"name": "a", "shape": [1, 2], "datatype": "FP32", "data": [1.0, 2.0]},
                {"name": "b", "shape": [1], "datatype": "BYTES", "data": ["x"]},
            ],
            {"feature_names": ["p", "q", "r"]},
            {"p": 1.0, "q": 2.0, "r": "x"},
        ),
        ([{"name": "t", "shape": [1], "datatype": "BYTES", "data": ["y" * 1025]}], {}, {"t": "<1025 bytes>"}),
        (
            [{"name": "big", "shape": [1, 4097], "datatype": "FP32", "data": [0.0] * 4097}],
            {},
            {"big": "<FP32 tensor [4097]>"},
        ),
        ([{"shape": [1], "datatype": "INT64", "data": [3]}], {}, {"inputs-0": 3}),
    ],
)
def test_feature_naming(
    inputs: list[dict[str, Any]], options: dict[str, Any], features: dict[str, Any]
) -> None:
    assert _json_request(inputs, **options) == [(features, 1, None)]


def test_outputs_of_every_rank() -> None:
    response = (
        b'{"model_name":"m","model_version":3,"outputs":['
        b'{"name":"label","shape":[2],"datatype":"INT64","data":[0,1]},'
        b'{"name":"proba","shape":[2,2],"datatype":"FP32","data":[[0.9,0.1],[0.2,0.8]]},'
        b'{"name":"mask","shape":[2,1,2],"datatype":"BOOL","data":[true,false,false,true]}]}'
    )
    inputs = [{"name": "x", "shape": [2], "datatype": "FP32", "data": [1.0, 2.0]}]
    exchange = make_exchange(PATH, orjson.dumps({"inputs": inputs}), response)
    records = to_records(exchange)
    assert [r.prediction for r in records] == [
        {"label": 0, "proba": [0.9, 0.1], "mask": [[True, False]]},
        {"label": 1, "proba": [0.2, 0.8], "mask": [[False, True]]},
    ]
    assert {(r.model, r.model_version) for r in records} == {("m", "3")}


@pytest.mark.parametrize(
    ("inputs", "error"),
    [
        ([], "no inputs tensors"),
        ([5], "inputs[0] is not a tensor object"),
        (
            [{"name": "t", "shape": [2], "datatype": "FP32", "data": [1.0]}],
            "tensor 't': 1 values for shape [2]",
        ),
        (
            [{"name": "t", "shape": [10**12, 0], "datatype": "FP32", "data": []}],
            "tensor 't': shape [1000000000000, 0] has no values per row",
        ),
        ([{"name": "t", "shape": "2", "datatype": "FP32", "data": [1.0]}], "tensor 't': invalid shape 2"),
        (
            [{"name": "t", "shape": [True], "datatype": "FP32", "data": [1.0]}],
            "tensor 't': invalid shape [True]",
        ),
        (
            [{"name": "t", "shape": [1], "datatype": "FP32"}],
            "tensor 't' has neither data nor binary_data_size",
        ),
        (
            [
                {"name": "a", "shape": [1], "datatype": "FP32", "data": [1.0]},
                {"name": "b", "shape": [2], "datatype": "FP32", "data": [1.0, 2.0]},
            ],
            "inputs tensors disagree on the batch size: [1, 2]",
        ),
        (
            [{"name": "t", "shape": [1], "datatype": "FP32", "data": DEEP}],
            "tensor 't': data nested deeper than 32",
        ),
    ],
)
def test_malformed_json_tensors(inputs: list[Any], error: str) -> None:
    assert _json_request(inputs) == [(None, 1, error)]


def test_binary_header_only_on_an_unknown_path_is_still_v2() -> None:
    header = b'{"inputs":[{"name":"t","shape":[1],"datatype":"INT8","parameters":{"binary_data_size":1}}]}'
    exchange = make_exchange(
        "/infer",
        header + b"\x05",
        OUTPUT,
        request_headers=(("Inference-Header-Content-Length", str(len(header))),),
    )
    records = to_records(exchange)
    assert [(r.protocol, r.route, r.features, r.prediction) for r in records] == [
        ("kserve_v2", "/infer", {"t": 5}, 1)
    ]
