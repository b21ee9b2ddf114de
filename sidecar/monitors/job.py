"""The work of one report run that happens in the report worker: read the window and the reference from the
database, compute the report, measure the operational figures.

The worker opens its own database connection, so the window (a million records is ~1 GB of Python objects
while parsed) is never built in the proxy's process: parsing there competed with the proxy's event loop for
the GIL (p99 latency x10 while loading), and handing the frames to the worker pickled them under the GIL (a
1.7 s stall of the proxy for 1M rows). Only the summary and the HTML come back.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from alerts.rules import Operational
from sidecar.monitors.config import MonitorConfig
from sidecar.reports.spec import ReferenceSource, ReportContext
from storage.engine import create_engine
from storage.references import ReferenceStore
from storage.windows import load_window, operational_figures

if TYPE_CHECKING:
    import pandas as pd

    from sidecar.reports.summary import ReportSummary

Progress = Callable[[str], None]
# Record metadata the report never reads: dropped before the statistics (1M unique request ids are ~0.5 s of
# pickling and ~70 MB).
_UNUSED = ("request_id", "row")


@dataclass(frozen=True, slots=True)
class MonitorJob:
    """Everything the worker needs, all picklable: where the data is and what to compute."""

    database_url: str
    monitor: MonitorConfig
    reference_version: int
    reference_source: ReferenceSource
    start: float
    end: float
    count_window: bool
    """Read the newest `monitor.window.records` records before `end` instead of [start, end)."""


@dataclass(frozen=True, slots=True)
class JobResult:
    """What the run found, and how long each stage took."""

    summary: ReportSummary
    html: bytes | None
    n_rows: int
    window_start: float
    window_end: float
    """The window the report describes: the claimed one, or a count window's first and last record."""
    operational: Operational | None
    load_s: float
    statistics_s: float
    html_s: float


def _features(monitor: MonitorConfig) -> list[str] | None:
    if monitor.features is None:
        return None
    protected = monitor.fairness.protected if monitor.fairness else []
    return list(dict.fromkeys([*monitor.features, *protected]))


async def _load(
    job: MonitorJob, progress: Progress | None
) -> tuple[pd.DataFrame, pd.DataFrame, float, float, Operational | None]:
    monitor = job.monitor
    engine = create_engine(job.database_url)
    # The reference (Parquet decoded by pyarrow, off the GIL) loads on its own connection while the window's
    # rows are fetched and parsed.
    referenced = asyncio.ensure_future(
        ReferenceStore(engine).get_reference(monitor.name, job.reference_version)
    )
    try:

        def loaded(rows: int) -> None:
            if progress is not None:
                progress(f"loading the window: {rows:,} records")

        where = monitor.record_filter()
        if job.count_window:
            assert monitor.window.records is not None
            window = await load_window(
                engine,
                end=job.end,
                last_n=monitor.window.records,
                features=_features(monitor),
                progress=loaded,
                **where,
            )
        else:
            window = await load_window(
                engine, start=job.start, end=job.end, features=_features(monitor), progress=loaded, **where
            )
        _, reference = await referenced
        start, end = job.start, job.end
        if job.count_window and len(window):
            start, end = float(window["ts"].iloc[0]), float(window["ts"].iloc[-1])
        operational = None
        if any(rule.when in ("error_rate", "latency_p99") for rule in monitor.alerts):
            import numpy as np

            upto = float(np.nextafter(end, np.inf)) if job.count_window else end
            total, failed, p99 = await operational_figures(engine, start=start, end=upto, **where)
            operational = Operational(total, failed, p99)
        return reference, window, start, end, operational
    finally:
        if not referenced.done():
            referenced.cancel()
            await asyncio.wait([referenced])
        if not referenced.cancelled():
            referenced.exception()  # an error of the window load, when both failed, is the one raised
        await engine.dispose()


def run_monitor_job(job: MonitorJob, progress: Progress | None = None) -> JobResult:
    """Load, compute and render one run (in a report worker process, or a thread of the CLI)."""
    from sidecar.reports.job import run_report

    started = time.perf_counter()
    reference, window, start, end, operational = asyncio.run(_load(job, progress))
    monitor = job.monitor
    window = window.drop(columns=[c for c in _UNUSED if c in window.columns])
    with_label = (
        monitor.label is not None
        and monitor.label in window.columns
        and bool(window[monitor.label].notna().any())
    )
    if not with_label and monitor.label is not None and monitor.label in window.columns:
        window = window.drop(columns=monitor.label)
    loaded = time.perf_counter()
    if progress is not None:
        progress(f"window loaded: {len(window):,} records in {loaded - started:.1f} s; computing the report")
    context = ReportContext(
        window_start=start,
        window_end=end,
        reference_version=job.reference_version,
        reference_source=job.reference_source,
    )
    result = run_report(reference, window, monitor.spec(with_label=with_label), context)
    return JobResult(
        summary=result.summary,
        html=result.html,
        n_rows=len(window),
        window_start=start,
        window_end=end,
        operational=operational,
        load_s=loaded - started,
        statistics_s=result.timings.statistics_s,
        html_s=result.timings.html_s,
    )
