"""Secrets from files: `admin_token_file`, `database_url_file`, `capture.redaction_salt_file`.

Each is read once when the settings are validated (before anything starts), its trailing newline stripped; a
missing, unreadable or empty file, or the value given both ways, is an error naming the key and never quoting
the file's content. The token file's end-to-end use through `driftcar serve` is in test_secrets.py.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from sidecar.errors import ConfigError
from sidecar.settings import load_settings
from tests.security.running import DRIFTCAR, serve_env

UPSTREAM = "http://127.0.0.1:9"


@pytest.mark.parametrize("content", ["tok-3a9f\n", "tok-3a9f", "tok-3a9f\r\n"])
def test_the_token_file_is_read_without_its_trailing_newline(content: str, tmp_path: Path) -> None:
    path = tmp_path / "token"
    path.write_bytes(content.encode())
    settings = load_settings(None, upstream=UPSTREAM, admin_token_file=str(path))
    assert settings.admin_token is not None
    assert settings.admin_token.get_secret_value() == "tok-3a9f"
    assert "tok-3a9f" not in repr(settings)


def test_every_secret_has_a_file_variant(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    files = {name: tmp_path / name for name in ("token", "url", "salt")}
    files["token"].write_text("env-token\n")
    files["url"].write_text("postgresql://u:file-pw@127.0.0.1/x\n")
    files["salt"].write_text("file-salt\n")
    monkeypatch.setenv("DRIFTCAR_ADMIN_TOKEN_FILE", str(files["token"]))
    monkeypatch.setenv("DRIFTCAR_DATABASE_URL_FILE", str(files["url"]))
    monkeypatch.setenv("DRIFTCAR_CAPTURE__REDACTION_SALT_FILE", str(files["salt"]))
    settings = load_settings(None, upstream=UPSTREAM)
    assert settings.admin_token is not None and settings.admin_token.get_secret_value() == "env-token"
    assert settings.database_url.get_secret_value() == "postgresql://u:file-pw@127.0.0.1/x"
    salt = settings.capture.redaction_salt
    assert salt is not None and salt.get_secret_value() == "file-salt"
    assert "file-pw" not in repr(settings) and "file-salt" not in repr(settings)


@pytest.mark.parametrize(
    ("key", "make", "message"),
    [
        ("admin_token_file", lambda p: None, "cannot read"),
        ("admin_token_file", lambda p: p.write_text("\n"), "is empty"),
        ("admin_token_file", lambda p: p.write_text("  \n\n"), "is empty"),
        ("admin_token_file", lambda p: p.mkdir(), "cannot read"),
        ("admin_token_file", lambda p: p.write_bytes(b"\xff\xfe-secret"), "is not UTF-8"),
        ("admin_token_file", lambda p: p.write_bytes(b"x" * 70_000), "is larger than"),
        ("database_url_file", lambda p: None, "cannot read"),
        ("capture.redaction_salt_file", lambda p: p.write_text(""), "is empty"),
    ],
    ids=["missing", "newline-only", "blank", "directory", "binary", "huge", "url-missing", "salt-empty"],
)
def test_an_unusable_file_is_an_error_naming_the_key(
    key: str, make: Callable[[Path], object], message: str, tmp_path: Path
) -> None:
    path = tmp_path / "secret"
    make(path)
    overrides: dict[str, object] = {"upstream": UPSTREAM}
    if key.startswith("capture."):
        overrides["capture"] = {key.split(".", 1)[1]: str(path)}
    else:
        overrides[key] = str(path)
    with pytest.raises(ConfigError) as info:
        load_settings(None, **overrides)
    line = next(ln for ln in str(info.value).splitlines() if ln.strip().startswith(key + ":"))
    assert message in line and str(path) in line
    assert "secret" not in line.replace(str(path), "")


@pytest.mark.parametrize("pair", [("admin_token", "admin_token_file"), ("database_url", "database_url_file")])
def test_a_secret_given_both_ways_is_refused(pair: tuple[str, str], tmp_path: Path) -> None:
    path = tmp_path / "secret"
    path.write_text("postgresql://u@h/x\n")
    value, file_key = pair
    with pytest.raises(ConfigError, match=rf"{file_key}: give {value} or {file_key}, not both"):
        load_settings(None, upstream=UPSTREAM, **{value: "postgresql://u@h/y", file_key: str(path)})


@pytest.mark.slow
def test_driftcar_serve_refuses_a_missing_token_file_before_starting(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-token"
    env = serve_env(DRIFTCAR_ADMIN_TOKEN_FILE=str(missing))
    done = subprocess.run(
        [str(DRIFTCAR), "serve", "--upstream", UPSTREAM, "--port", "0", "--admin-port", "0",
         "--database-url", f"sqlite:///{tmp_path / 'driftcar.db'}"],
        env=env, capture_output=True, text=True, timeout=120, check=False, cwd=tmp_path,
    )
    assert done.returncode == 2, done.stderr
    assert f"admin_token_file: cannot read {missing}: No such file or directory" in done.stderr
    assert not (tmp_path / "driftcar.db").exists()
