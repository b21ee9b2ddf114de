"""KServe payload-logger events posted to a real sidecar: pairing, records, order, duplicates, TTL, errors."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest
from aiohttp.test_utils import TestServer

from sidecar.server import Sidecar
from storage.engine import create_engine
from storage.store import RecordStore
from tests.sidecar.conftest import SidecarFactory, admin_url, wait_records
from tests.sidecar.ingest.events import (
    DOCS_ID,
    DOCS_PAIR,
    T_DOCS,
    T_V1,
    T_V2,
    V1_PAIR,
    V1_REQUEST,
    V2_PAIR,
    Event,
    event,
)
from tests.sidecar.scrape import scrape


async def post(
    http: aiohttp.ClientSession, sidecar: Sidecar, ev: Event, **params: str
) -> tuple[int, dict[str, Any]]:
    """POST one event to /ingest/kserve; the status and the JSON answer."""
    async with http.post(
        admin_url(sidecar, "/ingest/kserve"), data=ev.body, headers=ev.headers, params=params
    ) as resp:
        return resp.status, await resp.json()


def by_request(records: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """Records grouped by request id, each group in row order."""
    out: dict[str, list[dict[str, Any]]] = {}
    for record in sorted(records, key=lambda r: (r["request_id"], r["row"])):
        out.setdefault(record["request_id"], []).append(record)
    return out


FEATURES = [
    {"f0": 5.1, "f1": 3.5, "f2": 1.4, "f3": 0.2},
    {"f0": 6.7, "f1": 3.0, "f2": 5.2, "f3": 2.3},
]
GUIDE = Path(__file__).resolve().parents[3] / "docs" / "kserve.md"
V2_FEATURES = [{f"input-0_{i}": v for i, v in enumerate(row.values())} for row in FEATURES]


async def test_v1_and_v2_events_become_records_like_proxied_traffic(
    make_sidecar: SidecarFactory, upstream: TestServer, http: aiohttp.ClientSession, database_url: str
) -> None:
    url = database_url
    sidecar = await make_sidecar(str(upstream.make_url("")), database_url=url)
    # V1 request first; V2 response first (the agent's two events race, possibly from different pods).
    for ev in (V1_PAIR[0], V1_PAIR[1], V2_PAIR[1], V2_PAIR[0]):
        status, doc = await post(http, sidecar, ev)
        assert status == 202, doc
    records = by_request(await wait_records(http, sidecar, 4))
    assert sorted(records) == ["5f0c1d7e-v1", "9a3e55b0-v2"]
    v1, v2 = records["5f0c1d7e-v1"], records["9a3e55b0-v2"]
    assert [r["features"] for r in v1] == FEATURES and [r["prediction"] for r in v1] == [0, 2]
    assert {
        (r["protocol"], r["route"], r["model"], r["model_version"], r["status"], r["error"]) for r in v1
    } == {("kserve_v1", "/v1/models/{model}:predict", "sklearn-iris", None, 200, None)}
    assert [r["features"] for r in v2] == V2_FEATURES and [r["prediction"] for r in v2] == [0, 2]
    assert {
        (r["protocol"], r["route"], r["model"], r["model_version"], r["status"], r["error"]) for r in v2
    } == {("kserve_v2", "/v2/models/{model}/infer", "sklearn-iris", "3", 200, None)}
    assert v1[0]["ts"] == pytest.approx(T_V1) and v1[0]["latency_ms"] == pytest.approx(12.5, abs=0.01)
    assert v2[0]["ts"] == pytest.approx(T_V2) and v2[0]["latency_ms"] == pytest.approx(20.0, abs=0.01)
    # The same rows are in the database itself.
    engine = create_engine(url)
    try:
        stored = await RecordStore(engine).recent(10, model="sklearn-iris")
    finally:
        await engine.dispose()
    assert sorted((r.request_id, r.row, r.prediction, r.protocol) for r in stored) == [
        ("5f0c1d7e-v1", 0, 0, "kserve_v1"),
        ("5f0c1d7e-v1", 1, 2, "kserve_v1"),
        ("9a3e55b0-v2", 0, 0, "kserve_v2"),
        ("9a3e55b0-v2", 1, 2, "kserve_v2"),
    ]
    metrics = await scrape(http, sidecar)
    assert metrics.value("driftcar_ingest_events_total", type="request") == 2
    assert metrics.value("driftcar_ingest_events_total", type="response") == 2
    assert metrics.value("driftcar_ingest_paired_total") == 2
    assert metrics.value("driftcar_request_duration_seconds_count", route="/v2/models/{model}/infer") == 1


async def test_duplicates_and_late_events_are_counted_not_recorded(
    sidecar: Sidecar, http: aiohttp.ClientSession
) -> None:
    request, response = V1_PAIR
    assert (await post(http, sidecar, request))[1]["outcome"] == "pending"
    assert (await post(http, sidecar, request))[1]["outcome"] == "duplicate"
    assert (await post(http, sidecar, response))[1]["outcome"] == "paired"
    assert (await post(http, sidecar, response))[1]["outcome"] == "late"
    assert (await post(http, sidecar, request))[1]["outcome"] == "late"
    records = await wait_records(http, sidecar, 2)
    await post(http, sidecar, V2_PAIR[0])  # a later pair flushes through the same queue
    await post(http, sidecar, V2_PAIR[1])
    records = await wait_records(http, sidecar, 4)
    assert sorted((r["request_id"], r["row"]) for r in records) == [
        ("5f0c1d7e-v1", 0),
        ("5f0c1d7e-v1", 1),
        ("9a3e55b0-v2", 0),
        ("9a3e55b0-v2", 1),
    ]
    metrics = await scrape(http, sidecar)
    assert metrics.value("driftcar_ingest_events_dropped_total", reason="duplicate") == 1
    assert metrics.value("driftcar_ingest_events_dropped_total", reason="late") == 2
    assert metrics.value("driftcar_ingest_paired_total") == 2


async def test_lone_events_are_recorded_after_the_ttl(
    make_sidecar: SidecarFactory, upstream: TestServer, http: aiohttp.ClientSession
) -> None:
    sidecar = await make_sidecar(str(upstream.make_url("")), ingest={"pairing_ttl": 0.2})
    await post(http, sidecar, event("request", "only-request", V1_REQUEST))
    await post(http, sidecar, V2_PAIR[1])  # its request never comes
    records = by_request(await wait_records(http, sidecar, 4))
    alone = records["only-request"]
    assert [r["features"] for r in alone] == FEATURES and [r["prediction"] for r in alone] == [None, None]
    assert {(r["error"], r["status"], r["protocol"]) for r in alone} == {
        ("no response logged", 0, "kserve_v1")
    }
    orphan = records["9a3e55b0-v2"]
    assert [r["prediction"] for r in orphan] == [0, 2] and [r["features"] for r in orphan] == [None, None]
    assert {(r["error"], r["status"], r["model_version"]) for r in orphan} == {
        ("no request logged", 200, "3")
    }
    metrics = await scrape(http, sidecar)
    assert metrics.value("driftcar_ingest_unpaired_total", missing="response") == 1
    assert metrics.value("driftcar_ingest_unpaired_total", missing="request") == 1
    assert metrics.value("driftcar_upstream_errors_total") == 0  # not proxied: no upstream failed


async def test_waiting_events_are_recorded_at_shutdown(
    make_sidecar: SidecarFactory, upstream: TestServer, http: aiohttp.ClientSession, sqlite_url: str
) -> None:
    sidecar = await make_sidecar(str(upstream.make_url("")), ingest={"pairing_ttl": 3600})
    await post(http, sidecar, V1_PAIR[0])
    await sidecar.stop()
    engine = create_engine(sqlite_url)
    try:
        stored = await RecordStore(engine).recent(10)
    finally:
        await engine.dispose()
    assert sorted((r.request_id, r.row, r.error) for r in stored) == [
        ("5f0c1d7e-v1", 0, "no response logged"),
        ("5f0c1d7e-v1", 1, "no response logged"),
    ]


async def test_full_buffer_refuses_new_ids_and_counts_them(
    make_sidecar: SidecarFactory, upstream: TestServer, http: aiohttp.ClientSession
) -> None:
    sidecar = await make_sidecar(str(upstream.make_url("")), ingest={"max_pending": 1, "pairing_ttl": 3600})
    assert (await post(http, sidecar, V1_PAIR[0]))[0] == 202
    assert (await scrape(http, sidecar)).value("driftcar_ingest_pending_events") == 1
    status, doc = await post(http, sidecar, V2_PAIR[0])
    assert status == 503 and doc == {"error": "pairing buffer full: event dropped"}
    # The partner of a waiting event is still taken.
    assert await post(http, sidecar, V1_PAIR[1]) == (202, {"status": "accepted", "outcome": "paired"})
    assert len(await wait_records(http, sidecar, 2)) == 2
    metrics = await scrape(http, sidecar)
    assert metrics.value("driftcar_ingest_events_dropped_total", reason="full") == 1
    assert metrics.value("driftcar_ingest_pending_events") == 0


async def test_structured_mode_is_accepted(sidecar: Sidecar, http: aiohttp.ClientSession) -> None:
    for kind, data in (("request", {"instances": [[1.0, 2.0]]}), ("response", {"predictions": [1]})):
        document = {
            "specversion": "1.0",
            "id": "structured-1",
            "source": "http://localhost:9081/",
            "type": f"org.kubeflow.serving.inference.{kind}",
            "inferenceservicename": "iris",
            "datacontenttype": "application/json",
            "data": data,
        }
        async with http.post(
            admin_url(sidecar, "/ingest/kserve"),
            data=orjson.dumps(document),
            headers={"Content-Type": "application/cloudevents+json"},
        ) as resp:
            assert resp.status == 202, await resp.text()
    (record,) = await wait_records(http, sidecar, 1)
    assert record["features"] == {"f0": 1.0, "f1": 2.0} and record["prediction"] == 1
    assert record["model"] == "iris" and record["request_id"] == "structured-1"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"Ce-Id": None}, "missing CloudEvent attribute ce-id"),
        ({"Ce-Type": None}, "missing CloudEvent attribute ce-type"),
        ({"Ce-Source": None}, "missing CloudEvent attribute ce-source"),
        ({"Ce-Inferenceservicename": None}, "missing CloudEvent attribute ce-inferenceservicename"),
        ({"Ce-Specversion": "0.3"}, "ce-specversion '0.3' is not supported (expected 1.0)"),
        ({"Ce-Type": "com.example.other"}, "ce-type 'com.example.other' is not org.kubeflow.serving"),
        ({"Ce-Time": "yesterday"}, "ce-time 'yesterday' is not an RFC 3339 time"),
        ({"Ce-Time": "1e300"}, "ce-time '1e300' is not an RFC 3339 time"),
        ({"Ce-Id": "has space"}, "ce-id must be 1-200 printable ASCII characters"),
        ({"Ce-Inferenceservicename": "a/b"}, "ce-inferenceservicename must be a Kubernetes name"),
        ({"Ce-Statuscode": "OK"}, "ce-statuscode 'OK' is not an HTTP status code"),
    ],
)
async def test_bad_attributes_are_400_naming_the_header(
    sidecar: Sidecar, http: aiohttp.ClientSession, change: dict[str, str | None], message: str
) -> None:
    request = V1_PAIR[0]
    headers = {k: v for k, v in request.headers.items() if k not in change}
    headers.update({k: v for k, v in change.items() if v is not None})
    status, doc = await post(http, sidecar, Event(headers, request.body))
    assert status == 400 and doc["error"].startswith(message), doc


async def test_oversized_events_are_413(
    make_sidecar: SidecarFactory, upstream: TestServer, http: aiohttp.ClientSession
) -> None:
    sidecar = await make_sidecar(str(upstream.make_url("")), ingest={"max_event_bytes": 10})
    status, doc = await post(http, sidecar, V1_PAIR[0])
    assert status == 413 and doc == {"error": "body larger than 10 bytes"}


async def test_route_sampling_and_redaction_apply(
    make_sidecar: SidecarFactory, upstream: TestServer, http: aiohttp.ClientSession
) -> None:
    routes = [
        {"path": "/v1/models/sklearn-iris:predict", "redact": ["f1"], "redact_mode": "drop"},
        {"path": "/v2/models/*", "sample_rate": 0.0},
    ]
    sidecar = await make_sidecar(str(upstream.make_url("")), routes=routes)
    for ev in (*V2_PAIR, *V1_PAIR):
        assert (await post(http, sidecar, ev))[0] == 202
    records = await wait_records(http, sidecar, 2)
    assert {r["request_id"] for r in records} == {"5f0c1d7e-v1"}
    assert [sorted(r["features"]) for r in records] == [["f0", "f2", "f3"]] * 2
    metrics = await scrape(http, sidecar)
    assert metrics.value("driftcar_capture_exchanges_sampled_out_total") == 1


async def test_events_as_kserve_documents_them(sidecar: Sidecar, http: aiohttp.ClientSession) -> None:
    for ev in DOCS_PAIR:
        assert (await post(http, sidecar, ev))[0] == 202
    records = await wait_records(http, sidecar, 2)
    assert sorted((r["row"], r["prediction"]) for r in records) == [(0, 1), (1, 1)]
    first = next(r for r in records if r["row"] == 0)
    assert first["features"] == {"f0": 6.8, "f1": 2.8, "f2": 4.8, "f3": 1.4}
    assert (first["request_id"], first["model"], first["protocol"], first["error"]) == (
        DOCS_ID,
        "sklearn-iris",
        "kserve_v1",
        None,
    )
    assert first["ts"] == pytest.approx(T_DOCS, abs=1e-3)
    assert first["latency_ms"] == pytest.approx(4.245, abs=0.01)


async def test_logged_error_responses_keep_their_status(
    sidecar: Sidecar, http: aiohttp.ClientSession
) -> None:
    # With the logger's logAllResponses, a rejected request's response event carries ce-statuscode.
    await post(http, sidecar, event("request", "rejected-1", b'{"instances":[[1.0,2.0,3.0]]}'))
    body = b'{"error":"Failed to process request: unexpected feature count"}'
    await post(http, sidecar, event("response", "rejected-1", body, **{"Ce-Statuscode": "422"}))
    (record,) = await wait_records(http, sidecar, 1)
    assert record["status"] == 422 and record["features"] == {"f0": 1.0, "f1": 2.0, "f2": 3.0}
    assert "unexpected feature count" in record["error"] and record["prediction"] is None
    metrics = await scrape(http, sidecar)
    assert metrics.value("driftcar_request_duration_seconds_count", status="422") == 1


@pytest.mark.parametrize(("adapter", "protocol"), [("auto", "kserve_v1"), ("tfserving", "tfserving")])
async def test_route_adapter_options_apply(
    make_sidecar: SidecarFactory,
    upstream: TestServer,
    http: aiohttp.ClientSession,
    adapter: str,
    protocol: str,
) -> None:
    names = ["sepal_length", "sepal_width", "petal_length", "petal_width"]
    route = {"path": "/v1/models/*", "adapter": {"adapter": adapter, "feature_names": names}}
    sidecar = await make_sidecar(str(upstream.make_url("")), routes=[route])
    for ev in V1_PAIR:
        await post(http, sidecar, ev)
    records = await wait_records(http, sidecar, 2)
    assert {r["protocol"] for r in records} == {protocol}
    assert sorted(r["features"]["sepal_length"] for r in records) == [5.1, 6.7]


async def test_every_ingest_metric_is_documented_in_the_kserve_guide(
    sidecar: Sidecar, http: aiohttp.ClientSession
) -> None:
    # docs/observability.md's tables leave the ingest families to docs/kserve.md: each one exposed is named there.
    m = await scrape(http, sidecar)
    exposed = {f.removesuffix("_total") for f in m.families if f.startswith("driftcar_ingest_")}
    assert len(exposed) >= 7, exposed
    named = {n.removesuffix("_total") for n in re.findall(r"`(driftcar_ingest_\w+)", GUIDE.read_text())}
    assert exposed <= named, exposed - named
