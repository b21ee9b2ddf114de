"""Secrets never reach logs, API bodies or the database: the real `driftcar serve` at DEBUG, with failures.

The database password, the admin token (read from a file), a webhook's signing secret and the redaction salt
are given to a `driftcar serve` process; then a webhook delivery is refused, a monitor run is asked for, the
database is dropped under the running process, and a second process fails to start on a database that does
not exist. Every line the processes wrote, every admin API body and every stored row is searched for each
secret.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import pytest
import yaml
from sqlalchemy.engine import make_url

from alerts.payload import AlertEvent
from sidecar.server import free_port
from storage.engine import create_engine
from storage.schema import alert_outbox
from tests.conftest import fresh_pg_database
from tests.security.running import serve_env, start_serve, stop_serve, wait_ready

PASSWORD = "s3cr3t-pw-7d1f"
ADMIN_TOKEN = "admin-t0ken-9b2c-from-a-file"
WEBHOOK_SECRET = "webhook-s3cret-5e8a-at-least-16"
SALT = "redaction-salt-3f6d"
SECRETS = (PASSWORD, ADMIN_TOKEN, WEBHOOK_SECRET, SALT)
AUTH = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


def assert_no_secret(text: str, where: str) -> None:
    """None of the secrets occurs in `text`."""
    found = [s for s in SECRETS if s in text]
    assert not found, f"{where} holds {found}"


@pytest.fixture
async def pg_url() -> AsyncIterator[str]:
    """A fresh PostgreSQL database, as a URL carrying a password (trust auth accepts any)."""
    async with fresh_pg_database() as url:
        yield make_url(url).set(drivername="postgresql", password=PASSWORD).render_as_string(hide_password=False)


def _config(tmp_path: Path, upstream_port: int, hook_port: int) -> Path:
    config = {
        "upstream": f"http://127.0.0.1:{upstream_port}",
        "host": "127.0.0.1",
        "capture": {"spool_dir": str(tmp_path / "spool")},
        "routes": [{"path": "/predict", "redact": ["ssn"]}],
        "monitors": [{"name": "m", "window": {"records": 100}, "schedule": {"every": "1h"}}],
        "alerts": {
            "webhooks": [
                {"name": "ops", "url": f"http://127.0.0.1:{hook_port}/hook", "secret_env": "TEST_HOOK_SECRET"}
            ],
            "delivery": {"poll": 0.2, "initial_backoff": 0.1, "max_backoff": 0.2},
        },
        "reports": {"workers": 1},
    }
    path = tmp_path / "driftcar.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


async def _queue_notification(url: str) -> None:
    """A pending notification for the `ops` webhook, as a monitor run with a firing rule would write it."""
    now = time.time()
    event = AlertEvent(
        id="evt-1", status="firing", fingerprint="0" * 64, monitor="m", rule="r", severity="warning",
        action="notify", summary="r fires", starts_at=now, ends_at=None, run=None, created_at=now,
    )
    engine = create_engine(url)
    try:
        async with engine.begin() as conn:
            await conn.execute(
                alert_outbox.insert().values(
                    event_id=event.id, destination="ops", monitor="m", event=event.to_json(), created_at=now,
                    next_attempt_at=now, attempts=0, status="pending",
                )
            )
    finally:
        await engine.dispose()


async def _dump(url: str) -> str:
    """Every row of every table of the database, as PostgreSQL's text form of the row."""
    conn = await asyncpg.connect(url, timeout=10)
    try:
        tables = await conn.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        rows = []
        for (name,) in tables:
            rows += [r[0] for r in await conn.fetch(f'SELECT t::text FROM "{name}" t')]
        return "\n".join(rows)
    finally:
        await conn.close()


async def _drop(url: str) -> None:
    database = make_url(url).database
    admin_url = make_url(url).set(database="test").render_as_string(hide_password=False)
    conn = await asyncpg.connect(admin_url, timeout=10)
    try:
        await conn.execute(f'DROP DATABASE "{database}" WITH (FORCE)')
    finally:
        await conn.close()


async def _body(http: aiohttp.ClientSession, method: str, url: str, **kw: Any) -> tuple[int, str]:
    async with http.request(method, url, **kw) as resp:
        return resp.status, await resp.text()


async def _eventually_delivered_once(http: aiohttp.ClientSession, admin: str) -> dict[str, Any]:
    deadline = time.monotonic() + 30
    while True:
        async with http.get(f"{admin}/api/alerts/outbox", headers=AUTH) as resp:
            doc: dict[str, Any] = await resp.json()
        notes = doc["notifications"]
        if (notes and notes[0]["attempts"] >= 1) or time.monotonic() > deadline:
            assert notes and notes[0]["attempts"] >= 1, doc
            return doc
        await asyncio.sleep(0.1)


@pytest.mark.postgres
@pytest.mark.slow
async def test_no_secret_in_logs_bodies_or_rows_when_things_fail(pg_url: str, tmp_path: Path) -> None:
    token_file = tmp_path / "admin-token"
    token_file.write_text(ADMIN_TOKEN + "\n")
    proxy_port, admin_port = free_port(), free_port()
    config = _config(tmp_path, upstream_port=free_port(), hook_port=free_port())
    env = serve_env(
        DRIFTCAR_DATABASE_URL=pg_url,
        DRIFTCAR_ADMIN_TOKEN_FILE=str(token_file),
        DRIFTCAR_CAPTURE__REDACTION_SALT=SALT,
        TEST_HOOK_SECRET=WEBHOOK_SECRET,
    )
    log = tmp_path / "serve.log"
    process = start_serve(["--config", str(config), "--port", str(proxy_port), "--admin-port", str(admin_port)], env, log)
    admin = f"http://127.0.0.1:{admin_port}"
    bodies: dict[str, str] = {}
    try:
        await asyncio.to_thread(wait_ready, process, admin_port, log)
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as http:
            # The token came from the file, its newline stripped.
            assert (await _body(http, "GET", f"{admin}/api/records"))[0] == 401
            assert (await _body(http, "GET", f"{admin}/api/records", headers=AUTH))[0] == 200
            # The upstream is down: a 502 through the proxy, with a redacted field in the request.
            status, bodies["proxy 502"] = await _body(
                http, "POST", f"http://127.0.0.1:{proxy_port}/predict", json={"ssn": "078-05-1120", "x": 1}
            )
            assert status == 502
            await _queue_notification(pg_url)
            doc = await _eventually_delivered_once(http, admin)
            assert "Cannot connect" in str(doc["notifications"][0]["last_error"])
            status, bodies["run"] = await _body(http, "POST", f"{admin}/api/monitors/m/run", headers=AUTH)
            assert status == 200 and '"skipped"' in bodies["run"]
            for path in ("/readyz", "/metrics", "/api/monitors", "/api/monitors/m/runs", "/api/alerts/outbox",
                         "/api/records", "/reports", "/api/monitors/m/reports/latest"):
                bodies[path] = (await _body(http, "GET", admin + path, headers=AUTH))[1]
            bodies["401"] = (await _body(http, "GET", f"{admin}/api/records"))[1]
            stored = await _dump(pg_url)
            assert "078-05-1120" not in stored
            assert_no_secret(stored, "the database")

            await _drop(pg_url)  # the database is gone under the running process
            status, bodies["readyz down"] = await _body(http, "GET", f"{admin}/readyz")
            assert status == 503 and "not writable" in bodies["readyz down"]
            for path in ("/api/records", "/api/alerts", "/api/monitors/m/runs", "/reports"):
                status, bodies[f"{path} down"] = await _body(http, "GET", admin + path, headers=AUTH)
                assert status == 503, (path, bodies[f"{path} down"])
            status, bodies["run down"] = await _body(http, "POST", f"{admin}/api/monitors/m/run", headers=AUTH)
            assert status >= 500
    finally:
        code = await asyncio.to_thread(stop_serve, process)
    output = log.read_text()
    assert code == 0, output[-3000:]
    for where, text in bodies.items():
        assert_no_secret(text, where)
    # The failures did happen and were logged (at DEBUG, everything is), without any secret.
    assert "alert evt-1 to ops failed" in output and "DEBUG" in output
    assert_no_secret(output, "the process's log")


@pytest.mark.postgres
@pytest.mark.slow
async def test_a_database_that_does_not_exist_fails_startup_without_the_password(
    pg_url: str, tmp_path: Path
) -> None:
    missing = make_url(pg_url).set(database="driftcar_no_such_db").render_as_string(hide_password=False)
    log = tmp_path / "serve.log"
    args = ["--upstream", "http://127.0.0.1:9", "--port", "0", "--admin-port", "0"]
    process = start_serve(args, serve_env(DRIFTCAR_DATABASE_URL=missing), log)
    code = await asyncio.to_thread(process.wait, 60)
    output = log.read_text()
    assert code != 0
    assert 'database "driftcar_no_such_db" does not exist' in output
    assert PASSWORD not in output
