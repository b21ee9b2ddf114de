"""Shared decoding: JSON with NaN/Infinity, payload markers, upstream error messages."""

from __future__ import annotations

import math
from typing import Any

import pytest

from sidecar.capture.base import CaptureError
from sidecar.capture.decode import b64_size, clip_text, error_message, load_json, replace_b64


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b'{"a": [1, 2.5, "x", null, true]}', {"a": [1, 2.5, "x", None, True]}),
        (b"[NaN, Infinity, -Infinity]", [math.nan, math.inf, -math.inf]),
        (b"[1e999]", [math.inf]),
        (b"  7 ", 7),
    ],
)
def test_load_json(body: bytes, expected: Any) -> None:
    result = load_json(body, "request")
    assert repr(result) == repr(expected)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"", "request body is empty"),
        (b" \n\t", "request body is empty"),
        (b"[" * 100_000, "request body is not JSON ("),
        (b'"\xff"', "request body is not JSON ("),
        (b'["\\udc00", NaN]', "request body is not JSON ("),
        (b"{'a': 1}", "request body is not JSON ("),
        (b"[" * 300 + b"]" * 300, "request body is nested too deeply"),
        (b'{"a":' * 300 + b"1" + b"}" * 300, "request body is nested too deeply"),
    ],
)
def test_load_json_errors(body: bytes, message: str) -> None:
    with pytest.raises(CaptureError) as info:
        load_json(body, "request")
    assert str(info.value).startswith(message)


@pytest.mark.parametrize(
    ("status", "body", "expected"),
    [
        (
            404,
            b'{"error":"Model with name nope does not exist."}',
            "HTTP 404: Model with name nope does not exist.",
        ),
        (400, b'{"error_code":"BAD_REQUEST","message":"bad"}', "HTTP 400: BAD_REQUEST: bad"),
        (400, b'{"message":"only a message"}', "HTTP 400: only a message"),
        (422, b'{"detail":"Not Found"}', "HTTP 422: Not Found"),
        (
            422,
            b'{"detail":[{"loc":["body",0],"msg":"m1"},{"msg":"m2"},"raw"]}',
            'HTTP 422: body.0: m1; m2; "raw"',
        ),
        (500, b'{"status":{"code":-1,"info":"boom","status":"FAILURE"}}', "HTTP 500: boom"),
        (500, b'{"weird":[1,2]}', 'HTTP 500: {"weird":[1,2]}'),
        (500, b'"a JSON string"', "HTTP 500: a JSON string"),
        (500, b"[1, 2]", "HTTP 500: [1,2]"),
        (502, b"<html>Bad Gateway</html>\n", "HTTP 502: <html>Bad Gateway</html>"),
        (500, b"\xff\xfe oops", "HTTP 500: \ufffd\ufffd oops"),
        (500, b"", "HTTP 500"),
        (500, None, "HTTP 500"),
        (500, b"   ", "HTTP 500"),
        (500, b'{"error":""}', 'HTTP 500: {"error":""}'),
        (400, b'{"error":{"message":"Invalid model","type":"bad"}}', "HTTP 400: Invalid model"),
        (500, b"[" * 1000 + b"]" * 1000, "HTTP 500: " + "[" * 497 + "..."),
        (500, b'{"detail":[{"loc":[[[1]],null],"msg":"m"}]}', "HTTP 500: [[1]].null: m"),
    ],
)
def test_error_message(status: int, body: bytes | None, expected: str) -> None:
    assert error_message(status, body) == expected


def test_error_message_is_trimmed() -> None:
    message = error_message(500, b"y" * 10_000)
    assert message == "HTTP 500: " + "y" * 497 + "..."


@pytest.mark.parametrize(
    ("text", "size"),
    [("", 0), ("QQ==", 1), ("QUI=", 2), ("QUJD", 3), ("aGVsbG8gd29ybGQ=", 11), ("aGVsbG8gd29ybGQ", 11)],
)
def test_b64_size(text: str, size: int) -> None:
    assert b64_size(text) == size


def test_replace_b64_only_replaces_b64_objects() -> None:
    document = {"a": {"b64": "QUJD"}, "b": [{"b64": "QQ=="}, {"b64": "QQ==", "x": 1}], "c": {"b64": 5}}
    assert replace_b64(document) == {
        "a": "<3 bytes>",
        "b": ["<1 bytes>", {"b64": "QQ==", "x": 1}],
        "c": {"b64": 5},
    }


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("short", "short"),
        ("x" * 1024, "x" * 1024),
        ("x" * 1025, "<1025 bytes>"),
        ("\u00e9" * 1025, "<2050 bytes>"),
        ("data:text/plain,hello", "<21 bytes>"),
        ("data:image/png;base64,QUJD", "<3 bytes>"),
        (5, 5),
        (None, None),
    ],
)
def test_clip_text(value: Any, expected: Any) -> None:
    assert clip_text(value) == expected
