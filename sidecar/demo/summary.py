"""The demo's account of a monitor's report run, read from the run as the admin API returns it."""

from __future__ import annotations

import time
from dataclasses import fields
from typing import Any

from sidecar.reports.codec import decode
from sidecar.reports.summary import AttributeSummary, ColumnDriftSummary, DriftSummary, ReportSummary
from storage.runs import RunInfo

_RATIO = "demographic_parity_ratio"
# Drift has its own lines; every other finding is printed as the flag's own message.
_DRIFT_FLAGS = frozenset({"dataset_drift", "column_drift", "prediction_drift"})
_SOURCES = {
    "first_n": "the first {rows:,} records captured",
    "traffic": "{rows:,} records pinned from traffic",
    "upload": "{rows:,} uploaded rows",
}


def run_from_json(doc: dict[str, Any]) -> RunInfo:
    """A run as `GET /api/monitors/{name}/runs` or `GET /reports/{id}.json` returns it (links dropped)."""
    return RunInfo(**{f.name: doc[f.name] for f in fields(RunInfo)})


def clock(epoch: float | None) -> str:
    """Local wall-clock time of an epoch timestamp, to the second."""
    return "-" if epoch is None else time.strftime("%H:%M:%S", time.localtime(epoch))


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:.3g}"


def _drift_lines(drift: DriftSummary) -> list[str]:
    moved = [c for c in drift.columns if c.drifted]
    prediction = drift.prediction
    if prediction is not None and prediction.drifted:
        moved.append(prediction)
    columns = f"{drift.number_of_drifted_columns} of {drift.number_of_columns} columns"
    if not moved:
        steady = "" if prediction is None else " or the prediction"
        return [f"  drift: none in the {drift.number_of_columns} columns{steady}"]
    verdict = "DATASET DRIFT" if drift.dataset_drift else "no dataset drift"
    lines = [
        f"  drift: {columns}{' and the prediction' if prediction in moved else ''} drifted; {verdict} "
        f"(share {drift.share_of_drifted_columns:.2f}, flagged at >= {drift.drift_share:g})"
    ]
    width = max(len(c.column) for c in moved)
    lines += [f"    {c.column:<{width}}  {_score(c)}  DRIFT" for c in moved]
    steady_columns = [c.column for c in drift.columns if not c.drifted]
    if steady_columns:
        lines.append(f"    steady: {', '.join(steady_columns)}")
    return lines


def _score(c: ColumnDriftSummary) -> str:
    return f"{c.method or '-':<14} {_num(c.score):>7} (threshold {_num(c.threshold)})"


def _fairness_line(attribute: AttributeSummary) -> str:
    rates = ", ".join(
        f"{g.label} {g.selection_rate:.2f}" for g in attribute.groups if g.selection_rate is not None
    )
    ratio = next((d for d in attribute.disparities if d.name == _RATIO), None)
    impact = "" if ratio is None else f"; disparate impact {_num(ratio.value)}"
    return f"  fairness by {attribute.name}: approval rate {rates}{impact}"


def _one_line(message: str, limit: int = 160) -> str:
    """A message on one line (a section's error can span several), cut at `limit` characters."""
    text = " ".join(message.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def describe_run(run: RunInfo, admin: str) -> str:
    """A few lines on one run: its window and reference, what drifted, fairness, other flags and its report."""
    head = f"run {run.id}, scheduled for {clock(run.window_end)}"
    if run.status != "ok" or run.summary is None:
        return f"{head}: {run.status}: {_one_line(run.error or 'no summary')}"
    summary = decode(ReportSummary, run.summary)
    ref = summary.reference
    source = _SOURCES.get(ref.source or "", "{rows:,} rows").format(rows=ref.rows)
    span = f"{clock(summary.window_start)}-{clock(summary.window_end)}"
    lines = [
        f"{head}: {summary.window_rows:,} records captured {span}",
        f"  reference v{ref.version}: {source}",
    ]
    if summary.drift is not None:
        lines += _drift_lines(summary.drift)
    if summary.fairness is not None:
        lines += [_fairness_line(a) for a in summary.fairness.attributes]
    lines += [f"  FLAG {f.kind}: {_one_line(f.message)}" for f in summary.flags if f.kind not in _DRIFT_FLAGS]
    if run.has_html:
        lines.append(f"  report {admin}/reports/{run.id}")
    return "\n".join(lines)
