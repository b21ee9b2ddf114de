"""Alert configuration: rules per monitor, webhooks and delivery settings (secrets only by reference).

alerts:
  external_url: http://driftcar.monitoring:9090   # how receivers reach the admin port (report links)
  webhooks:
    - name: ops
      url: https://hooks.example/driftcar
      secret_env: DRIFTCAR_WEBHOOK_SECRET          # or secret_file: /run/secrets/webhook
    - name: alertmanager
      url: http://alertmanager:9093
      format: alertmanager_api                      # POST /api/v2/alerts: routing, grouping, silences
monitors:
  - name: loans
    alerts:
      - {name: income-drift, when: column_drift, columns: [income], severity: warning}
      - {name: disparate-impact, when: fairness, metric: demographic_parity_ratio, below: 0.8,
         severity: critical, action: rollback, for: 2}
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from alerts.payload import Action, Severity
from sidecar.timeparse import parse_duration

RuleKind = Literal[
    "dataset_drift",
    "column_drift",
    "prediction_drift",
    "fairness",
    "bias_drift",
    "data_quality",
    "report_error",
    "error_rate",
    "latency_p99",
]
WebhookFormat = Literal["driftcar", "alertmanager_webhook", "alertmanager_api"]
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")
_LABEL_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
_UNBOUNDED = ("dataset_drift", "prediction_drift", "report_error")


def _duration(value: Any) -> float:
    return parse_duration(value)


def _check_name(value: str) -> str:
    if not _NAME.match(value):
        raise ValueError("must start with a letter or digit and hold only letters, digits, `_`, `.` or `-`")
    return value


class AlertRule(BaseModel):
    """One condition on a monitor's report runs, what it means (severity) and what to do (action)."""

    model_config = ConfigDict(
        extra="forbid", frozen=True, use_attribute_docstrings=True, populate_by_name=True
    )

    name: str
    """Unique within the monitor; part of the alert's fingerprint and of its `alertname`."""
    when: RuleKind
    """`dataset_drift`, `column_drift` (of `columns`, default any), `prediction_drift`, `fairness` (a parity
    `metric` beyond `below`/`above`, or any fairness flag), `bias_drift`, `data_quality` (a breached check, of
    `columns` / `metric` when given), `report_error` (a report section failed), `error_rate` (share of captured
    requests in the window that failed, `above`), `latency_p99` (ms, `above`)."""
    columns: list[str] | None = None
    """Only these columns (`column_drift`, `data_quality`)."""
    attribute: str | None = None
    """Only this protected attribute (`fairness`, `bias_drift`)."""
    metric: str | None = None
    """The parity metric (`fairness`, `bias_drift`) or the data-quality check (`data_quality`)."""
    below: float | None = None
    """Fire when the value is below this (`fairness`, e.g. demographic_parity_ratio below 0.8)."""
    above: float | None = None
    """Fire when the value is above this (`fairness` differences, `error_rate` as a share, `latency_p99` ms)."""
    severity: Severity = "warning"
    """How bad it is: `info`, `warning` or `critical` (webhooks filter on it; by default the gate fails from `warning` up)."""
    action: Action = "notify"
    """What a consumer should do: `notify`, `retrain`, `redeploy` or `rollback`."""
    for_windows: int = Field(default=1, ge=1, alias="for")
    """Fire only after this many consecutive windows meet the condition (against flapping)."""
    repeat_interval: float = 4 * 3600.0
    """While firing, notify again after this long (a duration such as `4h`)."""
    labels: dict[str, str] = Field(default_factory=dict)
    """Extra labels (part of the fingerprint; Prometheus label names)."""
    webhooks: list[str] | None = None
    """Deliver to these webhooks only (default: every webhook whose `min_severity` admits it)."""

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        return _check_name(value)

    @field_validator("repeat_interval", mode="before")
    @classmethod
    def _repeat(cls, value: Any) -> float:
        return _duration(value)

    @field_validator("labels")
    @classmethod
    def _labels(cls, value: dict[str, str]) -> dict[str, str]:
        bad = sorted(k for k in value if not _LABEL_NAME.match(k))
        if bad:
            raise ValueError(f"label names must match [a-zA-Z_][a-zA-Z0-9_]*: {', '.join(bad)}")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> AlertRule:
        kind = self.when
        if kind in ("error_rate", "latency_p99") and self.above is None:
            raise ValueError(f"`{kind}` needs `above`")
        if kind in _UNBOUNDED and (self.below is not None or self.above is not None):
            raise ValueError(f"`{kind}` takes no bound")
        if kind == "fairness" and (self.below is not None or self.above is not None) and self.metric is None:
            raise ValueError("a fairness bound needs the `metric` it applies to")
        if self.columns is not None and kind not in ("column_drift", "data_quality"):
            raise ValueError("`columns` applies to column_drift and data_quality rules only")
        if self.attribute is not None and kind not in ("fairness", "bias_drift"):
            raise ValueError("`attribute` applies to fairness and bias_drift rules only")
        if self.metric is not None and kind not in ("fairness", "bias_drift", "data_quality"):
            raise ValueError("`metric` applies to fairness, bias_drift and data_quality rules only")
        if kind in ("column_drift", "data_quality", "bias_drift") and (
            self.below is not None or self.above is not None
        ):
            raise ValueError(
                f"`{kind}` fires on the report's own thresholds; set those on the monitor instead"
            )
        return self


class WebhookConfig(BaseModel):
    """Where notifications go, in which format, signed with which secret."""

    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)

    name: str
    """Unique name, referred to by the rules' `webhooks` and shown in the delivery log."""
    url: str
    """The receiver's URL; for `alertmanager_api`, Alertmanager's base URL (alerts go to /api/v2/alerts)."""
    format: WebhookFormat = "driftcar"
    """`driftcar` (versioned JSON, docs/alert-payload.schema.json), `alertmanager_webhook` (the body
    Alertmanager sends its own webhook receivers, version 4) or `alertmanager_api` (posted to Alertmanager)."""
    secret_env: str | None = None
    """Environment variable holding the HMAC secret."""
    secret_file: Path | None = None
    """File holding the HMAC secret (e.g. a mounted Kubernetes Secret)."""
    timeout: float = 10.0
    """Per-attempt timeout (a duration)."""
    max_age: float = 24 * 3600.0
    """Retry until the notification is this old, then give up (it is kept as `dead` and counted)."""
    min_severity: Severity = "info"
    """Only notifications of at least this severity."""
    monitors: list[str] | None = None
    """Only these monitors' alerts (default: all)."""

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        return _check_name(value)

    @field_validator("timeout", "max_age", mode="before")
    @classmethod
    def _durations(cls, value: Any) -> float:
        return _duration(value)

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must be an http:// or https:// URL")
        return value

    @model_validator(mode="after")
    def _secret(self) -> WebhookConfig:
        if self.secret_env is not None and self.secret_file is not None:
            raise ValueError("give one of secret_env or secret_file, not both")
        if self.format != "alertmanager_api" and self.secret_env is None and self.secret_file is None:
            raise ValueError(f"a `{self.format}` webhook is signed: set secret_env or secret_file")
        return self


class DeliverySettings(BaseModel):
    """How the dispatcher retries."""

    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)

    initial_backoff: float = 1.0
    """Wait before the first retry; it doubles per attempt, with full jitter."""
    max_backoff: float = 300.0
    """The longest wait between attempts."""
    poll: float = 1.0
    """How often the dispatcher looks for due notifications (it is also woken when a run adds some)."""
    lease: float = 60.0
    """A dispatcher holds a notification this long while delivering it; another replica may retry after."""
    batch: int = Field(default=20, ge=1, le=500)
    """Notifications taken per round."""
    keep_days: float = 30.0
    """Delivered and dead notifications (and their attempts) are deleted after this many days."""

    @field_validator("initial_backoff", "max_backoff", "poll", "lease", mode="before")
    @classmethod
    def _durations(cls, value: Any) -> float:
        return _duration(value)


class AlertsSettings(BaseModel):
    """Webhooks, delivery and the admin URL receivers should use in links."""

    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)

    webhooks: list[WebhookConfig] = Field(default_factory=list)
    """Receivers of the notifications; each alert goes to every webhook that admits it."""
    delivery: DeliverySettings = Field(default_factory=DeliverySettings)
    """Retries, leases and the outbox's retention."""
    open_gate: bool = False
    """Answer `/gate/{monitor}` without the admin token (Flagger's webhooks cannot send one); the gate shows
    which rules fire and their findings."""
    external_url: str | None = None
    """Base URL of the admin port as receivers see it (default: http://<admin_host>:<admin_port>)."""

    @field_validator("webhooks")
    @classmethod
    def _unique(cls, value: list[WebhookConfig]) -> list[WebhookConfig]:
        names = [w.name for w in value]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"webhook name(s) used twice: {', '.join(dupes)}")
        return value
