"""Configuration: pydantic settings from CLI options, `DRIFTCAR_*` environment variables and a YAML file."""

from __future__ import annotations

import fnmatch
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, EnvSettingsSource, SettingsConfigDict

from alerts.config import AlertsSettings
from sidecar.capture.options import CaptureOptions
from sidecar.capture.paths import match_path
from sidecar.configfile import describe_errors, read_yaml
from sidecar.errors import ConfigError
from sidecar.ingest.config import IngestSettings
from sidecar.monitors.config import (
    MetricsSettings,
    MonitorConfig,
    ReportsSettings,
    RetentionSettings,
    check_unique_names,
)
from sidecar.secretfiles import resolve_secret_files

DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///./driftcar.db"


class RouteConfig(BaseModel):
    """Capture settings for the requests whose path matches `path` (a glob, e.g. `/v1/models/*`)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    path: str
    """Glob matched against the request path; the first matching route wins."""
    methods: list[str] = Field(default_factory=lambda: ["POST"])
    """HTTP methods whose exchanges are captured on this route."""
    capture: bool = True
    """False: proxy only, record nothing."""
    sample_rate: float = Field(default=1.0, ge=0.0, le=1.0)
    """Share of successful requests recorded, chosen deterministically by a hash of the request id."""
    keep_errors: bool = True
    """Record failed requests (HTTP >= 400, upstream errors) regardless of `sample_rate`."""
    redact: list[str] = Field(default_factory=list)
    """Feature names whose values never reach the store."""
    redact_mode: Literal["drop", "hash"] = "hash"
    """`drop` removes the field; `hash` stores a salted SHA-256 (keeps cardinality for drift on categories)."""
    adapter: CaptureOptions = Field(default_factory=CaptureOptions)
    """Protocol adapter and its options (JSON paths, feature names, model name)."""

    @field_validator("methods")
    @classmethod
    def _upper(cls, v: list[str]) -> list[str]:
        return [m.upper() for m in v]

    @field_validator("path")
    @classmethod
    def _check_glob(cls, v: str) -> str:
        # Request paths start with "/": any other glob but "*..." would silently match nothing.
        if not v.startswith(("/", "*")):
            raise ValueError(f"glob {v!r} must start with '/' (as request paths do) or '*'")
        for start in (i for i, char in enumerate(v) if char == "["):
            end = start + 1 + (v[start + 1 : start + 2] == "!")
            end += v[end : end + 1] == "]"
            if v.find("]", end) < 0:  # fnmatch would take the '[' literally: surely a typo
                raise ValueError(f"glob {v!r}: '[' at position {start} has no closing ']'")
        return v

    def matches(self, method: str, path: str) -> bool:
        """True when this route applies to the request."""
        return method in self.methods and fnmatch.fnmatchcase(path, self.path)


class TimeoutSettings(BaseModel):
    """Upstream timeouts in seconds."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    connect: float = Field(default=5.0, gt=0)
    """Time to open a connection to the upstream."""
    read: float = Field(default=60.0, gt=0)
    """Longest silence while waiting for the upstream's response headers or its next body chunk."""
    total: float | None = Field(default=None, gt=0)
    """Whole-request limit (None: unlimited, suitable for streamed responses)."""
    upstream_keepalive: float = Field(default=4.0, gt=0)
    """Idle upstream connections are reused for this long (keep it below the server's own keep-alive timeout:
    uvicorn closes idle connections after 5 s)."""
    client_idle: float = Field(default=75.0, gt=0)
    """Idle client keep-alive connections are closed after this long."""


class CaptureSettings(BaseModel):
    """The capture queue, the writer and the spool."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = True
    """False: proxy only on every route, record nothing (request metrics are still counted)."""
    max_body_bytes: int = Field(default=1 << 20, ge=0)
    """Bodies larger than this are proxied whole but recorded as `not captured: too large`."""
    queue_max_exchanges: int = Field(default=10_000, ge=1)
    """Exchanges waiting to be parsed, at most; overflow is counted and dropped, never waited for."""
    queue_max_bytes: int = Field(default=64 << 20, ge=1)
    """Exchanges waiting to be parsed, bounded in count and in body bytes."""
    writer_max_records: int = Field(default=100_000, ge=1)
    """Records waiting for the database, at most; what does not fit goes to the spool."""
    writer_max_bytes: int = Field(default=128 << 20, ge=1)
    """Bytes of records waiting for the database, at most; what does not fit goes to the spool."""
    batch_size: int = Field(default=2_000, ge=1)
    """Records per database write (multi-row INSERTs on SQLite, one binary COPY on PostgreSQL)."""
    flush_interval: float = Field(default=0.5, gt=0)
    """Seconds a partial batch may wait before it is written."""
    spool_dir: Path = Path("./driftcar-spool")
    """Directory of the fsync'd on-disk spool: records wait here while the database is down or the writer
    queue is full, and are replayed exactly once (one directory per replica, on a persistent volume)."""
    spool_max_bytes: int = Field(default=1 << 30, gt=0)
    """Disk the spool may use; beyond it records are dropped, counted and logged."""
    retry_max: float = Field(default=30.0, gt=0)
    """Longest wait between probes of a store that is down (the wait doubles from 0.5 s up to this)."""
    redaction_salt: SecretStr | None = None
    """Salt for `redact_mode: hash` (set DRIFTCAR_CAPTURE__REDACTION_SALT); a random per-process salt if unset."""
    redaction_salt_file: Path | None = None
    """File holding the redaction salt (read at startup, trailing newline stripped); not with `redaction_salt`."""
    max_models: int = Field(default=50, ge=1)
    """Distinct model labels in metrics; further models are labelled `other`."""

    @model_validator(mode="before")
    @classmethod
    def _secret_files(cls, data: Any) -> Any:
        return resolve_secret_files(data, {"redaction_salt_file": "redaction_salt"}, cls.__name__)


class Settings(BaseSettings):
    """Everything `driftcar serve` needs; CLI options > environment > YAML file > defaults."""

    model_config = SettingsConfigDict(
        env_prefix="DRIFTCAR_", env_nested_delimiter="__", extra="forbid", frozen=True
    )

    upstream: str
    """Base URL of the model server, e.g. http://127.0.0.1:8000."""
    host: str = "0.0.0.0"
    """Address the proxy binds (0.0.0.0: every interface)."""
    port: int = Field(default=8080, ge=0, le=65535)
    """Proxy port: clients call this instead of the model server (0: any free port)."""
    admin_host: str = "127.0.0.1"
    """Address the admin server binds; it serves records and reports, so keep it local or protected."""
    admin_port: int = Field(default=9090, ge=0, le=65535)
    """Admin port: health, readiness, metrics, records, monitors, reports, alerts, the gate (0: any free port)."""
    admin_token: SecretStr | None = None
    """Bearer token required by the admin API (all but /healthz, /readyz, /metrics); none: open."""
    admin_token_file: Path | None = None
    """File holding the admin token (read at startup, trailing newline stripped); not with `admin_token`."""
    database_url: SecretStr = SecretStr(DEFAULT_DATABASE_URL)
    """The store: `sqlite:///PATH` (one replica) or `postgresql://USER@HOST:PORT/DB` (any number of replicas);
    a password belongs in DRIFTCAR_DATABASE_URL, not in the file."""
    database_url_file: Path | None = None
    """File holding the database URL (it may carry a password); not with `database_url`."""
    timeouts: TimeoutSettings = Field(default_factory=TimeoutSettings)
    """Upstream and client connection timeouts."""
    capture: CaptureSettings = Field(default_factory=CaptureSettings)
    """Capture limits, the writer and the spool."""
    routes: list[RouteConfig] = Field(default_factory=list)
    """Per-route capture options; requests matching none are captured with automatic protocol detection."""
    upstream_connections: int = Field(default=100, ge=1)
    """Keep-alive connection pool size towards the upstream."""
    shutdown_timeout: float = Field(default=30.0, gt=0)
    """On SIGTERM: how long in-flight requests may take to finish."""
    monitors: list[MonitorConfig] = Field(default_factory=list)
    """Monitors: scheduled drift, data-quality, fairness and performance reports on the captured records."""
    reports: ReportsSettings = Field(default_factory=ReportsSettings)
    """Report workers and run bookkeeping."""
    retention: RetentionSettings = Field(default_factory=RetentionSettings)
    """Deleting old records and reports."""
    alerts: AlertsSettings = Field(default_factory=AlertsSettings)
    """Webhooks and delivery of the monitors' alerts."""
    replica: str | None = None
    """This replica's name in the report runs it claims (default: hostname and process id)."""
    metrics: MetricsSettings = Field(default_factory=MetricsSettings)
    """The per-monitor metrics on /metrics: refresh interval and label caps."""
    log_format: Literal["text", "json"] = "text"
    """`json`: one JSON object per log line (ts, level, logger, message, request_id, exc_info)."""
    ingest: IngestSettings = Field(default_factory=IngestSettings)
    """KServe payload-logger and batch ingestion on the admin port (`/ingest/kserve`, `/ingest/records`)."""

    @model_validator(mode="before")
    @classmethod
    def _secret_files(cls, data: Any) -> Any:
        pairs = {"admin_token_file": "admin_token", "database_url_file": "database_url"}
        return resolve_secret_files(data, pairs, cls.__name__)

    @field_validator("monitors")
    @classmethod
    def _unique_monitors(cls, v: list[MonitorConfig]) -> list[MonitorConfig]:
        return check_unique_names(v)

    @model_validator(mode="after")
    def _known_webhooks(self) -> Settings:
        names = {w.name for w in self.alerts.webhooks}
        for i, monitor in enumerate(self.monitors):
            for j, rule in enumerate(monitor.alerts):
                unknown = sorted(set(rule.webhooks or ()) - names)
                if unknown:
                    raise ValueError(
                        f"monitors.{i}.alerts.{j}.webhooks: monitor {monitor.name!r}, alert {rule.name!r}: "
                        f"unknown webhook(s) {', '.join(unknown)} (configured: {', '.join(sorted(names)) or 'none'})"
                    )
        return self

    def admin_url(self) -> str | None:
        """How receivers reach the admin port: `alerts.external_url`, else this host's admin address."""
        if self.alerts.external_url:
            return self.alerts.external_url.rstrip("/")
        if self.admin_port == 0:
            return None
        host = "127.0.0.1" if self.admin_host in ("0.0.0.0", "::", "") else self.admin_host
        return f"http://{host}:{self.admin_port}"

    def monitor(self, name: str) -> MonitorConfig | None:
        """The monitor of that name, if configured."""
        return next((m for m in self.monitors if m.name == name), None)

    @field_validator("admin_token")
    @classmethod
    def _check_token(cls, v: SecretStr | None) -> SecretStr | None:
        # An empty DRIFTCAR_ADMIN_TOKEN would otherwise read as "no token": an open admin API by accident.
        if v is not None and not v.get_secret_value().strip():
            raise ValueError("must not be empty (leave it unset for an open admin API)")
        return v

    @field_validator("upstream")
    @classmethod
    def _check_upstream(cls, v: str) -> str:
        if not v.startswith(("http://", "https://")):
            raise ValueError("must be an http:// or https:// URL")
        return v.rstrip("/")

    def route_for(self, method: str, path: str) -> RouteConfig | None:
        """The first configured route matching the request, if any (on the path as the upstream may read it)."""
        target = match_path(path)
        for route in self.routes:
            if route.matches(method, path) or (target != path and route.matches(method, target)):
                return route
        return None


def load_settings(config_file: str | Path | None = None, **overrides: Any) -> Settings:
    """Build Settings from an optional YAML file, the environment and explicit overrides (None values ignored)."""
    file_values: dict[str, Any] = read_yaml(config_file) if config_file else {}
    cli_values = {k: v for k, v in overrides.items() if v is not None}
    source = f"{config_file}, environment, options" if config_file else "environment, options"
    try:
        merged = _deep_merge(_deep_merge(file_values, _env_values()), cli_values)
        # model_validate skips pydantic-settings' own source loading: the layers are merged above.
        return Settings.model_validate(merged)
    except ValidationError as exc:
        raise ConfigError(describe_errors(exc, source)) from None


def _env_values() -> dict[str, Any]:
    """The DRIFTCAR_* environment as nested values (pydantic-settings' own parsing)."""
    source = EnvSettingsSource(Settings, env_prefix="DRIFTCAR_", env_nested_delimiter="__")
    return dict(source())


def _deep_merge(base: dict[str, Any], top: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in top.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _deep_merge(out[key], value)
        else:
            out[key] = value
    return out
