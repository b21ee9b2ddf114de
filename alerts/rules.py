"""Evaluate an alert rule on one report run: is its condition met, and by which findings.

Drift, data-quality and bias-drift rules key on the summary's flags (so they fire on exactly what the report
shows); a fairness rule with a bound reads the parity metric's value itself; the operational rules read
figures computed from every captured record of the window, failed requests included.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from alerts.config import AlertRule
from sidecar.reports.flags import disadvantaged
from sidecar.reports.summary import Flag, ReportSummary


@dataclass(frozen=True, slots=True)
class Operational:
    """What the proxy saw in the window: every captured exchange, failed ones included."""

    records: int
    errors: int
    """Records of failed requests (HTTP status >= 400, or an upstream or capture error)."""
    latency_p99_ms: float | None

    @property
    def error_rate(self) -> float | None:
        return None if self.records == 0 else self.errors / self.records


@dataclass(frozen=True, slots=True)
class Finding:
    """Whether the rule's condition holds, one line saying why, and the findings behind it."""

    met: bool
    summary: str
    details: tuple[dict[str, Any], ...]


def _flag(flag: Flag) -> dict[str, Any]:
    return {k: v for k, v in asdict(flag).items() if v is not None}


def _matching(rule: AlertRule, summary: ReportSummary) -> list[Flag]:
    kind = {"report_error": "section_error"}.get(rule.when, rule.when)
    found = []
    for flag in summary.flags:
        if flag.kind != kind:
            continue
        if rule.columns is not None and flag.column not in rule.columns:
            continue
        if rule.attribute is not None and flag.attribute != rule.attribute:
            continue
        if rule.metric is not None and flag.metric != rule.metric:
            continue
        found.append(flag)
    return found


def _fairness_bound(rule: AlertRule, summary: ReportSummary) -> Finding:
    assert rule.metric is not None
    details: list[dict[str, Any]] = []
    if summary.fairness is not None:
        for attribute in summary.fairness.attributes:
            if rule.attribute is not None and attribute.name != rule.attribute:
                continue
            for d in attribute.disparities:
                if d.name != rule.metric or d.value is None:
                    continue
                low = rule.below is not None and d.value < rule.below
                high = rule.above is not None and d.value > rule.above
                if low or high:
                    group = disadvantaged(d, attribute)
                    bound = rule.below if low else rule.above
                    details.append(
                        {
                            "kind": "fairness",
                            "attribute": attribute.name,
                            "metric": d.name,
                            "value": d.value,
                            "threshold": bound,
                            "group": group,
                            "message": f"{attribute.name}: {d.name} {d.value:.4g} is "
                            f"{'below' if low else 'above'} {bound:g}",
                        }
                    )
    return _finding(rule, details)


def _finding(rule: AlertRule, details: list[dict[str, Any]]) -> Finding:
    if not details:
        return Finding(False, f"{rule.name}: condition not met", ())
    messages = [str(d.get("message", "")) for d in details if d.get("message")]
    more = f" (+{len(messages) - 3} more)" if len(messages) > 3 else ""
    return Finding(True, "; ".join(messages[:3]) + more, tuple(details))


def evaluate(rule: AlertRule, summary: ReportSummary, operational: Operational | None = None) -> Finding:
    """The rule's verdict on one finished run (a skipped run is not evaluated)."""
    if rule.when in ("error_rate", "latency_p99"):
        assert rule.above is not None
        if operational is None:
            return Finding(False, f"{rule.name}: no operational figures", ())
        if rule.when == "error_rate":
            value = operational.error_rate
            text = "error rate {:.2%} of {:,} requests is above {:.2%}"
        else:
            value = operational.latency_p99_ms
            text = "p99 latency {:.1f} ms over {:,} requests is above {:g} ms"
        if value is None or value <= rule.above:
            return _finding(rule, [])
        measured: dict[str, Any] = {
            "kind": rule.when,
            "value": value,
            "threshold": rule.above,
            "records": operational.records,
            "errors": operational.errors,
            "message": text.format(value, operational.records, rule.above),
        }
        return _finding(rule, [measured])
    if rule.when == "dataset_drift":
        drift = summary.drift
        if drift is None or not drift.dataset_drift:
            return _finding(rule, [])
        drifted = [c.column for c in drift.columns if c.drifted]
        detail: dict[str, Any] = {
            "kind": "dataset_drift",
            "value": drift.share_of_drifted_columns,
            "threshold": drift.drift_share,
            "columns": drifted,
            "message": f"dataset drift: {drift.number_of_drifted_columns} of {drift.number_of_columns} columns "
            f"({', '.join(drifted[:8])}{'...' if len(drifted) > 8 else ''})",
        }
        return _finding(rule, [detail])
    if rule.when == "fairness" and (rule.below is not None or rule.above is not None):
        return _fairness_bound(rule, summary)
    return _finding(rule, [_flag(f) for f in _matching(rule, summary)])
