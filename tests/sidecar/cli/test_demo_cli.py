"""`driftcar demo` end to end: it trains, serves and captures every row, and its scheduled monitor reports no
drift on the baseline, then the injected drift and its bias, in a report served while the demo lingers."""

from __future__ import annotations

import asyncio
import re
import signal
import sys
from pathlib import Path

import aiohttp

DRIFTED = re.compile(r"^ {6}(\w+) +\S+ +\S+ \(threshold \S+\) +DRIFT$", re.M)
REPORT = re.compile(r"^ {4}report (http://127\.0\.0\.1:\d+)/reports/(\d+)$", re.M)


async def _until_serving(stream: asyncio.StreamReader) -> str:
    """The demo's output up to its `serving for` line (or its end)."""
    lines = []
    while line := (await stream.readline()).decode():
        lines.append(line)
        if line.startswith("serving for"):
            break
    return "".join(lines)


async def test_demo_reports_no_drift_then_the_injected_drift_and_bias(tmp_path: Path) -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "sidecar.cli", "--log-level", "WARNING", "demo", "--requests", "400",
        "--port", "0", "--admin-port", "0", "--linger", "60", "--dir", str(tmp_path),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, stdin=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    assert proc.stdout is not None
    try:
        text = await asyncio.wait_for(_until_serving(proc.stdout), timeout=90)
        assert "serving for 60 s" in text, text
        sent = re.findall(r"sent 200 requests \((\d+) rows\); statuses \{200: 200\}; failed 0", text)
        assert len(sent) == 2, text
        written = re.findall(r"records written: (\d+), spooled: 0, dropped: 0", text)
        assert [int(w) for w in written] == [int(sent[0]), int(sent[0]) + int(sent[1])], text

        baseline, drift = text.split("\n2. drift:")
        run = r"^  run \d+, scheduled for [\d:]+: \d+ records captured .*\n    reference v1: the first \d+ records"
        assert re.search(run, baseline, re.M), baseline
        assert "    drift: none in the 8 columns or the prediction\n" in baseline, baseline
        assert re.search(run, drift, re.M), drift
        drifted = set(DRIFTED.findall(drift))
        assert {"income", "debt_ratio", "region", "prediction"} <= drifted, drift
        assert {"age", "credit_lines", "employment_years"}.isdisjoint(drifted), drift
        unfair = r"FLAG fairness: sex: demographic_parity_ratio \S+ is below 0.8 \(worse off: female\)"
        assert re.search(unfair, drift), drift

        report = REPORT.search(drift)
        assert report is not None, drift
        admin, run_id = report.group(1), int(report.group(2))
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=20)) as http:
            async with http.get(f"{admin}/reports/{run_id}") as resp:
                assert resp.status == 200 and resp.content_type == "text/html"
                assert "income" in await resp.text()
            async with http.get(f"{admin}/reports/{run_id}.json") as resp:
                assert resp.status == 200
                summary = (await resp.json())["summary"]
            async with http.get(f"{admin}/reports") as resp:
                assert resp.status == 200 and f"/reports/{run_id}" in await resp.text()
        flags = {(f["kind"], f["column"] or f["attribute"]) for f in summary["flags"]}
        assert {("column_drift", "income"), ("prediction_drift", "prediction"), ("fairness", "sex")} <= flags
        assert summary["reference"]["source"] == "first_n"
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGTERM)  # ends the linger early, as Ctrl-C would
        _, err = await asyncio.wait_for(proc.communicate(), timeout=60)
    assert proc.returncode == 0, err.decode()[-2000:]
    assert (tmp_path / "driftcar.db").is_file()
