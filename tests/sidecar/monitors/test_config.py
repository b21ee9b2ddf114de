"""Monitor configuration: durations, windows, schedules aligned to the clock, and errors that name the key."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from pydantic import ValidationError

from sidecar.errors import ConfigError
from sidecar.monitors.config import MonitorConfig, ScheduleConfig
from sidecar.settings import load_settings
from sidecar.timeparse import parse_duration, parse_time


def _ts(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        (30, 30.0),
        (1.5, 1.5),
        ("90s", 90.0),
        ("15m", 900.0),
        ("1.5h", 5400.0),
        ("7d", 604800.0),
        ("250ms", 0.25),
    ],
)
def test_durations(value: object, seconds: float) -> None:
    assert parse_duration(value) == seconds


@pytest.mark.parametrize("value", ["", "15 minutes", "-5m", "0", 0, True, None, "m"])
def test_bad_durations_are_rejected(value: object) -> None:
    with pytest.raises(ValueError, match="duration"):
        parse_duration(value)


def test_times_are_epoch_seconds_or_iso_8601() -> None:
    assert parse_time("1732530000") == 1732530000.0
    assert parse_time("2026-11-25T10:00:00Z") == _ts("2026-11-25T10:00:00")
    assert parse_time("2026-11-25T11:00:00+01:00") == _ts("2026-11-25T10:00:00")
    assert parse_time("2026-11-25 10:00") == _ts("2026-11-25T10:00:00")  # no zone: UTC
    for bad in ("yesterday", "nan", "inf", "-inf"):
        with pytest.raises(ValueError, match="epoch seconds or an ISO 8601"):
            parse_time(bad)


def test_interval_ticks_are_multiples_of_the_interval_since_the_epoch() -> None:
    schedule = ScheduleConfig(every="15m")  # type: ignore[arg-type]
    now = _ts("2026-11-25T10:37:12")
    assert schedule.last_tick(now) == _ts("2026-11-25T10:30:00")
    assert schedule.last_tick(_ts("2026-11-25T10:45:00")) == _ts("2026-11-25T10:45:00")
    assert schedule.period_before(_ts("2026-11-25T10:30:00")) == 900.0
    trigger = schedule.trigger()
    fire = trigger.get_next_fire_time(None, datetime.fromtimestamp(now, UTC))
    assert fire is not None and fire.timestamp() == _ts("2026-11-25T10:45:00")


def test_cron_ticks_follow_the_crontab_in_utc() -> None:
    schedule = ScheduleConfig(cron="5 */6 * * *")
    assert schedule.last_tick(_ts("2026-11-25T13:00:00")) == _ts("2026-11-25T12:05:00")
    assert schedule.last_tick(_ts("2026-11-25T12:05:00")) == _ts("2026-11-25T12:05:00")
    assert schedule.period_before(_ts("2026-11-25T12:05:00")) == 6 * 3600.0
    weekly = ScheduleConfig(cron="0 3 * * mon")
    assert weekly.last_tick(_ts("2026-11-25T10:00:00")) == _ts("2026-11-23T03:00:00")


@pytest.mark.parametrize(
    ("schedule", "message"),
    [
        ({}, "exactly one of `every` or `cron`"),
        ({"every": "5m", "cron": "* * * * *"}, "exactly one of `every` or `cron`"),
        ({"cron": "61 * * * *"}, "invalid crontab line"),
        ({"every": "500ms"}, "at least 1 second"),
    ],
)
def test_bad_schedules(schedule: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        ScheduleConfig.model_validate(schedule)


def test_window_needs_exactly_one_bound() -> None:
    with pytest.raises(ValidationError, match="exactly one of `minutes` or `records`"):
        MonitorConfig.model_validate({"name": "m", "window": {"minutes": 5, "records": 10}})
    with pytest.raises(ValidationError, match="exactly one of `minutes` or `records`"):
        MonitorConfig.model_validate({"name": "m", "window": {}})


def test_monitor_becomes_a_report_spec() -> None:
    monitor = MonitorConfig.model_validate(
        {
            "name": "loans",
            "features": ["income", "sex"],
            "column_types": {"sex": "categorical"},
            "task": "regression",
            "fairness": {"protected": ["sex"]},
            "drift": {"drift_share": 0.3, "method_by_type": {"numeric": "wasserstein"}},
        }
    )
    spec = monitor.spec(with_label=True)
    assert spec.monitor == "loans" and spec.label == "label" and spec.features == ["income", "sex"]
    assert spec.drift.column_types == {"sex": "categorical"} and spec.drift.drift_share == 0.3
    assert spec.fairness is not None and spec.fairness.task == "regression"
    assert "prediction_argmax" in spec.meta_columns
    assert monitor.spec(with_label=False).label is None


@pytest.mark.parametrize(
    ("monitor", "message"),
    [
        ({"name": "bad name"}, "letters, digits"),
        ({"name": "m", "drift": {"columns": ["a"]}}, "set the columns with `features`"),
        ({"name": "m", "features": ["prediction"]}, "must not include the prediction"),
        ({"name": "m", "fairness": {"protected": []}}, "protected"),
        ({"name": "m", "windw": {"minutes": 5}}, "windw"),
    ],
)
def test_bad_monitors_are_rejected(monitor: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        MonitorConfig.model_validate(monitor)


def test_yaml_errors_name_the_key_and_nothing_starts(tmp_path: Path) -> None:
    config = tmp_path / "driftcar.yaml"
    config.write_text(
        "upstream: http://127.0.0.1:1\n"
        "monitors:\n"
        "  - name: a\n"
        "    window: {minutes: 5}\n"
        "  - name: b\n"
        "    schedule: {evry: 5m}\n",
        encoding="utf-8",
    )
    with pytest.raises(ConfigError, match=r"monitors\.1\.schedule\.evry: unknown key"):
        load_settings(config)


def test_monitor_names_are_unique(tmp_path: Path) -> None:
    config = tmp_path / "driftcar.yaml"
    config.write_text("upstream: http://127.0.0.1:1\nmonitors:\n  - name: a\n  - name: a\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="monitor name 'a' is used twice"):
        load_settings(config)


def test_a_valid_config_loads_every_monitor(tmp_path: Path) -> None:
    config = tmp_path / "driftcar.yaml"
    config.write_text(
        "upstream: http://127.0.0.1:1\n"
        "retention: {records_days: 30, keep_reports: 10, every: 2h}\n"
        "reports: {workers: 2, stale_after: 1h}\n"
        "monitors:\n"
        "  - name: loans\n"
        "    model: loan-approval\n"
        "    window: {records: 5000}\n"
        "    schedule: {cron: '*/15 * * * *'}\n"
        "    fairness: {protected: [sex], favorable: approved}\n",
        encoding="utf-8",
    )
    settings = load_settings(config)
    loans = settings.monitor("loans")
    assert loans is not None and loans.window.records == 5000 and loans.schedule.cron == "*/15 * * * *"
    assert loans.record_filter() == {"model": "loan-approval", "model_version": None, "route": None}
    assert settings.retention.every == 7200.0 and settings.reports.stale_after == 3600.0
    assert settings.monitor("other") is None


def test_the_documented_configuration_loads(tmp_path: Path) -> None:
    doc = (Path(__file__).parents[3] / "docs" / "monitors.md").read_text(encoding="utf-8")
    block = doc.split("```yaml\n", 1)[1].split("```", 1)[0]
    config = tmp_path / "driftcar.yaml"
    config.write_text("upstream: http://127.0.0.1:1\n" + block, encoding="utf-8")
    settings = load_settings(config)
    (loans,) = settings.monitors
    assert loans.drift.method_by_column == {"region": "psi"} and loans.schedule.every == 900.0
    assert settings.reports.misfire_grace == 300.0 and settings.retention.records_days == 30
