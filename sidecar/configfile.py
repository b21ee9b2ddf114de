"""Reading YAML config files and describing validation errors by key path, for every command that takes a
config (`serve`, `report`, `consume`). PyYAML and pydantic only, so light commands import it cheaply."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from sidecar.errors import ConfigError


def read_yaml(path: str | Path) -> dict[str, Any]:
    """Read a YAML config file into a mapping (an empty file is `{}`); ConfigError naming the file on failure."""
    p = Path(path)
    try:
        data = yaml.safe_load(p.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"config file {p}: {exc.strerror or exc}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"config file {p}: invalid YAML: {exc}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"config file {p}: expected a mapping at the top level, got {type(data).__name__}")
    return data


def describe_errors(exc: ValidationError, source: str, prefix: Sequence[str] = ()) -> str:
    """Pydantic's errors, one per line, each naming its key path (under `prefix`) from the top of the file."""
    lines = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in (*prefix, *err["loc"])) or "(top level)"
        msg = "unknown key" if err["type"] == "extra_forbidden" else err["msg"]
        lines.append(f"  {loc}: {msg}")
    return f"invalid configuration ({source}):\n" + "\n".join(lines)
