"""The report job of a monitor: statistics on every row, the Evidently HTML on a sample, both in one result.

`run_report` is a plain top-level function of picklable arguments, so the scheduler runs it in a process pool
(`sidecar.reports.pool.create_report_pool` + `render_in_pool`) and the event loop never computes statistics or
imports Evidently.
"""

from __future__ import annotations

import asyncio
import logging
import time
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from dataclasses import dataclass, replace
from functools import partial

import pandas as pd

from detectors.columns import ColumnType, infer_column
from sidecar.reports.evidently_html import (
    EvidentlyPlan,
    insert_section,
    render_evidently,
    sample_rows,
    standalone_page,
)
from sidecar.reports.flags import drift_flags, error_flags, fairness_flags, quality_flags
from sidecar.reports.section import render_section
from sidecar.reports.spec import ReportContext, ReportSpec
from sidecar.reports.stats import Columns, Sections, compute_sections, resolve_columns
from sidecar.reports.summary import (
    Flag,
    HtmlSample,
    ReferenceSummary,
    ReportSummary,
    SectionError,
)

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ReportTimings:
    """Wall-clock seconds of each stage of one run."""

    statistics_s: float
    html_s: float
    """The wait for the HTML once the statistics were done (it is drawn alongside them, in a thread)."""
    total_s: float


@dataclass(frozen=True, slots=True)
class ReportResult:
    """The summary, the HTML report (UTF-8; None when the run was skipped) and the timings."""

    summary: ReportSummary
    html: bytes | None
    timings: ReportTimings


def _too_few(reference: pd.DataFrame, current: pd.DataFrame, spec: ReportSpec) -> str | None:
    """Why the run is skipped for lack of rows, or None."""
    if len(current) < spec.min_rows:
        return f"the window has {len(current):,} rows, fewer than min_rows={spec.min_rows:,}"
    if len(reference) < spec.min_rows:
        return f"the reference has {len(reference):,} rows, fewer than min_rows={spec.min_rows:,}"
    return None


def _flags(sections: Sections, spec: ReportSpec) -> list[Flag]:
    flags = []
    if sections.drift is not None:
        flags += drift_flags(sections.drift)
    if sections.quality is not None:
        flags += quality_flags(sections.quality)
    if sections.fairness is not None:
        flags += fairness_flags(sections.fairness, spec.bias)
    return flags + error_flags(tuple(sections.errors))


def _plan(reference: pd.DataFrame, spec: ReportSpec, cols: Columns, sections: Sections) -> EvidentlyPlan:
    """Evidently's column typing taken from driftcar's, so both halves of the report agree on it."""
    known: dict[str, ColumnType] = {}
    methods: dict[str, tuple[str, float]] = {}
    if sections.drift_result is not None:
        known = {info.name: info.type for info in sections.drift_result.column_info}
        for c in sections.drift_result.all_columns():
            if c.method is not None and c.threshold is not None and not c.skipped:
                methods[c.column] = (c.method, c.threshold)
    columns: dict[str, ColumnType] = {}
    for name in [*cols.drift_features, spec.prediction]:
        kind = known.get(name) or infer_column(name, reference[name], spec.drift.column_types.get(name)).type
        if kind in ("numeric", "categorical", "binary"):
            columns[name] = kind
    label = cols.label_current if cols.label_current == cols.label_reference else None
    if label is not None:
        columns[label] = "numeric" if spec.task == "regression" else "categorical"
    if spec.prediction in columns and spec.task == "classification" and label is not None:
        columns[spec.prediction] = "categorical"
    counted = [*cols.drift_features, *([spec.prediction] if spec.drift.count_prediction_in_share else [])]
    positive = spec.performance.positive
    if positive is None and spec.fairness is not None:
        positive = spec.fairness.favorable
    return EvidentlyPlan(
        columns=columns,
        drift_columns=tuple(c for c in counted if c in columns),
        prediction=spec.prediction,
        label=label,
        task=spec.task,
        positive=positive,
        drift=spec.drift,
        methods=methods,
    )


def _evidently(reference: pd.DataFrame, current: pd.DataFrame, spec: ReportSpec, plan: EvidentlyPlan) -> str:
    return render_evidently(
        sample_rows(reference, spec.html_max_rows, spec.seed),
        sample_rows(current, spec.html_max_rows, spec.seed),
        plan,
    )


def _html(rendering: Future[str], spec: ReportSpec, summary: ReportSummary) -> tuple[bytes, ReportSummary]:
    """The Evidently report with driftcar's section spliced in, or driftcar's section alone if Evidently fails."""
    try:
        document = rendering.result()
    # Evidently is third-party code run on arbitrary traffic: whatever it raises must not cost the summary.
    except Exception as exc:
        logger.exception("monitor %s: the Evidently report failed; the summary stands", spec.monitor)
        failure = SectionError("html", type(exc).__name__, str(exc))
        summary = replace(
            summary,
            errors=(*summary.errors, failure),
            flags=(*summary.flags, *error_flags((failure,))),
            html_sample=None,
        )
        page = standalone_page(render_section(summary), f"The Evidently report could not be drawn: {exc}")
        return page.encode(), summary
    return insert_section(document, render_section(summary)).encode(), summary


def run_report(
    reference: pd.DataFrame, current: pd.DataFrame, spec: ReportSpec, context: ReportContext | None = None
) -> ReportResult:
    """Run one report: the summary from every row, the HTML on a seeded sample of at most `html_max_rows`."""
    started = time.perf_counter()
    context = context or ReportContext()
    base = ReportSummary(
        monitor=spec.monitor,
        status="skipped",
        skip_reason=_too_few(reference, current, spec),
        created_at=time.time(),
        task=spec.task,
        prediction=spec.prediction,
        label=spec.label,
        window_start=context.window_start,
        window_end=context.window_end,
        window_rows=len(current),
        reference=ReferenceSummary(len(reference), context.reference_version, context.reference_source),
        html_sample=None,
        drift=None,
        quality=None,
        fairness=None,
        performance=None,
        flags=(),
        errors=(),
        notes=(),
    )
    if base.skip_reason is not None:
        total = time.perf_counter() - started
        return ReportResult(base, None, ReportTimings(total, 0.0, total))
    cols = resolve_columns(reference, current, spec)
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="evidently") as pool:
        rendering: list[Future[str]] = []

        def start_html(sections: Sections) -> None:
            # Evidently needs only the drift result (column types, methods): it draws its sample while the
            # other statistics run on every row, much of them in numpy with the GIL released.
            plan = _plan(reference, spec, cols, sections)
            rendering.append(pool.submit(_evidently, reference, current, spec, plan))

        sections = compute_sections(reference, current, spec, cols, start_html)
        statistics_done = time.perf_counter()
    sample = HtmlSample(
        current_rows=min(len(current), spec.html_max_rows),
        reference_rows=min(len(reference), spec.html_max_rows),
        sampled=max(len(current), len(reference)) > spec.html_max_rows,
    )
    summary = replace(
        base,
        status="ok",
        skip_reason=None,
        html_sample=sample,
        drift=sections.drift,
        quality=sections.quality,
        fairness=sections.fairness,
        performance=sections.performance,
        flags=tuple(_flags(sections, spec)),
        errors=tuple(sections.errors),
        notes=tuple(sections.notes),
    )
    html, summary = _html(rendering[0], spec, summary)
    finished = time.perf_counter()
    timings = ReportTimings(statistics_done - started, finished - statistics_done, finished - started)
    return ReportResult(summary, html, timings)


async def render_in_pool(
    executor: Executor,
    reference: pd.DataFrame,
    current: pd.DataFrame,
    spec: ReportSpec,
    context: ReportContext | None = None,
) -> ReportResult:
    """Run `run_report` in `executor` without blocking the event loop."""
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(executor, partial(run_report, reference, current, spec, context))
