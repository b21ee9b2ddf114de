"""The monitors' admin API on a real sidecar: listing, on-demand runs, reports, references, feedback, auth."""

from __future__ import annotations

import asyncio
import gzip
import io
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import numpy as np
import pandas as pd
import pytest
from aiohttp.test_utils import TestServer

from sidecar.server import Sidecar
from storage.engine import create_engine
from storage.records import Record
from storage.store import RecordStore
from tests.sidecar.conftest import SidecarFactory, admin_url
from tests.storage.helpers import predict_records

T0 = 1_790_000_000.0
N = 200
TOKEN = "s3cret-token"


def _records(n: int, start: float, shift: float) -> list[Record]:
    rng = np.random.default_rng(int(start) % 1000)
    rows = [
        ({"x0": float(rng.normal(shift)), "x1": float(rng.normal())}, int(rng.integers(0, 2)))
        for _ in range(n)
    ]
    return predict_records(start, rows, id_prefix=f"q{int(start)}-")


def _reference(n: int = N) -> pd.DataFrame:
    rng = np.random.default_rng(5)
    return pd.DataFrame(
        {"x0": rng.normal(size=n), "x1": rng.normal(size=n), "prediction": rng.integers(0, 2, n)}
    )


MONITOR = {
    "name": "m",
    "window": {"minutes": 60},
    "schedule": {"every": 3600, "enabled": False},
    "min_rows": 50,
    "reference": {"first_n": N},
}


@pytest.fixture
async def monitored(make_sidecar: SidecarFactory, upstream: TestServer, sqlite_url: str) -> Sidecar:
    """A sidecar with one on-demand monitor, N baseline and N shifted records in its SQLite store."""
    sidecar = await make_sidecar(str(upstream.make_url("")), monitors=[MONITOR])
    engine = create_engine(sqlite_url)
    try:
        await RecordStore(engine).insert(_records(N, T0, 0.0) + _records(N, T0 + N, 2.0))
    finally:
        await engine.dispose()
    return sidecar


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(auto_decompress=False) as session:
        yield session


async def _call(
    http: aiohttp.ClientSession, method: str, sidecar: Sidecar, path: str, **kwargs: Any
) -> tuple[int, Any]:
    async with http.request(method, admin_url(sidecar, path), **kwargs) as resp:
        body = await resp.read()
        doc = None
        if resp.content_type == "application/json":
            import orjson

            doc = orjson.loads(body)
        return resp.status, doc


async def test_monitors_are_listed_with_their_config(monitored: Sidecar, http: aiohttp.ClientSession) -> None:
    status, doc = await _call(http, "GET", monitored, "/api/monitors")
    assert status == 200
    (monitor,) = doc["monitors"]
    assert monitor["name"] == "m" and monitor["config"]["window"] == {"minutes": 60.0, "records": None}
    assert monitor["next_run"] is None and monitor["latest_run"] is None  # schedule disabled, never run
    status, doc = await _call(http, "GET", monitored, "/api/monitors/nope")
    assert status == 404 and doc == {"error": "no monitor named 'nope'"}
    status, doc = await _call(http, "GET", monitored, "/api/monitors/nope/runs")
    assert status == 404


async def test_reference_upload_run_and_reports(monitored: Sidecar, http: aiohttp.ClientSession) -> None:
    status, doc = await _call(http, "GET", monitored, "/api/monitors/m/reports/latest")
    assert status == 404 and "no finished report yet" in doc["error"]

    csv = _reference().to_csv(index=False).encode()
    status, doc = await _call(
        http,
        "POST",
        monitored,
        "/api/monitors/m/references?note=training%20set",
        data=csv,
        headers={"Content-Type": "text/csv"},
    )
    assert status == 201, doc
    assert doc["reference"]["version"] == 1 and doc["reference"]["source"] == "upload"
    assert doc["reference"]["n_rows"] == N and doc["reference"]["note"] == "training set"

    window = {"from": str(T0 + N), "to": str(T0 + 2 * N)}
    status, doc = await _call(http, "POST", monitored, "/api/monitors/m/run", params=window)
    assert status == 200, doc
    run = doc["run"]
    assert doc["status"] == "ok" and run["status"] == "ok" and run["n_rows"] == N
    assert run["reference_version"] == 1 and run["links"]["html"] == f"/reports/{run['id']}"
    assert {f["column"] for f in run["summary"]["flags"] if f["kind"] == "column_drift"} == {"x0"}

    # The same window again is already claimed: 409 naming the existing run.
    status, doc = await _call(http, "POST", monitored, "/api/monitors/m/run", params=window)
    assert status == 409 and doc["status"] == "claimed" and doc["run"]["id"] == run["id"]

    status, latest = await _call(http, "GET", monitored, "/api/monitors/m/reports/latest")
    assert status == 200 and latest["id"] == run["id"]
    status, same = await _call(http, "GET", monitored, f"/reports/{run['id']}.json")
    assert status == 200 and same["summary"] == run["summary"]

    # The HTML is sent compressed as stored to a client that accepts gzip, and plain to one that does not.
    async with http.get(
        admin_url(monitored, f"/reports/{run['id']}"), headers={"Accept-Encoding": "gzip"}
    ) as r:
        assert r.status == 200 and r.headers["Content-Encoding"] == "gzip"
        assert r.content_type == "text/html"
        packed = await r.read()
    async with http.get(
        admin_url(monitored, f"/reports/{run['id']}"), headers={"Accept-Encoding": "identity"}
    ) as r:
        assert r.status == 200 and "Content-Encoding" not in r.headers
        plain = await r.read()
    assert gzip.decompress(packed) == plain and b"x0" in plain and len(plain) > 100_000

    async with http.get(admin_url(monitored, "/reports")) as r:
        assert r.status == 200 and r.content_type == "text/html"
        index = (await r.read()).decode()
    assert f"/reports/{run['id']}" in index and "x0" in index

    status, doc = await _call(http, "GET", monitored, "/reports/999.json")
    assert status == 404 and doc == {"error": "no report run 999"}
    status, doc = await _call(http, "GET", monitored, "/reports/999")
    assert status == 404


async def test_run_without_waiting_answers_202(monitored: Sidecar, http: aiohttp.ClientSession) -> None:
    status, doc = await _call(
        http,
        "POST",
        monitored,
        "/api/monitors/m/run",
        params={"from": str(T0), "to": str(T0 + N), "wait": "false"},
    )
    assert status == 202 and doc == {"status": "started", "window_start": T0, "window_end": T0 + N}
    for _ in range(600):
        status, doc = await _call(http, "GET", monitored, "/api/monitors/m/runs")
        if doc["runs"] and doc["runs"][0]["status"] != "running":
            break

        await asyncio.sleep(0.1)
    (run,) = doc["runs"]
    # No reference was stored: the first N captured records became version 1, and the report says so.
    assert run["status"] == "ok" and run["summary"]["reference"]["source"] == "first_n"


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"from": "yesterday"}, "from: expected epoch seconds or an ISO 8601 time"),
        ({"from": "2000", "to": "1000"}, "from must be before to"),
    ],
)
async def test_bad_run_windows_are_400(
    params: dict[str, str], message: str, monitored: Sidecar, http: aiohttp.ClientSession
) -> None:
    status, doc = await _call(http, "POST", monitored, "/api/monitors/m/run", params=params)
    assert status == 400 and message in doc["error"]


@pytest.mark.parametrize(
    ("query", "message"),
    [("status=done", "status must be one of"), ("limit=0", "limit must be between"), ("limit=x", "integer")],
)
async def test_run_listing_is_validated(
    query: str, message: str, monitored: Sidecar, http: aiohttp.ClientSession
) -> None:
    status, doc = await _call(http, "GET", monitored, f"/api/monitors/m/runs?{query}")
    assert status == 400 and message in doc["error"]


async def test_references_in_every_format_and_pinned_from_traffic(
    monitored: Sidecar, http: aiohttp.ClientSession
) -> None:
    frame = _reference()
    buffer = io.BytesIO()
    frame.to_parquet(buffer)
    jsonl = frame.to_json(orient="records", lines=True).encode()
    for body, content_type in (
        (buffer.getvalue(), "application/vnd.apache.parquet"),
        (jsonl, "application/x-ndjson"),
    ):
        status, doc = await _call(
            http,
            "POST",
            monitored,
            "/api/monitors/m/references",
            data=body,
            headers={"Content-Type": content_type},
        )
        assert status == 201, doc
        assert doc["reference"]["n_rows"] == N and doc["reference"]["columns"] == ["x0", "x1", "prediction"]
    status, doc = await _call(
        http,
        "POST",
        monitored,
        "/api/monitors/m/references",
        json={"from": T0, "to": T0 + 100, "note": "day one"},
    )
    assert status == 201, doc
    pinned = doc["reference"]
    assert pinned["version"] == 3 and pinned["source"] == "traffic" and pinned["n_rows"] == 100
    assert pinned["note"] == "day one"
    status, doc = await _call(http, "GET", monitored, "/api/monitors/m/references")
    assert status == 200 and [r["version"] for r in doc["references"]] == [3, 2, 1]


@pytest.mark.parametrize(
    ("body", "content_type", "message"),
    [
        (b"x0,x1\n1,2\n3,4,5\n", "text/csv", "line 3"),
        (b"x0,x1\n", "text/csv", "no data rows"),
        (b'{"x0": 1}\nnot json\n', "application/x-ndjson", "line 2"),
        (b"", "text/csv", "the request body is empty"),
        (b"x0\n1\n", "application/xml", "unsupported Content-Type 'application/xml'"),
        (b'{"from": 1}', "application/json", 'expected {"from": TIME, "to": TIME}'),
        (b'{"from": 1, "to": 2}', "application/json", "no usable records"),
    ],
)
async def test_bad_references_are_400_and_store_nothing(
    body: bytes, content_type: str, message: str, monitored: Sidecar, http: aiohttp.ClientSession
) -> None:
    status, doc = await _call(
        http,
        "POST",
        monitored,
        "/api/monitors/m/references",
        data=body,
        headers={"Content-Type": content_type},
    )
    assert status == 400 and message in doc["error"], doc
    status, doc = await _call(http, "GET", monitored, "/api/monitors/m/references")
    assert doc == {"references": []}


async def test_feedback_is_stored_or_rejected_whole(monitored: Sidecar, http: aiohttp.ClientSession) -> None:
    labels = [{"request_id": f"q{int(T0)}-{i}", "row": 0, "label": i % 2} for i in range(10)]
    status, doc = await _call(http, "POST", monitored, "/api/feedback", json={"labels": labels})
    assert status == 200 and doc == {"stored": 10}
    bad = [*labels, {"request_id": "x", "label": None}]
    status, doc = await _call(http, "POST", monitored, "/api/feedback", json={"labels": bad})
    assert status == 400 and "10" in doc["error"] and "label" in doc["error"]
    status, doc = await _call(
        http, "POST", monitored, "/api/feedback", data=b"{", headers={"Content-Type": "application/json"}
    )
    assert status == 400 and doc["error"].startswith("invalid JSON")
    status, doc = await _call(http, "POST", monitored, "/api/feedback", json={"label": 1})
    assert status == 400 and "expected" in doc["error"]


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/reports"),
        ("GET", "/reports/1"),
        ("GET", "/reports/1.json"),
        ("GET", "/api/monitors"),
        ("POST", "/api/monitors/m/run"),
        ("POST", "/api/monitors/m/references"),
        ("POST", "/api/feedback"),
    ],
)
async def test_reports_and_monitor_api_need_the_token(
    method: str, path: str, make_sidecar: SidecarFactory, upstream: TestServer, http: aiohttp.ClientSession
) -> None:
    sidecar = await make_sidecar(str(upstream.make_url("")), monitors=[MONITOR], admin_token=TOKEN)
    status, doc = await _call(http, method, sidecar, path)
    assert status == 401 and "bearer token" in doc["error"]
    status, _ = await _call(http, "GET", sidecar, "/reports", headers={"Authorization": f"Bearer {TOKEN}"})
    assert status == 200
