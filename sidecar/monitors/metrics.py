"""Per-monitor metrics from the store: what each monitor's latest runs found, its alerts and their delivery.

The values come from the database, not from this process's memory, so every replica serves the same ones, and
a restarted one serves them at once. A scrape never waits on the database: `MonitorMetrics` keeps prebuilt
metric families that a background task replaces from the store at start, every `metrics.refresh` seconds and
right after this replica finishes a run (`run_finished`). Counters (runs finished, delivery attempts) are this
process's own, as Prometheus counters are; sum them over replicas.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import get_args

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy.ext.asyncio import AsyncEngine

from alerts.store import AlertStore
from sidecar.monitors.config import MetricsSettings, MonitorConfig
from sidecar.monitors.gauges import MonitorGauges, Omitted, summary_gauges
from sidecar.reports.codec import DecodeError, decode
from sidecar.reports.summary import ReportSummary
from sidecar.tasks import cancel_and_wait
from storage.errors import StorageError
from storage.run_stats import last_finished
from storage.runs import RunStatus, RunStore

logger = logging.getLogger(__name__)

FINISHED: tuple[RunStatus, ...] = tuple(s for s in get_args(RunStatus) if s != "running")
DELIVERY_OUTCOMES = ("delivered", "failed", "dead")


DeliveryCounts = Callable[[], Mapping[tuple[str, str], int]]


class MonitorMetrics(Collector):
    """The monitors' gauges, refreshed from the store in the background; a Collector for the app's registry."""

    def __init__(
        self,
        engine: AsyncEngine,
        monitors: Sequence[MonitorConfig],
        settings: MetricsSettings,
        deliveries: DeliveryCounts | None = None,
    ) -> None:
        self._engine = engine
        self._monitors = {m.name: m for m in monitors}
        self._settings = settings
        self._deliveries = deliveries
        self._runs_store = RunStore(engine)
        self._alerts = AlertStore(engine)
        # Every series exists from the start (at 0), so rate() and absent() see them before the first run.
        self._runs: dict[tuple[str, str], int] = {(m, s): 0 for m in self._monitors for s in FINISHED}
        self._families: tuple[Metric, ...] = ()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.refreshed = asyncio.Event()
        """Set after each successful refresh (tests wait on it)."""

    def run_finished(self, monitor: str, status: str) -> None:
        """Count a run this replica finished and refresh the gauges from the store now."""
        key = (monitor, status)
        self._runs[key] = self._runs.get(key, 0) + 1
        self._wake.set()

    def start(self) -> None:
        """Refresh now, then on the interval and after each run (from the running event loop)."""
        self._task = asyncio.create_task(self._loop(), name="monitor-metrics")

    async def stop(self) -> None:
        """Stop refreshing."""
        await cancel_and_wait(self._task)
        self._task = None

    async def _loop(self) -> None:
        while True:
            self._wake.clear()  # before reading: a run finishing meanwhile triggers another refresh
            try:
                await self.refresh()
            except StorageError as exc:
                logger.warning("monitor metrics: store unavailable (%s); keeping the last values", exc)
            # The loop must outlive any one failure; the previous values stay served.
            except Exception:
                logger.exception("monitor metrics: refresh failed; keeping the last values")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=self._settings.refresh)

    async def refresh(self) -> None:
        """Read the latest runs and alert states from the store and replace the served gauges."""
        names = list(self._monitors)
        gauges = []
        for name in names:
            run = await self._runs_store.latest_run(name, "ok")
            if run is None or run.summary is None:
                continue
            try:
                summary = decode(ReportSummary, run.summary)
            except DecodeError as exc:
                logger.warning(
                    "monitor %s: run %d's summary cannot be read for metrics: %s", name, run.id, exc
                )
                continue
            gauges.append(
                summary_gauges(name, summary, self._settings.max_columns, self._settings.max_groups)
            )
        # Read after the runs whose gauges are served: a run finishing between the two reads then shows in the
        # timestamps too (never a summary newer than its last_success), and the next refresh catches up.
        finished = await last_finished(self._engine, names)
        states = await self._alerts.states() if any(m.alerts for m in self._monitors.values()) else []
        firing = [
            (s.monitor, s.rule, s.severity, s.status == "firing")
            for s in states
            if s.monitor in self._monitors
        ]
        outbox = await self._alerts.counts()
        self._families = (
            *self._run_families(finished),
            *_summary_families(gauges),
            _gauge(
                "driftcar_alerts_firing",
                "1 while the monitor's alert rule fires, 0 while it is pending or resolved.",
                ["monitor", "rule", "severity"],
                (((m, r, sev), float(on)) for m, r, sev, on in firing),
            ),
            _gauge(
                "driftcar_alert_outbox_notifications",
                "Notifications in the alert outbox (shared by every replica) by status: pending, delivered, dead.",
                ["status"],
                (((status,), float(outbox.get(status, 0))) for status in ("pending", "delivered", "dead")),
            ),
            GaugeMetricFamily(
                "driftcar_monitor_metrics_refresh_timestamp_seconds",
                "When the monitor gauges were last read from the store (epoch seconds).",
                value=time.time(),
            ),
        )
        self.refreshed.set()

    def _run_families(self, finished: Mapping[tuple[str, str], float]) -> Iterator[Metric]:
        yield _gauge(
            "driftcar_monitor_last_run_timestamp_seconds",
            "When the monitor's latest run of each status (ok, failed, skipped) finished, on any replica.",
            ["monitor", "status"],
            ((key, at) for key, at in sorted(finished.items())),
        )
        yield _gauge(
            "driftcar_monitor_last_success_timestamp_seconds",
            "When the monitor's latest successful (ok) run finished, on any replica.",
            ["monitor"],
            (((m,), at) for (m, status), at in sorted(finished.items()) if status == "ok"),
        )
        yield _gauge(
            "driftcar_monitor_schedule_period_seconds",
            "Seconds between the monitor's scheduled runs (for cron schedules: the latest period).",
            ["monitor"],
            (((name,), _period(m)) for name, m in self._monitors.items() if m.schedule.enabled),
        )

    def collect(self) -> Iterator[Metric]:
        """The latest gauges, and this process's counters (never touches the database)."""
        yield from self._families
        runs = CounterMetricFamily(
            "driftcar_monitor_runs_total",
            "Report runs this replica finished, by monitor and outcome (ok, failed, skipped).",
            labels=["monitor", "status"],
        )
        for (monitor, status), count in sorted(dict(self._runs).items()):
            runs.add_metric([monitor, status], count)
        yield runs
        if self._deliveries is not None:
            deliveries = CounterMetricFamily(
                "driftcar_alert_deliveries_total",
                "Alert delivery attempts this replica made, by webhook and outcome: delivered, failed (retried "
                "later) or dead (given up after the webhook's max_age).",
                labels=["webhook", "outcome"],
            )
            for (webhook, outcome), count in sorted(dict(self._deliveries()).items()):
                deliveries.add_metric([webhook, outcome], count)
            yield deliveries


def _period(monitor: MonitorConfig) -> float:
    if monitor.schedule.every is not None:
        return monitor.schedule.every
    return monitor.schedule.period_before(monitor.schedule.last_tick(time.time()))


def _gauge(
    name: str, documentation: str, labels: list[str], samples: Iterable[tuple[tuple[str, ...], float]]
) -> GaugeMetricFamily:
    family = GaugeMetricFamily(name, documentation, labels=labels)
    for values, value in samples:
        family.add_metric(list(values), value)
    return family


def _summary_families(gauges: Sequence[MonitorGauges]) -> Iterator[Metric]:
    """One family per summary gauge, with every monitor's samples."""
    yield _gauge(
        "driftcar_monitor_report_timestamp_seconds",
        "End of the window of the monitor's latest ok run: the run the drift, fairness and row gauges describe.",
        ["monitor"],
        (((g.monitor,), g.window_end) for g in gauges),
    )
    yield _gauge(
        "driftcar_monitor_dataset_drift_share",
        "Share of the monitor's columns found drifted in its latest ok run (0-1).",
        ["monitor"],
        (((g.monitor,), g.drift_share) for g in gauges if g.drift_share is not None),
    )
    yield _gauge(
        "driftcar_monitor_dataset_drift",
        "1 when the latest ok run found dataset drift (drift share at or above the monitor's drift_share), else 0.",
        ["monitor"],
        (((g.monitor,), float(g.dataset_drift)) for g in gauges if g.dataset_drift is not None),
    )
    yield _gauge(
        "driftcar_monitor_column_drift_score",
        "A column's drift score in the latest ok run: a p-value or a distance, per `method` (the prediction too).",
        ["monitor", "column", "method"],
        (((g.monitor, c.column, c.method), c.score) for g in gauges for c in g.columns),
    )
    yield _gauge(
        "driftcar_monitor_column_drifted",
        "1 when the column's drift test fired in the latest ok run, else 0.",
        ["monitor", "column", "method"],
        (((g.monitor, c.column, c.method), float(c.drifted)) for g in gauges for c in g.columns),
    )
    yield _gauge(
        "driftcar_monitor_fairness",
        "Fairness in the latest ok run: parity metrics between the groups of a protected attribute (group "
        "label empty) and per-group rates (e.g. selection_rate).",
        ["monitor", "attribute", "group", "metric"],
        (((g.monitor, f.attribute, f.group, f.metric), f.value) for g in gauges for f in g.fairness),
    )
    yield _gauge(
        "driftcar_monitor_rows",
        "Rows the latest ok run compared: side=current (the window) or reference.",
        ["monitor", "side"],
        (
            ((g.monitor, side), float(n))
            for g in gauges
            for side, n in (("current", g.rows), ("reference", g.reference_rows))
        ),
    )
    yield _gauge(
        "driftcar_monitor_series_omitted",
        "Columns (kind=column) or groups (kind=group) of the latest ok run left out of the series above by the "
        "metrics.max_columns / max_groups caps.",
        ["monitor", "kind"],
        (((g.monitor, kind), float(n)) for g in gauges for kind, n in _omitted(g.omitted)),
    )


def _omitted(omitted: Omitted) -> tuple[tuple[str, int], ...]:
    return (("column", omitted.columns), ("group", omitted.groups))
