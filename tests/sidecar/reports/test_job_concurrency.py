"""The Evidently HTML is drawn in a thread while the statistics after drift run; the result is the same."""

from __future__ import annotations

import threading
from typing import Any

import pandas as pd
import pytest

from detectors.quality import check_quality
from sidecar.reports import ReportResult, job, run_report, stats
from sidecar.reports.evidently_html import EvidentlyPlan
from tests.sidecar.reports.known import make_spec
from tests.sidecar.reports.tables import split_section

Frames = tuple[pd.DataFrame, pd.DataFrame]
BOUND = 60.0
"""Longest wait for the other thread: a report that stopped overlapping fails instead of hanging."""
PAGE = "<html><head></head><body><p>evidently</p></body></html>"


def test_the_html_is_drawn_while_the_statistics_run(
    frames: Frames, monkeypatch: pytest.MonkeyPatch, report: ReportResult
) -> None:
    drawing, quality_done = threading.Event(), threading.Event()
    seen: list[tuple[str, EvidentlyPlan]] = []

    def render(reference: pd.DataFrame, current: pd.DataFrame, plan: EvidentlyPlan) -> str:
        seen.append((threading.current_thread().name, plan))
        drawing.set()
        # Still drawing when the data quality section is done: the two ran at the same time.
        assert quality_done.wait(BOUND), "the statistics did not go on while the HTML was drawn"
        return PAGE

    def quality_once_drawing(*args: Any, **kwargs: Any) -> Any:
        assert drawing.wait(BOUND), "the HTML was not started once drift was done"
        try:
            return check_quality(*args, **kwargs)
        finally:
            quality_done.set()

    monkeypatch.setattr(job, "render_evidently", render)
    monkeypatch.setattr(stats, "check_quality", quality_once_drawing)
    reference, current = frames
    result = run_report(reference, current, make_spec(), None)
    ((thread, plan),) = seen
    assert thread.startswith("evidently") and thread != threading.current_thread().name
    assert plan.drift_columns  # made from the drift result
    # The same findings as the shared run made with the real Evidently (only creation times differ).
    assert result.summary.flags == report.summary.flags
    assert result.summary.drift == report.summary.drift and result.summary.quality == report.summary.quality
    assert result.summary.fairness == report.summary.fairness
    assert result.html is not None
    section, rest = split_section(result.html.decode())
    assert "<p>evidently</p>" in rest and section
    assert result.timings.total_s >= result.timings.statistics_s + result.timings.html_s - 1e-6
