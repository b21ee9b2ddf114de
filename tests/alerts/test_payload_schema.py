"""docs/alert-payload.schema.json describes driftcar's payload (version 1) exactly: every notification that
`apply_run` queues for real report summaries, as the dispatcher sends it, validates (formats included), and
payloads that break the contract do not."""

from __future__ import annotations

import copy
import json
import re
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import orjson
import pytest
from jsonschema import Draft202012Validator, FormatChecker
from sqlalchemy.ext.asyncio import AsyncEngine

from alerts.config import AlertRule, AlertsSettings
from alerts.dispatcher import request_for
from alerts.payload import AlertEvent
from alerts.rules import Operational
from alerts.state import RunFacts, apply_run
from sidecar.reports import ReportSummary
from sidecar.reports.flags import error_flags
from sidecar.reports.summary import SectionError
from storage.engine import create_engine
from storage.migrate import upgrade
from tests.alerts.summaries import shifted_summary, steady_summary

SCHEMA_PATH = Path(__file__).resolve().parents[2] / "docs" / "alert-payload.schema.json"
T0 = 1_790_000_000.0
_RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")
RULES: list[dict[str, Any]] = [
    {"name": "dataset", "when": "dataset_drift"},
    {"name": "income", "when": "column_drift", "columns": ["income"], "labels": {"team": "risk"}},
    {"name": "prediction", "when": "prediction_drift", "severity": "critical", "action": "retrain"},
    {"name": "quality", "when": "data_quality"},
    {"name": "parity", "when": "fairness", "metric": "demographic_parity_ratio", "below": 0.8},
    {"name": "fairness-flags", "when": "fairness", "attribute": "sex"},
    {"name": "bias.drift", "when": "bias_drift", "action": "rollback"},
    {"name": "sections", "when": "report_error", "severity": "info"},
    {"name": "errors", "when": "error_rate", "above": 0.01, "action": "redeploy"},
    {"name": "p99", "when": "latency_p99", "above": 100},
]


def format_checker() -> FormatChecker:
    """jsonschema's checker plus `date-time` and `uri` (whose stock checkers need optional packages)."""
    checker = FormatChecker()

    @checker.checks("date-time", raises=ValueError)
    def _date_time(value: object) -> bool:
        if not isinstance(value, str):
            return True
        datetime.fromisoformat(value.replace("Z", "+00:00"))
        return bool(_RFC3339.match(value))

    @checker.checks("uri", raises=ValueError)
    def _uri(value: object) -> bool:
        if not isinstance(value, str):
            return True
        parts = urlsplit(value)
        return bool(parts.scheme and parts.netloc)

    return checker


@pytest.fixture(scope="module")
def validator() -> Draft202012Validator:
    """The schema, itself checked against the 2020-12 metaschema."""
    schema = json.loads(SCHEMA_PATH.read_text())
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema, format_checker=format_checker())


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    """A migrated SQLite database."""
    created = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'schema.db'}")
    await upgrade(created)
    yield created
    await created.dispose()


async def _queue(
    engine: AsyncEngine, summary: ReportSummary, window: int, alerts: AlertsSettings, model: str | None
) -> list[AlertEvent]:
    rules = [AlertRule.model_validate(r) for r in RULES]
    start = T0 + window * 3600
    facts = RunFacts(window + 1, start, start + 3600, model, "2" if model else None)
    async with engine.begin() as conn:
        return await apply_run(
            conn, "loans", rules, facts, summary, Operational(500, 50, 420.0), alerts, start + 3660
        )


async def real_payloads(engine: AsyncEngine) -> list[dict[str, Any]]:
    """What the dispatcher sends for every rule kind firing, then resolving (with and without links)."""
    shifted = shifted_summary()
    errors = (SectionError("performance", "DetectorError", "no labelled rows"),)
    failing = replace(shifted, errors=errors, flags=shifted.flags + tuple(error_flags(errors)))
    alerts = AlertsSettings.model_validate(
        {
            "webhooks": [{"name": "ops", "url": "https://hooks.example/driftcar", "secret_env": "UNUSED"}],
            "external_url": "http://driftcar.monitoring:9090",
        }
    )
    events = await _queue(engine, failing, 0, alerts, "credit")
    events += await _queue(
        engine, steady_summary(), 1, alerts.model_copy(update={"external_url": None}), None
    )
    hook = alerts.webhooks[0]
    return [orjson.loads(request_for(hook, e, b"x" * 16, "http://x", 60.0)[1]) for e in events]


async def test_every_real_payload_matches_the_schema(
    validator: Draft202012Validator, engine: AsyncEngine
) -> None:
    payloads = await real_payloads(engine)
    firing = [p for p in payloads if p["status"] == "firing"]
    resolved = [p for p in payloads if p["status"] == "resolved"]
    # Every rule fired, and every rule except the operational ones (whose figures stay) resolved.
    assert sorted(p["rule"] for p in firing) == sorted(r["name"] for r in RULES)
    assert len(resolved) == len(RULES) - 2
    kinds = {d["kind"] for p in firing for d in p["details"]}
    assert kinds == {
        "dataset_drift",
        "column_drift",
        "prediction_drift",
        "data_quality",
        "fairness",
        "bias_drift",
        "section_error",
        "error_rate",
        "latency_p99",
    }
    for payload in payloads:
        errors = [e.message for e in validator.iter_errors(payload)]
        assert errors == [], (payload["rule"], payload["status"], errors)
    assert all(p["run"]["report_url"] is None and p["model"]["name"] is None for p in resolved)


def _without(key: str) -> Any:
    def edit(p: dict[str, Any]) -> None:
        del p[key]

    return edit


def _set(path: str, value: Any) -> Any:
    def edit(p: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        target: Any = p
        for part in parents:
            target = target[int(part)] if isinstance(target, list) else target[part]
        target[last] = value

    return edit


@pytest.mark.parametrize(
    "edit",
    [
        pytest.param(_without("id"), id="missing-id"),
        pytest.param(_without("run"), id="missing-run"),
        pytest.param(_set("version", "2"), id="other-version"),
        pytest.param(_set("status", "pending"), id="unknown-status"),
        pytest.param(_set("severity", "fatal"), id="unknown-severity"),
        pytest.param(_set("action", "panic"), id="unknown-action"),
        pytest.param(_set("ends_at", "2026-11-25T10:00:00.000Z"), id="firing-with-an-end"),
        pytest.param(_set("starts_at", "2026-11-25 10:00:00"), id="not-rfc3339"),
        pytest.param(_set("created_at", "2026-13-45T10:00:00.000Z"), id="impossible-date"),
        pytest.param(_set("run.report_url", "reports/1"), id="relative-url"),
        pytest.param(_set("labels", {"team-name": "x"}), id="bad-label-name"),
        pytest.param(_set("details", [{"kind": "vibes", "message": ""}]), id="unknown-detail-kind"),
        pytest.param(_set("fingerprint", "abc"), id="short-fingerprint"),
        pytest.param(_set("extra", True), id="unknown-field"),
    ],
)
async def test_payloads_that_break_the_contract_are_refused(
    validator: Draft202012Validator, engine: AsyncEngine, edit: Any
) -> None:
    (payload,) = [p for p in await real_payloads(engine) if p["rule"] == "income" and p["status"] == "firing"]
    assert validator.is_valid(payload)
    broken = copy.deepcopy(payload)
    edit(broken)
    assert not validator.is_valid(broken)
