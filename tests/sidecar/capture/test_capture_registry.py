"""Adapter selection, the registry, and the `to_records` boundary: metadata, failures, one record at least."""

from __future__ import annotations

from typing import Any, ClassVar, get_args

import pytest

from sidecar.capture.base import AdapterOptions, Exchange, Extraction
from sidecar.capture.options import AdapterName, CaptureOptions
from sidecar.capture.registry import REGISTRY, AdapterRegistry, default_registry, select_adapter, to_records
from tests.fixtures.protocols import CASES, JSON, ProtocolCase, assert_records_match, make_exchange


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_every_fixture_case(case: ProtocolCase) -> None:
    assert_records_match(to_records(case.exchange(), case.capture_options()), case)


def test_fixture_names_are_unique() -> None:
    assert len({c.name for c in CASES}) == len(CASES)


def test_registry_knows_every_configurable_adapter() -> None:
    assert REGISTRY.names() == ["kserve_v2", "tfserving", "kserve_v1", "mlflow", "cog", "seldon", "generic"]
    assert set(get_args(AdapterName)) - {"auto"} == set(REGISTRY.names())


@pytest.mark.parametrize(
    ("path", "request_body", "response_body", "options", "expected"),
    [
        ("/v2/models/m/infer", b"{}", b"{}", {}, "kserve_v2"),
        ("/v1/models/m:predict", b"{}", b"{}", {}, "tfserving"),
        ("/v1/models/m/versions/2:classify", b"{}", b"{}", {}, "tfserving"),
        ("/invocations", b"{}", b"{}", {}, "mlflow"),
        ("/predictions", b"{}", b"{}", {}, "cog"),
        ("/api/v1.0/predictions", b"{}", b"{}", {}, "seldon"),
        ("/predict", b'{"feature1": 1}', b"{}", {}, "generic"),
        # body shapes on unknown paths
        ("/score", b'{"dataframe_split": {"data": [[1]]}}', b"{}", {}, "mlflow"),
        ("/score", b'{"dataframe_records": []}', b"{}", {}, "mlflow"),
        (
            "/score",
            b'{"inputs": [{"name": "x", "shape": [1], "datatype": "FP32", "data": [1]}]}',
            b"{}",
            {},
            "kserve_v2",
        ),
        ("/score", b'{"instances": [[1]]}', b"{}", {}, "tfserving"),
        ("/score", b'{"data": {"ndarray": [[1]]}}', b"{}", {}, "seldon"),
        ("/score", b'{"data": {"tensor": {"values": [1]}}}', b"{}", {}, "seldon"),
        ("/score", b'{"strData": "hi"}', b"{}", {}, "seldon"),
        ("/score", b'{"jsonData": {"a": 1}}', b"{}", {}, "seldon"),
        ("/score", b'{"input": {"x": 1}}', b'{"status": "succeeded"}', {}, "cog"),
        ("/score", b'{"inputs": {"a": [1]}}', b"{}", {}, "generic"),
        ("/score", b'{"payload": {"instances": [1]}}', b"{}", {}, "generic"),
        ("/score", b'{"instances": oops', b"{}", {}, "generic"),
        ("/score", b"[1, 2]", b"{}", {}, "generic"),
        # configuration wins
        ("/v2/models/m/infer", b"{}", b"{}", {"adapter": "generic"}, "generic"),
        ("/predict", b"{}", b"{}", {"adapter": "seldon"}, "seldon"),
        ("/invocations", b"{}", b"{}", {"inputs": "data"}, "generic"),
        ("/invocations", b"{}", b"{}", {"outputs": "$"}, "generic"),
    ],
)
def test_selection(
    path: str, request_body: bytes, response_body: bytes, options: dict[str, Any], expected: str
) -> None:
    exchange = make_exchange(path, request_body, response_body)
    assert select_adapter(exchange, CaptureOptions(**options)).name == expected


def test_registry_errors() -> None:
    registry = default_registry()
    with pytest.raises(ValueError, match=r"^an adapter named 'cog' is already registered$"):
        registry.register(registry.get("cog"))
    with pytest.raises(
        ValueError, match=r"^unknown adapter 'nope'; known: kserve_v2, tfserving, kserve_v1, "
    ):
        registry.get("nope")


class _Exploding:
    name: ClassVar[str] = "exploding"

    def matches(self, exchange: Exchange) -> bool:
        return True

    def sniff(self, exchange: Exchange, request: dict[str, Any]) -> bool:
        return True

    def extract(self, exchange: Exchange, options: AdapterOptions) -> Extraction:
        raise RuntimeError("a bug")


def test_a_failing_adapter_becomes_one_record() -> None:
    registry = AdapterRegistry([_Exploding(), default_registry().get("generic")])
    records = to_records(make_exchange("/predict", b"{}", b"{}", status=201), registry=registry)
    assert len(records) == 1
    record = records[0]
    assert (record.protocol, record.route, record.error, record.status, record.request_id, record.row) == (
        "exploding",
        "unknown",
        "capture failed: RuntimeError",
        201,
        "req-0001",
        0,
    )


def test_metadata_on_every_record() -> None:
    exchange = make_exchange(
        "/v1/models/iris/versions/4:predict", b'{"instances": [[1], [2], [3]]}', b'{"predictions": [0, 1, 0]}'
    )
    records = to_records(exchange, CaptureOptions(model="iris-prod"))
    assert [r.row for r in records] == [0, 1, 2]
    assert {
        (r.ts, r.request_id, r.status, r.latency_ms, r.model, r.model_version, r.route, r.protocol)
        for r in records
    } == {
        (
            1_764_057_600.0,
            "req-0001",
            200,
            12.5,
            "iris-prod",
            "4",
            "/v1/models/{model}/versions/{version}:predict",
            "tfserving",
        )
    }


@pytest.mark.parametrize(
    ("exchange", "error"),
    [
        (
            make_exchange("/predict", b'{"a": 1}', b"", status=504, error="upstream timeout after 60.0 s"),
            "upstream timeout after 60.0 s",
        ),
        (
            make_exchange("/predict", b'{"a": 1}', None, status=200, error="client disconnected"),
            "client disconnected",
        ),
        (
            make_exchange("/predict", None, b"{}", truncated=frozenset({"request"})),
            "not captured: request body too large",
        ),
        (
            make_exchange("/predict", None, None, truncated=frozenset({"request", "response"})),
            "not captured: request body too large; not captured: response body too large",
        ),
        (make_exchange("/predict", None, b"1"), "request body not captured"),
        (make_exchange("/predict", b'{"a": 1}', b"", status=500, response_headers=()), "HTTP 500"),
        (
            make_exchange("/predict", b'{"a": 1}', None, status=503, truncated=frozenset({"response"})),
            "HTTP 503",
        ),
    ],
)
def test_reasons(exchange: Exchange, error: str) -> None:
    records = to_records(exchange)
    assert len(records) == 1
    assert records[0].error == error


def test_truncated_size_from_content_length() -> None:
    odd = make_exchange(
        "/predict",
        None,
        b"1",
        request_headers=(("Content-Length", "\u00b2"),),
        truncated=frozenset({"request"}),
    )
    assert to_records(odd)[0].error == "not captured: request body too large"
    exchange = make_exchange(
        "/predict",
        None,
        b"1",
        request_headers=(*JSON, ("Content-Length", "3000000")),
        truncated=frozenset({"request"}),
    )
    assert [(r.features, r.prediction, r.error) for r in to_records(exchange)] == [
        (None, 1, "not captured: request body too large (3000000 bytes)")
    ]


def test_error_responses_keep_request_rows_and_trim_messages() -> None:
    long_message = "x" * 2000
    exchange = make_exchange(
        "/predict", b'[{"a": 1}, {"a": 2}]', b'{"error": "' + long_message.encode() + b'"}', status=500
    )
    records = to_records(exchange)
    assert [(r.features, r.prediction) for r in records] == [({"a": 1}, None), ({"a": 2}, None)]
    assert {r.error for r in records} == {"HTTP 500: " + "x" * 497 + "..."}


@pytest.mark.parametrize(
    ("exchange", "rows"),
    [
        # the client went away after the upstream answered: the answer is still read
        (make_exchange("/predict", b'{"a": 1}', b'{"y": 2}', error="client disconnected"), [({"a": 1}, 2)]),
        # the pipeline could not decode the request body: the predictions are still recorded
        (
            make_exchange(
                "/predict", None, b"[1, 2]", error="not captured: unsupported content-encoding 'br'"
            ),
            [(None, 1), (None, 2)],
        ),
        # an unreadable response after a proxy error adds no further reason
        (make_exchange("/predict", b'{"a": 1}', b"<html>", error="client disconnected"), [({"a": 1}, None)]),
    ],
)
def test_proxy_errors_keep_what_was_captured(exchange: Exchange, rows: list[tuple[Any, Any]]) -> None:
    records = to_records(exchange)
    assert [(r.features, r.prediction) for r in records] == rows
    assert {r.error for r in records} == {exchange.error}
