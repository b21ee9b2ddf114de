"""`driftcar report MONITOR`: run one monitor's report now, straight against the database, no server running.

    driftcar report MONITOR [--config FILE] [--database-url URL] [--from TIME] [--to TIME]
                            [--out report.html] [--json summary.json] [--quiet]

Only the `monitors:` list (and `database_url`) of the YAML config is read, so no upstream is needed. The run is
claimed and stored like any other (the server's /reports lists it), after the schema is brought up to date; the
report is computed in this process. Progress goes to stderr, the result to stdout. Exit status: 0 when the run
is ok (drift is a finding, not an error), 1 when it was skipped or failed or its window is already claimed by
another run, 2 for usage, configuration or database errors.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import socket
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import TypeAdapter, ValidationError

from sidecar.cli import CliError
from sidecar.cli.db import DEFAULT_URL, URL_ENV
from sidecar.cli.reference import _with_engine
from sidecar.configfile import describe_errors, read_yaml
from sidecar.errors import ConfigError
from sidecar.monitors.config import MonitorConfig, check_unique_names
from sidecar.timeparse import parse_time
from storage.engine import redacted_url

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncEngine

    from sidecar.monitors.runner import RunOutcome
    from sidecar.reports.summary import ReportSummary

CONFIG_ENV = "DRIFTCAR_CONFIG"
_MONITORS = TypeAdapter(list[MonitorConfig])
# The runner reports loading progress after every chunk; on a long window one such line a second is plenty.
_REPEAT_EVERY_S = 1.0


def configure(parser: argparse.ArgumentParser) -> None:
    """Add the monitor argument and the options."""
    parser.add_argument("monitor", help="the monitor's name, as declared under `monitors:` in the config")
    parser.add_argument(
        "--config", metavar="FILE", help=f"YAML config file with `monitors:` (default: ${CONFIG_ENV})"
    )
    parser.add_argument(
        "--database-url",
        metavar="URL",
        help=f"SQLite or PostgreSQL URL (default: ${URL_ENV}, else `database_url` in the config, else {DEFAULT_URL})",
    )
    parser.add_argument(
        "--from",
        dest="start",
        metavar="TIME",
        help="window start, epoch seconds or ISO 8601 (UTC if no zone); the window is then exactly [from, to)",
    )
    parser.add_argument(
        "--to",
        dest="end",
        metavar="TIME",
        help="window end (default now); without --from, the monitor's own window ending then",
    )
    parser.add_argument("--out", type=Path, metavar="FILE", help="write the HTML report to FILE")
    parser.add_argument("--json", type=Path, metavar="FILE", help="write the summary JSON to FILE")
    parser.add_argument(
        "--quiet", action="store_true", help="no progress on stderr, and only warnings from the logs"
    )


@dataclass(frozen=True, slots=True)
class MonitorsFile:
    """What `driftcar report` reads from the YAML config: the monitors and, if set, the database URL."""

    path: str
    monitors: tuple[MonitorConfig, ...]
    database_url: str | None

    def monitor(self, name: str) -> MonitorConfig:
        """The monitor of that name; CliError naming the known ones otherwise."""
        found = next((m for m in self.monitors if m.name == name), None)
        if found is None:
            known = ", ".join(m.name for m in self.monitors) or "(none)"
            raise CliError(f"no monitor named {name!r} in {self.path}; known monitors: {known}")
        return found


def read_monitors(path: str) -> MonitorsFile:
    """Validate the `monitors:` list of the YAML file (the rest is the server's business, except the URL)."""
    try:
        data = read_yaml(path)
    except ConfigError as exc:
        raise CliError(str(exc)) from None
    raw = data.get("monitors")
    if raw is None:
        raise CliError(f"config file {path}: no `monitors:` list")
    try:
        monitors = check_unique_names(_MONITORS.validate_python(raw))
    except ValidationError as exc:
        raise CliError(describe_errors(exc, path, ("monitors",))) from None
    except ValueError as exc:
        raise CliError(f"invalid configuration ({path}):\n  monitors: {exc}") from None
    url = data.get("database_url")
    if url is not None and not isinstance(url, str):
        raise CliError(f"invalid configuration ({path}):\n  database_url: expected a string")
    return MonitorsFile(path, tuple(monitors), url or None)


def _time(option: str, text: str) -> float:
    try:
        return parse_time(text)  # epoch seconds or ISO 8601; NaN and infinities are refused
    except ValueError as exc:
        raise CliError(f"{option}: {exc}") from None


def window_bounds(start: str | None, end: str | None, now: float) -> tuple[float | None, float]:
    """(start, end) for `MonitorRunner.run` from the --from/--to texts: end defaults to now, start to None."""
    to = now if end is None else _time("--to", end)
    since = None if start is None else _time("--from", start)
    if since is not None and since >= to:
        raise CliError(f"--from ({_iso(since)}) must be before --to ({_iso(to)})")
    return since, to


def _check_writable(option: str, path: Path | None) -> None:
    """Fail before the run, not after minutes of computing, when an output file cannot be written."""
    if path is None:
        return
    if path.is_dir():
        raise CliError(f"{option} {path}: is a directory")
    if not path.parent.is_dir():
        raise CliError(f"{option} {path}: no such directory {path.parent}")


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M:%SZ")


class StderrProgress:
    """Prints the runner's progress strings on stderr; a line repeating the previous one's topic (the text
    before its first `:`) within a second is dropped, so a long load says where it is without flooding."""

    def __init__(self, monitor: str) -> None:
        self._monitor = monitor
        self._topic: str | None = None
        self._at = 0.0

    def __call__(self, message: str) -> None:
        """Print one progress string, unless it repeats the last one's topic too soon."""
        now = time.monotonic()
        topic = message.split(":", 1)[0]
        if topic == self._topic and now - self._at < _REPEAT_EVERY_S:
            return
        self._topic, self._at = topic, now
        print(f"{self._monitor}: {message}", file=sys.stderr, flush=True)


def _drift_lines(summary: ReportSummary) -> list[str]:
    drift = summary.drift
    if drift is None:
        return ["drift: not computed (see errors)"]
    drifted = [c.column for c in drift.columns if c.drifted]
    verdict = "yes" if drift.dataset_drift else "no"
    lines = [
        f"dataset drift: {verdict} ({drift.number_of_drifted_columns} of {drift.number_of_columns} columns "
        f"drifted: share {drift.share_of_drifted_columns:.2f}, threshold drift_share {drift.drift_share:.2f})"
    ]
    lines.append(f"drifted columns: {', '.join(drifted) if drifted else '(none)'}")
    for flag in summary.flags_of("prediction_drift"):
        lines.append(f"prediction drift: {flag.message}")
    return lines


def _fairness_lines(summary: ReportSummary) -> list[str]:
    flags = [*summary.flags_of("fairness"), *summary.flags_of("bias_drift")]
    if summary.fairness is None and not flags:
        return ["fairness: not checked"]
    lines = [f"fairness flags: {len(flags) or '(none)'}"]
    lines.extend(f"  {flag.message}" for flag in flags)
    return lines


def summary_lines(summary: ReportSummary) -> list[str]:
    """The findings of an ok run, for a person reading a terminal."""
    lines = [*_drift_lines(summary), *_fairness_lines(summary)]
    breaches = summary.flags_of("data_quality")
    if breaches:
        lines.append(f"data quality: {len(breaches)} breach(es)")
        lines.extend(f"  {flag.message}" for flag in breaches)
    lines.extend(f"error: {e.section}: {e.message}" for e in summary.errors)
    lines.extend(f"note: {note}" for note in summary.notes)
    return lines


def _write(option: str, path: Path, data: bytes, run_id: int) -> None:
    try:
        path.write_bytes(data)
    except OSError as exc:
        raise CliError(
            f"{option} {path}: {exc.strerror or exc} (run {run_id} is stored in the database)"
        ) from None


def report_outcome(outcome: RunOutcome, monitor: str, out: Path | None, json_out: Path | None) -> int:
    """Write the requested files, print the result on stdout and return the exit status."""
    run = outcome.run
    if outcome.status == "claimed":
        holder = (
            f"run {run.id} ({run.status}, by {run.replica})" if run is not None else "a run deleted since"
        )
        print(f"{monitor}: the window is already claimed by {holder}; nothing was run")
        return 1
    assert run is not None  # every outcome but `claimed` carries its own run
    summary = outcome.summary
    if json_out is not None and summary is not None:
        _write("--json", json_out, summary.to_json().encode() + b"\n", run.id)
    if out is not None and outcome.html is not None:
        _write("--out", out, outcome.html, run.id)
    if outcome.status != "ok" or summary is None:
        lines = [
            f"{monitor}: run {run.id} {outcome.status}: {outcome.error or run.error or 'no reason given'}"
        ]
        if out is not None:
            lines.append(f"html report: not written ({outcome.status} runs have none)")
        if json_out is not None and summary is not None:
            lines.append(f"summary json: {json_out}")
        print("\n".join(lines))
        return 1
    first = run.window_start if summary.window_start is None else summary.window_start
    last = run.window_end if summary.window_end is None else summary.window_end
    lines = [
        f"{monitor}: run {run.id} ok",
        f"window: {_iso(first)} to {_iso(last)}, {summary.window_rows:,} rows",
        f"reference: v{summary.reference.version} ({summary.reference.source}), {summary.reference.rows:,} rows",
        *summary_lines(summary),
        f"html report: {out if out is not None else 'not written (use --out FILE)'}; "
        f"the server shows it at /reports/{run.id}",
    ]
    if json_out is not None:
        lines.append(f"summary json: {json_out}")
    print("\n".join(lines))
    return 0


def run(args: argparse.Namespace) -> int:
    """Run the monitor's report once; exit status 0 when the run is ok."""
    config = args.config or os.environ.get(CONFIG_ENV)
    if not config:
        raise CliError(f"no config file: pass --config FILE or set ${CONFIG_ENV}")
    monitors = read_monitors(config)
    monitor = monitors.monitor(args.monitor)
    start, end = window_bounds(args.start, args.end, time.time())
    _check_writable("--out", args.out)
    _check_writable("--json", args.json)
    url = args.database_url or os.environ.get(URL_ENV) or monitors.database_url or DEFAULT_URL
    if args.quiet:
        root = logging.getLogger()
        root.setLevel(max(root.getEffectiveLevel(), logging.WARNING))
    progress = None if args.quiet else StderrProgress(monitor.name)

    async def report(engine: AsyncEngine) -> int:
        from sidecar.monitors.runner import MonitorRunner

        replica = f"cli:{socket.gethostname()}:{os.getpid()}"
        runner = MonitorRunner(engine, pool=None, replica=replica, progress=progress)
        if progress is not None:
            claim = runner.claim_window(monitor, end, start)
            progress(f"claiming [{_iso(claim[0])}, {_iso(claim[1])}) in {redacted_url(engine.url)}")
        outcome = await runner.run(monitor, end, start=start, trigger="cli", reclaim_failed=True)
        return report_outcome(outcome, monitor.name, args.out, args.json)

    return asyncio.run(_with_engine(url, report))
