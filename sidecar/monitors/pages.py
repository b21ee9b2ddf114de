"""The HTML index of report runs served at `GET /reports`: one section per monitor, a chart and a table of runs.

A self-contained page: inline CSS and SVG, no JavaScript, no external resources. Every string that comes from
data is escaped: column names and group labels come from captured traffic, which an attacker controls.
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from html import escape

from sidecar.reports.codec import decode
from sidecar.reports.summary import ReportSummary
from storage.runs import RunInfo

logger = logging.getLogger(__name__)

FOUR_FIFTHS = 0.8
"""The four-fifths rule: a demographic parity ratio under this is drawn as failing."""
MAX_COLUMNS = 8
MAX_FAIRNESS = 4
MAX_REASON_CHARS = 200
_RATIO = "demographic_parity_ratio"
_SLUG = re.compile(r"[^A-Za-z0-9_.-]+")
# The chart's geometry (SVG user units).
_W, _H, _LEFT, _RIGHT, _TOP, _BOTTOM = 640, 170, 34, 86, 26, 22

_CSS = """
body{font:14px/1.4 system-ui,sans-serif;color:#1f2933;background:#f5f7fa;margin:0}
header,main{max-width:1440px;margin:0 auto;padding:12px 20px}
h1{font-size:20px;margin:8px 0 2px}h2{font-size:17px;margin:0}
nav a{margin-right:12px}a{color:#0b5cad}
.monitor{background:#fff;border:1px solid #cbd2d9;border-radius:6px;padding:14px 18px;margin:0 0 18px}
.meta,.muted,.why{color:#616e7c;font-size:12px}.desc{margin:2px 0}
.empty{padding:10px 14px;background:#fff;border:1px dashed #9aa5b1;border-radius:6px;color:#52606d}
.chart svg{width:100%;max-width:760px;height:auto;display:block}
.chart text{font-size:10px;fill:#52606d}.grid{stroke:#e4e7eb}
.drift{stroke:#d9480f;fill:#d9480f}.parity{stroke:#0b7285;fill:#0b7285}
polyline{fill:none;stroke-width:2}.limit{stroke-dasharray:5 4;stroke-width:1.2}
.wrap{overflow-x:auto}table{border-collapse:collapse;width:100%;font-size:13px}
th,td{border-bottom:1px solid #e4e7eb;padding:4px 8px;text-align:left;vertical-align:top}
td{max-width:30em;overflow-wrap:anywhere}td:nth-child(2){min-width:12em}td:nth-child(7){min-width:9em}
td:nth-child(8){min-width:14em}td:nth-child(9),td:nth-child(10){min-width:7em}
th{background:#f0f4f8;white-space:nowrap}td.num{white-space:nowrap}td.num:nth-child(5){text-align:right}td.num:nth-child(4){white-space:normal;min-width:9em}
.st{display:inline-block;padding:0 6px;border-radius:3px;font-size:12px;font-weight:600}
.st-ok{background:#e3f9e5;color:#0e5c2f}.st-skipped{background:#fff8e1;color:#8d5b00}
.st-failed{background:#ffe3e3;color:#ab091e}.st-running{background:#e6f0ff;color:#0b5cad}
.yes{color:#ab091e;font-weight:600}.no{color:#0e5c2f}
"""


@dataclass(frozen=True, slots=True)
class MonitorRuns:
    """One monitor's runs as the index shows them."""

    name: str
    description: str
    """One line, e.g. "model loan-approval · window 60 min · every 15m"."""
    runs: Sequence[RunInfo]
    """Newest first, as `RunStore.list_runs` returns them."""
    next_run: float | None
    """Epoch seconds of the next scheduled run; None when it is not scheduled."""


@dataclass(frozen=True, slots=True)
class _Run:
    """A run with its summary decoded; `unreadable` when a stored summary does not decode."""

    info: RunInfo
    summary: ReportSummary | None
    unreadable: bool


@dataclass(frozen=True, slots=True)
class _Point:
    at: float
    value: float
    title: str


def _read(info: RunInfo) -> _Run:
    if info.summary is None:
        return _Run(info, None, False)
    try:
        return _Run(info, decode(ReportSummary, info.summary), False)
    except (ValueError, TypeError) as exc:  # DecodeError is a ValueError
        logger.debug("report run %s: stored summary unreadable: %s", info.id, exc)
        return _Run(info, None, True)


def utc(epoch: float | None) -> str:
    """Epoch seconds as `2026-11-25 10:15:00Z`; "n/a" when missing or out of range."""
    if epoch is None:
        return "n/a"
    try:
        return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M:%SZ")
    except (TypeError, ValueError, OverflowError, OSError):
        return "n/a"


def _span(seconds: float) -> str:
    seconds = abs(seconds)
    if seconds < 60:
        return "<1 min"
    for unit, size in (("d", 86400), ("h", 3600)):
        if seconds >= 2 * size:
            return f"{seconds / size:.0f} {unit}"
    return f"{seconds / 60:.0f} min"


def _num(value: float | None, spec: str = ".3g") -> str:
    return "n/a" if value is None or not math.isfinite(value) else format(value, spec)


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _window(start: float, end: float) -> str:
    first, last = utc(start), utc(end)
    if first[:10] == last[:10] and first != "n/a":
        return f"{first[:-1]} \u2013 {last[11:]}"
    return f"{first} \u2013 {last}"


def slug(name: str) -> str:
    """A safe HTML id for a monitor name (its characters other than letters, digits, `_.-` become `-`)."""
    cleaned = _SLUG.sub("-", name).strip("-.")
    return cleaned if cleaned[:1].isalnum() else f"m-{cleaned}"


def _drift_share(s: ReportSummary) -> float | None:
    d = s.drift
    return (
        None if d is None or d.number_of_columns <= 0 else d.number_of_drifted_columns / d.number_of_columns
    )


def _lowest_ratio(s: ReportSummary) -> tuple[float, str] | None:
    """The lowest demographic parity ratio across the protected attributes, with where it is."""
    found = [
        (d.value, f"{a.name}: {_num(d.value)} ({d.lowest or 'n/a'})")
        for a in (s.fairness.attributes if s.fairness is not None else ())
        for d in a.disparities
        if d.name == _RATIO and d.value is not None and math.isfinite(d.value)
    ]
    return min(found, key=lambda f: f[0]) if found else None


def _series(runs: Sequence[_Run]) -> tuple[list[_Point], list[_Point]]:
    drift, parity = [], []
    for run in reversed(runs):  # oldest first
        s, when = run.summary, run.info.window_end
        if run.info.status != "ok" or s is None or not math.isfinite(when):
            continue
        label = f"run {run.info.id} · {utc(when)}"
        share = _drift_share(s)
        if share is not None and s.drift is not None:
            counts = f"{s.drift.number_of_drifted_columns}/{s.drift.number_of_columns}"
            drift.append(_Point(when, share, f"{label} · drift share {counts} = {share:.3g}"))
        lowest = _lowest_ratio(s)
        if lowest is not None:
            parity.append(_Point(when, lowest[0], f"{label} · lowest parity ratio {lowest[1]}"))
    return drift, parity


def _chart(runs: Sequence[_Run]) -> str:
    """An inline SVG of the drift share and the lowest parity ratio over time, on one 0-1 scale."""
    drift, parity = _series(runs)
    if not drift and not parity:
        return '<p class="muted">Nothing to chart yet: no completed run with drift or fairness results.</p>'
    times = [p.at for p in (*drift, *parity)]
    t0, t1 = min(times), max(times)
    plot_w, plot_h = _W - _LEFT - _RIGHT, _H - _TOP - _BOTTOM

    def x(t: float) -> float:
        return _LEFT + (plot_w / 2 if t1 == t0 else (t - t0) / (t1 - t0) * plot_w)

    def y(v: float) -> float:
        return _TOP + (1 - min(max(v, 0.0), 1.0)) * plot_h

    parts = []
    for v in (0.0, 0.5, 1.0):
        parts.append(f'<line class="grid" x1="{_LEFT}" x2="{_W - _RIGHT}" y1="{y(v):.1f}" y2="{y(v):.1f}"/>')
        parts.append(f'<text x="{_LEFT - 4}" y="{y(v) + 3:.1f}" text-anchor="end">{v:g}</text>')
    ends = [(t0, "middle" if t1 == t0 else "start")] + ([] if t1 == t0 else [(t1, "end")])
    for t, anchor in ends:
        parts.append(f'<text x="{x(t):.1f}" y="{_H - 6}" text-anchor="{anchor}">{utc(t)[:-4]}Z</text>')
    newest = next((r.summary.drift for r in runs if r.summary is not None and r.summary.drift), None)
    legend: list[str] = []
    for name, points, limit, what in (
        ("drift", drift, newest.drift_share if newest is not None else None, "dataset drift share"),
        ("parity", parity, FOUR_FIFTHS, "lowest demographic parity ratio"),
    ):
        if not points:
            continue
        limit = limit if limit is not None and math.isfinite(limit) else None
        if limit is not None:
            ly = f"{y(limit):.1f}"
            parts.append(f'<line class="{name} limit" x1="{_LEFT}" x2="{_W - _RIGHT}" y1="{ly}" y2="{ly}"/>')
            parts.append(f'<text x="{_W - _RIGHT + 4}" y="{y(limit) + 3:.1f}">{name} {limit:g}</text>')
        if len(points) > 1:
            coords = " ".join(f"{x(p.at):.1f},{y(p.value):.1f}" for p in points)
            parts.append(f'<polyline class="{name}" points="{coords}"/>')
        for p in points:
            parts.append(
                f'<circle class="pt {name}" cx="{x(p.at):.1f}" cy="{y(p.value):.1f}" r="3">'
                f"<title>{escape(p.title)}</title></circle>"
            )
        lx = _LEFT + 250 * len(legend)
        dashed = "" if limit is None else f" (dashed: {limit:g})"
        legend.append(
            f'<rect class="{name}" x="{lx}" y="6" width="10" height="10"/>'
            f'<text x="{lx + 14}" y="15">{what}{dashed}</text>'
        )
    return (
        f'<svg class="runs-chart" viewBox="0 0 {_W} {_H}" role="img" aria-label="drift and fairness over time">'
        f"<title>Dataset drift share and lowest parity ratio per run</title>{''.join(legend + parts)}</svg>"
    )


def _status(run: _Run, now: float) -> str:
    info, s = run.info, run.summary
    status = str(info.status)
    cell = f'<span class="st st-{escape(slug(status))}">{escape(status)}</span>'
    notes = []
    if status in ("skipped", "failed"):
        notes.append(info.error or "no reason recorded")
    elif status == "running":
        notes.append(f"for {_span(now - info.claimed_at)}")
    if run.unreadable:
        notes.append("summary unreadable")
    elif s is not None:
        if s.status == "skipped":
            notes.append(s.skip_reason or "skipped")
        notes.extend(f"{e.section} failed: {e.message}" for e in s.errors)
    for note in notes:
        cell += f'<div class="why" title="{escape(_clip(note, 1000))}">{escape(_clip(note, MAX_REASON_CHARS))}</div>'
    return cell


def _drift_cells(s: ReportSummary | None) -> list[str]:
    if s is None or s.drift is None:
        return ["—", "—"]
    d = s.drift
    verdict = '<span class="yes">Yes</span>' if d.dataset_drift else '<span class="no">No</span>'
    title = f"share {_num(d.share_of_drifted_columns)}, threshold {_num(d.drift_share)}"
    names = [c.column for c in d.columns if c.drifted]
    shown = ", ".join(escape(_clip(n, 60)) for n in names[:MAX_COLUMNS]) or "none"
    if len(names) > MAX_COLUMNS:
        shown += f' <span class="muted">+{len(names) - MAX_COLUMNS} more</span>'
    if d.prediction is not None and d.prediction.drifted:
        shown += f"<div>prediction: {escape(_clip(d.prediction.column, 60))}</div>"
    return [
        f'<span title="{escape(title)}">{verdict} {d.number_of_drifted_columns}/{d.number_of_columns}</span>',
        shown,
    ]


def _fairness(s: ReportSummary | None) -> str:
    if s is None or s.fairness is None:
        return "—"
    lines = [
        f"{f.attribute}: {f.metric} {_num(f.value)} ({f.group or 'n/a'})" for f in s.flags_of("fairness")
    ]
    lines += [
        f"{f.attribute}: {f.metric} {_num(f.value, '+.3g')} vs reference ({f.group or 'n/a'})"
        for f in s.flags_of("bias_drift")
    ]
    html = "".join(f"<div>{escape(_clip(line, 160))}</div>" for line in lines[:MAX_FAIRNESS])
    if len(lines) > MAX_FAIRNESS:
        rest = escape(_clip("\n".join(lines[MAX_FAIRNESS:]), 1000))
        html += f'<div class="muted" title="{rest}">+{len(lines) - MAX_FAIRNESS} more</div>'
    return html or "none"


def _reference(run: _Run) -> str:
    s = run.summary
    version = s.reference.version if s is not None else run.info.reference_version
    parts = [] if version is None else [f"v{version}"]
    if s is not None:
        ref = s.reference
        parts.append(
            {
                "first_n": f"default: first {ref.rows:,} records",
                "upload": f"uploaded, {ref.rows:,} rows",
                "traffic": f"from traffic, {ref.rows:,} rows",
            }.get(str(ref.source), f"{ref.rows:,} rows")
        )
    return escape(" · ".join(parts)) or "—"


def _row(run: _Run, base: str, now: float) -> str:
    info, s = run.info, run.summary
    rid = int(info.id)
    link = f'<a href="{base}/reports/{rid}">#{rid}</a>' if info.has_html else f"#{rid}"
    link += f' <a class="muted" href="{base}/reports/{rid}.json">json</a>'
    rows = info.n_rows if info.n_rows is not None else (s.window_rows if s is not None else None)
    at = info.finished_at if info.finished_at is not None else info.claimed_at
    numbers = [utc(at), _window(info.window_start, info.window_end), "—" if rows is None else f"{rows:,}"]
    cells = [
        f"<td>{link}</td><td>{_status(run, now)}</td>",
        *(f'<td class="num">{n}</td>' for n in numbers),
        *(f"<td>{c}</td>" for c in (*_drift_cells(s), _fairness(s), _reference(run), escape(info.replica))),
    ]
    return f"<tr>{''.join(cells)}</tr>"


_HEADER = ["Run", "Status", "Time (UTC)", "Window (UTC)", "Rows", "Dataset drift", "Drifted columns"]
_HEADER += ["Fairness flags", "Reference", "Replica"]


def _section(monitor: MonitorRuns, anchor: str, now: float, base: str) -> str:
    runs = [_read(r) for r in monitor.runs]
    if monitor.next_run is None:
        nxt = "not scheduled"
    else:
        due = "overdue" if monitor.next_run < now else f"in {_span(monitor.next_run - now)}"
        nxt = f"{utc(monitor.next_run)} ({due})"
    shown = f"{len(runs)} run{'' if len(runs) == 1 else 's'} shown"
    head = (
        f'<section class="monitor" id="{escape(anchor)}"><h2>{escape(monitor.name)}</h2>'
        f'<p class="desc">{escape(monitor.description)}</p>'
        f'<p class="meta">Next run: {escape(nxt)} · {shown}</p>'
    )
    if not runs:
        return head + '<p class="empty">No runs yet.</p></section>'
    header = "".join(f"<th>{h}</th>" for h in _HEADER)
    body = "".join(_row(r, base, now) for r in runs)
    return (
        f'{head}<figure class="chart">{_chart(runs)}</figure>'
        f'<div class="wrap"><table class="runs"><thead><tr>{header}</tr></thead><tbody>{body}</tbody></table>'
        "</div></section>"
    )


def render_index(monitors: Sequence[MonitorRuns], *, now: float, base: str = "") -> str:
    """A complete, self-contained HTML5 page (no JavaScript, no external resources)."""
    prefix = escape(base.rstrip("/"))
    anchors: list[str] = []
    for m in monitors:
        anchor, n = slug(m.name), 2
        while anchor in anchors:
            anchor, n = f"{slug(m.name)}-{n}", n + 1
        anchors.append(anchor)
    if monitors:
        nav = "".join(
            f'<a href="#{escape(a)}">{escape(m.name)}</a>' for m, a in zip(monitors, anchors, strict=True)
        )
        content = "".join(_section(m, a, now, prefix) for m, a in zip(monitors, anchors, strict=True))
    else:
        nav, content = "", '<p class="empty">No monitors are configured.</p>'
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">"
        f"<title>driftcar · report runs</title><style>{_CSS}</style></head><body>"
        f'<header><h1>Report runs</h1><p class="meta">Generated {utc(now)} · {len(monitors)} monitor'
        f"{'' if len(monitors) == 1 else 's'}</p><nav>{nav}</nav></header>"
        f"<main>{content}</main></body></html>\n"
    )
