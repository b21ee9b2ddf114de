"""driftcar's `alertmanager_api` sink against a real Prometheus Alertmanager (Debian's prometheus-alertmanager,
installed by scripts/ensure-services.sh): the alert shows in Alertmanager with driftcar's labels and
annotations, Alertmanager's own routing delivers it (webhook v4) to a receiver run here, a steady run resolves
it there too, and a silence on the monitor suppresses the next firing.

Windows: A shifted (fires), B steady (resolves), C shifted (fires again, under a silence).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest
import yaml
from aiohttp import web
from aiohttp.test_utils import TestServer

from alerts.payload import AlertEvent, alertmanager_webhook_body
from sidecar.server import Sidecar
from tests.alerts.windows import T0, N, fill_three_windows, sidecar_config
from tests.sidecar.conftest import SidecarFactory, admin_url
from tests.sidecar.prom import binary, eventually, serving

NOTIFICATIONS = web.AppKey("notifications", list[dict[str, Any]])
RULE_LABELS = {
    "alertname": "driftcar_x0-drift",
    "monitor": "m",
    "rule": "x0-drift",
    "severity": "critical",
    "action": "rollback",
    "model": "m",
    "model_version": "7",
    "team": "risk",
}


@dataclass
class Alertmanager:
    """A running Alertmanager and the webhook receiver its route sends to."""

    url: str
    receiver: TestServer

    @property
    def notifications(self) -> list[dict[str, Any]]:
        """Alertmanager's webhook bodies (version 4), in arrival order."""
        return self.receiver.app[NOTIFICATIONS]


def _receiver() -> web.Application:
    app = web.Application()
    app[NOTIFICATIONS] = []

    async def hook(request: web.Request) -> web.Response:
        request.app[NOTIFICATIONS].append(orjson.loads(await request.read()))
        return web.Response(text="ok")

    app.router.add_post("/am", hook)
    return app


@pytest.fixture
async def alertmanager(tmp_path: Path) -> AsyncIterator[Alertmanager]:
    """Alertmanager on 127.0.0.1 without clustering, routing everything at once to the local receiver."""
    executable = binary("prometheus-alertmanager", "alertmanager", package="prometheus-alertmanager")
    receiver = TestServer(_receiver(), host="127.0.0.1")
    await receiver.start_server()
    config = {
        "route": {
            "receiver": "hook",
            "group_by": ["alertname", "monitor"],
            "group_wait": "0s",
            "group_interval": "1s",
            "repeat_interval": "1h",
        },
        "receivers": [
            {
                "name": "hook",
                "webhook_configs": [{"url": str(receiver.make_url("/am")), "send_resolved": True}],
            }
        ],
    }
    (tmp_path / "alertmanager.yml").write_text(yaml.safe_dump(config))
    try:
        async with serving(
            executable,
            f"--config.file={tmp_path / 'alertmanager.yml'}",
            f"--storage.path={tmp_path / 'am-data'}",
            "--cluster.listen-address=",
            log=tmp_path / "alertmanager.log",
        ) as url:
            yield Alertmanager(url, receiver)
    finally:
        await receiver.close()


@pytest.fixture
async def filled_db(tmp_path: Path) -> str:
    """Windows A (x0 shifted), B (steady), C (shifted) and a reference."""
    return await fill_three_windows(tmp_path)


def _config(alertmanager_url: str, database_url: str) -> dict[str, Any]:
    return sidecar_config(
        database_url,
        {"name": "am", "url": alertmanager_url, "format": "alertmanager_api", "timeout": 5},
        0.5,
    )


async def _run(http: aiohttp.ClientSession, sidecar: Sidecar, start: float) -> int:
    params = {"from": str(start), "to": str(start + N)}
    async with http.post(admin_url(sidecar, "/api/monitors/m/run"), params=params) as resp:
        doc = await resp.json()
        assert resp.status == 200 and doc["status"] == "ok", doc
    run_id: int = doc["run"]["id"]
    return run_id


async def _am_alerts(http: aiohttp.ClientSession, am: Alertmanager) -> list[dict[str, Any]]:
    async with http.get(f"{am.url}/api/v2/alerts", params={"filter": 'monitor="m"'}) as resp:
        assert resp.status == 200, await resp.text()
        found: list[dict[str, Any]] = await resp.json()
        return found


async def _gate(http: aiohttp.ClientSession, sidecar: Sidecar, method: str) -> int:
    # Flagger POSTs its webhook payload; Argo Rollouts' web metric GETs.
    payload = {"name": "podinfo", "namespace": "test", "phase": "Progressing", "metadata": {}}
    params = {"severity": "critical"}
    body = payload if method == "POST" else None
    async with http.request(method, admin_url(sidecar, "/gate/m"), params=params, json=body) as resp:
        return resp.status


def _ts(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


async def test_alertmanager_routes_resolves_and_silences_driftcar_alerts(
    alertmanager: Alertmanager, make_sidecar: SidecarFactory, upstream: TestServer, filled_db: str
) -> None:
    am = alertmanager
    async with aiohttp.ClientSession() as http:
        sidecar = await make_sidecar(str(upstream.make_url("")), **_config(am.url, filled_db))
        report_base = admin_url(sidecar, "/reports")

        # A: fires. Alertmanager has the alert as driftcar labelled it ...
        run_a = await _run(http, sidecar, T0)

        async def active() -> list[dict[str, Any]]:
            # A new alert is `unprocessed` until Alertmanager's dispatcher has taken it.
            return [a for a in await _am_alerts(http, am) if a["status"]["state"] == "active"]

        (alert,) = await eventually(active, 20.0, "the alert active in Alertmanager")
        assert alert["labels"] == RULE_LABELS
        assert alert["annotations"]["report_url"] == f"{report_base}/{run_a}"
        assert "x0" in alert["annotations"]["summary"] and alert["annotations"]["driftcar_id"]
        assert alert["status"] == {"state": "active", "silencedBy": [], "inhibitedBy": []}
        assert alert["generatorURL"] == f"{report_base}/{run_a}"
        assert _ts(alert["endsAt"]) > time.time() + 600  # re-posted by every run while it fires
        assert [r["name"] for r in alert["receivers"]] == ["hook"]
        assert await _gate(http, sidecar, "GET") == 503 and await _gate(http, sidecar, "POST") == 503

        # ... and routes it to the receiver, in its webhook format (version 4).
        async def firing() -> list[dict[str, Any]]:
            return [n for n in am.notifications if n["status"] == "firing"]

        (notified,) = await eventually(firing, 20.0, "Alertmanager's firing notification")
        assert (notified["version"], notified["receiver"]) == ("4", "hook")
        assert notified["groupLabels"] == {"alertname": "driftcar_x0-drift", "monitor": "m"}
        (routed,) = notified["alerts"]
        assert routed["status"] == "firing" and routed["labels"] == RULE_LABELS
        assert routed["annotations"] == alert["annotations"]
        # driftcar's own `alertmanager_webhook` format has the same shape as what Alertmanager sends.
        own = orjson.loads(alertmanager_webhook_body(_event_from(alert), "hook", am.url))
        assert set(own) == set(notified) and set(own["alerts"][0]) == set(routed)
        assert own["groupKey"] == notified["groupKey"]

        # B: steady. The alert resolves in Alertmanager, which tells the receiver (send_resolved).
        await _run(http, sidecar, T0 + N)

        async def gone() -> bool:
            return not await _am_alerts(http, am)

        await eventually(gone, 20.0, "Alertmanager to drop the resolved alert")

        async def resolved() -> list[dict[str, Any]]:
            return [n for n in am.notifications if n["status"] == "resolved"]

        (resolution,) = await eventually(resolved, 20.0, "Alertmanager's resolved notification")
        (ended,) = resolution["alerts"]
        assert ended["status"] == "resolved" and ended["labels"] == RULE_LABELS
        assert _ts(ended["endsAt"]) <= time.time() and _ts(ended["startsAt"]) == _ts(routed["startsAt"])
        assert await _gate(http, sidecar, "POST") == 200

        # A silence on the monitor: C fires again, Alertmanager suppresses it and notifies nobody.
        now = datetime.now(UTC)
        silence = {
            "matchers": [{"name": "monitor", "value": "m", "isRegex": False, "isEqual": True}],
            "startsAt": now.isoformat(),
            "endsAt": (now + timedelta(hours=1)).isoformat(),
            "createdBy": "driftcar tests",
            "comment": "planned retraining",
        }
        async with http.post(f"{am.url}/api/v2/silences", json=silence) as resp:
            assert resp.status == 200, await resp.text()
            silence_id = (await resp.json())["silenceID"]
        before = len(am.notifications)
        await _run(http, sidecar, T0 + 2 * N)

        async def suppressed() -> list[dict[str, Any]]:
            return [a for a in await _am_alerts(http, am) if a["status"]["state"] == "suppressed"]

        (muted,) = await eventually(suppressed, 20.0, "the new alert to be suppressed")
        assert muted["status"]["silencedBy"] == [silence_id] and muted["labels"] == RULE_LABELS
        await asyncio.sleep(3.0)  # three group intervals: a notification would have gone out by now
        assert len(am.notifications) == before
        # Silences mute notifications, not the alert: the rollout gate still fails.
        assert await _gate(http, sidecar, "GET") == 503


def _event_from(alert: dict[str, Any]) -> AlertEvent:
    """The driftcar event behind an Alertmanager alert (enough of it to render the webhook body)."""
    labels = alert["labels"]
    return AlertEvent(
        id=alert["annotations"]["driftcar_id"],
        status="firing",
        fingerprint=alert["fingerprint"] * 4,
        monitor=labels["monitor"],
        rule=labels["rule"],
        severity=labels["severity"],
        action=labels["action"],
        summary=alert["annotations"]["summary"],
        starts_at=_ts(alert["startsAt"]),
        ends_at=None,
        run=None,
        labels={"team": labels["team"]},
        model=labels["model"],
        model_version=labels["model_version"],
    )
