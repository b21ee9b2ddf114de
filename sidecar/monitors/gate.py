"""The rollout gate and the alerts API on the admin port.

GET /gate/{monitor}[?severity=warning]   200 when no alert of that severity or worse fires, else 503 with
                                         the reasons (an Argo Rollouts web metric; also POST, since Flagger
                                         calls its webhooks with POST and a JSON body, which is ignored)
GET /api/alerts[?monitor=&status=]       alert states
GET /api/alerts/outbox[?status=&limit=]  notifications and their delivery state
GET /api/alerts/outbox/{id}/attempts     the delivery log of one notification
"""

from __future__ import annotations

from dataclasses import asdict
from typing import get_args

from aiohttp import web

from alerts.payload import Severity
from alerts.store import AlertStore
from sidecar.errors import BadRequest, NotFound

ALERT_STORE = web.AppKey("alert_store", AlertStore)


def _json(data: object, status: int = 200) -> web.Response:
    from sidecar.admin import json_response

    return json_response(data, status)


def _severity(request: web.Request, default: Severity) -> Severity:
    raw = request.query.get("severity", default)
    if raw not in get_args(Severity):
        raise BadRequest(f"severity must be one of {', '.join(get_args(Severity))}")
    return raw  # type: ignore[return-value]


async def gate(request: web.Request) -> web.Response:
    """Pass (200) unless an alert of the chosen severity or worse is firing for the monitor (503)."""
    from sidecar.app import SETTINGS

    name = request.match_info["monitor"]
    if request.app[SETTINGS].monitor(name) is None:
        raise NotFound(f"no monitor named {name!r}")
    severity = _severity(request, "warning")
    firing = await request.app[ALERT_STORE].states(name, "firing", severity)
    body = {
        "monitor": name,
        "severity": severity,
        "status": "fail" if firing else "pass",
        "reasons": [
            {
                "rule": a.rule,
                "severity": a.severity,
                "action": a.action,
                "since": a.started_at,
                "run": a.last_run_id,
                "details": a.details or [],
            }
            for a in firing
        ],
    }
    return _json(body, status=503 if firing else 200)


async def list_alerts(request: web.Request) -> web.Response:
    """Alert states: `?monitor=`, `?status=pending|firing|resolved`."""
    status = request.query.get("status") or None
    if status not in (None, "pending", "firing", "resolved"):
        raise BadRequest("status must be one of pending, firing, resolved")
    states = await request.app[ALERT_STORE].states(request.query.get("monitor") or None, status)
    return _json({"alerts": [asdict(s) for s in states]})


async def list_outbox(request: web.Request) -> web.Response:
    """Notifications, newest first: `?status=pending|delivered|dead`, `?limit=` (1-1000, default 100)."""
    status = request.query.get("status") or None
    if status not in (None, "pending", "delivered", "dead"):
        raise BadRequest("status must be one of pending, delivered, dead")
    raw = request.query.get("limit", "100")
    if not raw.isdigit() or not 1 <= int(raw) <= 1000:
        raise BadRequest("limit must be an integer between 1 and 1000")
    store = request.app[ALERT_STORE]
    entries = await store.outbox(status, int(raw))
    return _json({"counts": await store.counts(), "notifications": [asdict(e) for e in entries]})


async def attempts(request: web.Request) -> web.Response:
    """The delivery attempts of one notification."""
    outbox_id = int(request.match_info["id"])
    return _json({"attempts": await request.app[ALERT_STORE].attempts(outbox_id)})


def setup_gate_routes(app: web.Application) -> None:
    """Add the gate and the alerts API (the store is set when the engine exists)."""
    app.router.add_get("/gate/{monitor}", gate)
    app.router.add_post("/gate/{monitor}", gate)
    app.router.add_get("/api/alerts", list_alerts)
    app.router.add_get("/api/alerts/outbox", list_outbox)
    app.router.add_get(r"/api/alerts/outbox/{id:\d+}/attempts", attempts)
