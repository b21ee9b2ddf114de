"""Reading YAML config files and describing validation errors by key path, for every command that takes a
config (`serve`, `report`, `consume`). PyYAML and pydantic only, so light commands import it cheaply."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from sidecar.errors import ConfigError


class _UniqueKeyLoader(yaml.SafeLoader):
    """PyYAML's safe loader, refusing a key given twice in one mapping (it would keep the last silently)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":  # `<<: *defaults` may be overridden: not a duplicate
                continue
            key = self.construct_object(key_node, deep=deep)
            if isinstance(key, str | int | float | bool) and key in seen:
                raise yaml.constructor.ConstructorError(None, None, f"duplicate key {key!r}", key_node.start_mark)
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def _yaml_problem(exc: yaml.YAMLError) -> str:
    """`line L, column C: problem` from PyYAML's error (its own text names `<unicode string>`, not the file)."""
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or str(exc)
    if mark is None:
        return problem
    return f"line {mark.line + 1}, column {mark.column + 1}: {problem}"


def read_yaml(path: str | Path) -> dict[str, Any]:
    """Read a YAML config file into a mapping (an empty file is `{}`); ConfigError naming the file on failure."""
    p = Path(path)
    try:
        data = yaml.load(p.read_text(encoding="utf-8"), Loader=_UniqueKeyLoader)  # a SafeLoader subclass
    except OSError as exc:
        raise ConfigError(f"config file {p}: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"config file {p}: not UTF-8 text (byte {exc.start + 1})") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"config file {p}: invalid YAML at {_yaml_problem(exc)}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"config file {p}: expected a mapping at the top level, got {type(data).__name__}")
    return data


def describe_errors(exc: ValidationError, source: str, prefix: Sequence[str] = ()) -> str:
    """Pydantic's errors, one per line, each naming its key path (under `prefix`) from the top of the file."""
    lines = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in (*prefix, *err["loc"]))
        msg = "unknown key" if err["type"] == "extra_forbidden" else err["msg"]
        if not loc and err["type"] == "value_error":  # a whole-config check: its message names the keys
            lines.append(f"  {msg.removeprefix('Value error, ')}")
        else:
            lines.append(f"  {loc or '(top level)'}: {msg}")
    return f"invalid configuration ({source}):\n" + "\n".join(lines)
