"""Redaction end to end: redacted values never reach the database files, the rows or the logs.

Traffic with `ssn` and `email` fields goes through the real proxy in both modes (drop, hash) into SQLite and
PostgreSQL; the upstream also quotes the values back in its answers and error bodies. Then the raw SQLite
files (main database, WAL, shared memory), the spool directory, every row of every PostgreSQL table and every
log record captured at DEBUG are searched for the original values.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import orjson
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from sqlalchemy.engine import make_url

from sidecar.server import free_port
from tests.security.running import serve_env, start_serve, stop_serve, wait_ready
from tests.sidecar.conftest import SidecarFactory, proxy_url, wait_records

SSN = "078-05-1120"
EMAIL = "jane.doe.7f3a@example.org"
SECRETS = (SSN, EMAIL, "jane.doe.7f3a", "078051120")
ROW = {"ssn": SSN, "email": EMAIL, "income": 52000, "region": "north"}


async def _predict(request: web.Request) -> web.Response:
    """A model server that quotes its input back: in the answer on success, in the error on failure."""
    doc = orjson.loads(await request.read())
    if request.path.endswith("/reject"):
        detail = f"Value error, '{doc.get('email')}' is not allowed; ssn {doc.get('ssn')} is on a block list"
        return web.json_response({"detail": detail}, status=422)
    if request.path.endswith("/crash"):
        return web.Response(text=f"Traceback: KeyError({doc.get('ssn')!r}) for {doc.get('email')}", status=500)
    return web.json_response({"prediction": 1, "input": doc})


async def _invocations(request: web.Request) -> web.Response:
    await request.read()
    return web.json_response({"predictions": [1, 0]})


@pytest.fixture
async def quoting_upstream() -> AsyncIterator[TestServer]:
    """The upstream that echoes what it receives."""
    app = web.Application()
    app.router.add_post("/predict{tail:.*}", _predict)
    app.router.add_post("/invocations", _invocations)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    yield server
    await server.close()


async def _send_traffic(http: aiohttp.ClientSession, base: str) -> int:
    """Requests carrying the values in every shape capture reads; returns how many records they make."""
    rows = 0
    for path in ("/predict", "/predict/reject", "/predict/crash"):
        async with http.post(base + path, json=ROW) as resp:
            await resp.read()
        rows += 1
    async with http.post(base + "/predict", json={"applicant": ROW, "income": 1}) as resp:
        await resp.read()
    rows += 1
    split = {
        "dataframe_split": {
            "columns": ["ssn", "email", "income"],
            "data": [[SSN, EMAIL, 1], ["123-45-6789", "other@example.org", 2]],
        }
    }
    async with http.post(base + "/invocations", json=split) as resp:
        await resp.read()
    rows += 2
    # A body capture cannot parse: no field is known, so nothing of it may be stored or logged at all.
    broken = orjson.dumps(ROW)[:-9]
    async with http.post(base + "/invocations", data=broken, headers={"Content-Type": "application/json"}) as resp:
        await resp.read()
    rows += 2  # one per prediction in the answer
    return rows


def _search(blob: bytes, where: str) -> None:
    found = [s for s in SECRETS if s.encode() in blob]
    assert not found, f"{where} holds {found}"


async def _pg_rows(url: str) -> bytes:
    dsn = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    conn = await asyncpg.connect(dsn, timeout=10)
    try:
        out = []
        for (table,) in await conn.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'public'"):
            out += [r[0] for r in await conn.fetch(f'SELECT t::text FROM "{table}" t')]
        return "\n".join(out).encode()
    finally:
        await conn.close()


@pytest.mark.parametrize("mode", ["drop", "hash"])
async def test_redacted_values_are_nowhere_in_the_database_or_the_logs(
    mode: str,
    database_url: str,
    make_sidecar: SidecarFactory,
    quoting_upstream: TestServer,
    http: aiohttp.ClientSession,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    sidecar = await make_sidecar(
        str(quoting_upstream.make_url("")),
        database_url=database_url,
        routes=[{"path": "/*", "redact": ["ssn", "email"], "redact_mode": mode}],
    )
    expected = await _send_traffic(http, proxy_url(sidecar, ""))
    records = await wait_records(http, sidecar, expected)
    assert len(records) == expected
    # The records are there and useful: the other features are kept; the redacted ones dropped or digested.
    by_protocol: dict[str, list[dict[str, Any]]] = {}
    for r in records:
        by_protocol.setdefault(r["protocol"], []).append(r)
    assert {r["features"]["income"] for r in by_protocol["mlflow"] if r["features"]} == {1, 2}
    for r in records:
        features = r["features"] or {}
        redacted = [features[k] for k in ("ssn", "email") if k in features]
        if mode == "drop" or not features:
            assert redacted == []
        elif features.get("region") == "north" or r["protocol"] == "mlflow":
            assert len(redacted) == 2 and all(str(v).startswith("sha256:") for v in redacted)
    marker = "[redacted]" if mode == "drop" else "sha256:"
    echoed = [r["error"] for r in records if r["status"] in (422, 500)]
    assert len(echoed) == 2 and all(marker in e for e in echoed), echoed
    api = orjson.dumps(records)
    _search(api, "the records API")

    if database_url.startswith("sqlite"):
        path = Path(make_url(database_url).database or "")
        files = [p for p in path.parent.glob(path.name + "*")]
        assert path in files
        for file in files:
            _search(file.read_bytes(), str(file.name))
    else:
        _search(await _pg_rows(database_url), "PostgreSQL's rows")
    for file in (tmp_path / "spool").rglob("*"):
        if file.is_file():
            _search(file.read_bytes(), f"spool file {file.name}")
    await asyncio.sleep(0)  # let the capture tasks log what they log for this traffic
    logged = "\n".join(
        f"{r.getMessage()} {r.exc_text or ''} {getattr(r, 'request_id', '')}" for r in caplog.records
    )
    _search(logged.encode("utf-8", "surrogateescape"), "the DEBUG log")


@pytest.mark.slow
async def test_captured_values_are_not_logged_at_debug_by_driftcar_serve(
    quoting_upstream: TestServer, http: aiohttp.ClientSession, tmp_path: Path
) -> None:
    # No redaction here: the values are stored (that is capture), but no log line may carry them.
    marker = "payload-marker-51c2"
    proxy_port, admin_port = free_port(), free_port()
    args = [
        "--upstream", str(quoting_upstream.make_url("")).rstrip("/"), "--host", "127.0.0.1",
        "--port", str(proxy_port), "--admin-port", str(admin_port),
        "--database-url", f"sqlite:///{tmp_path / 'driftcar.db'}",
    ]
    log = tmp_path / "serve.log"
    process = start_serve(args, serve_env(DRIFTCAR_CAPTURE__SPOOL_DIR=str(tmp_path / "spool")), log)
    try:
        await asyncio.to_thread(wait_ready, process, admin_port, log)
        for path in ("/predict", "/predict/reject"):
            async with http.post(f"http://127.0.0.1:{proxy_port}{path}", json={"ssn": marker, "x": 1}) as resp:
                await resp.read()
        async with asyncio.timeout(30):
            while True:
                async with http.get(f"http://127.0.0.1:{admin_port}/api/records") as resp:
                    stored = await resp.text()
                if stored.count(marker) >= 2:
                    break
                await asyncio.sleep(0.1)
    finally:
        assert await asyncio.to_thread(stop_serve, process) == 0
    output = log.read_text()
    assert " DEBUG " in output
    assert marker not in output


@pytest.mark.parametrize(
    "target", [b"/x/../predict", b"/%70redict", b"/./predict", b"//predict", b"/predict/", b"/predict/.", b"/v/%2e%2e/predict"]
)
async def test_a_path_spelled_differently_still_gets_the_routes_redaction(
    target: bytes,
    make_sidecar: SidecarFactory,
    quoting_upstream: TestServer,
    http: aiohttp.ClientSession,
) -> None:
    # The upstream may resolve these to /predict (aiohttp does for some), and a failed request is recorded too.
    sidecar = await make_sidecar(
        str(quoting_upstream.make_url("")), routes=[{"path": "/predict", "redact": ["ssn", "email"]}]
    )
    body = orjson.dumps(ROW)
    reader, writer = await asyncio.open_connection("127.0.0.1", sidecar.port)
    writer.write(
        b"POST %s HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: %d\r\n"
        b"Connection: close\r\n\r\n%s" % (target, len(body), body)
    )
    async with asyncio.timeout(10):
        await reader.read()
    writer.close()
    (record,) = await wait_records(http, sidecar, 1)
    assert record["route"] == target.decode()  # the record keeps the path as sent
    assert record["features"]["income"] == 52000
    _search(orjson.dumps(record), f"the record of {target!r}")
