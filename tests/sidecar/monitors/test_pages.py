"""The HTML index of report runs, built from real report summaries: rows, chart, links, escaping, empty states."""

from __future__ import annotations

import copy
import json
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from sidecar.monitors.pages import MonitorRuns, render_index, utc
from sidecar.reports import ReportContext, ReportResult, run_report
from storage.runs import RunInfo, RunStatus
from tests.browser import chromium_path, dump_dom
from tests.sidecar.reports.known import BIASED_GROUP, DRIFTED, ROWS, make_frame, make_spec
from tests.sidecar.reports.tables import tables, visible_text

T0 = 1.7e9  # 2023-11-14 22:13:20Z
HOUR = 3600.0
NOW = T0 + 8 * HOUR
NEXT_RUN = datetime(2026, 11, 25, 10, 15, tzinfo=UTC).timestamp()
DRIFT_SHARE = 0.3  # two drifted columns of six: a "Yes"
SCRIPT = "<script>alert(1)</script>"
SKIP_REASON = "the window has 12 rows, fewer than min_rows=100"
FAIL_REASON = "ValueError: <b>bad</b> input " + "x" * 500 + " TAIL-OF-TRACEBACK"
COLUMNS = ["Run", "Status", "Time (UTC)", "Window (UTC)", "Rows", "Dataset drift", "Drifted columns"]
COLUMNS += ["Fairness flags", "Reference", "Replica"]


def _context(hours: int) -> ReportContext:
    start = T0 + hours * HOUR
    return ReportContext(
        window_start=start, window_end=start + HOUR, reference_version=1, reference_source="first_n"
    )


@pytest.fixture(scope="module")
def drifted() -> ReportResult:
    """The known-answer window: `income` and `region` drift, approvals halved for `female`."""
    reference, window = make_frame(ROWS, 1, window=False), make_frame(ROWS, 2, window=True)
    return run_report(reference, window, make_spec(drift={"drift_share": DRIFT_SHARE}), _context(3))


@pytest.fixture(scope="module")
def steady() -> ReportResult:
    """A window drawn like the reference: no drift, no bias."""
    reference, window = make_frame(ROWS, 1, window=False), make_frame(ROWS, 3, window=False)
    return run_report(reference, window, make_spec(drift={"drift_share": DRIFT_SHARE}), _context(1))


def stored(result: ReportResult) -> dict[str, Any]:
    """The summary as the run store keeps it: a JSON object."""
    summary: dict[str, Any] = json.loads(result.summary.to_json())
    return summary


def make_run(
    run_id: int,
    status: RunStatus,
    hours: int,
    summary: dict[str, Any] | None = None,
    **fields: Any,
) -> RunInfo:
    """A run of the window starting `hours` after T0; keyword arguments override the other fields."""
    start = T0 + hours * HOUR
    values: dict[str, Any] = {
        "id": run_id,
        "monitor": "loans",
        "window_start": start,
        "window_end": start + HOUR,
        "status": status,
        "replica": "replica-a",
        "claimed_at": start + HOUR + 5,
        "finished_at": None if status == "running" else start + HOUR + 20,
        "n_rows": None,
        "reference_version": 1,
        "summary": summary,
        "error": None,
        "has_html": False,
    }
    return RunInfo(**(values | fields))


@pytest.fixture(scope="module")
def runs(drifted: ReportResult, steady: ReportResult) -> list[RunInfo]:
    """Newest first: running, failed, skipped, ok (drifted, with HTML), ok (unreadable), ok (steady)."""
    return [
        make_run(7, "running", 6, replica="replica-b"),
        make_run(6, "failed", 5, error=FAIL_REASON),
        make_run(5, "skipped", 4, error=SKIP_REASON, n_rows=12),
        make_run(4, "ok", 3, stored(drifted), n_rows=ROWS, has_html=True),
        make_run(3, "ok", 2, {"monitor": "loans", "bogus": 1}, n_rows=ROWS),
        make_run(2, "ok", 1, stored(steady)),
    ]


@pytest.fixture(scope="module")
def page(runs: list[RunInfo]) -> str:
    monitor = MonitorRuns("loans", "model loan-approval · window 60 min · every 15m", runs, NEXT_RUN)
    return render_index([monitor], now=NOW, base="/admin/")


def cells(page: str, run_id: int) -> dict[str, str]:
    """The table row of one run, by column name."""
    (table,) = tables(page)
    assert table[0] == COLUMNS
    found = [r for r in table[1:] if r[0].startswith(f"#{run_id} ")]
    assert len(found) == 1, f"no single row for run {run_id}"
    return dict(zip(COLUMNS, found[0], strict=True))


def test_the_page_is_self_contained_html5_without_scripts(page: str) -> None:
    assert page.startswith("<!DOCTYPE html>") and page.rstrip().endswith("</html>")
    assert "<style>" in page
    for absent in ("<script", "<link", " src=", "http://", "https://", "@import"):
        assert absent not in page.lower()


def test_the_heading_shows_name_description_next_run_and_count(page: str) -> None:
    assert '<section class="monitor" id="loans">' in page
    assert 'href="#loans"' in page
    text = visible_text(page)
    assert "model loan-approval · window 60 min · every 15m" in text
    assert "Next run: 2026-11-25 10:15:00Z (in" in text
    assert "6 runs shown" in text


def test_the_drifted_run_shows_its_verdict_columns_and_biased_group(page: str, drifted: ReportResult) -> None:
    row = cells(page, 4)
    assert row["Status"] == "ok"
    assert row["Dataset drift"] == f"Yes {len(DRIFTED)}/6"
    assert set(row["Drifted columns"].split(", ")) == DRIFTED
    assert row["Rows"] == f"{ROWS:,}"
    assert row["Window (UTC)"] == "2023-11-15 01:13:20 \u2013 02:13:20Z"
    assert row["Time (UTC)"] == utc(T0 + 4 * HOUR + 20)
    assert row["Reference"] == f"v1 · default: first {ROWS:,} records"
    assert row["Replica"] == "replica-a"

    assert drifted.summary.fairness is not None
    ratio = drifted.summary.fairness.attribute("sex").disparity("demographic_parity_ratio")
    assert ratio.value is not None and ratio.value < 0.8 and ratio.lowest == BIASED_GROUP
    assert f"sex: demographic_parity_ratio {ratio.value:.3g} ({BIASED_GROUP})" in row["Fairness flags"]


def test_the_steady_run_shows_no_drift_and_its_window_rows(page: str, steady: ReportResult) -> None:
    row = cells(page, 2)
    assert row["Dataset drift"] == "No 0/6"
    assert row["Drifted columns"] == "none"
    assert row["Fairness flags"] == "none"
    assert row["Rows"] == f"{steady.summary.window_rows:,}"  # n_rows unset: from the summary


def test_report_links_only_when_the_run_has_html(page: str) -> None:
    assert 'href="/admin/reports/4"' in page
    for run_id in (2, 3, 5, 6, 7):
        assert f'href="/admin/reports/{run_id}"' not in page
    for run_id in range(2, 8):
        assert f'href="/admin/reports/{run_id}.json"' in page


def test_skipped_failed_and_running_runs_say_why(page: str) -> None:
    skipped = cells(page, 5)
    assert skipped["Status"] == f"skipped{SKIP_REASON}"
    assert skipped["Rows"] == "12" and skipped["Dataset drift"] == "—"

    failed = cells(page, 6)["Status"]
    assert failed.startswith("failedValueError: <b>bad</b> input xxx")  # shown as text, not markup
    assert failed.endswith("…") and "TAIL-OF-TRACEBACK" not in failed
    assert "&lt;b&gt;bad&lt;/b&gt;" in page and "<b>bad" not in page

    running = cells(page, 7)
    assert running["Status"] == "runningfor 60 min"
    assert running["Time (UTC)"] == utc(T0 + 7 * HOUR + 5)  # claimed_at: not finished yet
    assert running["Replica"] == "replica-b"


def test_an_unreadable_summary_does_not_break_the_page(page: str) -> None:
    row = cells(page, 3)
    assert row["Status"] == "oksummary unreadable"
    assert row["Dataset drift"] == "—" and row["Reference"] == "v1"


def test_the_chart_has_one_point_per_completed_run(page: str) -> None:
    # Runs 4 and 2: ok with a readable summary; oldest first, so the steady run comes first.
    drift = re.findall(r'<circle class="pt drift"[^>]*><title>([^<]*)</title>', page)
    assert [t.split(" · ")[0] for t in drift] == ["run 2", "run 4"]
    assert "drift share 0/6 = 0" in drift[0] and "drift share 2/6 = 0.333" in drift[1]
    parity = re.findall(r'<circle class="pt parity"[^>]*><title>([^<]*)</title>', page)
    assert len(parity) == 2 and f"({BIASED_GROUP})" in parity[1]
    assert page.count("<polyline") == 2
    assert '<line class="drift limit"' in page and '<line class="parity limit"' in page
    text = visible_text(page)
    assert "dataset drift share (dashed: 0.3)" in text
    assert "lowest demographic parity ratio (dashed: 0.8)" in text


@pytest.mark.parametrize("same_time", [False, True])
def test_the_chart_handles_one_point_and_equal_times(drifted: ReportResult, same_time: bool) -> None:
    summary = stored(drifted)
    runs = [make_run(2, "ok", 0 if same_time else 1, summary), make_run(1, "ok", 0, summary)]
    page = render_index([MonitorRuns("m", "", runs[: 2 if same_time else 1], None)], now=NOW)
    assert page.count('class="pt drift"') == (2 if same_time else 1)
    assert "nan" not in page.lower() and "inf" not in page.lower()
    assert "Next run: not scheduled" in visible_text(page)


def test_no_chart_without_a_completed_run(drifted: ReportResult) -> None:
    zero_columns = stored(drifted)
    zero_columns["drift"] |= {
        "columns": [],
        "dataset_drift": False,
        "number_of_columns": 0,
        "number_of_drifted_columns": 0,
    }
    zero_columns["fairness"] = None
    runs = [make_run(2, "failed", 1, error="boom"), make_run(1, "ok", 0, zero_columns)]
    page = render_index([MonitorRuns("m", "", runs, None)], now=NOW)
    assert "<svg" not in page
    assert "Nothing to chart yet: no completed run with drift or fairness results." in page
    assert cells(page, 1)["Dataset drift"] == "No 0/0"


def test_many_drifted_columns_are_cut_after_eight(drifted: ReportResult) -> None:
    summary = stored(drifted)
    template = next(c for c in summary["drift"]["columns"] if c["drifted"])
    summary["drift"]["columns"] = [template | {"column": f"c{i:02d}"} for i in range(12)]
    page = render_index([MonitorRuns("m", "", [make_run(1, "ok", 0, summary)], None)], now=NOW)
    assert cells(page, 1)["Drifted columns"] == ", ".join(f"c{i:02d}" for i in range(8)) + " +4 more"


def test_data_from_traffic_is_escaped(drifted: ReportResult) -> None:
    """Column names and group labels come from captured traffic: an attacker chooses them."""
    summary = copy.deepcopy(stored(drifted))
    column = next(c for c in summary["drift"]["columns"] if c["drifted"])
    column["column"] = SCRIPT
    hostile_group = '<img src=x onerror="alert(2)">'
    for flag in summary["flags"]:
        if flag["kind"] == "fairness":
            flag["group"] = hostile_group
    for disparity in summary["fairness"]["attributes"][0]["disparities"]:
        disparity["lowest"] = hostile_group
    name = "<b>evil</b>\"' & co"
    runs = [
        make_run(2, "failed", 1, error=SCRIPT),
        make_run(1, "ok", 0, summary, replica=SCRIPT, has_html=True),
    ]
    page = render_index([MonitorRuns(name, SCRIPT, runs, None)], now=NOW, base="/x")

    assert "<script" not in page.lower() and "<img" not in page.lower() and "<b>evil" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    text = visible_text(page)  # the hostile strings are shown as text
    assert SCRIPT in cells(page, 1)["Drifted columns"].split(", ")
    assert hostile_group in cells(page, 1)["Fairness flags"]
    assert cells(page, 1)["Replica"] == SCRIPT and cells(page, 2)["Status"] == f"failed{SCRIPT}"
    assert name in text
    anchor = re.search(r'<section class="monitor" id="([^"]*)"', page)
    assert anchor is not None and re.fullmatch(r"[A-Za-z0-9_.-]+", anchor.group(1))


def test_duplicate_or_unsafe_names_get_distinct_ids() -> None:
    monitors = [MonitorRuns(n, "", [], None) for n in ("a b", "a b", "-", "")]
    ids = re.findall(r'<section class="monitor" id="([^"]*)"', render_index(monitors, now=NOW))
    assert len(set(ids)) == 4 and all(re.fullmatch(r"[A-Za-z0-9_.-]+", i) for i in ids)


def test_empty_states() -> None:
    page = render_index([], now=NOW)
    assert "No monitors are configured." in visible_text(page) and "<section" not in page

    page = render_index([MonitorRuns("fresh", "model m", [], NOW - 60)], now=NOW)
    text = visible_text(page)
    assert "No runs yet." in text and "0 runs shown" in text and "(overdue)" in text
    assert "<table" not in page and "<svg" not in page


def test_the_page_renders_in_headless_chromium(page: str, tmp_path: Path) -> None:
    chromium = chromium_path()
    path = tmp_path / "reports.html"
    path.write_text(page, encoding="utf-8")
    dom = dump_dom(chromium, path, tmp_path / "profile")

    assert re.search(r'<svg class="runs-chart"[^>]*>', dom)
    assert len(re.findall(r'<circle class="pt drift"', dom)) == 2
    assert cells(dom, 4)["Dataset drift"] == f"Yes {len(DRIFTED)}/6"
    assert "Report runs" in visible_text(dom)
