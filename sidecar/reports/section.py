"""driftcar's own section of the HTML report: plain escaped HTML with inline CSS, from the summary alone.

It states where every number comes from (driftcar's detectors on every row; Evidently's widgets on a sample),
lists the findings, and carries the per-group fairness tables Evidently cannot compute correctly.
"""

from __future__ import annotations

from html import escape

from sidecar.reports.summary import AttributeSummary, FairnessSummary, PerformanceSummary, ReportSummary

SECTION_ID = "driftcar-summary"
_BOX = "font-family:system-ui,sans-serif;font-size:14px;color:#1f2933;margin:16px 24px;padding:16px 20px;border:1px solid #cbd2d9;border-radius:6px;background:#fff"
_TABLE = "border-collapse:collapse;margin:6px 0 14px 0"
_CELL = "border:1px solid #cbd2d9;padding:3px 8px;text-align:right"
_HEAD = "border:1px solid #cbd2d9;padding:3px 8px;background:#f0f4f8;text-align:left"
_NOTICE = "padding:8px 12px;margin:8px 0;background:#fff8e1;border-left:4px solid #f0b429"
_BAD = "color:#ab091e;font-weight:600"


def fmt(value: float | None) -> str:
    """How the report prints a rate or metric: four decimals, "n/a" when undefined."""
    return "n/a" if value is None else f"{value:.4f}"


def _signed(value: float | None) -> str:
    return "n/a" if value is None else f"{value:+.4f}"


def _table(header: list[str], rows: list[list[str]], marked: set[int] | None = None) -> str:
    """An HTML table of already-escaped cells; rows whose index is in `marked` are highlighted."""
    head = "".join(f'<th style="{_HEAD}">{h}</th>' for h in header)
    body = []
    for i, row in enumerate(rows):
        style = f"{_CELL};{_BAD}" if marked and i in marked else _CELL
        cells = "".join(f'<td style="{_HEAD if j == 0 else style}">{cell}</td>' for j, cell in enumerate(row))
        body.append(f"<tr>{cells}</tr>")
    return f'<table style="{_TABLE}"><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table>'


def _group_table(a: AttributeSummary, task: str) -> str:
    metrics = (
        ["mean_prediction", "mean_absolute_error"]
        if task == "regression"
        else ["selection_rate", "true_positive_rate", "false_positive_rate", "precision", "accuracy"]
    )
    moved = metrics[0]
    header = [
        "group",
        "rows",
        "labelled",
        *[m.replace("_", " ") for m in metrics],
        f"{moved.replace('_', ' ')} change",
    ]
    rows = []
    for g in a.groups:
        change = next((c.change for c in g.changes if c.name == moved), None)
        values = ["too small" if g.too_small else fmt(getattr(g, m)) for m in metrics]
        rows.append([escape(g.label), f"{g.count:,}", f"{g.n_labelled:,}", *values, _signed(change)])
    return _table(header, rows)


def _disparity_table(a: AttributeSummary, flagged: set[str]) -> str:
    header = ["metric", "value", "reference", "change", "lowest group", "highest group", "note"]
    rows, marked = [], set()
    for i, d in enumerate(a.disparities):
        if d.name in flagged:
            marked.add(i)
        rows.append(
            [
                escape(d.name),
                fmt(d.value),
                fmt(d.reference),
                _signed(d.change),
                escape(d.lowest or ""),
                escape(d.highest or ""),
                escape(d.reason or ""),
            ]
        )
    return _table(header, rows, marked)


def _fairness(f: FairnessSummary, summary: ReportSummary) -> str:
    parts = [
        "<h3>Fairness (driftcar)</h3>",
        f"<p>Favourable outcome: <code>{escape(repr(f.favorable))}</code>; groups with fewer than"
        f" {f.min_group_size:,} rows are listed but left out of every comparison.</p>",
    ]
    for a in f.attributes:
        flagged = {fl.metric or "" for fl in summary.flags if fl.attribute == a.name}
        if a.four_fifths_violated is None:
            rule = "undefined"
        elif a.four_fifths_violated:
            rule = f'<span style="{_BAD}">violated</span>'
        else:
            rule = "holds"
        parts.append(f'<h4 data-attribute="{escape(a.name)}">{escape(a.name)}</h4>')
        parts.append(f"<p>Four-fifths rule: {rule}.</p>")
        if a.small_groups:
            parts.append(f"<p>Too small to compare: {escape(', '.join(a.small_groups))}.</p>")
        parts.append(_group_table(a, summary.task))
        parts.append(_disparity_table(a, flagged))
    return "".join(parts)


def _performance(p: PerformanceSummary) -> str:
    rows = [[escape(m.name), fmt(m.current), fmt(m.reference), _signed(m.change)] for m in p.metrics]
    return f"<h3>Performance (driftcar, {p.n_rows:,} labelled rows)</h3>" + _table(
        ["metric", "window", "reference", "change"], rows
    )


def _sources(summary: ReportSummary) -> str:
    ref = summary.reference
    version = "" if ref.version is None else f" (version {ref.version})"
    text = (
        f"The numbers in this section come from driftcar's detectors on every row: {summary.window_rows:,}"
        f" window rows against {ref.rows:,} reference rows{version}."
    )
    sample = summary.html_sample
    if sample is not None and sample.sampled:
        text += (
            f" The Evidently report below is computed on a seeded random sample of {sample.current_rows:,} of"
            f" {summary.window_rows:,} window rows and {sample.reference_rows:,} of {ref.rows:,} reference"
            " rows, so its statistics may differ slightly; driftcar's figures are the ones alerts use."
        )
    elif sample is not None:
        text += " The Evidently report below is computed on all rows."
    return f"<p>{escape(text)}</p>"


def render_section(summary: ReportSummary) -> str:
    """driftcar's section: sources, notices, findings, fairness and performance tables."""
    parts = [
        f'<section id="{SECTION_ID}" style="{_BOX}">',
        f"<h2>driftcar report: {escape(summary.monitor)}</h2>",
        _sources(summary),
    ]
    if summary.reference.source == "first_n":
        parts.append(
            f'<p style="{_NOTICE}">The reference is the default: the first {summary.reference.rows:,} captured'
            " records. Upload or pick a reference data set that represents normal traffic.</p>"
        )
    findings = [escape(f.message) for f in summary.flags]
    parts.append(f"<h3>Findings ({len(findings)})</h3>")
    parts.append(
        "<ul>" + "".join(f"<li>{m}</li>" for m in findings) + "</ul>" if findings else "<p>None.</p>"
    )
    for note in summary.notes:
        parts.append(f"<p>{escape(note)}</p>")
    if summary.fairness is not None:
        parts.append(_fairness(summary.fairness, summary))
    if summary.performance is not None:
        parts.append(_performance(summary.performance))
    parts.append("</section>")
    return "".join(parts)
