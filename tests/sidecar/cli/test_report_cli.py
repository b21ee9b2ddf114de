"""`driftcar report MONITOR` against real databases (SQLite and PostgreSQL), with no server running.

The captured records are a baseline of 300 loan applications, then the same rows shuffled with `income` scaled
down and `region` re-mixed while the model turns down half of the women it would have approved. Every other
column of the shifted phase holds exactly the baseline's values, so drift in any of them would be a detector
error, not chance. The summary must flag exactly `income` and `region`, and `female` on `sex`.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml

from sidecar.cli import main
from sidecar.cli.report import StderrProgress
from sidecar.reports.summary import ReferenceSummary, ReportSummary
from storage.engine import create_engine
from storage.migrate import upgrade
from storage.records import Record
from storage.runs import RunInfo, RunStore
from storage.store import RecordStore

DRIFTCAR = [sys.executable, "-m", "sidecar.cli"]
ROWS = 300
FEATURES = ["age", "income", "region", "sex"]
SHIFTED = {"income", "region"}
BASE = 1_700_000_000.0
Row = dict[str, Any]


def make_rows() -> tuple[list[Row], list[Row]]:
    """(baseline, shifted): the shifted rows are the baseline's, shuffled, with income, region and bias moved."""
    rng = np.random.default_rng(5)
    base: list[Row] = [
        {
            "age": int(rng.integers(18, 80)),
            "income": round(float(rng.lognormal(10.0, 0.4)), 2),
            "region": str(rng.choice(["north", "south", "east", "west"], p=[0.4, 0.3, 0.2, 0.1])),
            "sex": str(rng.choice(["female", "male"])),
        }
        for _ in range(ROWS)
    ]
    for row in base:
        row["prediction"] = int(row["age"] < 60)
    shifted = []
    for i, j in enumerate(rng.permutation(ROWS)):
        row = dict(base[int(j)])
        row["income"] = round(row["income"] * 0.6, 2)
        if row["region"] in ("north", "south") and i % 2 == 0:
            row["region"] = "west"
        if row["sex"] == "female" and i % 2 == 0:
            row["prediction"] = 0
        shifted.append(row)
    return base, shifted


def records(rows: list[Row], start: float, tag: str) -> list[Record]:
    """One record a second from `start`, as the proxy would have captured them."""
    return [
        Record(
            ts=start + i,
            request_id=f"{tag}-{i}",
            row=0,
            route="/invocations",
            protocol="mlflow",
            status=200,
            latency_ms=2.5,
            model="loan-approval",
            features={k: row[k] for k in FEATURES},
            prediction=row["prediction"],
        )
        for i, row in enumerate(rows)
    ]


def insert(url: str, batch: list[Record]) -> None:
    """Store the records in the (migrated) database."""

    async def go() -> None:
        engine = create_engine(url)
        try:
            await upgrade(engine)
            await RecordStore(engine).insert(batch)
        finally:
            await engine.dispose()

    asyncio.run(go())


def stored_runs(url: str, monitor: str = "loans") -> list[RunInfo]:
    """The monitor's runs, newest first."""

    async def go() -> list[RunInfo]:
        engine = create_engine(url)
        try:
            return await RunStore(engine).list_runs(monitor)
        finally:
            await engine.dispose()

    return asyncio.run(go())


def set_reference(url: str, rows: list[Row], tmp_path: Path) -> None:
    """Upload the rows as the monitor's reference with `driftcar reference set`."""
    csv = tmp_path / "reference.csv"
    pd.DataFrame(rows).to_csv(csv, index=False)
    assert main(["reference", "set", "loans", str(csv), "--database-url", url]) == 0


def monitor(**overrides: Any) -> dict[str, Any]:
    """The `loans` monitor's YAML mapping."""
    return {
        "name": "loans",
        "model": "loan-approval",
        "features": FEATURES,
        "window": {"minutes": 60},
        "schedule": {"every": "15m"},
        "reference": {"first_n": ROWS},
        "min_rows": 100,
        "fairness": {"protected": ["sex"], "favorable": 1},
        "column_types": {"sex": "categorical", "region": "categorical"},
        **overrides,
    }


def write_config(path: Path, monitors: list[dict[str, Any]], **top: Any) -> Path:
    """A config file with only `monitors:` (no upstream) and the given top-level keys."""
    path.write_text(yaml.safe_dump({**top, "monitors": monitors}), encoding="utf-8")
    return path


@pytest.fixture(autouse=True)
def _no_driftcar_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DRIFTCAR_CONFIG", raising=False)
    monkeypatch.delenv("DRIFTCAR_DATABASE_URL", raising=False)


def drifted(summary: ReportSummary) -> set[str]:
    """The columns flagged for drift."""
    return {f.column for f in summary.flags_of("column_drift") if f.column is not None}


def test_report_as_a_real_process(tmp_path: Path) -> None:
    # One backend only: a process pays the ~4 s Evidently import; PostgreSQL is covered in-process below.
    database_url = f"sqlite+aiosqlite:///{tmp_path / 'driftcar.db'}"
    base, shifted = make_rows()
    insert(database_url, records(shifted, time.time() - 1200.0, "now"))  # inside the hour ending now
    set_reference(database_url, base, tmp_path)
    # The URL comes from the config file: no option, no environment.
    config = write_config(tmp_path / "driftcar.yaml", [monitor()], database_url=database_url)
    html, summary_json = tmp_path / "report.html", tmp_path / "summary.json"
    env = {k: v for k, v in os.environ.items() if k not in ("DRIFTCAR_CONFIG", "DRIFTCAR_DATABASE_URL")}
    done = subprocess.run(
        [
            *DRIFTCAR,
            "report",
            "loans",
            "--config",
            str(config),
            "--out",
            str(html),
            "--json",
            str(summary_json),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        cwd=tmp_path,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    for progress in (
        "loans: claiming [",
        "loans: reference v1 (upload): 300 rows",
        "loans: window loaded: 300",
    ):
        assert progress in done.stderr, done.stderr

    summary = ReportSummary.from_json(summary_json.read_text(encoding="utf-8"))
    assert summary.status == "ok" and summary.window_rows == ROWS
    assert summary.reference == ReferenceSummary(rows=ROWS, version=1, source="upload")
    assert drifted(summary) == SHIFTED
    assert summary.drift is not None and {c.column for c in summary.drift.columns} == set(FEATURES)
    fairness = [*summary.flags_of("fairness"), *summary.flags_of("bias_drift")]
    assert fairness and {(f.attribute, f.group) for f in fairness} == {("sex", "female")}

    page = html.read_text(encoding="utf-8")
    assert page.lstrip().lower().startswith("<!doctype html") and "income" in page and "region" in page

    runs = stored_runs(database_url)
    assert len(runs) == 1
    run = runs[0]
    assert run.status == "ok" and run.n_rows == ROWS and run.reference_version == 1 and run.has_html
    assert run.replica.startswith("cli:") and run.summary == json.loads(summary_json.read_text())

    out = done.stdout
    assert out.startswith(f"loans: run {run.id} ok\n")
    assert "reference: v1 (upload), 300 rows" in out
    assert "drifted columns: income, region\n" in out
    assert "worse off: female" in out
    assert f"html report: {html}; the server shows it at /reports/{run.id}" in out
    assert f"summary json: {summary_json}" in out


def test_explicit_window_default_reference_and_claimed_window(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    base, shifted = make_rows()
    insert(database_url, records(base, BASE, "base") + records(shifted, BASE + 3600.0, "shifted"))
    # The environment names the config and the database; the file's URL (unreachable) loses to the environment.
    config = write_config(
        tmp_path / "driftcar.yaml",
        [monitor(), monitor(name="churn")],
        database_url="postgresql://nobody@127.0.0.1:9/nowhere",
    )
    monkeypatch.setenv("DRIFTCAR_CONFIG", str(config))
    monkeypatch.setenv("DRIFTCAR_DATABASE_URL", database_url)
    summary_json = tmp_path / "summary.json"
    start = datetime.fromtimestamp(BASE + 3600.0, UTC).isoformat().replace("+00:00", "Z")
    window = ["report", "loans", "--from", start, "--to", str(BASE + 7200.0)]

    # No reference stored: the first 300 records (the baseline) are pinned as v1 and the shift is found.
    assert main([*window, "--json", str(summary_json), "--quiet"]) == 0
    out, err = capsys.readouterr()
    assert err == ""
    assert "reference: v1 (first_n), 300 rows" in out and "drifted columns: income, region\n" in out
    summary = ReportSummary.from_json(summary_json.read_text(encoding="utf-8"))
    assert (summary.window_start, summary.window_end) == (BASE + 3600.0, BASE + 7200.0)
    assert summary.window_rows == ROWS and drifted(summary) == SHIFTED
    assert summary.reference == ReferenceSummary(rows=ROWS, version=1, source="first_n")
    (first,) = stored_runs(database_url)
    assert first.status == "ok" and first.has_html and first.summary == json.loads(summary_json.read_text())

    # The same window again: claimed by the first run; nothing is computed.
    assert main([*window, "--quiet"]) == 1
    out = capsys.readouterr().out
    assert f"the window is already claimed by run {first.id} (ok, by cli:" in out
    assert len(stored_runs(database_url)) == 1

    # --to alone: the monitor's own hour ending then, which holds the first 50 records: too few.
    assert main(["report", "loans", "--to", str(BASE + 50)]) == 1
    out = capsys.readouterr().out
    (second,) = [r for r in stored_runs(database_url) if r.id != first.id]
    assert (second.window_start, second.window_end) == (BASE + 50 - 3600.0, BASE + 50)
    assert (
        second.status == "skipped" and second.error is not None and "the window has 50 rows" in second.error
    )
    assert out.startswith(f"loans: run {second.id} skipped: ") and "the window has 50 rows" in out


@pytest.mark.parametrize(
    ("uploaded", "reason"),
    [
        pytest.param(True, "the window has 50 rows", id="too-few-rows"),
        pytest.param(
            False,
            "no reference yet: monitor 'loans': only 50 of the first 300 records needed for the default "
            "reference have been captured",
            id="no-reference",
        ),
    ],
)
def test_skipped_runs_exit_1_with_the_reason(
    database_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], uploaded: bool, reason: str
) -> None:
    base, _ = make_rows()
    insert(database_url, records(base[:50], BASE, "few"))
    if uploaded:
        set_reference(database_url, base, tmp_path)
    capsys.readouterr()
    config = write_config(tmp_path / "driftcar.yaml", [monitor()])
    html = tmp_path / "report.html"
    argv = ["report", "loans", "--config", str(config), "--database-url", database_url]
    assert main([*argv, "--from", str(BASE), "--to", str(BASE + 600), "--out", str(html)]) == 1
    out = capsys.readouterr().out
    runs = stored_runs(database_url)
    assert len(runs) == 1 and runs[0].status == "skipped" and runs[0].error is not None
    assert reason in runs[0].error
    assert out.startswith(f"loans: run {runs[0].id} skipped: ") and reason in out
    assert not html.exists()


@pytest.mark.parametrize(
    ("monitors", "options", "message"),
    [
        pytest.param(
            [monitor(), monitor(name="churn")],
            ["nope"],
            "no monitor named 'nope' in {config}; known monitors: loans, churn",
            id="unknown-monitor",
        ),
        pytest.param(
            [monitor(window={"minute": 5})],
            ["loans"],
            "monitors.0.window.minute: unknown key",
            id="unknown-key",
        ),
        pytest.param(
            [monitor(), monitor(name="churn", min_rows=0)],
            ["loans"],
            "monitors.1.min_rows: Input should be greater than or equal to 1",
            id="bad-value",
        ),
        pytest.param(
            [monitor(), monitor()], ["loans"], "monitor name 'loans' is used twice", id="duplicate-monitor"
        ),
        pytest.param(
            [monitor()],
            ["loans", "--from", "yesterday"],
            "--from: expected epoch seconds or an ISO 8601 time, got 'yesterday'",
            id="bad-time",
        ),
        pytest.param(
            [monitor()],
            ["loans", "--from", "2026-01-02", "--to", "2026-01-01T00:00:00Z"],
            "--from (2026-01-02 00:00:00Z) must be before --to (2026-01-01 00:00:00Z)",
            id="from-after-to",
        ),
        pytest.param(
            [monitor()], ["loans", "--to", "nan"], "--to: expected epoch seconds or an ISO 8601 time, got 'nan'", id="nan-time"
        ),
        pytest.param(
            [monitor()],
            ["loans", "--out", "missing/report.html"],
            "--out missing/report.html: no such directory missing",
            id="out-directory",
        ),
    ],
)
def test_usage_and_config_errors_exit_2_before_the_database(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    monitors: list[dict[str, Any]],
    options: list[str],
    message: str,
) -> None:
    monkeypatch.chdir(tmp_path)
    config = write_config(tmp_path / "driftcar.yaml", monitors)
    db = tmp_path / "untouched.db"
    argv = ["report", *options, "--config", str(config), "--database-url", f"sqlite+aiosqlite:///{db}"]
    assert main(argv) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.startswith("driftcar report: error: ")
    assert message.format(config=config) in err, err
    assert not db.exists()


def test_no_config_and_no_monitors_list(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["report", "loans"]) == 2
    assert "no config file: pass --config FILE or set $DRIFTCAR_CONFIG" in capsys.readouterr().err
    config = tmp_path / "driftcar.yaml"
    config.write_text("upstream: http://127.0.0.1:1\n", encoding="utf-8")
    assert main(["report", "loans", "--config", str(config)]) == 2
    assert f"config file {config}: no `monitors:` list" in capsys.readouterr().err


def test_unreachable_database_exits_2_and_hides_the_password(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(tmp_path / "driftcar.yaml", [monitor()])
    url = "postgresql://driftcar:s3cret-pw@127.0.0.1:9/nowhere"  # port 9 (discard) is closed here
    assert main(["report", "loans", "--config", str(config), "--database-url", url, "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "s3cret-pw" not in err and "driftcar:***@127.0.0.1:9/nowhere" in err


def test_progress_drops_repeats_of_a_topic_within_a_second(capsys: pytest.CaptureFixture[str]) -> None:
    progress = StderrProgress("loans")
    for message in (
        "loading the window: 20,000 records",
        "loading the window: 40,000 records",
        "window loaded: 40,000 records in 0.1 s; computing the report",
    ):
        progress(message)
    assert capsys.readouterr().err.splitlines() == [
        "loans: loading the window: 20,000 records",
        "loans: window loaded: 40,000 records in 0.1 s; computing the report",
    ]
