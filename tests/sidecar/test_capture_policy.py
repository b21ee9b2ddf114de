"""Capture policies through real HTTP: sampling, errors kept, capture off, redaction, queue overflow."""

from __future__ import annotations

import asyncio
import hashlib
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from sidecar.capture.pipeline import sampled
from sidecar.server import Sidecar, free_port
from tests.sidecar.conftest import SidecarFactory, admin_url, proxy_url, wait_records
from tests.sidecar.scrape import REQUESTS, scrape, scrape_when

SALT = "pepper-for-tests"
WRITTEN = "driftcar_records_written_total"
DROPPED = "driftcar_capture_exchanges_dropped_total"


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    """A client whose every request is bounded in time."""
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=15)) as session:
        yield session


async def post(
    http: aiohttp.ClientSession, sidecar: Sidecar, path: str, body: object, request_id: str
) -> tuple[int, bytes]:
    """One POST of a JSON body through the proxy; returns (status, response body)."""
    async with http.post(proxy_url(sidecar, path), json=body, headers={"X-Request-ID": request_id}) as resp:
        return resp.status, await resp.read()


async def stored_ids(http: aiohttp.ClientSession, sidecar: Sidecar, count: int) -> list[str]:
    """Request ids of the stored records, newest first, once `count` are written (exactly `count` must be)."""
    m = await scrape_when(http, sidecar, lambda m: m.value(WRITTEN) >= count)
    assert m.value(WRITTEN) == count
    return [r["request_id"] for r in await wait_records(http, sidecar, count)]


# --- sampling -------------------------------------------------------------------------------------------


async def test_sampling_keeps_exactly_the_requests_the_hash_selects(
    make_sidecar: SidecarFactory, upstream: TestServer, http: aiohttp.ClientSession
) -> None:
    sidecar = await make_sidecar(
        str(upstream.make_url("")), routes=[{"path": "/predict", "sample_rate": 0.3}]
    )
    ids = [f"sample-{i:03d}" for i in range(200)]
    expected = {i for i in ids if sampled(i, 0.3)}
    assert 30 <= len(expected) <= 90
    for request_id in ids:
        assert (await post(http, sidecar, "/predict", {"feature1": 7}, request_id))[0] == 200
    # Every request is counted under its route, recorded or not.
    m = await scrape_when(
        http, sidecar, lambda m: m.value(REQUESTS) >= 200 and m.value(WRITTEN) >= len(expected)
    )
    assert m.value(REQUESTS, route="/predict", status="200") == 200
    assert m.value("driftcar_capture_exchanges_sampled_out_total") == 200 - len(expected)
    assert set(await stored_ids(http, sidecar, len(expected))) == expected


@pytest.mark.parametrize("keep_errors", [True, False])
async def test_failed_requests_are_all_kept_unless_keep_errors_is_off(
    keep_errors: bool, make_sidecar: SidecarFactory, upstream: TestServer, http: aiohttp.ClientSession
) -> None:
    routes = [{"path": "/status/*", "sample_rate": 0.3, "keep_errors": keep_errors}]
    sidecar = await make_sidecar(str(upstream.make_url("")), routes=routes)
    ids = [f"err-{i:02d}" for i in range(40)]
    for i, request_id in enumerate(ids):
        code = (400, 422, 500, 503)[i % 4]
        assert (await post(http, sidecar, f"/status/{code}", {"a": 1}, request_id))[0] == code
    expected = set(ids) if keep_errors else {i for i in ids if sampled(i, 0.3)}
    assert 0 < len(expected) <= 40
    await scrape_when(http, sidecar, lambda m: m.value(REQUESTS) >= 40)
    assert set(await stored_ids(http, sidecar, len(expected))) == expected


async def test_sample_rate_zero_records_only_failures(
    make_sidecar: SidecarFactory, upstream: TestServer, http: aiohttp.ClientSession
) -> None:
    sidecar = await make_sidecar(str(upstream.make_url("")), routes=[{"path": "*", "sample_rate": 0.0}])
    for i in range(10):
        assert (await post(http, sidecar, "/predict", {"feature1": 7}, f"ok-{i}"))[0] == 200
    for i in range(3):
        assert (await post(http, sidecar, "/status/500", {"a": 1}, f"fail-{i}"))[0] == 500
    await scrape_when(http, sidecar, lambda m: m.value(REQUESTS) >= 13)
    assert await stored_ids(http, sidecar, 3) == ["fail-2", "fail-1", "fail-0"]


async def test_upstream_errors_are_kept_at_sample_rate_zero(
    make_sidecar: SidecarFactory, http: aiohttp.ClientSession
) -> None:
    sidecar = await make_sidecar(f"http://127.0.0.1:{free_port()}", routes=[{"path": "*", "sample_rate": 0}])
    for i in range(3):
        assert (await post(http, sidecar, "/predict", {"feature1": 7}, f"down-{i}"))[0] == 502
    records = await wait_records(http, sidecar, 3)
    assert [(r["request_id"], r["status"]) for r in records] == [
        ("down-2", 502),
        ("down-1", 502),
        ("down-0", 502),
    ]


async def test_a_route_with_capture_off_is_proxied_but_not_recorded(
    make_sidecar: SidecarFactory, upstream: TestServer, http: aiohttp.ClientSession
) -> None:
    sidecar = await make_sidecar(str(upstream.make_url("")), routes=[{"path": "/echo*", "capture": False}])
    for i in range(5):
        status, body = await post(http, sidecar, "/echo", {"secret": i}, f"off-{i}")
        assert (status, orjson.loads(body)) == (200, {"secret": i})
    # Exchanges are parsed in order: once a later, captured one is stored, the earlier ones were seen.
    assert (await post(http, sidecar, "/predict", {"feature1": 7}, "barrier"))[0] == 200
    assert await stored_ids(http, sidecar, 1) == ["barrier"]
    m = await scrape(http, sidecar)
    assert m.value(REQUESTS, route="/echo", status="200") == 5


async def test_capture_disabled_still_counts_requests_and_stores_nothing(
    make_sidecar: SidecarFactory, upstream: TestServer, http: aiohttp.ClientSession
) -> None:
    sidecar = await make_sidecar(str(upstream.make_url("")), capture={"enabled": False})
    for i in range(7):
        assert (await post(http, sidecar, "/predict", {"feature1": i}, f"nocap-{i}"))[0] == 200
    m = await scrape_when(http, sidecar, lambda m: m.value(REQUESTS, route="/predict", status="200") == 7)
    assert m.value("driftcar_records_accepted_total") == 0
    assert await stored_ids(http, sidecar, 0) == []


# --- redaction ------------------------------------------------------------------------------------------


async def _score(request: web.Request) -> web.Response:
    """A model server that validates its input and, like many, quotes the bad value or echoes the input."""
    doc = await request.json()
    email, ssn = doc.get("email", ""), doc.get("ssn", "")
    if "@" not in email:  # FastAPI/pydantic v2 shape, a custom validator's message naming the value
        detail = {
            "type": "value_error",
            "loc": ["body", "email"],
            "msg": f"Value error, {email!r} is not a valid email address",
            "input": email,
        }
        return web.json_response({"detail": [detail]}, status=422)
    if not re.fullmatch(r"\d{3}-\d{2}-\d{4}", ssn):  # KServe's shape
        return web.json_response({"error": f"invalid ssn {ssn}: expected NNN-NN-NNNN"}, status=400)
    return web.json_response({"score": 0.75, "applicant": {"email": email, "tier": "gold"}})


@pytest.fixture
async def scorer() -> AsyncIterator[TestServer]:
    """The validating model server."""
    app = web.Application()
    app.router.add_post("/score", _score)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    yield server
    await server.close()


def digest(value: object) -> str:
    """The documented hash: salted SHA-256 of the value's text form, 32 hex digits."""
    return "sha256:" + hashlib.sha256(SALT.encode() + repr(value).encode()).hexdigest()[:32]


SECRETS = ["123-45-6789", "alice@example.com", "carol@example.com", "bob-at-example", "987-65-432X"]
REQUESTS_SENT = [
    ("ok-1", {"age": 41, "ssn": "123-45-6789", "email": "alice@example.com"}, 200),
    ("ok-2", {"age": 35, "ssn": "123-45-6789", "email": "carol@example.com"}, 200),
    ("bad-email", {"age": 29, "ssn": "123-45-6789", "email": "bob-at-example"}, 422),
    ("bad-ssn", {"age": 52, "ssn": "987-65-432X", "email": "alice@example.com"}, 400),
]


async def _send_applicants(
    make_sidecar: SidecarFactory, scorer: TestServer, http: aiohttp.ClientSession, mode: str
) -> tuple[Sidecar, dict[str, dict[str, Any]]]:
    route = {"path": "/score", "redact": ["ssn", "email"], "redact_mode": mode}
    sidecar = await make_sidecar(str(scorer.make_url("")), routes=[route], capture={"redaction_salt": SALT})
    for request_id, body, status in REQUESTS_SENT:
        assert (await post(http, sidecar, "/score", body, request_id))[0] == status
    records = await wait_records(http, sidecar, len(REQUESTS_SENT))
    return sidecar, {r["request_id"]: r for r in records}


async def test_drop_removes_the_features_and_their_echoes(
    make_sidecar: SidecarFactory, scorer: TestServer, http: aiohttp.ClientSession
) -> None:
    _sidecar, records = await _send_applicants(make_sidecar, scorer, http, "drop")
    assert records["ok-1"]["features"] == {"age": 41}
    assert records["ok-1"]["prediction"] == {"score": 0.75, "applicant": {"tier": "gold"}}
    assert records["bad-email"]["features"] == {"age": 29}
    assert records["bad-email"]["error"] == (
        "HTTP 422: body.email: Value error, '[redacted]' is not a valid email address"
    )
    assert records["bad-ssn"]["error"] == "HTTP 400: invalid ssn [redacted]: expected NNN-NN-NNNN"
    text = orjson.dumps(list(records.values())).decode()
    assert not [s for s in SECRETS if s in text]


async def test_hash_stores_salted_digests_and_leaks_no_raw_value(
    make_sidecar: SidecarFactory, scorer: TestServer, http: aiohttp.ClientSession, tmp_path: Path
) -> None:
    sidecar, records = await _send_applicants(make_sidecar, scorer, http, "hash")
    ssn = digest("123-45-6789")
    assert records["ok-1"]["features"] == {"age": 41, "ssn": ssn, "email": digest("alice@example.com")}
    assert records["ok-2"]["features"] == {"age": 35, "ssn": ssn, "email": digest("carol@example.com")}
    assert records["ok-1"]["features"]["email"] != records["ok-2"]["features"]["email"]
    assert re.fullmatch(r"sha256:[0-9a-f]{32}", ssn)
    assert records["ok-2"]["prediction"] == {
        "score": 0.75,
        "applicant": {"email": digest("carol@example.com"), "tier": "gold"},
    }
    assert records["bad-email"]["error"] == (
        f"HTTP 422: body.email: Value error, '{digest('bob-at-example')}' is not a valid email address"
    )
    assert records["bad-ssn"]["error"] == (
        f"HTTP 400: invalid ssn {digest('987-65-432X')}: expected NNN-NN-NNNN"
    )

    # Everything the sidecar wrote to disk, read once it has stopped and closed the database.
    await sidecar.stop()
    files, written = await asyncio.to_thread(_disk, tmp_path)
    assert "driftcar.db" in files
    assert b"bad-email" in written and ssn.encode() in written  # the records are in what was read
    leaked = [s for s in SECRETS if s.encode() in written or s.encode("utf-16-le") in written]
    assert leaked == []


def _disk(root: Path) -> tuple[list[str], bytes]:
    """Names and concatenated bytes of every file under `root` (the database, its WAL, the spool)."""
    paths = sorted(p for p in root.rglob("*") if p.is_file())
    return [p.name for p in paths], b"".join(p.read_bytes() for p in paths)


# --- queue overflow -------------------------------------------------------------------------------------


async def test_exchanges_over_the_byte_bound_are_dropped_and_counted(
    make_sidecar: SidecarFactory, upstream: TestServer, http: aiohttp.ClientSession
) -> None:
    sidecar = await make_sidecar(str(upstream.make_url("")), capture={"queue_max_bytes": 300})
    small = {"feature1": 7}
    big = {"blob": "x" * 1000}  # request + echoed response: ~2 KB, over the bound even with the queue empty
    for i in range(5):
        assert (await post(http, sidecar, "/predict", small, f"small-{i}"))[0] == 200
        status, body = await post(http, sidecar, "/echo", big, f"big-{i}")
        assert (status, orjson.loads(body)) == (200, big)
    m = await scrape_when(http, sidecar, lambda m: m.value(REQUESTS) >= 10 and m.value(WRITTEN) >= 5)
    assert m.value(DROPPED) == 5
    assert m.value(REQUESTS, route="/echo", status="200") == 5
    assert sorted(await stored_ids(http, sidecar, 5)) == [f"small-{i}" for i in range(5)]


async def test_a_full_queue_drops_captures_but_never_requests(
    make_sidecar: SidecarFactory, upstream: TestServer, http: aiohttp.ClientSession
) -> None:
    sidecar = await make_sidecar(str(upstream.make_url("")), capture={"queue_max_exchanges": 1})
    sent = 0
    # Concurrent requests finish in the same turns of the event loop, before the parser's next turn: with
    # room for one exchange, the others overflow. Bursts repeat until some did (a few at most).
    for burst in range(10):
        statuses = await asyncio.gather(
            *(post(http, sidecar, "/predict", {"feature1": i}, f"b{burst}-{i}") for i in range(50))
        )
        sent += len(statuses)
        assert [s for s, _ in statuses] == [200] * len(statuses)
        if (await scrape(http, sidecar)).value(DROPPED) > 0:
            break
    m = await scrape_when(
        http, sidecar, lambda m: m.value(REQUESTS) >= sent and m.value(WRITTEN) + m.value(DROPPED) >= sent
    )
    dropped = int(m.value(DROPPED))
    assert dropped > 0
    assert m.value(WRITTEN) + dropped == sent
    assert m.value(REQUESTS, route="/predict", status="200") == sent
    async with http.get(admin_url(sidecar, "/api/records"), params={"limit": "1000"}) as resp:
        assert len((await resp.json())["records"]) == sent - dropped
