"""The consumer's YAML configuration (see docs/consumer.md); secrets are named by reference, never written here.

listen: {host: 0.0.0.0, port: 9300}
secrets:                                   # any one verifies; list two while rotating
  - secret_env: DRIFTCAR_WEBHOOK_SECRET
  - secret_file: /run/secrets/driftcar-webhook-previous
dedupe: {path: /var/lib/driftcar/consume.db, retention: 7d}
actions:
  churn-rollback: {kind: mlflow_alias, tracking_uri: http://mlflow:5000, model: churn, alias: production}
  churn-forward: {kind: mlflow_alias, tracking_uri: http://mlflow:5000, model: churn, operation: roll_forward}
  churn-restart: {kind: kubernetes, namespace: ml, deployment: churn-api, operation: restart}
rules:
  - match: {action: rollback, monitor: churn}
    run: [churn-rollback, churn-restart]
  - match: {action: rollback, monitor: churn, status: resolved}
    run: [churn-forward, churn-restart]
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from alerts.consumer.template import check_template
from alerts.payload import SEVERITY_RANK, Action, AlertEvent, AlertStatus, Severity
from sidecar.configfile import describe_errors, read_yaml
from sidecar.errors import ConfigError
from sidecar.timeparse import parse_duration

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


def _seconds(value: Any) -> float:
    return parse_duration(value)


def _listify(value: Any) -> Any:
    return [value] if isinstance(value, str) else value


Duration = Annotated[float, BeforeValidator(_seconds)]
"""Seconds, or a string such as `90s`, `15m`, `1h`, `7d`."""
OneOrMany = BeforeValidator(_listify)


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)


class ListenConfig(_Model):
    """Where the consumer listens."""

    host: str = "127.0.0.1"
    port: int = Field(default=9300, ge=0, le=65535)


class SecretRef(_Model):
    """One HMAC secret, from an environment variable or a file (e.g. a mounted Kubernetes Secret)."""

    secret_env: str | None = None
    secret_file: Path | None = None

    @model_validator(mode="after")
    def _one(self) -> SecretRef:
        if (self.secret_env is None) == (self.secret_file is None):
            raise ValueError("give exactly one of secret_env or secret_file")
        return self


class DedupeConfig(_Model):
    """The SQLite file of Idempotency-Keys seen, so that repeats are dropped across restarts."""

    path: Path = Path("./driftcar-consume.db")
    retention: Duration = 7 * 86400.0
    """Keys are forgotten this long after they were handled; keep it above the sender's retry horizon
    (`max_age` of its webhook, 24 h by default)."""
    in_progress_timeout: Duration = 900.0
    """A key claimed this long ago and never finished (the consumer died mid-action) may be claimed again."""


class MatchConfig(_Model):
    """Which alerts a rule takes; every given condition must hold (a list means any of its values)."""

    status: AlertStatus | Literal["any"] = "firing"
    """Only firing alerts unless said otherwise (`resolved` for roll-forward rules, or `any`)."""
    action: Annotated[list[Action] | None, OneOrMany] = None
    """The alert's suggested action: notify, retrain, redeploy, rollback."""
    monitor: Annotated[list[str] | None, OneOrMany] = None
    rule: Annotated[list[str] | None, OneOrMany] = None
    severity: Annotated[list[Severity] | None, OneOrMany] = None
    min_severity: Severity | None = None
    model: Annotated[list[str] | None, OneOrMany] = None
    """The model name in the alert's `model.name`."""
    labels: dict[str, str] = Field(default_factory=dict)
    """Labels the alert must carry with these values."""

    def matches(self, event: AlertEvent) -> bool:
        """True when the alert meets every condition."""
        if self.status != "any" and event.status != self.status:
            return False
        checks: list[tuple[Sequence[str] | None, str | None]] = [
            (self.action, event.action),
            (self.monitor, event.monitor),
            (self.rule, event.rule),
            (self.severity, event.severity),
            (self.model, event.model),
        ]
        if any(allowed is not None and value not in allowed for allowed, value in checks):
            return False
        if self.min_severity is not None and SEVERITY_RANK[event.severity] < SEVERITY_RANK[self.min_severity]:
            return False
        return all(event.labels.get(k) == v for k, v in self.labels.items())


class RuleConfig(_Model):
    """Alerts matching `match` run the actions named in `run`, in order."""

    match: MatchConfig = Field(default_factory=MatchConfig)
    run: Annotated[list[str], OneOrMany] = Field(min_length=1)


class _ActionConfig(_Model):
    timeout: Duration = 60.0
    """The whole action, all its requests included."""


class MlflowAliasConfig(_ActionConfig):
    """Move a registered model's alias: back one version (`rollback`) or to where it was (`roll_forward`)."""

    kind: Literal["mlflow_alias"]
    tracking_uri: str
    """The MLflow tracking server (credentials from MLFLOW_TRACKING_TOKEN or _USERNAME/_PASSWORD)."""
    registry_uri: str | None = None
    """The model registry, when it is not the tracking server."""
    model: str
    """The registered model's name."""
    alias: str = "production"
    operation: Literal["rollback", "roll_forward"] = "rollback"
    only_alerted_version: bool = False
    """Act only when the alias points at the version the alert names (`model.version`); a rollback alert
    about a version already rolled back from then changes nothing."""


class KubernetesConfig(_ActionConfig):
    """`kubectl rollout restart` (`restart`) or `kubectl rollout undo` (`undo`) of one Deployment."""

    kind: Literal["kubernetes"]
    namespace: str = "default"
    deployment: str
    operation: Literal["restart", "undo"]
    dry_run: bool = False
    """Send every write with `dryRun=All`: the API server validates and admits it but persists nothing."""
    in_cluster: bool = False
    """Use the pod's service account (the Role in docs/consumer.md) instead of a kubeconfig."""
    kubeconfig: Path | None = None
    """Kubeconfig file (default: $KUBECONFIG or ~/.kube/config)."""
    context: str | None = None
    """Kubeconfig context (default: its current context)."""
    field_manager: str = "driftcar"
    request_timeout: Duration = 10.0
    """Per request, connect and read each."""

    @model_validator(mode="after")
    def _source(self) -> KubernetesConfig:
        if self.in_cluster and (self.kubeconfig is not None or self.context is not None):
            raise ValueError("in_cluster excludes kubeconfig and context")
        return self


class HttpConfig(_ActionConfig):
    """Call a URL, e.g. a Prefect deployment's `create_flow_run` to retrain."""

    kind: Literal["http"]
    url: str
    method: Literal["GET", "POST", "PUT", "PATCH", "DELETE"] = "POST"
    headers: dict[str, str] = Field(default_factory=dict)
    """`${NAME}` in a value is that environment variable, read at startup (e.g. `Bearer ${PREFECT_API_KEY}`)."""
    body: Any = None
    """A JSON template with `{{ field }}` placeholders (docs/consumer.md); none: the alert's payload."""
    timeout: Duration = 10.0

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must be an http:// or https:// URL")
        return value

    @field_validator("body")
    @classmethod
    def _body(cls, value: Any) -> Any:
        check_template(value)
        return value


class CommandConfig(_ActionConfig):
    """Run a program with the alert's JSON payload on standard input; exit status 0 is success."""

    kind: Literal["command"]
    argv: list[str] = Field(min_length=1)
    """Program and arguments, run without a shell; `{{ field }}` placeholders are filled from the alert."""
    env: dict[str, str] = Field(default_factory=dict)
    """Added to the consumer's environment; `${NAME}` in a value is read at startup."""
    cwd: Path | None = None
    timeout: Duration = 300.0

    @field_validator("argv")
    @classmethod
    def _argv(cls, value: list[str]) -> list[str]:
        check_template(value)
        return value


ActionConfig = Annotated[
    MlflowAliasConfig | KubernetesConfig | HttpConfig | CommandConfig, Field(discriminator="kind")
]


class ConsumerConfig(_Model):
    """Everything `driftcar consume` needs."""

    listen: ListenConfig = Field(default_factory=ListenConfig)
    secrets: list[SecretRef] = Field(min_length=1)
    timestamp_tolerance: Duration = 300.0
    """Requests whose timestamp is further than this from the consumer's clock are refused (replays)."""
    max_body_bytes: int = Field(default=1 << 20, ge=1024)
    dedupe: DedupeConfig = Field(default_factory=DedupeConfig)
    actions: dict[str, ActionConfig] = Field(default_factory=dict)
    rules: list[RuleConfig] = Field(default_factory=list)

    @field_validator("actions")
    @classmethod
    def _names(cls, value: dict[str, Any]) -> dict[str, Any]:
        for name in value:
            if not _NAME.match(name):
                raise ValueError(f"action name {name!r} must hold only letters, digits, `_`, `.` or `-`")
        return value

    @model_validator(mode="after")
    def _known_actions(self) -> ConsumerConfig:
        for i, rule in enumerate(self.rules):
            unknown = [name for name in rule.run if name not in self.actions]
            if unknown:
                raise ValueError(f"rules[{i}].run: unknown action(s) {', '.join(unknown)}")
        return self

    def actions_for(self, event: AlertEvent) -> list[str]:
        """The names of the actions for this alert: those of every matching rule, in order, each once."""
        names: list[str] = []
        for rule in self.rules:
            if rule.match.matches(event):
                names.extend(n for n in rule.run if n not in names)
        return names


def parse_config(data: dict[str, Any], source: str = "config") -> ConsumerConfig:
    """Validate a mapping; ConfigError listing every problem by its key path."""
    try:
        return ConsumerConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(describe_errors(exc, source)) from None


def load_config(path: str | Path, listen: dict[str, Any] | None = None) -> ConsumerConfig:
    """Read and validate a YAML config file, `listen` values (command-line options) over its own; ConfigError
    naming the file and the problem."""
    p = Path(path)
    data = read_yaml(p)
    if listen:
        base = data.get("listen")
        data["listen"] = {**(base if isinstance(base, dict) else {}), **listen}
        return parse_config(data, f"{p}, options")
    return parse_config(data, str(p))
