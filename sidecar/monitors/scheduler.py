"""The monitors' schedule: APScheduler's asyncio scheduler fires each monitor's runs and the retention job.

Each monitor is one job with its trigger (an interval aligned to the epoch, or a crontab line, in UTC). When
it fires, the run's window ends at the scheduled time the job fired for (`ScheduleConfig.last_tick`), so
every replica computes the same window and `RunStore.claim_run` hands it to exactly one. Jobs coalesce and
never overlap; a late start within `misfire_grace` still runs. The job itself never raises: a run's failure
is stored on the run.
"""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import UTC, datetime

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy.ext.asyncio import AsyncEngine

from alerts.state import fingerprint
from alerts.store import AlertStore
from sidecar.monitors.config import EPOCH, MonitorConfig, ReportsSettings, RetentionSettings
from sidecar.monitors.runner import MonitorRunner
from storage.retention import delete_feedback_older_than, delete_records_older_than

logger = logging.getLogger(__name__)

RETENTION_JOB = "driftcar:retention"


def monitor_job_id(name: str) -> str:
    """The scheduler's job id of a monitor."""
    return f"monitor:{name}"


class MonitorScheduler:
    """Owns the AsyncIOScheduler: one job per scheduled monitor, plus retention and the stale-run sweep."""

    def __init__(
        self,
        engine: AsyncEngine,
        runner: MonitorRunner,
        monitors: list[MonitorConfig],
        reports: ReportsSettings,
        retention: RetentionSettings,
    ) -> None:
        self._engine = engine
        self._runner = runner
        self._monitors = {m.name: m for m in monitors}
        self._reports = reports
        self._retention = retention
        self._jobs: set[asyncio.Task[object]] = set()
        self._scheduler = AsyncIOScheduler(
            timezone=UTC,
            job_defaults={
                "coalesce": True,
                "max_instances": 1,
                "misfire_grace_time": max(1, int(reports.misfire_grace)),
            },
        )

    def start(self) -> None:
        """Add the jobs and start firing (call from the running event loop)."""
        for monitor in self._monitors.values():
            if not monitor.schedule.enabled:
                continue
            self._scheduler.add_job(
                self._fire,
                monitor.schedule.trigger(),
                args=[monitor.name],
                id=monitor_job_id(monitor.name),
                name=f"report run of monitor {monitor.name}",
            )
        self._scheduler.add_job(
            self.housekeeping,
            IntervalTrigger(seconds=self._retention.every, start_date=EPOCH, timezone=UTC),
            id=RETENTION_JOB,
            name="retention and stale runs",
            next_run_time=datetime.now(UTC),  # once at start, then on the interval
        )
        self._scheduler.start()
        logger.info(
            "scheduler started: %d monitor job(s), retention every %gs",
            len(self._scheduler.get_jobs()) - 1,
            self._retention.every,
        )

    def next_run(self, name: str) -> float | None:
        """When the monitor's next scheduled run fires (epoch seconds), or None."""
        job = self._scheduler.get_job(monitor_job_id(name))
        if job is None or job.next_run_time is None:
            return None
        return float(job.next_run_time.timestamp())

    def _track(self) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._jobs.add(task)
            task.add_done_callback(self._jobs.discard)

    async def _fire(self, name: str) -> None:
        self._track()
        monitor = self._monitors[name]
        tick = monitor.schedule.last_tick(time.time())
        try:
            await self._runner.run(monitor, tick, trigger="schedule")
        # The scheduler must go on whatever happens; the runner already stores a run's own failure.
        except Exception:
            logger.exception("monitor %s: the scheduled run for %s could not be started", name, tick)

    async def housekeeping(self) -> None:
        """Fail runs abandoned by a dead replica; delete old records, labels and reports, and the alerts of rules
        no longer configured."""
        self._track()
        now = time.time()
        try:
            await self._runner.runs.mark_stale_runs_failed(now - self._reports.stale_after)
            if self._retention.records_days is not None:
                cutoff = now - self._retention.records_days * 86400.0
                await delete_records_older_than(self._engine, cutoff)
                await delete_feedback_older_than(self._engine, cutoff)
            if self._retention.keep_reports is not None:
                for name in self._monitors:
                    pruned = await self._runner.runs.prune_runs(name, self._retention.keep_reports)
                    if pruned:
                        logger.info("retention: monitor %s: deleted %d old report run(s)", name, pruned)
            configured = {m.name: {fingerprint(m.name, r) for r in m.alerts} for m in self._monitors.values()}
            forgotten = await AlertStore(self._engine).forget_removed_rules(configured)
            if forgotten:
                logger.warning("alerts: forgot %d alert(s) whose rule is no longer configured", forgotten)
        except asyncio.CancelledError:
            # stop() cancels a job still running at shutdown; APScheduler would log that as a failed job.
            logger.info("retention job cancelled at shutdown")
        except Exception:
            logger.exception("retention job failed; it runs again in %gs", self._retention.every)

    async def stop(self, timeout: float) -> None:
        """Stop firing; let runs in progress finish for up to `timeout` s, then cancel them (marked failed)."""
        if self._scheduler.running:
            self._scheduler.shutdown(wait=False)
        await self._runner.wait_idle(timeout)
        # Jobs still going (housekeeping, a run starting) must end before the engine is disposed: a query
        # cancelled after that would wait forever for its closed connection.
        jobs = set(self._jobs)
        if jobs:
            _, pending = await asyncio.wait(jobs, timeout=max(1.0, timeout / 3))
            for job in pending:
                job.cancel()
            if pending:
                await asyncio.wait(pending, timeout=5.0)
