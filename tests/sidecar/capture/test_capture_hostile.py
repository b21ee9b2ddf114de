"""Every adapter in the registry survives hostile mutations of every protocol's fixtures (see `hostile.py`).

Parametrized over `REGISTRY.names()`, so a newly registered adapter is covered without touching this file.
Each adapter's own `extract` must not raise (the boundary's catch-all in `to_records` is not allowed to be
what handled it), and what it returns becomes records that are either understood or carry a reason.
"""

from __future__ import annotations

import gzip
import sys

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sidecar.capture.options import CaptureOptions
from sidecar.capture.registry import REGISTRY
from tests.fixtures.protocols import cases_for, make_exchange
from tests.sidecar.capture.hostile import (
    CAPTURE_LIMIT,
    CI,
    PATH_OPTIONS,
    WIRE_CASES,
    Hostile,
    adapter_inputs,
    check_adapter,
    gzip_bomb,
)
from tests.sidecar.capture.mutations import DEEP

ADAPTERS = REGISTRY.names()
TEXT_TYPES = ["application/json", "text/csv"]


@pytest.mark.parametrize("adapter", ADAPTERS)
@CI
@given(data=st.data())
def test_every_adapter_survives_hostile_bodies(adapter: str, data: st.DataObject) -> None:
    case, options = data.draw(adapter_inputs(adapter), label="hostile exchange")
    check_adapter(adapter, case, options)


@pytest.mark.parametrize("adapter", ADAPTERS)
@pytest.mark.parametrize("options", PATH_OPTIONS, ids=lambda o: ",".join(o) or "defaults")
@pytest.mark.parametrize("content_type", TEXT_TYPES)
def test_deep_nesting_never_recurses_out(adapter: str, options: dict[str, str], content_type: str) -> None:
    """100k levels, closed or not, as the whole body or as a CSV cell: no RecursionError anywhere."""
    deep = [
        b"[" * DEEP + b"1" + b"]" * DEEP,
        b'{"a":' * DEEP + b"1" + b"}" * DEEP,
        b"[" * DEEP,
        b'{"instances": ' + b"[" * DEEP + b"]" * DEEP + b"}",
        b'{"inputs": [{"name": "x", "shape": [1], "datatype": "FP32", "data": '
        + b"[" * DEEP
        + b"]" * DEEP
        + b"}]}",
        b"a,b\n" + b"[" * DEEP + b",1\n",
    ]
    limit = sys.getrecursionlimit()
    headers = (("Content-Type", content_type),)
    for body in deep:
        for path in ("/predict", "/v2/models/m/infer", "/invocations", "/v1/models/m:predict"):
            exchange = make_exchange(path, body, body, request_headers=headers, response_headers=headers)
            case = Hostile("deep", "-", "POST", path, headers, body, 200, headers, body, {})
            assert exchange.request_body == case.exchange().request_body
            check_adapter(adapter, case, CaptureOptions.model_validate(options))
    assert sys.getrecursionlimit() == limit


@pytest.mark.parametrize("adapter", ADAPTERS)
def test_gzip_bomb_is_refused_unread(adapter: str) -> None:
    """A 50 MiB gzip bomb is decoded only up to the capture limit and recorded with the reason."""
    for case in cases_for(adapter)[:1] or WIRE_CASES[:1]:
        bomb = Hostile(
            "bomb",
            case.name,
            case.method,
            case.path,
            (("Content-Type", "application/json"), ("Content-Encoding", "gzip")),
            gzip_bomb(),
            200,
            (("Content-Type", "application/json"),),
            b"{}",
            {},
        )
        exchange = bomb.exchange()
        assert exchange.request_body is None
        assert exchange.error == f"not captured: decompressed body larger than {CAPTURE_LIMIT} bytes"
        records = check_adapter(adapter, bomb, CaptureOptions())
        assert all(r.error and "decompressed body larger than" in r.error for r in records)


def test_truncated_gzip_is_recorded_with_a_reason() -> None:
    """A gzip stream cut short is not captured (zlib would hand out a prefix, which may well parse)."""
    body = gzip.compress(b'{"instances": [[1, 2], [3, 4]]}', mtime=0)
    cut = Hostile(
        "gzip cut",
        "-",
        "POST",
        "/v1/models/m:predict",
        (("Content-Encoding", "gzip"),),
        body[: len(body) - 12],
        200,
        (),
        b'{"predictions": [1, 2]}',
        {},
    )
    assert cut.exchange().request_body is None
    records = check_adapter("tfserving", cut, CaptureOptions())
    assert {r.error for r in records} == {"not captured: truncated gzip body"}


@pytest.mark.parametrize("adapter", ADAPTERS)
def test_every_request_with_every_response(adapter: str) -> None:
    """Each fixture's request with each fixture's response, as HTTP 200 and as sent: a Seldon error body
    `{"status": {...}}` answered with 200 once made the Cog adapter hash a dict (found by `bench.fuzz`)."""
    for case in WIRE_CASES:
        for other in WIRE_CASES:
            for status in {200, other.status}:
                mixed = Hostile(
                    f"response of {other.name}",
                    case.name,
                    case.method,
                    case.path,
                    case.request_headers,
                    case.request_body,
                    status,
                    other.response_headers,
                    other.response_body,
                    {},
                )
                check_adapter(adapter, mixed, case.capture_options())


@pytest.mark.parametrize("adapter", ADAPTERS)
def test_nesting_around_the_parsers_and_the_stores_limits(adapter: str) -> None:
    """Depths either side of orjson's encoder (255), Python's recursion limit (1000) and orjson's parser
    (1024), with NaN so that the stdlib fallback parser runs too: parsed and stored, or refused with a reason."""
    for depth in (250, 256, 999, 1000, 1023, 1024, 1025, 3000):
        for inner in (b"1", b"NaN"):
            for body in (
                b"[" * depth + inner + b"]" * depth,
                b'{"instances": ' + b"[" * depth + inner + b"]" * depth + b"}",
            ):
                for path in (
                    "/predict",
                    "/v2/models/m/infer",
                    "/invocations",
                    "/v1/models/m:predict",
                    "/predictions",
                ):
                    case = Hostile("deep", "-", "POST", path, (), body, 200, (), body, {})
                    check_adapter(adapter, case, CaptureOptions())
