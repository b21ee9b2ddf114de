"""The capture pipeline in-process: sampling, decompression, redaction, route labels, bounds and counters."""

from __future__ import annotations

import asyncio
import dataclasses
import gzip
import logging
import zlib
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from sidecar.capture.base import CUT_AT_SHUTDOWN
from sidecar.capture.options import CaptureOptions
from sidecar.capture.pipeline import CapturePipeline, RecordSink, Redactor, decoded, route_of, sampled
from sidecar.capture.registry import to_records
from sidecar.metrics import Metrics
from sidecar.settings import Settings
from storage.records import Record
from tests.fixtures.protocols import make_exchange

SALT = b"salt"


def digest(value: object) -> str:
    """The hash the redactor stores for a value under SALT."""
    return Redactor(SALT).digest(value)


def record(features: dict[str, Any] | None, *, error: str | None = None, **fields: Any) -> Record:
    """A parsed record with the given features (and any other fields)."""
    return Record(
        ts=0.0,
        request_id="r",
        row=0,
        route="/p",
        protocol="generic",
        status=200,
        latency_ms=1.0,
        features=features,
        error=error,
        **fields,
    )


# --- sampling -------------------------------------------------------------------------------------------


def test_sampling_is_deterministic_nested_and_close_to_the_rate() -> None:
    ids = [f"id-{i}" for i in range(20_000)]
    at_30 = {i for i in ids if sampled(i, 0.3)}
    assert at_30 == {i for i in ids if sampled(i, 0.3)}
    assert at_30 <= {i for i in ids if sampled(i, 0.5)}  # raising the rate only adds requests
    assert len(at_30) / len(ids) == pytest.approx(0.3, abs=0.015)
    assert not any(sampled(i, 0.0) for i in ids[:100])
    assert all(sampled(i, 1.0) for i in ids[:100])


# --- decompression --------------------------------------------------------------------------------------

BODY = b'{"feature1": 5.1, "feature2": 3.5}'


def _raw_deflate(data: bytes) -> bytes:
    c = zlib.compressobj(wbits=-zlib.MAX_WBITS)
    return c.compress(data) + c.flush()


@pytest.mark.parametrize(
    ("body", "encoding"),
    [
        (BODY, None),
        (BODY, "identity"),
        (gzip.compress(BODY), "gzip"),
        (gzip.compress(BODY), " GZIP "),
        (gzip.compress(BODY), "x-gzip"),
        (zlib.compress(BODY), "deflate"),
        (_raw_deflate(BODY), "deflate"),  # what some servers send as "deflate"
    ],
)
def test_decoded_bodies(body: bytes, encoding: str | None) -> None:
    assert decoded(body, encoding, 1000) == (BODY, None)


@pytest.mark.parametrize(
    ("body", "encoding", "limit", "error"),
    [
        (BODY, "br", 1000, "not captured: unsupported content-encoding 'br'"),
        (b"not gzip", "gzip", 1000, "not captured: invalid gzip body"),
        (b"not deflate", "deflate", 1000, "not captured: invalid deflate body"),
        (gzip.compress(b"x" * 5000), "gzip", 4096, "not captured: decompressed body larger than 4096 bytes"),
    ],
)
def test_undecodable_bodies_are_not_captured(body: bytes, encoding: str, limit: int, error: str) -> None:
    out, reason = decoded(body, encoding, limit)
    assert out is None and reason is not None and reason.startswith(error)


# --- redaction ------------------------------------------------------------------------------------------


def test_drop_and_hash_of_top_level_features() -> None:
    r = record({"ssn": "123-45-6789", "age": 40, "email": None})
    assert Redactor(SALT).apply([r], ["ssn", "email"], "drop")[0].features == {"age": 40}
    hashed = Redactor(SALT).apply([r], ["ssn", "email"], "hash")[0].features
    assert hashed == {"ssn": digest("123-45-6789"), "age": 40, "email": digest(None)}


def test_equal_values_hash_equal_and_salts_differ() -> None:
    a, b = record({"ssn": "1"}), record({"ssn": "1"})
    assert Redactor(SALT).apply([a], ["ssn"], "hash") == Redactor(SALT).apply([b], ["ssn"], "hash")
    assert digest("1") != Redactor(b"other").digest("1")
    assert digest("1") != digest(1)


def test_values_are_scrubbed_from_error_prediction_and_extra_of_every_row() -> None:
    # The error and extra are shared by the rows of a batch: row 1's value must go from row 0's copy too.
    extra = {"params": {"ssn": "555-55-5555"}, "id": "call 555-55-5555"}
    error = "HTTP 422: row 1: '555-55-5555' invalid; row 0: ok"
    rows = [
        record({"ssn": "111-11-1111"}, error=error, extra=extra, prediction={"ssn": "111-11-1111", "p": 1}),
        record({"ssn": "555-55-5555"}, error=error, extra=extra, prediction={"ssn": "555-55-5555", "p": 0}),
    ]
    out = Redactor(SALT).apply(rows, ["ssn"], "drop")
    assert [r.features for r in out] == [{}, {}]
    assert [r.prediction for r in out] == [{"p": 1}, {"p": 0}]
    assert {r.error for r in out} == {"HTTP 422: row 1: '[redacted]' invalid; row 0: ok"}
    assert all(r.extra == {"params": {}, "id": "call [redacted]"} for r in out)


def test_text_matches_whole_tokens_only() -> None:
    error = "HTTP 422: age 4 too low; 40 and 422 and x4 stay"
    out = Redactor(SALT).apply([record({"age": 4}, error=error)], ["age"], "hash")[0]
    assert out.error == f"HTTP 422: age {digest(4)} too low; 40 and 422 and x4 stay"


def test_json_escaped_values_in_messages_are_found() -> None:
    value = 'say "hi"\\now'
    error = 'HTTP 400: {"input":"say \\"hi\\"\\\\now"}'
    out = Redactor(SALT).apply([record({"note": value}, error=error)], ["note"], "drop")[0]
    assert out.error == 'HTTP 400: {"input":"[redacted]"}'


def test_nested_and_odd_values_are_handled() -> None:
    features = {"user": {"ssn": "123-45-6789", "zip": "12345"}, "flag": True, "x": float("nan")}
    r = record(features, error="user 123-45-6789 True nan")
    out = Redactor(SALT).apply([r], ["ssn", "flag", "x"], "drop")[0]
    assert out.features == {"user": {"zip": "12345"}}
    assert out.error == "user [redacted] True nan"  # booleans and NaN are not looked for in text
    assert Redactor(SALT).apply([r], [], "drop") == [r]


# --- route labels ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "options", "expected"),
    [
        ("/v2/models/iris/infer", {}, ("/v2/models/{model}/infer", "iris")),
        ("/v2/models/iris/versions/3/infer", {}, ("/v2/models/{model}/versions/{version}/infer", "iris")),
        ("/v1/models/iris:predict", {}, ("/v1/models/{model}:predict", "iris")),
        ("/v1/models/iris:predict", {"model": "renamed"}, ("/v1/models/{model}:predict", "renamed")),
        ("/v1/models/iris:predict", {"adapter": "kserve_v1"}, ("/v1/models/{model}:predict", "iris")),
        ("/invocations", {}, ("/invocations", None)),
        ("/predict", {}, ("/predict", None)),
        ("/v2/models/iris/infer", {"inputs": "$"}, ("/v2/models/iris/infer", None)),
        ("/predict", {"adapter": "kserve_v2"}, ("/predict", None)),
    ],
)
def test_route_of_labels_like_parsing_does(
    path: str, options: dict[str, Any], expected: tuple[str, Any]
) -> None:
    exchange = make_exchange(path, b"{}", b"{}")
    opts = CaptureOptions.model_validate(options)
    assert route_of(exchange, opts) == expected
    parsed = to_records(exchange, opts)[0]
    assert (parsed.route, parsed.model) == expected


def test_metric_labels_are_bounded() -> None:
    metrics = Metrics(CollectorRegistry(), max_models=2, max_routes=1)
    assert [metrics.model_label(m) for m in ("a", "b", "c", "a", None)] == ["a", "b", "other", "a", ""]
    assert [metrics.route_label(r) for r in ("/x", "/y", "/x")] == ["/x", "other", "/x"]


# --- the queue ------------------------------------------------------------------------------------------


def _pipeline(
    sink: RecordSink | None = None, **capture: Any
) -> tuple[CapturePipeline, Metrics, list[list[Record]]]:
    settings = Settings.model_validate({"upstream": "http://127.0.0.1:1", "capture": capture})
    metrics = Metrics(CollectorRegistry())
    batches: list[list[Record]] = []

    def keep(batch: list[Record], nbytes: int) -> int:
        batches.append(batch)
        return len(batch)

    return CapturePipeline(settings, sink or keep, metrics), metrics, batches


def _value(metrics: Metrics, name: str, labels: dict[str, str] | None = None) -> float:
    value = metrics.registry.get_sample_value(name, labels or {})
    return value if value is not None else 0.0


async def test_overflow_is_counted_and_logged_once_per_interval(caplog: pytest.LogCaptureFixture) -> None:
    pipeline, metrics, batches = _pipeline(queue_max_exchanges=2)
    caplog.set_level(logging.WARNING, logger="sidecar.capture.pipeline")
    for i in range(50):
        pipeline.submit(
            dataclasses.replace(make_exchange("/predict", b'{"a": 1}', b"1"), request_id=f"q-{i}")
        )
    assert pipeline.depth() == (2, 18)
    assert _value(metrics, "driftcar_capture_exchanges_dropped_total") == 48
    assert len([r for r in caplog.records if "capture queue full" in r.getMessage()]) == 1
    await pipeline.start()
    await pipeline.close()
    assert [r.request_id for b in batches for r in b] == ["q-0", "q-1"]
    labels = {"route": "/predict", "status": "200", "model": ""}
    assert _value(metrics, "driftcar_request_duration_seconds_count", labels) == 50


@pytest.mark.parametrize(
    ("status", "error", "kind"),
    [
        (502, "upstream unavailable: Connection refused", "unavailable"),
        (502, "invalid response from upstream: bad status line", "unavailable"),
        (504, "upstream timed out (read 1s)", "timeout"),
        (200, "upstream timed out (read 1s)", "timeout"),  # mid-body: the client already had the status
        (502, "client disconnected", "client_disconnected"),
        (502, CUT_AT_SHUTDOWN, "cut_at_shutdown"),
    ],
)
async def test_upstream_errors_are_counted_by_kind(status: int, error: str, kind: str) -> None:
    pipeline, metrics, _ = _pipeline()
    pipeline.submit(make_exchange("/predict", b"{}", None, status=status, error=error))
    pipeline.submit(make_exchange("/predict", b"{}", b"1"))
    assert _value(metrics, "driftcar_upstream_errors_total", {"kind": kind}) == 1
    assert (
        sum(
            _value(metrics, "driftcar_upstream_errors_total", {"kind": k})
            for k in ("unavailable", "timeout", "client_disconnected", "cut_at_shutdown")
        )
        == 1
    )


async def test_a_failing_sink_does_not_stop_capture(caplog: pytest.LogCaptureFixture) -> None:
    stored: list[str] = []

    def flaky(batch: list[Record], nbytes: int) -> int:
        if not stored:
            stored.append("-")
            raise RuntimeError("writer bug")
        stored.extend(r.request_id for r in batch)
        return len(batch)

    pipeline, _, _ = _pipeline(flaky)
    await pipeline.start()
    pipeline.submit(dataclasses.replace(make_exchange("/predict", b"{}", b"1"), request_id="lost"))
    async with asyncio.timeout(5):
        while not stored:
            await asyncio.sleep(0)
    pipeline.submit(dataclasses.replace(make_exchange("/predict", b"{}", b"1"), request_id="kept"))
    await asyncio.wait_for(pipeline.close(), timeout=5)
    assert stored == ["-", "kept"]
    assert any("record writer refused 1 records" in r.getMessage() for r in caplog.records)
