"""`driftcar check`: the summary of a valid configuration, and each kind of error naming its key (exit 2).

The command as a real process runs on every example config in tests/examples/test_examples.py."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from sidecar.cli import main

SECRET_ENV = "DRIFTCAR_TEST_CHECK_SECRET"

CONFIG = """
upstream: http://127.0.0.1:8000
database_url: postgresql://driftcar:hunter2-password@127.0.0.1:1/driftcar
routes:
  - path: /v1/models/iris*
    adapter: {adapter: tfserving, feature_names: [sepal_length, sepal_width]}
    sample_rate: 0.5
    redact: [ssn]
  - path: /classify
    adapter: {adapter: generic, inputs: input_series, outputs: $}
  - {path: /healthz, methods: [GET], capture: false}
monitors:
  - name: iris
    model: iris
    features: [sepal_length, sepal_width]
    schedule: {cron: "0 * * * *"}
    window: {records: 5000}
    alerts:
      - {name: input-drift, when: dataset_drift, action: retrain, webhooks: [ops]}
      - {name: errors, when: error_rate, above: 0.05, severity: critical}
alerts:
  webhooks:
    - {name: ops, url: "https://hooks.example/driftcar", secret_env: DRIFTCAR_TEST_CHECK_SECRET}
    - {name: am, url: "http://alertmanager:9093", format: alertmanager_api}
"""


@pytest.fixture
def config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A full configuration file; the working directory is tmp_path and the webhook secret is set."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv(SECRET_ENV, "a-webhook-secret-of-32-characters")
    for name in ("DRIFTCAR_CONFIG", "DRIFTCAR_UPSTREAM", "DRIFTCAR_DATABASE_URL", "DRIFTCAR_PORT"):
        monkeypatch.delenv(name, raising=False)
    path = tmp_path / "driftcar.yaml"
    path.write_text(CONFIG, encoding="utf-8")
    return path


@pytest.fixture
def listening() -> Iterator[int]:
    """A port something else already listens on: `serve` could not bind it, `check` must not try."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield int(sock.getsockname()[1])


def test_summary_of_a_valid_config(config: Path, listening: int, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["check", "--config", str(config), "--port", str(listening), "--admin-port", str(listening)])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert out.splitlines()[0] == "configuration OK"
    assert "upstream: http://127.0.0.1:8000" in out
    assert f"proxy:    0.0.0.0:{listening}" in out
    # The password is masked; the database at port 1 was never contacted (it would refuse).
    assert "store:    postgresql+asyncpg://driftcar:***@127.0.0.1:1/driftcar" in out
    assert "hunter2" not in out + err
    assert (
        "  /v1/models/iris* POST: adapter tfserving, feature_names sepal_length,sepal_width, sample 0.5, "
        "redact (hash) ssn" in out
    )
    assert "  /classify POST: adapter generic, inputs input_series, outputs $, sample 1" in out
    assert "  /healthz GET: proxied, not captured" in out
    assert "  iris: model=iris; window 5000 records; cron '0 * * * *' UTC" in out
    assert "    features: sepal_length, sepal_width; prediction: prediction; task: classification" in out
    assert "    alert input-drift: dataset_drift -> warning, retrain (to ops)" in out
    assert "    alert errors: error_rate -> critical, notify (to every webhook)" in out
    assert f"  ops: driftcar -> https://hooks.example/driftcar (secret from ${SECRET_ENV}, min info)" in out
    assert "  am: alertmanager_api -> http://alertmanager:9093 (unsigned, min info)" in out
    # Nothing was created: no SQLite file, no spool directory.
    assert sorted(p.name for p in config.parent.iterdir()) == ["driftcar.yaml"]


def test_options_and_environment_override_the_file_as_in_serve(
    config: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DRIFTCAR_CONFIG", str(config))
    monkeypatch.setenv("DRIFTCAR_CAPTURE__MAX_BODY_BYTES", "4096")
    code = main(["check", "--upstream", "http://model:9000", "--database-url", "sqlite:///x.db"])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "upstream: http://model:9000" in out
    assert "store:    sqlite+aiosqlite:///x.db" in out
    assert "capture:  on, bodies up to 4096 bytes, spool driftcar-spool" in out
    assert not (config.parent / "x.db").exists()


@pytest.mark.parametrize(
    ("change", "message"),
    [
        pytest.param(
            ("sample_rate: 0.5", "sampel_rate: 0.5"), "routes.0.sampel_rate: unknown key", id="unknown-key"
        ),
        pytest.param(
            ("sample_rate: 0.5", "sample_rate: 2"),
            "routes.0.sample_rate: Input should be less than or equal to 1",
            id="out-of-range",
        ),
        pytest.param(
            ("adapter: tfserving,", "adapter: triton,"),
            "routes.0.adapter.adapter: Input should be",
            id="adapter",
        ),
        pytest.param(
            ("webhooks: [ops]", "webhooks: [pager]"),
            "monitor 'iris', alert 'input-drift': unknown webhook(s) pager",
            id="unknown-webhook",
        ),
        pytest.param(
            ("above: 0.05, ", ""), "monitors.0.alerts.1: Value error, `error_rate` needs `above`", id="rule"
        ),
        pytest.param(
            ("routes:", "capture: {spool_max_bytes: 0}\nroutes:"),
            "capture.spool_max_bytes: Input should be greater than 0",  # the spool could not start
            id="spool-size",
        ),
        pytest.param(
            ("postgresql://", "mysql://"),
            "database_url: unsupported database URL scheme 'mysql'",
            id="db-scheme",
        ),
    ],
)
def test_errors_name_the_key_and_exit_2(
    config: Path, change: tuple[str, str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    text = config.read_text(encoding="utf-8")
    assert change[0] in text
    config.write_text(text.replace(change[0], change[1], 1), encoding="utf-8")
    assert main(["check", "--config", str(config)]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.startswith("driftcar check: error: ")
    assert message in err
    assert "hunter2" not in err


def test_missing_webhook_secret_is_an_error(
    config: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv(SECRET_ENV)
    assert main(["check", "--config", str(config)]) == 2
    _, err = capsys.readouterr()
    assert f"alerts.webhooks 'ops': environment variable {SECRET_ENV} is not set" in err


def test_missing_config_file_and_missing_upstream(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("DRIFTCAR_UPSTREAM", raising=False)
    monkeypatch.delenv("DRIFTCAR_CONFIG", raising=False)
    assert main(["check", "--config", str(tmp_path / "nope.yaml")]) == 2
    assert "nope.yaml: No such file or directory" in capsys.readouterr().err
    assert main(["check"]) == 2
    assert "upstream: Field required" in capsys.readouterr().err
