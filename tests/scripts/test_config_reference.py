"""docs/configuration.md is what scripts/config_reference.py makes of the settings models today."""

from __future__ import annotations

from pathlib import Path

import pytest

from scripts.config_reference import REFUSED, render, sections
from sidecar.errors import ConfigError
from sidecar.settings import Settings, load_settings

DOC = Path(__file__).resolve().parents[2] / "docs" / "configuration.md"
REGENERATE = "python -m scripts.config_reference > docs/configuration.md"


def test_the_reference_is_up_to_date() -> None:
    assert DOC.read_text(encoding="utf-8") == render(), f"docs/configuration.md is stale: run `{REGENERATE}`"


def test_every_key_is_documented() -> None:
    undocumented = [
        f"{section.path}.{key.name}".lstrip(".")
        for section in sections(Settings)
        for key in section.keys
        if not key.doc
    ]
    assert undocumented == [], "give these fields a docstring (the string after the attribute)"


def test_nested_keys_and_environment_names() -> None:
    keys = {
        f"{section.path}.{key.name}".lstrip("."): key
        for section in sections(Settings)
        for key in section.keys
    }
    assert keys["capture.max_body_bytes"].env == "DRIFTCAR_CAPTURE__MAX_BODY_BYTES"
    assert keys["routes[].adapter.inputs"].env is None  # inside a list: set with the list
    assert keys["monitors[].alerts[].for"].type == "integer"  # the YAML name, not the attribute's
    assert keys["upstream"].default == "required"
    assert keys["monitors[].window"].default == '`{"minutes": 60}`'


def test_documented_environment_variables_are_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DRIFTCAR_CAPTURE__MAX_BODY_BYTES", "4096")
    monkeypatch.setenv("DRIFTCAR_TIMEOUTS__READ", "30")
    monkeypatch.setenv("DRIFTCAR_ROUTES", '[{"path": "/predict", "adapter": {"adapter": "generic"}}]')
    settings = load_settings(upstream="http://127.0.0.1:8000")
    assert settings.capture.max_body_bytes == 4096
    assert settings.timeouts.read == 30.0
    assert [r.path for r in settings.routes] == ["/predict"]


@pytest.mark.parametrize("path", [p for p in REFUSED if "Refused" in REFUSED[p]])
def test_keys_documented_as_refused_are_refused(path: str) -> None:
    monitor, _, key = path.removeprefix("monitors[].").partition(".")
    value = ["a"] if key == "columns" else "a"
    with pytest.raises(
        ConfigError, match=r"monitors\.0: Value error, set the columns with `features` and `prediction`"
    ):
        load_settings(upstream="http://127.0.0.1:1", monitors=[{"name": "m", monitor: {key: value}}])
