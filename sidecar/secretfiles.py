"""Secrets given as files (`admin_token_file`, `database_url_file`, `capture.redaction_salt_file`).

A mounted Kubernetes Secret or a Docker secret is a file; reading it keeps the value out of the environment,
the command line and `ps`. Each file is read once, when the settings are validated (before anything starts),
its trailing newline stripped; a missing, unreadable or empty file is a validation error on the `*_file` key
that names the file but never shows any of its content.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from pydantic_core import InitErrorDetails, PydanticCustomError

MAX_SECRET_BYTES = 64 * 1024
"""A secret file larger than this is a mistake (a wrong path), not a secret."""


def read_secret_file(path: str | Path) -> str:
    """The file's text without its trailing newline; ValueError (no content quoted) when unusable."""
    p = Path(path)
    try:
        with p.open("rb") as f:
            raw = f.read(MAX_SECRET_BYTES + 1)
    except OSError as exc:
        raise ValueError(f"cannot read {p}: {exc.strerror or type(exc).__name__}") from None
    if len(raw) > MAX_SECRET_BYTES:
        raise ValueError(f"{p} is larger than {MAX_SECRET_BYTES} bytes")
    try:
        text = raw.decode("utf-8").rstrip("\r\n")
    except UnicodeDecodeError:
        raise ValueError(f"{p} is not UTF-8 text") from None
    if not text.strip():
        raise ValueError(f"{p} is empty")
    return text


def resolve_secret_files(data: Any, pairs: Mapping[str, str], title: str) -> Any:
    """`data` (raw settings input) with each `<key>_file` in `pairs` read into `<key>`; errors name the key."""
    if not isinstance(data, dict):
        return data
    out = dict(data)
    errors: list[InitErrorDetails] = []
    for file_key, value_key in pairs.items():
        path = out.get(file_key)
        if path is None:
            continue
        if out.get(value_key) is not None:
            message = f"give {value_key} or {file_key}, not both"
        else:
            try:
                out[value_key] = read_secret_file(path)
                continue
            except ValueError as exc:
                message = str(exc)
        errors.append(
            InitErrorDetails(
                type=PydanticCustomError("secret_file", "{message}", {"message": message}),
                loc=(file_key,),
                input=str(path),
            )
        )
    if errors:
        raise ValidationError.from_exception_data(title, errors)
    return out
