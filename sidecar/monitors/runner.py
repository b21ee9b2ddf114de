"""One report run of one monitor: claim the window, load it and the reference, compute off the loop, store.

Every run goes through `MonitorRunner.run`, whoever asks for it (the scheduler, the admin API, `driftcar
report`): the window is claimed in the database first (a unique row per monitor and window, so replicas
sharing one database run it once), then the records and the reference are read, the report is computed in
the report pool (a worker process) and the summary and compressed HTML are stored with the run's status. A
run that raises is marked failed with the reason and logged; nothing propagates to the scheduler.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import multiprocessing.process
import os
import socket
import time
from collections.abc import Callable
from concurrent.futures import Executor, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from alerts.config import AlertsSettings
from alerts.payload import AlertEvent
from alerts.state import RunFacts, apply_run
from sidecar.monitors.config import MonitorConfig
from sidecar.monitors.job import JobResult, MonitorJob, run_monitor_job
from storage.errors import InvalidReference
from storage.references import ReferenceInfo, ReferenceStore
from storage.runs import RunInfo, RunStore

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

    from sidecar.reports.summary import ReportSummary

logger = logging.getLogger(__name__)

Trigger = Literal["schedule", "api", "cli"]
OutcomeStatus = Literal["ok", "skipped", "failed", "claimed"]
Progress = Callable[[str], None]


def default_replica() -> str:
    """This process's name in the runs it claims: host name and process id."""
    return f"{socket.gethostname()}:{os.getpid()}"


@dataclass(frozen=True, slots=True)
class RunOutcome:
    """What became of a requested run. `claimed`: another run holds the window (`run` is that one)."""

    status: OutcomeStatus
    run: RunInfo | None
    summary: ReportSummary | None = None
    html: bytes | None = None
    error: str | None = None


class ReportPool:
    """The report worker processes, created on first use and replaced when a worker dies."""

    def __init__(self, workers: int = 1, max_tasks_per_child: int | None = None, nice: int = 0) -> None:
        self._workers = workers
        self._max_tasks = max_tasks_per_child
        self._nice = nice
        self._pool: ProcessPoolExecutor | None = None

    def executor(self) -> ProcessPoolExecutor:
        """The live pool (started now if needed: its workers import Evidently in the background)."""
        from sidecar.reports.pool import create_report_pool

        if self._pool is None:
            self._pool = create_report_pool(self._workers, self._max_tasks, self._nice)
        return self._pool

    def discard(self) -> None:
        """Drop a broken pool; the next run starts a new one."""
        pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)

    def close(self) -> None:
        """Stop the workers (a report still computing is abandoned)."""
        pool, self._pool = self._pool, None
        if pool is None:
            return
        # A worker still importing Evidently (seconds on a busy machine) or computing an abandoned report
        # would hold shutdown until it finished: the runs were already stopped, so the workers are ended.
        # ProcessPoolExecutor has no public way to end its workers before Python 3.14.
        processes: dict[int, multiprocessing.process.BaseProcess] = getattr(pool, "_processes", None) or {}
        workers = list(processes.values())
        pool.shutdown(wait=False, cancel_futures=True)
        for worker in workers:
            if worker.is_alive():
                worker.terminate()
        for worker in workers:
            worker.join(timeout=10)


class MonitorRunner:
    """Runs monitors' reports against one database; `executor=None` computes in a thread of this process."""

    def __init__(
        self,
        engine: AsyncEngine,
        *,
        pool: ReportPool | None = None,
        replica: str | None = None,
        progress: Progress | None = None,
        alerts: AlertsSettings | None = None,
        on_alerts: Callable[[], None] | None = None,
        on_finished: Callable[[str, str], None] | None = None,
    ) -> None:
        self._engine = engine
        self._on_finished = on_finished
        self._alerts = alerts or AlertsSettings()
        self._on_alerts = on_alerts
        self._pool = pool
        self.replica = replica or default_replica()
        self.runs = RunStore(engine)
        self.references = ReferenceStore(engine)
        self._progress = progress
        self._active: set[asyncio.Task[object]] = set()

    def set_external_url(self, url: str) -> None:
        """The admin URL put in alerts' report links, once the admin port is bound (when not configured)."""
        if not self._alerts.external_url:
            self._alerts = self._alerts.model_copy(update={"external_url": url})

    def _say(self, message: str) -> None:
        if self._progress is not None:
            self._progress(message)

    def claim_window(
        self, monitor: MonitorConfig, end: float, start: float | None = None
    ) -> tuple[float, float]:
        """The [start, end) a run ending at `end` claims: the time window, or for a count window the schedule
        period ending at `end` (the run still reads the newest N records before `end`)."""
        if start is not None:
            return start, end
        if monitor.window.minutes is not None:
            return end - monitor.window.minutes * 60.0, end
        return end - monitor.schedule.period_before(end), end

    async def run(
        self,
        monitor: MonitorConfig,
        end: float,
        *,
        start: float | None = None,
        trigger: Trigger = "api",
        reclaim_failed: bool = False,
    ) -> RunOutcome:
        """Claim and run the monitor's window ending at `end` (or exactly [start, end) when `start` is given)."""
        task = asyncio.current_task()
        if task is not None:
            self._active.add(task)
        try:
            outcome = await self._run(monitor, end, start, trigger, reclaim_failed)
            if outcome.status != "claimed" and self._on_finished is not None:
                self._on_finished(monitor.name, outcome.status)
            return outcome
        finally:
            if task is not None:
                self._active.discard(task)

    async def _run(
        self, monitor: MonitorConfig, end: float, start: float | None, trigger: Trigger, reclaim: bool
    ) -> RunOutcome:
        window_start, window_end = self.claim_window(monitor, end, start)
        run_id = await self.runs.claim_run(
            monitor.name, window_start, window_end, self.replica, reclaim_failed=reclaim
        )
        if run_id is None:
            other = await self.runs.find_run(monitor.name, window_start, window_end)
            logger.info(
                "monitor %s: window [%s, %s) is already claimed (%s)",
                monitor.name,
                window_start,
                window_end,
                f"run {other.id} by {other.replica}, {other.status}" if other else "gone since",
            )
            return RunOutcome("claimed", other)
        logger.info(
            "monitor %s: run %d (%s) claimed window [%s, %s)",
            monitor.name,
            run_id,
            trigger,
            window_start,
            window_end,
        )
        try:
            return await self._compute(monitor, run_id, window_start, window_end, explicit=start is not None)
        except asyncio.CancelledError:
            with contextlib.suppress(Exception):
                await asyncio.shield(
                    self.runs.fail_run(run_id, "cancelled: driftcar shut down during the run")
                )
            raise
        # A run's failure is the run's, not the scheduler's: record it, log it and go on.
        except Exception as exc:
            logger.exception("monitor %s: run %d failed", monitor.name, run_id)
            if isinstance(exc, BrokenProcessPool) and self._pool is not None:
                self._pool.discard()
            reason = f"{type(exc).__name__}: {exc}"
            await self.runs.fail_run(run_id, reason)
            return RunOutcome("failed", await self.runs.get_run(run_id), error=reason)

    async def reference(self, monitor: MonitorConfig) -> ReferenceInfo | str:
        """The monitor's latest stored reference, pinning the default first-N one when none is stored yet; or
        why there is none."""
        stored = await self.references.list_references(monitor.name)
        if stored:
            return stored[0]
        features = None
        if monitor.features is not None:
            protected = monitor.fairness.protected if monitor.fairness else []
            features = list(dict.fromkeys([*monitor.features, *protected]))
        try:
            info = await self.references.pin_reference_first_n(
                monitor.name,
                monitor.reference.first_n,
                features=features,
                require_n=True,
                note=f"default reference: the first {monitor.reference.first_n:,} captured records",
                **monitor.record_filter(),
            )
        except InvalidReference as exc:
            return f"no reference yet: {exc}"
        logger.info(
            "monitor %s: no reference was stored; pinned the first %d captured records as version %d",
            monitor.name,
            monitor.reference.first_n,
            info.version,
        )
        return info

    async def _compute(
        self, monitor: MonitorConfig, run_id: int, start: float, end: float, *, explicit: bool
    ) -> RunOutcome:
        started = time.perf_counter()
        found = await self.reference(monitor)
        if isinstance(found, str):
            await self.runs.skip_run(run_id, found)
            logger.info("monitor %s: run %d skipped: %s", monitor.name, run_id, found)
            return RunOutcome("skipped", await self.runs.get_run(run_id), error=found)
        self._say(f"reference v{found.version} ({found.source}): {found.n_rows:,} rows")
        job = MonitorJob(
            database_url=self._engine.url.render_as_string(hide_password=False),
            monitor=monitor,
            reference_version=found.version,
            reference_source=found.source,
            start=start,
            end=end,
            count_window=monitor.window.records is not None and not explicit,
        )
        result = await self._execute(job)
        summary = result.summary
        if summary.status == "skipped":
            reason = summary.skip_reason or "skipped"
            await self.runs.skip_run(run_id, reason)
            logger.info("monitor %s: run %d skipped: %s", monitor.name, run_id, reason)
            return RunOutcome("skipped", await self.runs.get_run(run_id), summary=summary, error=reason)
        queued: list[AlertEvent] = []
        then = None
        if monitor.alerts:
            facts = RunFacts(
                run_id, result.window_start, result.window_end, monitor.model, monitor.model_version
            )

            async def then(conn: AsyncConnection) -> None:
                queued.extend(
                    await apply_run(
                        conn,
                        monitor.name,
                        monitor.alerts,
                        facts,
                        summary,
                        result.operational,
                        self._alerts,
                        time.time(),
                    )
                )

        await self.runs.finish_run(
            run_id, json.loads(summary.to_json()), result.html, result.n_rows, found.version, then=then
        )
        if queued and self._on_alerts is not None:
            self._on_alerts()
        logger.info(
            "monitor %s: run %d ok: %d rows, %d flag(s), load %.1f s, statistics %.1f s, html %.1f s, total %.1f s",
            monitor.name,
            run_id,
            result.n_rows,
            len(summary.flags),
            result.load_s,
            result.statistics_s,
            result.html_s,
            time.perf_counter() - started,
        )
        return RunOutcome("ok", await self.runs.get_run(run_id), summary=summary, html=result.html)

    async def _execute(self, job: MonitorJob) -> JobResult:
        """Run the job in the report pool, or in a thread of this process when there is none (the CLI)."""
        if self._pool is None:
            return await asyncio.to_thread(run_monitor_job, job, self._progress)
        executor: Executor = self._pool.executor()
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(executor, run_monitor_job, job)

    async def wait_idle(self, timeout: float) -> bool:
        """Wait up to `timeout` s for the runs in progress; cancel those still going (they are marked failed)."""
        active = set(self._active)
        if not active:
            return True
        _, pending = await asyncio.wait(active, timeout=timeout)
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.wait(pending, timeout=5.0)
            logger.warning("cancelled %d report run(s) still going at shutdown", len(pending))
        return not pending
