"""The HTML report in headless Chromium, offline: Evidently's JavaScript draws the drift table by itself.

Chromium comes from `tests.browser` (failed under CI, skipped elsewhere when it is not installed).
"""

from __future__ import annotations

import re
from pathlib import Path

from sidecar.reports import ReportResult
from sidecar.reports.section import fmt
from tests.browser import chromium_path, dump_dom
from tests.sidecar.reports.known import BIASED_GROUP, DRIFTED, FEATURES
from tests.sidecar.reports.tables import row, split_section, tables, visible_text


def test_report_renders_offline_in_headless_chromium(report: ReportResult, tmp_path: Path) -> None:
    chromium = chromium_path()
    assert report.html is not None
    page = tmp_path / "report.html"
    page.write_bytes(report.html)
    dom = dump_dom(chromium, page, tmp_path / "profile")

    section, evidently = split_section(dom)
    drawn = visible_text(evidently)  # scripts removed: only what the JavaScript rendered is left
    assert "Dataset Drift" in drawn and "Data Drift Summary" in drawn
    assert f"({len(DRIFTED)} out of {len(FEATURES)})" in drawn
    # Evidently's drift table, one row per column: "income num Detected", "age num Not Detected".
    detected = set(re.findall(r"(\w+) (?:num|cat) Detected", drawn))
    assert detected == DRIFTED
    assert set(re.findall(r"(\w+) (?:num|cat) Not Detected", drawn)) == set(FEATURES) - DRIFTED

    summary = report.summary
    assert summary.fairness is not None
    sex = summary.fairness.attribute("sex")
    biased = row(tables(section)[0], BIASED_GROUP)
    assert biased[:4] == [
        BIASED_GROUP,
        f"{sex.group(BIASED_GROUP).count:,}",
        f"{sex.group(BIASED_GROUP).n_labelled:,}",
        fmt(sex.group(BIASED_GROUP).selection_rate),
    ]
