"""`POST /ingest/records` on a real sidecar: JSON lines and arrays stored whole with labels, or refused whole."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import orjson
import pytest
from aiohttp.test_utils import TestServer

from sidecar.server import Sidecar
from storage.engine import create_engine
from storage.feedback import FeedbackStore
from storage.store import RecordStore
from tests.sidecar.conftest import SidecarFactory, admin_url
from tests.sidecar.scrape import scrape


async def post(
    http: aiohttp.ClientSession, sidecar: Sidecar, body: bytes, **headers: str
) -> tuple[int, dict[str, Any]]:
    """POST a batch; the status and the JSON answer."""
    async with http.post(admin_url(sidecar, "/ingest/records"), data=body, headers=headers) as resp:
        return resp.status, await resp.json()


ROWS: list[dict[str, Any]] = [
    {
        "model": "loans",
        "features": {"income": 52_000, "region": "north"},
        "prediction": 1,
        "request_id": "b-1",
        "ts": "2026-11-25T10:00:00Z",
        "label": 1,
    },
    {
        "model": "loans",
        "model_version": "7",
        "features": {"income": 31_000, "region": "south"},
        "prediction": 0,
        "ts": 1_795_600_801.5,
    },
    {"model": "loans", "features": {"income": 47_500, "region": "east"}},
]


async def test_json_lines_and_arrays_are_stored_with_labels(
    make_sidecar: SidecarFactory, upstream: TestServer, http: aiohttp.ClientSession, database_url: str
) -> None:
    sidecar = await make_sidecar(str(upstream.make_url("")), database_url=database_url)
    lines = b"\n".join(orjson.dumps(row) for row in ROWS) + b"\n\n"
    assert await post(http, sidecar, lines) == (200, {"accepted": 3, "labels": 1})
    array = orjson.dumps([{"model": "other", "features": {"x": 1.5}, "request_id": "b-9", "row": 2}])
    assert await post(http, sidecar, array, **{"Content-Type": "application/json"}) == (
        200,
        {"accepted": 1, "labels": 0},
    )
    engine = create_engine(database_url)
    try:
        stored = await RecordStore(engine).recent(10)
        label = await FeedbackStore(engine).get_label("b-1", 0)
    finally:
        await engine.dispose()
    loans = sorted((r for r in stored if r.model == "loans"), key=lambda r: r.ts)
    assert [(r.ts, r.request_id, r.model_version, r.prediction) for r in loans[:2]] == [
        (1_795_600_800.0, "b-1", None, 1),
        (1_795_600_801.5, loans[1].request_id, "7", 0),
    ]
    assert [r.features for r in loans] == [row["features"] for row in ROWS]
    assert {(r.route, r.protocol, r.status, r.error) for r in stored} == {
        ("/ingest/records", "batch", 200, None)
    }
    assert len({r.request_id for r in loans}) == 3 and label == 1
    (other,) = (r for r in stored if r.model == "other")
    assert (other.request_id, other.row, other.features) == ("b-9", 2, {"x": 1.5})


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b'{"model":"m","features":{}}\n{"model":"m"}', "line 2: features: Field required"),
        (
            b'{"model":"m","features":{}}\n\n{"model":"m","features":{},"extra":1}',
            "line 3: extra: Extra inputs",
        ),
        (b'{"model":"m","features":{}}\n{not json', "line 2: invalid JSON"),
        (
            b'[{"model":"m","features":{}},{"model":"","features":{}}]',
            "item 1: model: String should have at least",
        ),
        (b'[{"model":"m","features":[1]}]', "item 0: features: Input should be a valid dictionary"),
        (b'[{"model":"m","features":{},"ts":"soon"}]', "item 0: ts: Value error, expected epoch seconds"),
        (b'[{"model":"m","features":{},"ts":1e12}]', "item 0: ts: Input should be less than 100000000000"),
        (b'[{"model":"m","features":{},"request_id":"a b"}]', "item 0: request_id: String should match"),
        (
            b'[{"model":"m","features":{},"row":-1}]',
            "item 0: row: Input should be greater than or equal to 0",
        ),
        (b"[1]", "item 0: expected a JSON object, got int"),
        (b"  ", "no records in the body"),
    ],
)
async def test_an_invalid_record_refuses_the_whole_batch(
    sidecar: Sidecar, http: aiohttp.ClientSession, sqlite_url: str, body: bytes, message: str
) -> None:
    status, doc = await post(http, sidecar, body)
    assert status == 400 and doc["error"].startswith(message), doc
    engine = create_engine(sqlite_url)
    try:
        assert await RecordStore(engine).count() == 0
    finally:
        await engine.dispose()


async def test_batch_limits(
    make_sidecar: SidecarFactory, upstream: TestServer, http: aiohttp.ClientSession
) -> None:
    sidecar = await make_sidecar(
        str(upstream.make_url("")), ingest={"max_batch_records": 2, "max_batch_bytes": 200}
    )
    row = b'{"model":"m","features":{"x":1}}'
    assert await post(http, sidecar, b"\n".join([row] * 3)) == (
        400,
        {"error": "more than 2 records in one request"},
    )
    assert await post(http, sidecar, b"[" + b",".join([row] * 3) + b"]") == (
        400,
        {"error": "more than 2 records in one request"},
    )
    assert await post(http, sidecar, b"\n".join([row] * 8)) == (413, {"error": "body larger than 200 bytes"})
    assert await post(http, sidecar, b"\n".join([row] * 2)) == (200, {"accepted": 2, "labels": 0})
    assert (await scrape(http, sidecar)).value("driftcar_ingest_batch_records_total") == 2


async def test_chunked_bodies_are_limited_too(
    make_sidecar: SidecarFactory, upstream: TestServer, http: aiohttp.ClientSession
) -> None:
    sidecar = await make_sidecar(str(upstream.make_url("")), ingest={"max_batch_bytes": 100})
    row = b'{"model":"m","features":{"x":1}}\n'

    async def chunks(n: int) -> AsyncIterator[bytes]:
        for _ in range(n):
            yield row

    url = admin_url(sidecar, "/ingest/records")
    async with http.post(url, data=chunks(2)) as resp:
        assert resp.status == 200 and await resp.json() == {"accepted": 2, "labels": 0}
    async with http.post(url, data=chunks(40)) as resp:
        assert resp.status == 413 and await resp.json() == {"error": "body larger than 100 bytes"}
