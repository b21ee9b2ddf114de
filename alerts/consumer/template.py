"""Placeholders in action configs: `{{ monitor }}`-style fields of the alert, `${NAME}` environment variables.

A JSON body template is any JSON value; in its strings `{{ field.path }}` is replaced by that field of the
alert's payload (`{{ model.name }}`, `{{ run.report_url }}`, `{{ labels.team }}`, `{{ alert }}` for the whole
payload). A string that is exactly one placeholder takes the field's JSON value (null, a number, an object);
inside a longer string the value is written as text (null as an empty string).
"""

from __future__ import annotations

import os
import re
from typing import Any

import orjson

from sidecar.errors import ConfigError

FIELD = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z0-9_-]+)*)\s*\}\}")
ENV = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
# The top-level keys of driftcar's payload (version 1), and `alert` for the whole payload.
PAYLOAD_FIELDS = frozenset(
    {
        "version",
        "kind",
        "id",
        "status",
        "fingerprint",
        "monitor",
        "rule",
        "severity",
        "action",
        "summary",
        "labels",
        "details",
        "starts_at",
        "ends_at",
        "created_at",
        "model",
        "run",
        "alert",
    }
)


def template_fields(template: Any) -> set[str]:
    """Every `{{ field }}` path used anywhere in a JSON template."""
    if isinstance(template, str):
        return {m.group(1) for m in FIELD.finditer(template)}
    if isinstance(template, dict):
        return set().union(*(template_fields(k) | template_fields(v) for k, v in template.items()))
    if isinstance(template, list):
        return set().union(*(template_fields(v) for v in template))
    return set()


def check_template(template: Any) -> None:
    """Raise ValueError naming a placeholder that is not a field of the payload."""
    unknown = sorted(p for p in template_fields(template) if p.split(".", 1)[0] not in PAYLOAD_FIELDS)
    if unknown:
        raise ValueError(
            f"unknown placeholder(s) {', '.join(unknown)}; fields: {', '.join(sorted(PAYLOAD_FIELDS))}"
        )


def _lookup(payload: dict[str, Any], path: str) -> Any:
    if path == "alert":
        return payload
    value: Any = payload
    for part in path.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return value


def _as_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return orjson.dumps(value).decode()


def render_text(template: str, payload: dict[str, Any]) -> str:
    """A string with every `{{ field }}` written as text (null as an empty string, objects as JSON)."""
    return FIELD.sub(lambda m: _as_text(_lookup(payload, m.group(1))), template)


def render(template: Any, payload: dict[str, Any]) -> Any:
    """The template with every `{{ field }}` replaced from `payload` (see the module docstring)."""
    if isinstance(template, str):
        whole = FIELD.fullmatch(template.strip())
        if whole:
            return _lookup(payload, whole.group(1))
        return render_text(template, payload)
    if isinstance(template, dict):
        return {
            render(k, payload) if isinstance(k, str) else k: render(v, payload) for k, v in template.items()
        }
    if isinstance(template, list):
        return [render(v, payload) for v in template]
    return template


def expand_env(value: str, where: str) -> str:
    """`value` with each `${NAME}` replaced by that environment variable; ConfigError naming a missing one."""

    def one(match: re.Match[str]) -> str:
        name = match.group(1)
        found = os.environ.get(name)
        if found is None:
            raise ConfigError(f"{where}: environment variable {name} is not set")
        return found

    return ENV.sub(one, value)
