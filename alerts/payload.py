"""Alert notifications and their wire formats: driftcar's JSON (version 1), Alertmanager's webhook (version 4)
and Alertmanager's API v2 alert list.

driftcar's own payload is described by `docs/alert-payload.schema.json` (a test validates every payload the
dispatcher sends against it). One notification is one alert's state change (firing, a repeat while firing,
resolved), identified by its `id`, which is also the `Idempotency-Key` header: a retried delivery carries the
same id, so a receiver drops repeats by it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

import orjson

PAYLOAD_VERSION = "1"
Severity = Literal["info", "warning", "critical"]
Action = Literal["notify", "retrain", "redeploy", "rollback"]
AlertStatus = Literal["firing", "resolved"]
SEVERITY_RANK: dict[str, int] = {"info": 0, "warning": 1, "critical": 2}


def iso(ts: float | None) -> str | None:
    """RFC 3339 UTC with milliseconds, or None."""
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass(frozen=True, slots=True)
class RunRef:
    """The report run that changed the alert's state."""

    id: int
    window_start: float
    window_end: float
    report_url: str | None
    summary_url: str | None


@dataclass(frozen=True, slots=True)
class AlertEvent:
    """One notification: an alert's state at a change (or a repeat), with what the report found."""

    id: str
    """Unique per notification; the Idempotency-Key."""
    status: AlertStatus
    fingerprint: str
    monitor: str
    rule: str
    severity: Severity
    action: Action
    summary: str
    """One line for humans."""
    starts_at: float
    ends_at: float | None
    """When it resolved (None while firing)."""
    run: RunRef | None
    labels: dict[str, str] = field(default_factory=dict)
    details: tuple[dict[str, Any], ...] = ()
    """The findings behind it: the summary's flags (or operational figures) that matched the rule."""
    model: str | None = None
    model_version: str | None = None
    created_at: float = 0.0

    def to_json(self) -> dict[str, Any]:
        """driftcar's payload (version 1) as a JSON-ready dict."""
        return {
            "version": PAYLOAD_VERSION,
            "kind": "driftcar.alert",
            "id": self.id,
            "status": self.status,
            "fingerprint": self.fingerprint,
            "monitor": self.monitor,
            "rule": self.rule,
            "severity": self.severity,
            "action": self.action,
            "summary": self.summary,
            "labels": dict(self.labels),
            "details": list(self.details),
            "starts_at": iso(self.starts_at),
            "ends_at": iso(self.ends_at),
            "created_at": iso(self.created_at),
            "model": {"name": self.model, "version": self.model_version},
            "run": None
            if self.run is None
            else {
                "id": self.run.id,
                "window_start": iso(self.run.window_start),
                "window_end": iso(self.run.window_end),
                "report_url": self.run.report_url,
                "summary_url": self.run.summary_url,
            },
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> AlertEvent:
        """Read back what `to_json` wrote (the outbox stores events in this form)."""
        run = data.get("run")

        def ts(value: str | None) -> float | None:
            return None if value is None else datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()

        return cls(
            id=data["id"],
            status=data["status"],
            fingerprint=data["fingerprint"],
            monitor=data["monitor"],
            rule=data["rule"],
            severity=data["severity"],
            action=data["action"],
            summary=data["summary"],
            starts_at=ts(data["starts_at"]) or 0.0,
            ends_at=ts(data["ends_at"]),
            run=None
            if run is None
            else RunRef(
                id=run["id"],
                window_start=ts(run["window_start"]) or 0.0,
                window_end=ts(run["window_end"]) or 0.0,
                report_url=run["report_url"],
                summary_url=run["summary_url"],
            ),
            labels=dict(data["labels"]),
            details=tuple(data["details"]),
            model=data["model"]["name"],
            model_version=data["model"]["version"],
            created_at=ts(data["created_at"]) or 0.0,
        )

    def alert_labels(self) -> dict[str, str]:
        """Prometheus-style labels: `alertname`, monitor, severity, action, model, then the rule's own."""
        labels = {
            "alertname": f"driftcar_{self.rule}",
            "monitor": self.monitor,
            "rule": self.rule,
            "severity": self.severity,
            "action": self.action,
        }
        if self.model:
            labels["model"] = self.model
        if self.model_version:
            labels["model_version"] = self.model_version
        return {**labels, **self.labels}

    def alert_annotations(self) -> dict[str, str]:
        annotations = {"summary": self.summary, "driftcar_id": self.id}
        if self.run is not None and self.run.report_url:
            annotations["report_url"] = self.run.report_url
        return annotations


def driftcar_body(event: AlertEvent) -> bytes:
    """The request body in driftcar's format."""
    return orjson.dumps(event.to_json())


def alertmanager_webhook_body(event: AlertEvent, receiver: str, external_url: str) -> bytes:
    """The body Alertmanager itself sends to webhook receivers (version 4), for receivers built for it."""
    labels = event.alert_labels()
    alert = {
        "status": event.status,
        "labels": labels,
        "annotations": event.alert_annotations(),
        "startsAt": iso(event.starts_at),
        "endsAt": iso(event.ends_at) or "0001-01-01T00:00:00Z",
        "generatorURL": (event.run.report_url if event.run and event.run.report_url else external_url),
        "fingerprint": event.fingerprint[:16],
    }
    group = {"alertname": labels["alertname"], "monitor": event.monitor}
    # Alertmanager's group key: the route's path, then the group labels with Go-quoted ("...") values.
    quoted = ", ".join(f"{name}={orjson.dumps(value).decode()}" for name, value in group.items())
    return orjson.dumps(
        {
            "version": "4",
            "groupKey": f"{{}}:{{{quoted}}}",
            "truncatedAlerts": 0,
            "status": event.status,
            "receiver": receiver,
            "groupLabels": group,
            "commonLabels": labels,
            "commonAnnotations": event.alert_annotations(),
            "externalURL": external_url,
            "alerts": [alert],
        }
    )


def alertmanager_api_body(event: AlertEvent, refresh_for: float) -> bytes:
    """A POST /api/v2/alerts body. A firing alert's `endsAt` is `refresh_for` seconds ahead (it is re-posted at
    each run while it fires, as Prometheus does); a resolved one ends at its resolution time."""
    ends = event.ends_at if event.status == "resolved" else event.created_at + refresh_for
    alert: dict[str, Any] = {
        "labels": event.alert_labels(),
        "annotations": event.alert_annotations(),
        "startsAt": iso(event.starts_at),
        "endsAt": iso(ends),
    }
    if event.run is not None and event.run.report_url:
        alert["generatorURL"] = event.run.report_url
    return orjson.dumps([alert])
