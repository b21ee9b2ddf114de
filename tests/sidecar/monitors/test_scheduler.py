"""The scheduler: aligned ticks fire runs, and housekeeping fails abandoned runs and deletes old data."""

from __future__ import annotations

import asyncio
import logging
import time

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from sidecar.monitors.config import MonitorConfig, ReportsSettings, RetentionSettings
from sidecar.monitors.runner import MonitorRunner
from sidecar.monitors.scheduler import MonitorScheduler
from storage.feedback import FeedbackStore
from storage.records import Record
from storage.schema import feedback, records


def _record(ts: float, request_id: str) -> Record:
    return Record(
        ts=ts,
        request_id=request_id,
        row=0,
        route="/predict",
        protocol="generic",
        status=200,
        latency_ms=1.0,
        model="m",
        model_version="1",
        features={"x": 1.0},
        prediction=1,
    )


async def _count(engine: AsyncEngine, table: object) -> int:
    async with engine.connect() as conn:
        return int((await conn.execute(select(func.count()).select_from(table))).scalar_one())  # type: ignore[arg-type]


def _monitor(name: str, every: float = 3600) -> MonitorConfig:
    return MonitorConfig.model_validate(
        {"name": name, "window": {"minutes": 1}, "schedule": {"every": every}, "reference": {"first_n": 5}}
    )


async def test_housekeeping_fails_stale_runs_and_deletes_old_records_labels_and_reports(
    migrated_engine: AsyncEngine,
) -> None:
    from storage.store import RecordStore

    now = time.time()
    old, recent = now - 40 * 86400, now - 3600
    await RecordStore(migrated_engine).insert([_record(old, "old"), _record(recent, "recent")])
    await FeedbackStore(migrated_engine).add_feedback(
        [{"request_id": "old", "label": 1, "received_at": old}, {"request_id": "recent", "label": 0}]
    )
    runner = MonitorRunner(migrated_engine, replica="test")
    for i in range(5):
        run_id = await runner.runs.claim_run("a", 1000.0 + i, 1001.0 + i, "test")
        assert run_id is not None
        await runner.runs.skip_run(run_id, "too few rows")
    other = await runner.runs.claim_run("b", 1.0, 2.0, "test")
    assert other is not None
    await runner.runs.finish_run(other, {"status": "ok"}, b"<html></html>", 10, None)
    abandoned = await runner.runs.claim_run("a", 5000.0, 5001.0, "dead-replica")
    assert abandoned is not None

    scheduler = MonitorScheduler(
        migrated_engine,
        runner,
        [_monitor("a"), _monitor("b")],
        ReportsSettings(stale_after=0.05),
        RetentionSettings(records_days=30, keep_reports=2),
    )
    await asyncio.sleep(0.1)
    await scheduler.housekeeping()

    assert await _count(migrated_engine, records) == 1
    assert await _count(migrated_engine, feedback) == 1
    kept = await runner.runs.list_runs("a")
    # The abandoned run was failed first, then the two newest runs of `a` were kept.
    assert [(r.window_start, r.status) for r in kept] == [(5000.0, "failed"), (1004.0, "skipped")]
    assert kept[0].error == "abandoned: still running at the stale cutoff"
    assert [r.id for r in await runner.runs.list_runs("b")] == [other]


async def test_scheduled_ticks_fire_runs_for_aligned_windows(migrated_engine: AsyncEngine) -> None:
    runner = MonitorRunner(migrated_engine, replica="test")
    scheduler = MonitorScheduler(
        migrated_engine, runner, [_monitor("tick", every=1)], ReportsSettings(), RetentionSettings()
    )
    scheduler.start()
    try:
        next_run = scheduler.next_run("tick")
        assert next_run is not None and next_run == int(next_run)  # aligned to whole seconds
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and len(await runner.runs.list_runs("tick")) < 2:
            await asyncio.sleep(0.1)
    finally:
        await scheduler.stop(timeout=10)
    runs = await runner.runs.list_runs("tick")
    assert len(runs) >= 2
    for run in runs:
        # No records at all: each run is skipped for want of a reference, and the scheduler goes on.
        assert run.status == "skipped" and run.error is not None and "no reference yet" in run.error
        assert run.window_end == int(run.window_end) and run.window_end - run.window_start == 60.0
    assert scheduler.next_run("nope") is None


async def test_housekeeping_forgets_alerts_of_removed_rules(migrated_engine: AsyncEngine) -> None:
    from alerts.config import AlertRule
    from alerts.state import fingerprint
    from alerts.store import AlertStore
    from storage.schema import alert_states

    kept_rule = AlertRule.model_validate({"name": "kept", "when": "dataset_drift"})
    monitor = MonitorConfig.model_validate(
        {"name": "a", "window": {"minutes": 1}, "alerts": [kept_rule.model_dump(by_alias=True)]}
    )
    row = {
        "status": "firing",
        "severity": "critical",
        "action": "rollback",
        "consecutive": 1,
        "notifications": 1,
        "last_window_end": 1.0,
        "updated_at": 1.0,
    }
    async with migrated_engine.begin() as conn:
        await conn.execute(
            alert_states.insert(),
            [
                {**row, "fingerprint": fingerprint("a", kept_rule), "monitor": "a", "rule": "kept"},
                {**row, "fingerprint": "0" * 64, "monitor": "a", "rule": "renamed-since"},
                {**row, "fingerprint": "1" * 64, "monitor": "elsewhere", "rule": "x"},
            ],
        )
    runner = MonitorRunner(migrated_engine, replica="test")
    scheduler = MonitorScheduler(migrated_engine, runner, [monitor], ReportsSettings(), RetentionSettings())
    await scheduler.housekeeping()
    left = {(a.monitor, a.rule) for a in await AlertStore(migrated_engine).states()}
    # The other monitor is not configured here (another replica may run it): left alone.
    assert left == {("a", "kept"), ("elsewhere", "x")}


async def test_housekeeping_cancelled_at_shutdown_is_not_logged_as_a_failure(
    migrated_engine: AsyncEngine, caplog: pytest.LogCaptureFixture
) -> None:
    runner = MonitorRunner(migrated_engine, replica="test")
    scheduler = MonitorScheduler(
        migrated_engine, runner, [_monitor("tick", every=60)], ReportsSettings(), RetentionSettings()
    )
    caplog.set_level(logging.INFO, logger="sidecar.monitors.scheduler")
    job = asyncio.create_task(scheduler.housekeeping())
    await asyncio.sleep(0)  # the job is now waiting on its first query, as at a shutdown
    job.cancel()
    await asyncio.wait_for(job, timeout=10)  # ends by itself: the cancellation is handled, not raised
    assert [r.getMessage() for r in caplog.records] == ["retention job cancelled at shutdown"]
