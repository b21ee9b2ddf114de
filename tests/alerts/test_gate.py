"""The rollout gate on a real sidecar: pass/fail by severity, for Argo Rollouts (GET) and Flagger (POST with its
webhook payload), with the firing alerts as reasons; and the alerts API's input checks."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from alerts.config import AlertRule, AlertsSettings
from alerts.state import RunFacts, apply_run
from sidecar.server import Sidecar
from storage.engine import create_engine
from tests.alerts.summaries import shifted_summary
from tests.sidecar.conftest import SidecarFactory, admin_url

T0 = 1_790_000_000.0
RULES: list[dict[str, Any]] = [
    {"name": "income-drift", "when": "column_drift", "columns": ["income"], "severity": "warning"},
    {
        "name": "parity",
        "when": "fairness",
        "metric": "demographic_parity_ratio",
        "below": 0.8,
        "severity": "critical",
        "action": "rollback",
    },
]
FLAGGER_PAYLOAD = {"name": "podinfo", "namespace": "test", "phase": "Progressing", "metadata": {"k": "v"}}


async def _fire(database_url: str, names: list[str], window: int) -> None:
    """Judge one window with these rules on the shifted summary (they fire), as a run would."""
    rules = [AlertRule.model_validate(r) for r in RULES if r["name"] in names]
    engine = create_engine(database_url)
    try:
        async with engine.begin() as conn:
            facts = RunFacts(window + 1, T0 + window * 3600, T0 + (window + 1) * 3600, "credit", None)
            await apply_run(conn, "loans", rules, facts, shifted_summary(), None, AlertsSettings(), T0 + 9e4)
    finally:
        await engine.dispose()


async def _gate(
    http: aiohttp.ClientSession, sidecar: Sidecar, method: str = "GET", **params: str
) -> tuple[int, dict[str, Any]]:
    payload = FLAGGER_PAYLOAD if method == "POST" else None
    async with http.request(method, admin_url(sidecar, "/gate/loans"), params=params, json=payload) as resp:
        doc: dict[str, Any] = await resp.json()
        return resp.status, doc


@pytest.fixture
async def sidecar(make_sidecar: SidecarFactory, upstream: TestServer, sqlite_url: str) -> Sidecar:
    """A sidecar with monitor `loans` and its two rules, on `sqlite_url`."""
    monitor = {
        "name": "loans",
        "model": "credit",
        "window": {"minutes": 60},
        "schedule": {"every": 3600, "enabled": False},
        "alerts": RULES,
    }
    return await make_sidecar(str(upstream.make_url("")), monitors=[monitor])


async def _both(http: aiohttp.ClientSession, sidecar: Sidecar, **params: str) -> tuple[int, dict[str, Any]]:
    """Argo Rollouts' GET and Flagger's POST get the same answer; return it."""
    got = await _gate(http, sidecar, "GET", **params)
    assert await _gate(http, sidecar, "POST", **params) == got
    return got


async def test_the_gate_fails_while_an_alert_of_the_severity_fires(sidecar: Sidecar, sqlite_url: str) -> None:
    async with aiohttp.ClientSession() as http:
        status, doc = await _both(http, sidecar)
        assert (status, doc) == (
            200,
            {"monitor": "loans", "severity": "warning", "status": "pass", "reasons": []},
        )

        await _fire(sqlite_url, ["income-drift"], 0)
        status, doc = await _both(http, sidecar)
        assert status == 503 and doc["status"] == "fail"
        (reason,) = doc["reasons"]
        assert (reason["rule"], reason["severity"], reason["action"], reason["run"]) == (
            "income-drift",
            "warning",
            "notify",
            1,
        )
        assert [d["column"] for d in reason["details"]] == ["income"]
        assert (await _both(http, sidecar, severity="info"))[0] == 503
        assert (await _both(http, sidecar, severity="critical"))[0] == 200

        await _fire(sqlite_url, ["parity"], 1)
        status, doc = await _both(http, sidecar, severity="critical")
        assert status == 503 and [r["rule"] for r in doc["reasons"]] == ["parity"]
        (detail,) = doc["reasons"][0]["details"]
        assert (detail["attribute"], detail["group"], detail["threshold"]) == ("sex", "female", 0.8)
        assert [r["rule"] for r in (await _both(http, sidecar))[1]["reasons"]] == ["income-drift", "parity"]


BAD_REQUESTS = [
    ("/gate/unknown", 404, "no monitor named 'unknown'"),
    ("/gate/loans?severity=fatal", 400, "severity must be one of info, warning, critical"),
    ("/api/alerts?status=burning", 400, "status must be one of pending, firing, resolved"),
    ("/api/alerts/outbox?status=lost", 400, "status must be one of pending, delivered, dead"),
    ("/api/alerts/outbox?limit=0", 400, "limit must be an integer between 1 and 1000"),
]


async def test_bad_requests_say_what_is_wrong(sidecar: Sidecar) -> None:
    async with aiohttp.ClientSession() as http:
        for path, status, error in BAD_REQUESTS:
            async with http.get(admin_url(sidecar, path)) as resp:
                assert (resp.status, await resp.json()) == (status, {"error": error}), path


@pytest.mark.parametrize(("open_gate", "gate_status"), [(False, 401), (True, 200)])
async def test_the_gate_can_be_opened_to_callers_without_the_token(
    open_gate: bool, gate_status: int, make_sidecar: SidecarFactory, upstream: TestServer
) -> None:
    monitor = {"name": "loans", "window": {"minutes": 60}, "schedule": {"every": 3600, "enabled": False}}
    guarded = await make_sidecar(
        str(upstream.make_url("")),
        monitors=[monitor],
        admin_token="t0ken-t0ken",
        alerts={"open_gate": open_gate},
    )
    async with aiohttp.ClientSession() as http:
        async with http.post(admin_url(guarded, "/gate/loans"), json=FLAGGER_PAYLOAD) as resp:
            assert resp.status == gate_status
        async with http.get(admin_url(guarded, "/api/alerts")) as resp:
            assert resp.status == 401  # everything else still needs the token
