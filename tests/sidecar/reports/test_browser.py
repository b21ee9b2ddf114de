"""The HTML report in headless Chromium, offline: Evidently's JavaScript draws the drift table by itself.

Needs `/usr/bin/chromium` (Debian package `chromium`, installed by scripts/ensure-services.sh); without it the
test fails under CI (env `CI` set) and is skipped elsewhere.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
from pathlib import Path

import pytest

from sidecar.reports import ReportResult
from sidecar.reports.section import fmt
from tests.sidecar.reports.known import BIASED_GROUP, DRIFTED, FEATURES
from tests.sidecar.reports.tables import row, split_section, tables, visible_text

CHROMIUM = Path("/usr/bin/chromium")
TIMEOUT_S = 90


def _chromium() -> str:
    found = shutil.which("chromium") or (str(CHROMIUM) if CHROMIUM.exists() else None)
    if found is None:
        message = (
            "chromium is not installed (Debian package `chromium`; scripts/ensure-services.sh installs it)"
        )
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return found


def dump_dom(chromium: str, page: Path, profile: Path) -> str:
    """The DOM after Chromium ran the page's scripts, with the network and background services off."""
    command = [
        chromium,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={profile}",
        "--virtual-time-budget=10000",
        "--dump-dom",
        page.as_uri(),
    ]
    # Its own session, so that a timeout ends Chromium's helper processes too, not only the browser.
    with subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True
    ) as browser:
        try:
            out, err = browser.communicate(timeout=TIMEOUT_S)
        except subprocess.TimeoutExpired:
            os.killpg(browser.pid, signal.SIGKILL)
            browser.communicate()
            pytest.fail(f"chromium did not finish within {TIMEOUT_S} s")
    assert browser.returncode == 0, err[-2000:]
    return out


def test_report_renders_offline_in_headless_chromium(report: ReportResult, tmp_path: Path) -> None:
    chromium = _chromium()
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
