"""Alerts end to end on a real sidecar: rules fire on report runs, the outbox survives a receiver outage and a
driftcar restart, and the receiver gets each notification exactly once, in order, signed.

Windows: A shifted (the rule fires), B steady (it resolves), C shifted again (it fires again). The receiver is
down while A and B are judged; driftcar is restarted before C; then the receiver comes up.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from alerts.signing import IDEMPOTENCY_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER, SignatureError, verify
from sidecar.server import Sidecar, free_port
from tests.alerts.windows import T0, N, fill_three_windows, sidecar_config
from tests.sidecar.conftest import SidecarFactory, admin_url

SECRET = "a-webhook-secret-of-some-length"
RECEIVED = web.AppKey("received", list[dict[str, Any]])
SEEN = web.AppKey("seen", set[str])


def _receiver() -> web.Application:
    """Verifies each request's signature and drops repeats by Idempotency-Key, as a consumer should."""
    app = web.Application()
    app[RECEIVED] = []
    app[SEEN] = set()

    async def hook(request: web.Request) -> web.Response:
        body = await request.read()
        try:
            verify(
                [SECRET.encode()],
                request.headers.get(TIMESTAMP_HEADER),
                request.headers.get(SIGNATURE_HEADER),
                body,
            )
        except SignatureError as exc:
            return web.json_response({"error": str(exc)}, status=401)
        key = request.headers[IDEMPOTENCY_HEADER]
        if key not in request.app[SEEN]:
            request.app[SEEN].add(key)
            request.app[RECEIVED].append(orjson.loads(body))
        return web.json_response({"ok": True})

    app.router.add_post("/hook", hook)
    return app


@pytest.fixture
async def filled_db(tmp_path: Path) -> str:
    """Windows A (x0 shifted), B (steady), C (shifted) and a reference."""
    return await fill_three_windows(tmp_path)


def _config(receiver_port: int, database_url: str) -> dict[str, Any]:
    webhook = {
        "name": "ops",
        "url": f"http://127.0.0.1:{receiver_port}/hook",
        "secret_env": "TEST_HOOK_SECRET",
    }
    return sidecar_config(database_url, webhook, 0.3)


async def _run(http: aiohttp.ClientSession, sidecar: Sidecar, start: float) -> dict[str, Any]:
    params = {"from": str(start), "to": str(start + N)}
    async with http.post(admin_url(sidecar, "/api/monitors/m/run"), params=params) as resp:
        doc: dict[str, Any] = await resp.json()
        assert resp.status == 200 and doc["status"] == "ok", doc
        return doc


async def _gate(http: aiohttp.ClientSession, sidecar: Sidecar, severity: str = "warning") -> tuple[int, Any]:
    async with http.get(admin_url(sidecar, "/gate/m"), params={"severity": severity}) as resp:
        return resp.status, await resp.json()


async def test_outage_and_restart_deliver_each_notification_once_in_order(
    make_sidecar: SidecarFactory,
    upstream: TestServer,
    filled_db: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TEST_HOOK_SECRET", SECRET)
    port = free_port()
    config = _config(port, filled_db)
    async with aiohttp.ClientSession() as http:
        first = await make_sidecar(str(upstream.make_url("")), **config)
        assert (await _gate(http, first))[0] == 200
        await _run(http, first, T0)  # A: x0 shifted: fires
        status, doc = await _gate(http, first)
        assert status == 503 and doc["status"] == "fail"
        assert [r["rule"] for r in doc["reasons"]] == ["x0-drift"]
        assert doc["reasons"][0]["details"][0]["column"] == "x0"
        assert (await _gate(http, first, "critical"))[0] == 503
        await _run(http, first, T0 + N)  # B: steady: resolves
        assert (await _gate(http, first))[0] == 200
        await asyncio.sleep(0.5)  # the dispatcher tries the dead receiver a few times
        async with http.get(admin_url(first, "/api/alerts/outbox")) as resp:
            outbox = await resp.json()
        assert outbox["counts"] == {"pending": 2}
        attempts = {n["event_id"]: n["attempts"] for n in outbox["notifications"]}
        assert (
            min(attempts.values()) == 0 and max(attempts.values()) >= 2
        )  # the second waits behind the first
        await first.stop()

        second = await make_sidecar(str(upstream.make_url("")), **config)
        await _run(http, second, T0 + 2 * N)  # C: shifted again: fires again
        assert (await _gate(http, second))[0] == 503
        receiver = TestServer(_receiver(), host="127.0.0.1", port=port)
        await receiver.start_server()
        try:
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline and len(receiver.app[RECEIVED]) < 3:
                await asyncio.sleep(0.05)
            await asyncio.sleep(0.3)  # nothing more may arrive
            received: list[dict[str, Any]] = receiver.app[RECEIVED].copy()
        finally:
            await receiver.close()
        async with http.get(admin_url(second, "/api/alerts/outbox")) as resp:
            outbox = await resp.json()
        async with http.get(admin_url(second, "/api/alerts")) as resp:
            (state,) = (await resp.json())["alerts"]

    assert [(n["status"], n["rule"]) for n in received] == [
        ("firing", "x0-drift"),
        ("resolved", "x0-drift"),
        ("firing", "x0-drift"),
    ]
    assert len({n["id"] for n in received}) == 3 and len({n["fingerprint"] for n in received}) == 1
    assert outbox["counts"] == {"delivered": 3}
    first_alert, resolved, again = received
    assert first_alert["severity"] == "critical" and first_alert["action"] == "rollback"
    assert first_alert["labels"] == {"team": "risk"} and first_alert["model"] == {"name": "m", "version": "7"}
    assert first_alert["details"][0]["column"] == "x0" and "x0" in first_alert["summary"]
    assert first_alert["run"]["report_url"].endswith(f"/reports/{first_alert['run']['id']}")
    assert resolved["ends_at"] is not None and again["starts_at"] > first_alert["starts_at"]
    assert state["status"] == "firing" and state["notifications"] == 3


async def test_a_missing_secret_stops_startup(
    make_sidecar: SidecarFactory, upstream: TestServer, filled_db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sidecar.errors import ConfigError

    monkeypatch.delenv("TEST_HOOK_SECRET", raising=False)
    with pytest.raises(
        ConfigError, match=r"alerts\.webhooks 'ops': environment variable TEST_HOOK_SECRET is not set"
    ):
        await make_sidecar(str(upstream.make_url("")), **_config(free_port(), filled_db))
