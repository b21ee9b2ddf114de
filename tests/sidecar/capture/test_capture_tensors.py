"""The binary tensor layout (`sidecar.capture.tensors`) via the V2 adapter: datatypes and lying headers."""

from __future__ import annotations

import math
from typing import Any

import orjson
import pytest

from sidecar.capture.base import Exchange
from sidecar.capture.registry import to_records
from tests.fixtures.protocols import make_exchange, same

PATH = "/v2/models/m/infer"
OUTPUT = b'{"outputs":[{"name":"o","shape":[1],"datatype":"INT64","data":[1]}]}'


def _binary_exchange(inputs: list[dict[str, Any]], raw: bytes, header_length: str | None = None) -> Exchange:
    header = orjson.dumps({"inputs": inputs})
    length = header_length if header_length is not None else str(len(header))
    return make_exchange(
        PATH, header + raw, OUTPUT, request_headers=(("Inference-Header-Content-Length", length),)
    )


@pytest.mark.parametrize(
    ("datatype", "raw", "values"),
    [
        ("BOOL", b"\x01\x00\x02", [True, False, True]),
        ("INT8", b"\xff\x7f", [-1, 127]),
        ("UINT8", b"\xff\x00", [255, 0]),
        ("INT16", b"\xff\xff\x00\x80", [-1, -32768]),
        ("UINT16", b"\xff\xff", [65535]),
        ("INT32", b"\xfe\xff\xff\xff", [-2]),
        ("UINT32", b"\x00\x00\x00\x80", [2147483648]),
        ("INT64", b"\x00\x00\x00\x00\x00\x00\x00\x80", [-9223372036854775808]),
        ("UINT64", b"\xff\xff\xff\xff\xff\xff\xff\xff", [18446744073709551615]),
        ("FP16", b"\x00\x3c\x00\xc0", [1.0, -2.0]),
        ("FP32", b"\x00\x00\x80\x3f\x00\x00\xc0\x7f", [1.0, math.nan]),
        ("FP64", b"\x00\x00\x00\x00\x00\x00\xf0\x3f", [1.0]),
        ("BF16", b"\x80\x3f\x00\xc0", [1.0, -2.0]),
        ("BYTES", b"\x01\x00\x00\x00a\x00\x00\x00\x00", ["a", ""]),
        ("BYTES", b"\x02\x00\x00\x00\xff\xfe", ["<2 bytes>"]),
        ("BYTES", b"\xd0\x07\x00\x00" + b"x" * 2000, ["<2000 bytes>"]),
    ],
)
def test_binary_datatypes(datatype: str, raw: bytes, values: list[Any]) -> None:
    tensor = {
        "name": "t",
        "shape": [len(values)],
        "datatype": datatype,
        "parameters": {"binary_data_size": len(raw)},
    }
    records = to_records(_binary_exchange([tensor], raw))
    if len(values) != 1:  # the response has one prediction: a count mismatch, features still recorded
        assert (
            records[0].error
            == f"count mismatch: {len(values)} instances in request, 1 predictions in response"
        )
    assert same([r.features for r in records], [{"t": v} for v in values])


def test_large_binary_rows_are_not_decoded() -> None:
    raw = b"\x00" * (4 * 64 * 65)
    tensor = {
        "name": "img",
        "shape": [1, 64, 65],
        "datatype": "FP32",
        "parameters": {"binary_data_size": len(raw)},
    }
    records = to_records(_binary_exchange([tensor], raw))
    assert [(r.features, r.error) for r in records] == [({"img": "<FP32 tensor [64, 65]>"}, None)]


@pytest.mark.parametrize(
    ("inputs", "raw", "header_length", "error"),
    [
        (
            [{"name": "t", "shape": [1], "datatype": "INT8", "parameters": {"binary_data_size": 1}}],
            b"\x01",
            "9999",
            "request: Inference-Header-Content-Length 9999 beyond body (92 bytes)",
        ),
        ([], b"", "abc", "request: invalid Inference-Header-Content-Length 'abc'"),
        ([], b"", "-5", "request: invalid Inference-Header-Content-Length -5"),
        ([], b"", "9" * 5000, "request: invalid Inference-Header-Content-Length '99999999999999999999'"),
        (
            [{"name": "t", "shape": [1, 4], "datatype": "FP32", "parameters": {"binary_data_size": 32}}],
            b"\x00" * 16,
            None,
            "binary tensor 't': binary_data_size 32 beyond body (16 bytes left)",
        ),
        (
            [{"name": "t", "shape": [1, 4], "datatype": "FP32", "parameters": {"binary_data_size": 12}}],
            b"\x00" * 12,
            None,
            "binary tensor 't': binary_data_size 12 does not fit shape [1, 4] of FP32",
        ),
        (
            [{"name": "t", "shape": [1], "datatype": "FP32", "parameters": {"binary_data_size": 4}}],
            b"\x00" * 8,
            None,
            "4 bytes after the binary inputs tensors",
        ),
        (
            [{"name": "t", "shape": [1], "datatype": "FP32", "parameters": {"binary_data_size": -4}}],
            b"",
            None,
            "binary tensor 't': invalid binary_data_size",
        ),
        (
            [{"name": "t", "shape": [-1, 4], "datatype": "FP32", "parameters": {"binary_data_size": 16}}],
            b"\x00" * 16,
            None,
            "tensor 't': invalid shape [-1, 4]",
        ),
        (
            [
                {
                    "name": "t",
                    "shape": [10**12, 10**12],
                    "datatype": "FP64",
                    "parameters": {"binary_data_size": 16},
                }
            ],
            b"\x00" * 16,
            None,
            "binary tensor 't': binary_data_size 16 does not fit shape [1000000000000, 1000000000000] "
            "of FP64",
        ),
        (
            [
                {
                    "name": "t",
                    "shape": [10**9, 10**9],
                    "datatype": "BYTES",
                    "parameters": {"binary_data_size": 8},
                }
            ],
            b"\x00" * 8,
            None,
            "binary tensor 't': 8 bytes cannot hold 1000000000000000000 BYTES elements",
        ),
        (
            [{"name": "t", "shape": [1], "datatype": "BYTES", "parameters": {"binary_data_size": 5}}],
            b"\x09\x00\x00\x00a",
            None,
            "binary tensor 't': BYTES element lengths run past its data",
        ),
        (
            [{"name": "t", "shape": [1], "datatype": "BYTES", "parameters": {"binary_data_size": 6}}],
            b"\x01\x00\x00\x00ab",
            None,
            "binary tensor 't': 1 bytes left after 1 BYTES elements",
        ),
        (
            [{"name": "t", "shape": [1], "datatype": "FP8", "parameters": {"binary_data_size": 1}}],
            b"\x00",
            None,
            "tensor 't': unsupported datatype 'FP8'",
        ),
    ],
)
def test_lying_binary_headers(
    inputs: list[dict[str, Any]], raw: bytes, header_length: str | None, error: str
) -> None:
    records = to_records(_binary_exchange(inputs, raw, header_length))
    assert [(r.features, r.prediction, r.error) for r in records] == [(None, 1, error)]
