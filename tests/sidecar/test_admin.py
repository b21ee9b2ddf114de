"""The admin API through real HTTP: health, readiness, Prometheus metrics, records, the bearer token."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
import asyncpg
import pydantic
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from sqlalchemy.engine import make_url

from sidecar.admin import error_middleware
from sidecar.metrics import MAX_ROUTES
from sidecar.server import Sidecar, free_port
from sidecar.settings import Settings
from tests.conftest import pg_base_url
from tests.sidecar.conftest import SidecarFactory, admin_url, proxy_url, wait_records
from tests.sidecar.scrape import REQUESTS, Scrape, eventually, scrape, scrape_when

BODY = {"feature1": 7.5, "feature2": 1}
TOKEN = "s3cret-token"


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    """A client whose every request is bounded in time."""
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=15)) as session:
        yield session


async def get_json(
    http: aiohttp.ClientSession, url: str, headers: dict[str, str] | None = None
) -> tuple[int, Any]:
    """GET a URL that must answer JSON; return (status, document)."""
    async with http.get(url, headers=headers) as resp:
        assert resp.content_type == "application/json", await resp.text()
        return resp.status, await resp.json()


async def predict(
    http: aiohttp.ClientSession, sidecar: Sidecar, request_id: str, path: str = "/predict"
) -> int:
    """One POST through the proxy; returns its status."""
    async with http.post(proxy_url(sidecar, path), json=BODY, headers={"X-Request-ID": request_id}) as resp:
        await resp.read()
        return resp.status


# --- health and readiness -------------------------------------------------------------------------------


async def test_healthz_answers_ok(sidecar: Sidecar, http: aiohttp.ClientSession) -> None:
    assert await get_json(http, admin_url(sidecar, "/healthz")) == (200, {"status": "ok"})


async def test_readyz_is_200_when_upstream_and_store_are_fine(
    sidecar: Sidecar, http: aiohttp.ClientSession
) -> None:
    status, doc = await get_json(http, admin_url(sidecar, "/readyz"))
    assert (status, doc) == (200, {"status": "ok", "checks": {"upstream": "ok", "store": "ok"}})


async def test_readyz_is_503_naming_the_upstream_when_it_is_down(
    make_sidecar: SidecarFactory, http: aiohttp.ClientSession
) -> None:
    sidecar = await make_sidecar(f"http://127.0.0.1:{free_port()}")
    status, doc = await get_json(http, admin_url(sidecar, "/readyz"))
    assert status == 503
    assert doc["status"] == "unavailable"
    assert doc["checks"]["store"] == "ok"
    assert doc["checks"]["upstream"] == "unreachable: ClientConnectorError"
    # Liveness is not readiness: the process still answers.
    assert (await get_json(http, admin_url(sidecar, "/healthz")))[0] == 200


@asynccontextmanager
async def pg_admin() -> AsyncIterator[asyncpg.Connection]:
    """A superuser connection to the test server's base database."""
    dsn = make_url(pg_base_url()).set(drivername="postgresql").render_as_string(hide_password=False)
    conn = await asyncpg.connect(dsn, timeout=5)
    try:
        yield conn
    finally:
        await conn.close()


async def _disconnect(admin: asyncpg.Connection, database: str) -> None:
    """End every session on `database` (the sidecar's pool reconnects, and sees the database's new state)."""
    await admin.execute(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()",
        database,
    )


@pytest.mark.postgres
async def test_readyz_is_503_naming_the_store_while_postgresql_is_read_only(
    postgres_url: str, make_sidecar: SidecarFactory, upstream: TestServer, http: aiohttp.ClientSession
) -> None:
    sidecar = await make_sidecar(str(upstream.make_url("")), database_url=postgres_url)
    database = make_url(postgres_url).database
    assert database is not None
    assert (await get_json(http, admin_url(sidecar, "/readyz")))[0] == 200
    async with pg_admin() as admin:
        await admin.execute(f'ALTER DATABASE "{database}" SET default_transaction_read_only = on')
        await _disconnect(admin, database)
        status, doc = await get_json(http, admin_url(sidecar, "/readyz"))
        assert status == 503
        assert doc["checks"]["upstream"] == "ok"
        assert doc["checks"]["store"] == "not writable: StoreUnavailable"
        # Reads still work on a read-only database: the records API answers.
        assert (await get_json(http, admin_url(sidecar, "/api/records")))[0] == 200

        await admin.execute(f'ALTER DATABASE "{database}" RESET default_transaction_read_only')
        await _disconnect(admin, database)
    status, doc = await get_json(http, admin_url(sidecar, "/readyz"))
    assert (status, doc["checks"]) == (200, {"upstream": "ok", "store": "ok"})


@pytest.mark.postgres
async def test_a_dropped_database_makes_readyz_and_the_records_api_503(
    postgres_url: str, make_sidecar: SidecarFactory, upstream: TestServer, http: aiohttp.ClientSession
) -> None:
    sidecar = await make_sidecar(str(upstream.make_url("")), database_url=postgres_url)
    database = make_url(postgres_url).database
    async with pg_admin() as admin:
        await admin.execute(f'DROP DATABASE "{database}" WITH (FORCE)')
    status, doc = await get_json(http, admin_url(sidecar, "/readyz"))
    assert (status, doc["checks"]) == (503, {"upstream": "ok", "store": "not writable: StoreUnavailable"})
    status, doc = await get_json(http, admin_url(sidecar, "/api/records"))
    assert status == 503
    assert doc["error"].startswith("store unavailable: ")
    assert f'database "{database}" does not exist' in doc["error"]
    assert "password" not in doc["error"]
    # The proxy does not depend on the store.
    assert await predict(http, sidecar, "after-drop") == 200


# --- metrics --------------------------------------------------------------------------------------------


async def test_metrics_count_every_request_and_record(sidecar: Sidecar, http: aiohttp.ClientSession) -> None:
    n = 7
    for i in range(n):
        assert await predict(http, sidecar, f"m-{i}") == 200
    m = await scrape_when(http, sidecar, lambda m: m.value("driftcar_records_written_total") >= n)
    assert m.value(REQUESTS, route="/predict", status="200", model="") == n
    assert m.value(REQUESTS) == n
    assert m.value("driftcar_records_accepted_total") == n
    assert m.value("driftcar_records_written_total") == n
    for name in ("spooled", "replayed", "dropped", "rejected"):
        assert m.value(f"driftcar_records_{name}_total") == 0, name
    assert m.value("driftcar_capture_exchanges_dropped_total") == 0
    assert m.value("driftcar_capture_exchanges_sampled_out_total") == 0
    assert m.value("driftcar_capture_failures_total") == 0
    gauges = {
        "driftcar_capture_queue_exchanges": 0,
        "driftcar_capture_queue_bytes": 0,
        "driftcar_writer_queue_records": 0,
        "driftcar_writer_queue_bytes": 0,
        "driftcar_spool_bytes": 0,
        "driftcar_store_up": 1,
    }
    assert gauges.keys() <= m.families
    assert {name: m.value(name) for name in gauges} == gauges


async def test_upstream_failures_are_counted_under_status_502(
    make_sidecar: SidecarFactory, http: aiohttp.ClientSession
) -> None:
    sidecar = await make_sidecar(f"http://127.0.0.1:{free_port()}")
    for i in range(3):
        assert await predict(http, sidecar, f"down-{i}") == 502
    m = await scrape_when(http, sidecar, lambda m: m.value("driftcar_records_written_total") >= 3)
    assert m.value(REQUESTS, route="/predict", status="502") == 3
    assert m.label_values(REQUESTS, "status") == {"502"}
    assert m.value("driftcar_upstream_errors_total", kind="unavailable") == 3
    assert m.value("driftcar_upstream_errors_total") == 3


async def test_upstream_timeouts_are_counted_by_kind(
    make_sidecar: SidecarFactory, upstream: TestServer, http: aiohttp.ClientSession
) -> None:
    sidecar = await make_sidecar(str(upstream.make_url("")), timeouts={"read": 0.2})
    assert await predict(http, sidecar, "slow-1", path="/slow") == 504
    m = await scrape_when(http, sidecar, lambda m: m.value("driftcar_records_written_total") >= 1)
    assert m.value("driftcar_upstream_errors_total", kind="timeout") == 1
    assert m.value(REQUESTS, route="/slow", status="504") == 1


async def test_model_labels_are_bounded_and_records_filter_by_model(
    make_sidecar: SidecarFactory, upstream: TestServer, http: aiohttp.ClientSession
) -> None:
    routes = [{"path": f"/echo/{name}", "adapter": {"model": name}} for name in ("m1", "m2", "m3")]
    sidecar = await make_sidecar(str(upstream.make_url("")), capture={"max_models": 2}, routes=routes)
    sends = {"m1": 2, "m2": 1, "m3": 3}
    for name, count in sends.items():
        for i in range(count):
            assert await predict(http, sidecar, f"{name}-{i}", path=f"/echo/{name}") == 200
    m = await scrape_when(http, sidecar, lambda m: m.value("driftcar_records_written_total") >= 6)
    assert m.label_values(REQUESTS, "model") == {"m1", "m2", "other"}
    assert m.value(REQUESTS, model="m1") == 2
    assert m.value(REQUESTS, model="m2") == 1
    assert m.value(REQUESTS, model="other", route="/echo/m3", status="200") == 3
    # The store keeps the real name; only the metric label is bounded.
    status, doc = await get_json(http, admin_url(sidecar, "/api/records?model=m3"))
    assert status == 200
    assert [r["request_id"] for r in doc["records"]] == ["m3-2", "m3-1", "m3-0"]
    assert {r["model"] for r in doc["records"]} == {"m3"}
    status, doc = await get_json(http, admin_url(sidecar, "/api/records?model=nope"))
    assert (status, doc["records"]) == (200, [])


async def test_route_labels_are_bounded(sidecar: Sidecar, http: aiohttp.ClientSession) -> None:
    # Generic routes are literal paths: a client inventing paths must not invent time series without end.
    sent = MAX_ROUTES + 3
    for i in range(sent):
        assert await predict(http, sidecar, f"r-{i}", path=f"/echo/{i}") == 200
    m = await scrape_when(http, sidecar, lambda m: m.value(REQUESTS) >= sent)
    assert m.label_values(REQUESTS, "route") == {f"/echo/{i}" for i in range(MAX_ROUTES)} | {"other"}
    assert m.value(REQUESTS, route="other") == 3
    assert m.value(REQUESTS) == sent


# --- records --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("limit", ["0", "-1", "abc", "1.5", "", "1001", "5000"])
async def test_records_limit_is_validated(limit: str, sidecar: Sidecar, http: aiohttp.ClientSession) -> None:
    status, doc = await get_json(http, admin_url(sidecar, f"/api/records?limit={limit}"))
    assert status == 400
    assert set(doc) == {"error"} and "limit" in doc["error"]


async def test_records_are_newest_first_and_limited(sidecar: Sidecar, http: aiohttp.ClientSession) -> None:
    for i in range(5):
        assert await predict(http, sidecar, f"order-{i}") == 200
    await wait_records(http, sidecar, 5)
    status, doc = await get_json(http, admin_url(sidecar, "/api/records?limit=3"))
    assert status == 200
    assert [r["request_id"] for r in doc["records"]] == ["order-4", "order-3", "order-2"]
    first = doc["records"][0]
    assert first["features"] == BODY and first["prediction"] == 1 and first["status"] == 200
    assert first["route"] == "/predict" and first["protocol"] == "generic" and first["error"] is None
    assert doc["writer"]["written"] == 5 and doc["writer"]["store_up"] is True
    status, doc = await get_json(http, admin_url(sidecar, "/api/records?limit=1000"))
    assert (status, len(doc["records"])) == (200, 5)


@pytest.mark.parametrize(
    ("method", "path", "status", "error"),
    [
        ("GET", "/nope", 404, "Not Found"),
        ("GET", "/api/records/1", 404, "Not Found"),
        ("POST", "/api/records", 405, "Method Not Allowed"),
        ("DELETE", "/healthz", 405, "Method Not Allowed"),
    ],
)
async def test_unknown_paths_and_methods_answer_json(
    method: str, path: str, status: int, error: str, sidecar: Sidecar, http: aiohttp.ClientSession
) -> None:
    async with http.request(method, admin_url(sidecar, path)) as resp:
        assert resp.status == status
        assert resp.content_type == "application/json"
        assert await resp.json() == {"error": error}


async def test_an_unexpected_handler_failure_is_500_json() -> None:
    async def broken(request: web.Request) -> web.Response:
        raise RuntimeError("bug with a detail the client must not see")

    app = web.Application(middlewares=[error_middleware])
    app.router.add_get("/broken", broken)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        async with (
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as http,
            http.get(server.make_url("/broken")) as resp,
        ):
            assert (resp.status, await resp.json()) == (500, {"error": "internal error"})
    finally:
        await server.close()


# --- bearer token ---------------------------------------------------------------------------------------


@pytest.fixture
async def guarded(make_sidecar: SidecarFactory, upstream: TestServer) -> Sidecar:
    """A sidecar whose admin API needs the bearer token."""
    return await make_sidecar(str(upstream.make_url("")), admin_token=TOKEN)


@pytest.mark.parametrize(
    "authorization",
    [
        None,
        "",
        f"Bearer {TOKEN}x",
        "Bearer wrong",
        "Bearer",
        f"Basic {TOKEN}",
        TOKEN,
        f"Bearer {TOKEN} extra",
    ],
)
async def test_records_need_the_token(
    authorization: str | None, guarded: Sidecar, http: aiohttp.ClientSession
) -> None:
    headers = {"Authorization": authorization} if authorization is not None else None
    async with http.get(admin_url(guarded, "/api/records"), headers=headers) as resp:
        assert resp.status == 401
        assert resp.headers["WWW-Authenticate"].startswith("Bearer")
        doc = await resp.json()
    assert set(doc) == {"error"} and "bearer token" in doc["error"]
    assert TOKEN not in doc["error"]


@pytest.mark.parametrize("scheme", ["Bearer", "bearer", "BEARER"])
async def test_the_right_token_opens_the_records(
    scheme: str, guarded: Sidecar, http: aiohttp.ClientSession
) -> None:
    status, doc = await get_json(
        http, admin_url(guarded, "/api/records"), headers={"Authorization": f"{scheme} {TOKEN}"}
    )
    assert (status, doc["records"]) == (200, [])


@pytest.mark.parametrize("path", ["/healthz", "/readyz", "/metrics"])
async def test_probes_and_metrics_stay_open(path: str, guarded: Sidecar, http: aiohttp.ClientSession) -> None:
    async with http.get(admin_url(guarded, path)) as resp:
        assert resp.status == 200


async def test_the_token_guards_unknown_paths_too(guarded: Sidecar, http: aiohttp.ClientSession) -> None:
    status, _ = await get_json(http, admin_url(guarded, "/api/secret"))
    assert status == 401
    status, doc = await get_json(
        http, admin_url(guarded, "/api/secret"), {"Authorization": f"Bearer {TOKEN}"}
    )
    assert (status, doc) == (404, {"error": "Not Found"})


@pytest.mark.parametrize("token", ["", "   "])
def test_an_empty_token_is_a_configuration_error(token: str) -> None:
    # Otherwise an empty DRIFTCAR_ADMIN_TOKEN would silently leave the admin API open.
    with pytest.raises(pydantic.ValidationError, match="admin_token"):
        Settings.model_validate({"upstream": "http://127.0.0.1:1", "admin_token": token})


# --- PostgreSQL -----------------------------------------------------------------------------------------


@pytest.mark.postgres
async def test_round_trip_on_postgresql(
    postgres_url: str, make_sidecar: SidecarFactory, upstream: TestServer, http: aiohttp.ClientSession
) -> None:
    sidecar = await make_sidecar(str(upstream.make_url("")), database_url=postgres_url, admin_token=TOKEN)
    auth = {"Authorization": f"Bearer {TOKEN}"}
    for i in range(3):
        assert await predict(http, sidecar, f"pg-{i}") == 200
    records: list[dict[str, Any]] = []

    async def stored() -> bool:
        status, doc = await get_json(http, admin_url(sidecar, "/api/records?limit=10"), auth)
        assert status == 200
        records[:] = doc["records"]
        return len(records) >= 3

    await eventually(stored)
    assert [r["request_id"] for r in records] == ["pg-2", "pg-1", "pg-0"]
    assert all(r["features"] == BODY and r["prediction"] == 1 and r["status"] == 200 for r in records)
    status, doc = await get_json(http, admin_url(sidecar, "/readyz"))
    assert (status, doc["checks"]) == (200, {"upstream": "ok", "store": "ok"})
    m: Scrape = await scrape(http, sidecar)
    assert m.value("driftcar_records_written_total") == 3
    assert m.value(REQUESTS, route="/predict", status="200") == 3
