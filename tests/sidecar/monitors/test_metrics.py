"""Per-monitor metrics come from the store: a sidecar started on a database with runs serves their gauges at
once (an exposition promtool accepts, every family documented), another replica's run shows after a refresh,
and the label caps count what they leave out. A run of this replica refreshing them at once, with the alert
and delivery metrics, is in tests/sidecar/test_prometheus.py."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pydantic
import pytest
from aiohttp.test_utils import TestServer
from prometheus_client import CollectorRegistry, generate_latest

from sidecar.monitors.config import MetricsSettings, MonitorConfig
from sidecar.monitors.gauges import GROUP_RATES
from sidecar.monitors.metrics import MonitorMetrics
from sidecar.reports.summary import ReportSummary
from sidecar.server import Sidecar
from storage.engine import create_engine
from storage.runs import RunInfo, RunStatus, RunStore
from tests.alerts.summaries import shifted_summary, steady_summary
from tests.sidecar.conftest import SidecarFactory, admin_url
from tests.sidecar.monitors.stored_runs import MONITOR, monitor_config, store_runs
from tests.sidecar.prom import documented_metrics, exposed_metrics, promtool
from tests.sidecar.scrape import Scrape, parse, scrape_when

DRIFT_SHARE = "driftcar_monitor_dataset_drift_share"
SCORE = "driftcar_monitor_column_drift_score"


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    """A client whose every request is bounded in time."""
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=15)) as session:
        yield session


def assert_summary_gauges(m: Scrape, summary: ReportSummary) -> None:
    """Every drift and fairness number of `summary` is on /metrics, exactly."""
    assert summary.drift is not None and summary.fairness is not None
    assert m.value(DRIFT_SHARE, monitor=MONITOR) == summary.drift.share_of_drifted_columns
    assert m.value("driftcar_monitor_dataset_drift", monitor=MONITOR) == float(summary.drift.dataset_drift)
    tested = [
        c for c in (summary.drift.prediction, *summary.drift.columns) if c is not None and c.score is not None
    ]
    scores = {
        (s.labels["column"], s.labels["method"]): s.value
        for s in m.samples
        if s.name == SCORE and s.labels["monitor"] == MONITOR
    }
    assert scores == {(c.column, c.method): c.score for c in tested}
    drifted = {
        s.labels["column"] for s in m.samples if s.name == "driftcar_monitor_column_drifted" and s.value == 1
    }
    assert drifted == {c.column for c in tested if c.drifted}
    for attribute in summary.fairness.attributes:
        ratio = attribute.disparity("demographic_parity_ratio").value
        assert ratio is not None
        labels = {
            "monitor": MONITOR,
            "attribute": attribute.name,
            "group": "",
            "metric": "demographic_parity_ratio",
        }
        assert m.value("driftcar_monitor_fairness", **labels) == ratio
        for group in attribute.groups:
            for rate in GROUP_RATES:
                value = getattr(group, rate)
                found = m.value(
                    "driftcar_monitor_fairness", attribute=attribute.name, group=group.label, metric=rate
                )
                assert found == (value if value is not None else 0.0), (attribute.name, group.label, rate)
    assert m.value("driftcar_monitor_rows", monitor=MONITOR, side="current") == summary.window_rows
    assert m.value("driftcar_monitor_rows", monitor=MONITOR, side="reference") == summary.reference.rows
    assert m.value("driftcar_monitor_report_timestamp_seconds", monitor=MONITOR) == summary.window_end


@pytest.mark.slow  # the report worker a sidecar with monitors starts imports Evidently; stopping waits for it
async def test_a_sidecar_serves_the_stored_runs_at_start_and_other_replicas_runs_after_a_refresh(
    make_sidecar: SidecarFactory, upstream: TestServer, sqlite_url: str, http: aiohttp.ClientSession
) -> None:
    ok, failed = await store_runs(sqlite_url)
    assert failed is not None and ok.finished_at is not None and failed.finished_at is not None
    sidecar = await make_sidecar(
        str(upstream.make_url("")), monitors=[monitor_config()], metrics={"refresh": 0.1}
    )
    m = await scrape_when(http, sidecar, lambda m: DRIFT_SHARE in m.families)
    assert_summary_gauges(m, shifted_summary())
    # Every family passes promtool's lints and is in docs/observability.md with its type.
    async with http.get(admin_url(sidecar, "/metrics")) as resp:
        text = await resp.text()
    await promtool("check", "metrics", stdin=text)
    assert exposed_metrics(text) == documented_metrics()
    last = "driftcar_monitor_last_run_timestamp_seconds"
    assert m.value(last, monitor=MONITOR, status="ok") == ok.finished_at
    assert m.value(last, monitor=MONITOR, status="failed") == failed.finished_at
    assert m.label_values(last, "status") == {"ok", "failed"}
    assert m.value("driftcar_monitor_last_success_timestamp_seconds", monitor=MONITOR) == ok.finished_at
    assert m.value("driftcar_monitor_schedule_period_seconds", monitor=MONITOR) in (365 * 86400, 366 * 86400)
    # This process ran nothing: its counters exist, at zero.
    assert {s.labels["status"]: s.value for s in m.samples if s.name == "driftcar_monitor_runs_total"} == {
        "ok": 0,
        "failed": 0,
        "skipped": 0,
    }
    assert m.value("driftcar_monitor_series_omitted", monitor=MONITOR) == 0

    # "Another replica" stores a newer ok run, of the steady window, straight into the shared database.
    steady = steady_summary()
    newer, _ = await store_runs(sqlite_url, steady, failed=False)
    m = await scrape_when(
        http,
        sidecar,
        lambda m: m.value("driftcar_monitor_report_timestamp_seconds", monitor=MONITOR) == steady.window_end,
    )
    assert_summary_gauges(m, steady)
    assert m.value("driftcar_monitor_dataset_drift", monitor=MONITOR) == 0
    assert m.value("driftcar_monitor_last_success_timestamp_seconds", monitor=MONITOR) == newer.finished_at


async def test_label_caps_count_what_they_leave_out(sqlite_url: str) -> None:
    await store_runs(sqlite_url)
    summary = shifted_summary()
    assert summary.drift is not None and summary.fairness is not None
    engine = create_engine(sqlite_url)
    try:
        monitors = [MonitorConfig.model_validate(monitor_config())]
        metrics = MonitorMetrics(engine, monitors, MetricsSettings(max_columns=1, max_groups=1))
        await metrics.refresh()
    finally:
        await engine.dispose()
    registry = CollectorRegistry()
    registry.register(metrics)
    m = parse(generate_latest(registry).decode())
    tested = [c for c in summary.drift.columns if c.score is not None]
    assert len(m.label_values(SCORE, "column")) == 2  # the prediction and one drifted column
    assert m.value("driftcar_monitor_column_drifted", monitor=MONITOR) == 2
    assert m.value("driftcar_monitor_series_omitted", monitor=MONITOR, kind="column") == len(tested) - 1
    attributes = summary.fairness.attributes
    assert m.value("driftcar_monitor_series_omitted", monitor=MONITOR, kind="group") == sum(
        len(a.groups) - 1 for a in attributes
    )
    assert {(s.labels["attribute"], s.labels["group"]) for s in m.samples if s.labels.get("group")} == {
        (a.name, a.groups[0].label) for a in attributes
    }


async def test_a_run_finishing_during_a_refresh_never_shows_a_summary_newer_than_last_success(
    sqlite_url: str,
) -> None:
    """Another replica finishes a run between the refresh's reads: the served last-success time is never
    older than the run whose summary is served (the CI failure of stop 10)."""
    first, _ = await store_runs(sqlite_url, failed=False)
    engine = create_engine(sqlite_url)
    newer: list[RunInfo] = []

    class InterleavedRuns(RunStore):
        async def latest_run(self, monitor: str, status: RunStatus | None = None) -> RunInfo | None:
            found = await super().latest_run(monitor, status)
            if not newer:  # the other replica's run lands right after this read
                newer.append((await store_runs(sqlite_url, steady_summary(), failed=False))[0])
            return found

    try:
        metrics = MonitorMetrics(engine, [MonitorConfig.model_validate(monitor_config())], MetricsSettings())
        metrics._runs_store = InterleavedRuns(engine)
        await metrics.refresh()
        registry = CollectorRegistry()
        registry.register(metrics)
        m = parse(generate_latest(registry).decode())
        served = m.value("driftcar_monitor_report_timestamp_seconds", monitor=MONITOR)
        assert served == shifted_summary().window_end  # the run read first ...
        last_success = m.value("driftcar_monitor_last_success_timestamp_seconds", monitor=MONITOR)
        assert first.finished_at is not None and last_success >= first.finished_at
        # ... and the timestamps already see the newer one; the next refresh serves it.
        assert newer and last_success == newer[0].finished_at
        await metrics.refresh()
        m = parse(generate_latest(registry).decode())
        steady_end = steady_summary().window_end
        assert m.value("driftcar_monitor_report_timestamp_seconds", monitor=MONITOR) == steady_end
    finally:
        await engine.dispose()


async def test_no_monitor_gauges_without_runs(sidecar: Sidecar, http: aiohttp.ClientSession) -> None:
    refreshed = "driftcar_monitor_metrics_refresh_timestamp_seconds"
    m = await scrape_when(http, sidecar, lambda m: refreshed in m.families)
    names = {s.name for s in m.samples if s.name.startswith("driftcar_monitor_")}
    assert names == {refreshed}


@pytest.mark.parametrize(("given", "seconds"), [("15s", 15.0), ("2m", 120.0), (0.5, 0.5)])
def test_the_refresh_interval_is_a_duration(given: str | float, seconds: float) -> None:
    assert MetricsSettings.model_validate({"refresh": given}).refresh == seconds


@pytest.mark.parametrize("bad", [0, -1, "soon"])
def test_a_refresh_interval_must_be_positive(bad: str | float) -> None:
    with pytest.raises(pydantic.ValidationError):
        MetricsSettings.model_validate({"refresh": bad})
