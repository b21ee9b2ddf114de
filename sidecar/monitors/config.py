"""Monitor configuration: what one monitor watches, against which reference, how often, with which checks.

Declared under `monitors:` in the YAML config, e.g.

    monitors:
      - name: loans
        model: loan-approval          # which records: model name / version / route (all optional)
        window: {minutes: 60}         # or {records: 10000}
        schedule: {every: 15m}        # or {cron: "*/15 * * * *"} (UTC)
        features: [income, debt, region]
        column_types: {region: categorical}
        fairness: {protected: [sex], favorable: 1}
        drift: {drift_share: 0.3, method_by_type: {numeric: wasserstein}}

Schedules are aligned to the clock (an `every: 15m` monitor runs at :00, :15, ...), so every replica computes
the same window and the database gives each window to exactly one of them.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TypedDict

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from alerts.config import AlertRule
from detectors.column_types import ColumnType
from detectors.drift.options import DriftOptions
from detectors.fairness.options import FairnessOptions, Task
from detectors.performance_options import ClassificationOptions
from detectors.quality.thresholds import QualityThresholds
from sidecar.reports.spec import RECORD_META_COLUMNS, BiasThresholds, ReportSpec
from sidecar.timeparse import parse_duration

if TYPE_CHECKING:
    from apscheduler.triggers.base import BaseTrigger

MONITOR_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class RecordFilter(TypedDict):
    """Which records a monitor reads, as `load_window` keyword arguments."""

    model: str | None
    model_version: str | None
    route: str | None


class WindowConfig(BaseModel):
    """The records a run judges: those of the last `minutes` before the run, or the newest `records`."""

    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)

    minutes: float | None = Field(default=None, gt=0)
    """A time window: records with `tick - minutes <= ts < tick`, where tick is the scheduled time."""
    records: int | None = Field(default=None, ge=1)
    """A count window: the newest `records` records before the scheduled time."""

    @model_validator(mode="after")
    def _exactly_one(self) -> WindowConfig:
        if (self.minutes is None) == (self.records is None):
            raise ValueError("set exactly one of `minutes` or `records`")
        return self


class ScheduleConfig(BaseModel):
    """When runs fire: every fixed interval (aligned to the epoch) or on a crontab line, both in UTC."""

    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)

    every: float | None = None
    """Interval: seconds or a string like `15m`; runs fire at multiples of it since 1970-01-01 UTC."""
    cron: str | None = None
    """Five-field crontab line (minute hour day month weekday), in UTC."""
    enabled: bool = True
    """False: only on-demand runs (the API or `driftcar report`)."""

    @field_validator("every", mode="before")
    @classmethod
    def _duration(cls, value: Any) -> float | None:
        return None if value is None else parse_duration(value)

    @field_validator("every")
    @classmethod
    def _not_too_often(cls, value: float | None) -> float | None:
        if value is not None and value < 1.0:
            raise ValueError("must be at least 1 second")
        return value

    @field_validator("cron")
    @classmethod
    def _valid_cron(cls, value: str | None) -> str | None:
        if value is not None:
            from apscheduler.triggers.cron import CronTrigger

            try:
                CronTrigger.from_crontab(value, timezone=UTC)
            except ValueError as exc:
                raise ValueError(f"invalid crontab line {value!r}: {exc}") from None
        return value

    @model_validator(mode="after")
    def _exactly_one(self) -> ScheduleConfig:
        if (self.every is None) == (self.cron is None):
            raise ValueError("set exactly one of `every` or `cron`")
        return self

    def trigger(self) -> BaseTrigger:
        """The APScheduler trigger: an interval starting at the epoch, or the crontab line, in UTC."""
        from apscheduler.triggers.cron import CronTrigger
        from apscheduler.triggers.interval import IntervalTrigger

        if self.cron is not None:
            return CronTrigger.from_crontab(self.cron, timezone=UTC)
        assert self.every is not None
        return IntervalTrigger(seconds=self.every, start_date=EPOCH, timezone=UTC)

    def last_tick(self, now: float) -> float:
        """The latest scheduled time at or before `now` (epoch seconds): the end of the window it fires for."""
        if self.every is not None:
            return (now // self.every) * self.every
        trigger = self.trigger()
        # A cron line fires at least once a year; step back until a fire time lands at or before `now`.
        for back in (3600.0, 86400.0, 31 * 86400.0, 366 * 86400.0, 5 * 366 * 86400.0):
            tick = self._last_fire_since(trigger, now - back, now)
            if tick is not None:
                return tick
        raise ValueError(f"cron {self.cron!r} never fires")

    @staticmethod
    def _last_fire_since(trigger: BaseTrigger, since: float, now: float) -> float | None:
        found: float | None = None
        at = datetime.fromtimestamp(since, UTC)
        limit = datetime.fromtimestamp(now, UTC)
        previous = None
        while True:
            fire = trigger.get_next_fire_time(previous, at)
            if fire is None or fire > limit:
                return found
            found = fire.timestamp()
            previous, at = fire, fire

    def period_before(self, tick: float) -> float:
        """Seconds between the scheduled time before `tick` and `tick`."""
        if self.every is not None:
            return self.every
        before = self.last_tick(tick - 1e-3)
        return tick - before


class ReferenceConfig(BaseModel):
    """Where the reference comes from when none was uploaded or pinned: the first captured records."""

    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)

    first_n: int = Field(default=1000, ge=1)
    """With no stored reference, the first `first_n` usable records are pinned as version 1 (source
    `first_n`) once there are that many; the report says so."""


class MonitorConfig(BaseModel):
    """One monitored model: the records, the reference, the schedule and the checks."""

    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)

    name: str
    """Unique name, used in URLs and in the database (letters, digits, `_`, `.`, `-`)."""
    model: str | None = None
    """Only records of this model name."""
    model_version: str | None = None
    """Only records of this model version."""
    route: str | None = None
    """Only records with this route: the template the adapter recorded (`/invocations`,
    `/v2/models/{model}/infer`, a generic route's literal path; see `/api/records`), not a configured glob."""
    features: list[str] | None = None
    """Features to watch; default every captured feature."""
    column_types: dict[str, ColumnType] = Field(default_factory=dict)
    """Column types that override the inferred ones (`numeric`, `categorical`, `binary`, `text`, ...)."""
    prediction: str = "prediction"
    """The prediction column: `prediction` (the captured output; a one-element list is unwrapped) or
    `prediction_argmax` (the index of the largest score, for outputs that are score vectors)."""
    label: str | None = "label"
    """The ground-truth column: `label` holds what `POST /api/feedback` stored for each record (and the column of
    that name in an uploaded reference). Used when some record in the window has one; None: never."""
    task: Task = "classification"
    """`classification` or `regression`."""
    fairness: FairnessOptions | None = None
    """Protected attributes, favourable outcome, minimum group size; None: no fairness section."""
    bias: BiasThresholds = Field(default_factory=BiasThresholds)
    """When parity metrics become flags (four-fifths rule, difference caps, change since the reference)."""
    window: WindowConfig = Field(default_factory=lambda: WindowConfig(minutes=60))
    """The records a run judges."""
    schedule: ScheduleConfig = Field(default_factory=lambda: ScheduleConfig(every=3600))
    """When runs fire."""
    min_rows: int = Field(default=100, ge=1)
    """A window or reference with fewer rows is recorded as a skipped run, with the reason."""
    drift: DriftOptions = Field(default_factory=DriftOptions)
    """Drift methods and thresholds (global, per type, per column) and `drift_share`."""
    quality: QualityThresholds = Field(default_factory=QualityThresholds)
    """Data-quality thresholds."""
    performance: ClassificationOptions = Field(default_factory=ClassificationOptions)
    """Positive class and average for classification performance."""
    reference: ReferenceConfig = Field(default_factory=ReferenceConfig)
    """The default reference when none is stored."""
    html_max_rows: int = Field(default=50_000, ge=100)
    """The Evidently HTML is drawn on a seeded sample of at most this many rows per side (statistics use all)."""
    alerts: list[AlertRule] = Field(default_factory=list)
    """Alert rules evaluated on every finished run (see docs/alerts.md)."""

    @field_validator("alerts")
    @classmethod
    def _unique_rules(cls, value: list[AlertRule]) -> list[AlertRule]:
        names = [r.name for r in value]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"alert rule name(s) used twice: {', '.join(dupes)}")
        return value

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not MONITOR_NAME.match(value):
            raise ValueError(
                "must start with a letter or digit and hold only letters, digits, `_`, `.` or `-` (max 100)"
            )
        return value

    @model_validator(mode="after")
    def _consistent(self) -> MonitorConfig:
        if self.drift.columns is not None or self.drift.prediction is not None:
            raise ValueError("set the columns with `features` and `prediction`, not in `drift`")
        if self.drift.column_types and self.column_types:
            raise ValueError("set column types once, in `column_types` (not also in `drift.column_types`)")
        self.spec(with_label=self.label is not None)  # every cross-field rule of the report, checked now
        return self

    def spec(self, *, with_label: bool) -> ReportSpec:
        """The report spec of a run; `with_label` when the window holds some ground truth."""
        meta = list(RECORD_META_COLUMNS)
        if self.prediction != "prediction_argmax":
            meta.append("prediction_argmax")
        if self.prediction != "prediction":
            meta.append("prediction")
        drift = self.drift
        if self.column_types:
            drift = drift.model_copy(update={"column_types": dict(self.column_types)})
        fairness = self.fairness
        if fairness is not None and "task" not in fairness.model_fields_set:
            fairness = fairness.model_copy(update={"task": self.task})
        return ReportSpec(
            monitor=self.name,
            features=self.features,
            prediction=self.prediction,
            label=self.label if with_label else None,
            task=self.task,
            meta_columns=meta,
            fairness=fairness,
            bias=self.bias,
            drift=drift,
            quality=self.quality,
            performance=self.performance,
            html_max_rows=self.html_max_rows,
            min_rows=self.min_rows,
        )

    def record_filter(self) -> RecordFilter:
        """The record selection as `load_window` keyword arguments."""
        return {"model": self.model, "model_version": self.model_version, "route": self.route}


class ReportsSettings(BaseModel):
    """The report workers and the run bookkeeping shared by every monitor."""

    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)

    workers: int = Field(default=1, ge=1, le=32)
    """Worker processes computing reports (each pre-imports Evidently, ~300 MB)."""
    max_tasks_per_child: int | None = Field(default=20, ge=1)
    """Recycle a worker after this many reports, handing a large window's memory back."""
    nice: int = Field(default=10, ge=0, le=19)
    """CPU priority the workers give up (Unix nice): on a busy machine the proxy comes first."""
    stale_after: float = 6 * 3600.0
    """A run still `running` this long after its claim is marked failed (its replica died); its window can
    then be run again on demand."""
    misfire_grace: float = 300.0
    """A scheduled run that could not start on time (the process was busy or down) still runs within this."""

    @field_validator("stale_after", "misfire_grace", mode="before")
    @classmethod
    def _duration(cls, value: Any) -> float:
        return parse_duration(value)


class RetentionSettings(BaseModel):
    """What the retention job deletes, and how often it runs."""

    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)

    records_days: float | None = Field(default=None, gt=0)
    """Delete captured records (and their labels) older than this many days; None keeps them."""
    keep_reports: int | None = Field(default=200, ge=1)
    """Keep the newest this many report runs per monitor; None keeps all."""
    every: float = 3600.0
    """How often the retention job runs (a duration such as `1h`)."""

    @field_validator("every", mode="before")
    @classmethod
    def _duration(cls, value: Any) -> float:
        return parse_duration(value)


class MetricsSettings(BaseModel):
    """The monitors' metrics on `/metrics`: how fresh, and how many label values per monitor."""

    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)

    refresh: float = Field(default=15.0, gt=0)
    """Seconds between reads of the latest stored runs and alert states (runs finished by this replica
    refresh them at once; runs of other replicas show within this time)."""
    max_columns: int = Field(default=100, ge=1)
    """Columns per monitor with drift series (drifted ones first); the rest are counted in
    `driftcar_monitor_series_omitted{kind="column"}`."""
    max_groups: int = Field(default=20, ge=1)
    """Groups per protected attribute with fairness series; the rest are counted in
    `driftcar_monitor_series_omitted{kind="group"}`."""

    @field_validator("refresh", mode="before")
    @classmethod
    def _duration(cls, value: Any) -> float:
        return parse_duration(value)


def check_unique_names(monitors: list[MonitorConfig]) -> list[MonitorConfig]:
    """Reject two monitors with one name."""
    seen: set[str] = set()
    for monitor in monitors:
        if monitor.name in seen:
            raise ValueError(f"monitor name {monitor.name!r} is used twice")
        seen.add(monitor.name)
    return monitors
