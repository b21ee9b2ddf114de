"""Alert lifecycle on real databases (SQLite and PostgreSQL): `apply_run` over a sequence of windows judged by
real report summaries, the notifications it queues, and the transaction it shares with the finished run."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from alerts.config import AlertRule, AlertsSettings
from alerts.payload import AlertEvent
from alerts.state import RunFacts, apply_run, destinations, fingerprint
from alerts.store import AlertState, AlertStore
from sidecar.reports import ReportSummary
from storage.runs import RunStore
from storage.schema import alert_outbox, alert_states
from tests.alerts.summaries import shifted_summary, steady_summary

MONITOR = "loans"
T0 = 1_790_000_000.0
HOUR = 3600.0
EXTERNAL = "http://driftcar.monitoring:9090"


@pytest.fixture(scope="module")
def shifted() -> ReportSummary:
    """A window on which `income` drifted (one real run)."""
    return shifted_summary()


@pytest.fixture(scope="module")
def steady() -> ReportSummary:
    """A window without findings (one real run)."""
    return steady_summary()


def rule(name: str = "income-drift", /, **fields: Any) -> AlertRule:
    """A column-drift rule on `income` unless the keywords say otherwise (`for` via `**{"for": n}`)."""
    return AlertRule.model_validate({"name": name, "when": "column_drift", "columns": ["income"], **fields})


def settings(*hooks: dict[str, Any]) -> AlertsSettings:
    """Webhooks by keywords; driftcar-format hooks get a secret reference (never read here)."""
    webhooks = [
        {"secret_env": "UNUSED_SECRET", **h} if h.get("format") != "alertmanager_api" else h for h in hooks
    ]
    return AlertsSettings.model_validate({"webhooks": webhooks, "external_url": EXTERNAL})


OPS = {"name": "ops", "url": "http://ops.example/hook"}
AM = {"name": "am", "url": "http://alertmanager:9093", "format": "alertmanager_api"}


def window_end(window: int) -> float:
    """End of hourly window number `window`."""
    return T0 + (window + 1) * HOUR


async def judge(
    engine: AsyncEngine,
    rules: list[AlertRule],
    window: int,
    summary: ReportSummary,
    alerts: AlertsSettings,
    *,
    now: float | None = None,
) -> list[AlertEvent]:
    """Apply hourly window number `window` (run id window + 1) in its own transaction, a minute after it ends."""
    end = window_end(window)
    facts = RunFacts(window + 1, end - HOUR, end, "credit", "3")
    async with engine.begin() as conn:
        return await apply_run(
            conn, MONITOR, rules, facts, summary, None, alerts, end + 60 if now is None else now
        )


async def outbox(engine: AsyncEngine) -> list[tuple[str, str, str]]:
    """(event id, destination, status of the event) of every queued notification, in queue order."""
    async with engine.connect() as conn:
        rows = list(await conn.execute(select(alert_outbox).order_by(alert_outbox.c.id)))
    return [(r.event_id, r.destination, r.event["status"]) for r in rows]


async def state(engine: AsyncEngine, name: str = "income-drift") -> AlertState:
    """One alert's stored state."""
    (found,) = [s for s in await AlertStore(engine).states(MONITOR) if s.rule == name]
    return found


async def test_for_two_windows_pending_firing_resolved_and_firing_again(
    migrated_engine: AsyncEngine, shifted: ReportSummary, steady: ReportSummary
) -> None:
    engine, alerts = migrated_engine, settings(OPS)
    rules = [rule(severity="critical", action="rollback", labels={"team": "risk"}, **{"for": 2})]
    fp = fingerprint(MONITOR, rules[0])

    assert await judge(engine, rules, 0, shifted, alerts) == []
    pending = await state(engine)
    assert (pending.status, pending.consecutive, pending.notifications) == ("pending", 1, 0)
    assert pending.details is not None and pending.details[0]["column"] == "income"

    (fired,) = await judge(engine, rules, 1, shifted, alerts)
    fired_at = window_end(1) + 60
    assert (fired.id, fired.status, fired.fingerprint) == (f"{fp[:24]}-1", "firing", fp)
    assert (fired.starts_at, fired.ends_at, fired.created_at) == (fired_at, None, fired_at)
    assert (fired.severity, fired.action, fired.labels) == ("critical", "rollback", {"team": "risk"})
    assert (fired.model, fired.model_version) == ("credit", "3")
    assert fired.run is not None and fired.run.id == 2 and fired.run.window_end == window_end(1)
    assert (
        fired.run.report_url == f"{EXTERNAL}/reports/2"
        and fired.run.summary_url == f"{EXTERNAL}/reports/2.json"
    )
    assert [d["column"] for d in fired.details] == ["income"] and "income" in fired.summary
    firing = await state(engine)
    assert (firing.status, firing.consecutive, firing.started_at, firing.notifications) == (
        "firing",
        2,
        fired_at,
        1,
    )
    async with engine.connect() as conn:
        (stored,) = list(await conn.execute(select(alert_outbox)))
    assert stored.event == fired.to_json() and stored.status == "pending" and stored.attempts == 0

    (resolved,) = await judge(engine, rules, 2, steady, alerts)
    assert (resolved.id, resolved.status) == (f"{fp[:24]}-2", "resolved")
    assert (resolved.starts_at, resolved.ends_at) == (fired_at, window_end(2) + 60)
    assert resolved.details == () and resolved.summary == "income-drift resolved: condition no longer met"
    after = await state(engine)
    assert (after.status, after.consecutive, after.resolved_at, after.details) == (
        "resolved",
        0,
        window_end(2) + 60,
        None,
    )

    # `for: 2` again: one shifted window only makes it pending, and a steady one ends that quietly.
    assert await judge(engine, rules, 3, shifted, alerts) == []
    assert (await state(engine)).status == "pending"
    assert await judge(engine, rules, 4, steady, alerts) == []
    quiet = await state(engine)
    assert (quiet.status, quiet.resolved_at) == ("resolved", window_end(2) + 60)

    assert await judge(engine, rules, 5, shifted, alerts) == []
    (again,) = await judge(engine, rules, 6, shifted, alerts)
    assert (again.id, again.status, again.starts_at) == (f"{fp[:24]}-3", "firing", window_end(6) + 60)
    assert await outbox(engine) == [
        (f"{fp[:24]}-1", "ops", "firing"),
        (f"{fp[:24]}-2", "ops", "resolved"),
        (f"{fp[:24]}-3", "ops", "firing"),
    ]


async def test_repeat_interval_renotifies_with_a_new_id(
    migrated_engine: AsyncEngine, shifted: ReportSummary
) -> None:
    engine, alerts = migrated_engine, settings(OPS)
    rules = [rule(repeat_interval="1h")]
    fp = fingerprint(MONITOR, rules[0])
    start = window_end(0) + 60
    (first,) = await judge(engine, rules, 0, shifted, alerts, now=start)

    assert await judge(engine, rules, 1, shifted, alerts, now=start + 1800) == []
    assert await judge(engine, rules, 2, shifted, alerts, now=start + 3599) == []
    held = await state(engine)
    assert (held.status, held.last_notified_at, held.notifications) == ("firing", start, 1)

    (repeat,) = await judge(engine, rules, 3, shifted, alerts, now=start + 3600)
    assert (repeat.id, repeat.status) == (f"{fp[:24]}-2", "firing")
    assert repeat.starts_at == first.starts_at == start and repeat.created_at == start + 3600
    assert await judge(engine, rules, 4, shifted, alerts, now=start + 3700) == []
    later = await state(engine)
    assert (later.last_notified_at, later.notifications, later.started_at) == (start + 3600, 2, start)
    assert [e for e, _, _ in await outbox(engine)] == [first.id, repeat.id]


async def test_an_older_window_changes_nothing(
    migrated_engine: AsyncEngine, shifted: ReportSummary, steady: ReportSummary
) -> None:
    engine, alerts = migrated_engine, settings(OPS)
    rules = [rule()]
    await judge(engine, rules, 5, shifted, alerts)
    before = await state(engine)
    queued = await outbox(engine)

    # A replica finishing an earlier window late, and the same window judged again, are both ignored.
    assert await judge(engine, rules, 3, steady, alerts, now=window_end(5) + 600) == []
    assert await judge(engine, rules, 5, steady, alerts, now=window_end(5) + 700) == []
    assert await state(engine) == before
    assert before.status == "firing" and before.last_run_id == 6 and before.last_window_end == window_end(5)
    assert await outbox(engine) == queued

    (resolved,) = await judge(engine, rules, 6, steady, alerts)
    assert resolved.status == "resolved"


async def test_destinations_follow_severity_monitors_and_the_rules_webhooks(
    migrated_engine: AsyncEngine, shifted: ReportSummary
) -> None:
    alerts = settings(
        {"name": "all", "url": "http://all.example/"},
        {"name": "critical-only", "url": "http://pager.example/", "min_severity": "critical"},
        {"name": "loans-only", "url": "http://loans.example/", "monitors": [MONITOR]},
        {"name": "other-only", "url": "http://other.example/", "monitors": ["other"]},
        AM,
    )
    rules = [
        rule("warn", severity="warning"),
        rule("crit", severity="critical"),
        rule("info-nowhere", severity="info", webhooks=["critical-only", "other-only"]),
        rule("picked", severity="warning", webhooks=["loans-only"]),
    ]
    events = await judge(migrated_engine, rules, 0, shifted, alerts)
    assert [e.rule for e in events] == ["warn", "crit", "picked"]
    by_event: dict[str, set[str]] = {}
    for event_id, destination, _ in await outbox(migrated_engine):
        by_event.setdefault(event_id, set()).add(destination)
    assert {e.rule: by_event[e.id] for e in events} == {
        "warn": {"all", "loans-only", "am"},
        "crit": {"all", "critical-only", "loans-only", "am"},
        "picked": {"loans-only"},
    }
    # With nowhere to go the alert still fires (the gate and the API show it).
    assert (await state(migrated_engine, "info-nowhere")).status == "firing"
    assert [h.name for h in destinations(rules[0], "other", alerts.webhooks)] == ["all", "other-only", "am"]


async def test_alertmanager_destinations_get_the_alert_at_every_run_while_it_fires(
    migrated_engine: AsyncEngine, shifted: ReportSummary, steady: ReportSummary
) -> None:
    engine, alerts = migrated_engine, settings(OPS, AM)
    rules = [rule()]
    fp = fingerprint(MONITOR, rules[0])
    first = await judge(engine, rules, 0, shifted, alerts)
    refreshes = [await judge(engine, rules, w, shifted, alerts) for w in (1, 2)]
    resolved = await judge(engine, rules, 3, steady, alerts)
    assert await judge(engine, rules, 4, steady, alerts) == []

    assert [e.status for e in first + refreshes[0] + refreshes[1] + resolved] == [
        "firing",
        "firing",
        "firing",
        "resolved",
    ]
    assert {e.starts_at for e in first + refreshes[0] + refreshes[1]} == {window_end(0) + 60}
    assert await outbox(engine) == [
        (f"{fp[:24]}-1", "ops", "firing"),
        (f"{fp[:24]}-1", "am", "firing"),
        (f"{fp[:24]}-2", "am", "firing"),
        (f"{fp[:24]}-3", "am", "firing"),
        (f"{fp[:24]}-4", "ops", "resolved"),
        (f"{fp[:24]}-4", "am", "resolved"),
    ]
    final = await state(engine)
    assert (final.status, final.notifications, final.last_notified_at) == ("resolved", 4, window_end(3) + 60)


class _Abort(RuntimeError):
    """Raised inside the run's transaction."""


async def test_the_run_and_its_notifications_are_stored_together_or_not_at_all(
    migrated_engine: AsyncEngine, shifted: ReportSummary
) -> None:
    runs, alerts, rules = RunStore(migrated_engine), settings(OPS, AM), [rule()]
    start = T0
    run_id = await runs.claim_run(MONITOR, start, start + HOUR, "replica-a")
    assert run_id is not None
    facts = RunFacts(run_id, start, start + HOUR, "credit", "3")
    queued: list[AlertEvent] = []

    async def then(conn: AsyncConnection, fail: bool) -> None:
        queued.extend(await apply_run(conn, MONITOR, rules, facts, shifted, None, alerts, start + HOUR + 5))
        if fail:
            raise _Abort("the process died after queueing")

    async def failing(conn: AsyncConnection) -> None:
        await then(conn, True)

    async def succeeding(conn: AsyncConnection) -> None:
        await then(conn, False)

    with pytest.raises(_Abort):
        await runs.finish_run(run_id, {"status": "ok"}, b"<html></html>", 100, 1, then=failing)
    assert len(queued) == 1  # the rows were written, inside the transaction that was rolled back
    info = await runs.get_run(run_id)
    assert (info.status, info.summary, info.has_html, info.finished_at) == ("running", None, False, None)
    async with migrated_engine.connect() as conn:
        assert list(await conn.execute(select(alert_outbox))) == []
        assert list(await conn.execute(select(alert_states))) == []

    await runs.finish_run(run_id, {"status": "ok"}, b"<html></html>", 100, 1, then=succeeding)
    assert (await runs.get_run(run_id)).status == "ok"
    assert [d for _, d, _ in await outbox(migrated_engine)] == ["ops", "am"]
    assert (await state(migrated_engine)).status == "firing"
