"""Alert lifecycle: evaluate a monitor's rules on a finished run and queue the notifications, in the run's
own transaction (the transactional outbox).

Per rule there is one alert, identified by its fingerprint (monitor, rule, labels). Its status moves:

    resolved/new --met--> pending (consecutive < for) --met for `for` windows--> firing --not met--> resolved

A firing alert is notified when it starts, again every `repeat_interval` while it fires, and when it
resolves; `alertmanager_api` destinations also get a refresh at every run while it fires (Alertmanager
resolves alerts that are not re-sent). A run older than the newest window already evaluated changes nothing
(runs of one monitor may finish out of order on several replicas).
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from alerts.config import AlertRule, AlertsSettings, WebhookConfig
from alerts.payload import SEVERITY_RANK, AlertEvent, AlertStatus, RunRef
from alerts.rules import Finding, Operational, evaluate
from sidecar.reports.summary import ReportSummary
from storage.schema import alert_outbox, alert_states

logger = logging.getLogger(__name__)


def fingerprint(monitor: str, rule: AlertRule) -> str:
    """The alert's stable identity: sha256 of monitor, rule name and labels."""
    key = json.dumps([monitor, rule.name, sorted(rule.labels.items())], separators=(",", ":"))
    return hashlib.sha256(key.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class RunFacts:
    """The finished run the rules are evaluated on."""

    run_id: int
    window_start: float
    window_end: float
    model: str | None
    model_version: str | None


def destinations(rule: AlertRule, monitor: str, webhooks: Sequence[WebhookConfig]) -> list[WebhookConfig]:
    """The webhooks a rule's notifications go to."""
    chosen = []
    for hook in webhooks:
        if rule.webhooks is not None and hook.name not in rule.webhooks:
            continue
        if hook.monitors is not None and monitor not in hook.monitors:
            continue
        if SEVERITY_RANK[rule.severity] < SEVERITY_RANK[hook.min_severity]:
            continue
        chosen.append(hook)
    return chosen


def run_links(external_url: str | None, run_id: int) -> tuple[str | None, str | None]:
    """The report's and summary's URLs for receivers."""
    if not external_url:
        return None, None
    base = external_url.rstrip("/")
    return f"{base}/reports/{run_id}", f"{base}/reports/{run_id}.json"


async def _load(conn: AsyncConnection, fp: str) -> Any:
    query = select(alert_states).where(alert_states.c.fingerprint == fp)
    if conn.dialect.name == "postgresql":
        query = query.with_for_update()
    return (await conn.execute(query)).first()


async def apply_run(
    conn: AsyncConnection,
    monitor: str,
    rules: Sequence[AlertRule],
    facts: RunFacts,
    summary: ReportSummary,
    operational: Operational | None,
    settings: AlertsSettings,
    now: float,
) -> list[AlertEvent]:
    """Evaluate every rule on the run, update the alerts' states and queue their notifications; return them."""
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    report_url, summary_url = run_links(settings.external_url, facts.run_id)
    run_ref = RunRef(facts.run_id, facts.window_start, facts.window_end, report_url, summary_url)
    queued: list[AlertEvent] = []
    for rule in rules:
        fp = fingerprint(monitor, rule)
        row = await _load(conn, fp)
        if row is not None and row.last_window_end >= facts.window_end:
            logger.info(
                "monitor %s: alert %s already evaluated a window ending at %s; run %d leaves it as it is",
                monitor,
                rule.name,
                row.last_window_end,
                facts.run_id,
            )
            continue
        finding = evaluate(rule, summary, operational)
        state = _next_state(row, rule, finding, now)
        targets = destinations(rule, monitor, settings.webhooks)
        due = [h for h in targets if state.notify or (state.refresh and h.format == "alertmanager_api")]
        notifications = (row.notifications if row is not None else 0) + (1 if due else 0)
        values = {
            "monitor": monitor,
            "rule": rule.name,
            "status": state.status,
            "severity": rule.severity,
            "action": rule.action,
            "consecutive": state.consecutive,
            "started_at": state.started_at,
            "resolved_at": state.resolved_at,
            "last_notified_at": now if state.notify else (row.last_notified_at if row is not None else None),
            "notifications": notifications,
            "last_window_end": facts.window_end,
            "last_run_id": facts.run_id,
            "details": list(finding.details) if finding.met else None,
            "updated_at": now,
        }
        upsert = dialect.insert(alert_states).values(fingerprint=fp, **values)
        await conn.execute(upsert.on_conflict_do_update(index_elements=["fingerprint"], set_=values))
        if not due:
            continue
        event_status: AlertStatus = "resolved" if state.status == "resolved" else "firing"
        event = AlertEvent(
            id=f"{fp[:24]}-{notifications}",
            status=event_status,
            fingerprint=fp,
            monitor=monitor,
            rule=rule.name,
            severity=rule.severity,
            action=rule.action,
            summary=finding.summary if finding.met else f"{rule.name} resolved: condition no longer met",
            starts_at=state.started_at or now,
            ends_at=state.resolved_at if event_status == "resolved" else None,
            run=run_ref,
            labels=dict(rule.labels),
            details=finding.details,
            model=facts.model,
            model_version=facts.model_version,
            created_at=now,
        )
        payload = event.to_json()
        rows = [
            {
                "event_id": event.id,
                "destination": hook.name,
                "monitor": monitor,
                "event": payload,
                "created_at": now,
                "next_attempt_at": now,
                "attempts": 0,
                "status": "pending",
            }
            for hook in due
        ]
        insert = dialect.insert(alert_outbox).on_conflict_do_nothing(
            index_elements=["event_id", "destination"]
        )
        await conn.execute(insert, rows)
        queued.append(event)
        logger.info(
            "monitor %s: alert %s %s (%s, action %s) -> %s",
            monitor,
            rule.name,
            "resolved" if event_status == "resolved" else ("repeats" if state.repeat else "fires"),
            rule.severity,
            rule.action,
            ", ".join(h.name for h in due),
        )
    return queued


@dataclass(frozen=True, slots=True)
class _State:
    status: str
    consecutive: int
    started_at: float | None
    resolved_at: float | None
    notify: bool
    """A firing, repeat or resolved notification is due to every destination."""
    refresh: bool
    """Still firing: Alertmanager destinations get the alert again."""
    repeat: bool = False


def _next_state(row: Any, rule: AlertRule, finding: Finding, now: float) -> _State:
    status = row.status if row is not None else "resolved"
    consecutive = row.consecutive if row is not None else 0
    started = row.started_at if row is not None else None
    resolved = row.resolved_at if row is not None else None
    if not finding.met:
        if status == "firing":
            return _State("resolved", 0, started, now, notify=True, refresh=False)
        return _State("resolved", 0, started, resolved, notify=False, refresh=False)
    consecutive += 1
    if status == "firing":
        last = row.last_notified_at if row is not None else None
        repeat = last is None or now - last >= rule.repeat_interval
        return _State("firing", consecutive, started, None, notify=repeat, refresh=True, repeat=repeat)
    if consecutive >= rule.for_windows:
        return _State("firing", consecutive, now, None, notify=True, refresh=True)
    return _State("pending", consecutive, started, resolved, notify=False, refresh=False)
