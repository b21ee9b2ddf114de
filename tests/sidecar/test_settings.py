"""Configuration layering (file < environment < options) and clear errors for bad keys."""

from __future__ import annotations

from pathlib import Path

import pytest

from sidecar.errors import ConfigError
from sidecar.settings import load_settings


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "driftcar.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_yaml_env_and_options_are_layered(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = write(
        tmp_path,
        "upstream: http://127.0.0.1:8000/\nport: 8081\ntimeouts: {read: 12}\n"
        "routes:\n  - path: /v1/models/*\n    sample_rate: 0.5\n    redact: [ssn]\n",
    )
    monkeypatch.setenv("DRIFTCAR_PORT", "8082")
    monkeypatch.setenv("DRIFTCAR_TIMEOUTS__CONNECT", "2.5")
    settings = load_settings(config, admin_port=9999, host=None)
    assert settings.upstream == "http://127.0.0.1:8000"
    assert settings.port == 8082  # environment beats the file
    assert settings.admin_port == 9999  # options beat both
    assert settings.host == "0.0.0.0"  # None options are ignored
    assert settings.timeouts.read == 12 and settings.timeouts.connect == 2.5
    route = settings.route_for("POST", "/v1/models/iris:predict")
    assert route is not None and route.sample_rate == 0.5 and route.redact == ["ssn"]
    assert settings.route_for("POST", "/predict") is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("upstream: http://x\nprot: 1\n", "prot: unknown key"),
        ("upstream: http://x\ntimeouts: {raed: 1}\n", "timeouts.raed: unknown key"),
        ("upstream: http://x\nroutes: [{path: /p, sample_rate: 2}]\n", "routes.0.sample_rate"),
        ("upstream: ftp://x\n", "upstream: Value error, must be an http:// or https:// URL"),
        ("port: 1\n", "upstream: Field required"),
        ("- a\n- b\n", "expected a mapping"),
        ("upstream: [unclosed\n", "invalid YAML"),
    ],
)
def test_bad_configuration_names_the_key(tmp_path: Path, text: str, expected: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(write(tmp_path, text))
    assert expected in str(info.value)


def test_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"nope\.yaml"):
        load_settings(tmp_path / "nope.yaml")


def test_database_password_is_not_in_repr(tmp_path: Path) -> None:
    settings = load_settings(None, upstream="http://x", database_url="postgresql://u:hunter2@db/x")
    assert "hunter2" not in repr(settings)
