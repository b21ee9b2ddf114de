"""A tiny JSON path syntax for picking inputs and outputs out of request and response documents.

Syntax (a small subset of JSONPath; each distinct string is compiled once and cached):

    $               the whole document
    a.b.c           keys, dot-separated; a leading `$.` is optional (`$.a.b` == `a.b`)
    a[0], a[-1]     a list element by index
    a[*].x          every element of a list: the result is a list with one entry per element,
                    and it is read as a batch (one row per element)
    ["odd.key"]     a key with dots, brackets or spaces (single or double quotes; no escapes)

Evaluation never raises: a missing key, an index out of range or a type mismatch gives `MISSING`.
Inside a `[*]` map a missing element gives None so that rows stay aligned with their batch.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Final

MISSING: Final = object()
"""What `JsonPath.evaluate` returns when the path does not exist in the document."""

Step = str | int | None
"""A key (str), a list index (int) or every element of a list (None)."""

_KEY_END = frozenset(".[]")


@dataclass(frozen=True, slots=True)
class JsonPath:
    """A compiled path: evaluate it against parsed JSON."""

    text: str
    steps: tuple[Step, ...]

    @property
    def batched(self) -> bool:
        """True when the path contains `[*]`, so its value is a batch (one row per element)."""
        return None in self.steps

    def evaluate(self, document: Any) -> Any:
        """The value at this path, or `MISSING`."""
        return _walk(document, self.steps, 0)


def _walk(value: Any, steps: tuple[Step, ...], start: int) -> Any:
    for i in range(start, len(steps)):
        step = steps[i]
        if step is None:
            if not isinstance(value, list):
                return MISSING
            out = []
            for item in value:
                found = _walk(item, steps, i + 1)
                out.append(None if found is MISSING else found)
            return out
        if isinstance(step, str):
            if not isinstance(value, dict) or step not in value:
                return MISSING
            value = value[step]
        else:
            if not isinstance(value, list) or not -len(value) <= step < len(value):
                return MISSING
            value = value[step]
    return value


@lru_cache(maxsize=512)
def compile_path(text: str) -> JsonPath:
    """Compile a path string; raises ValueError naming the position of a syntax error."""
    src = text.strip()
    if not src:
        raise ValueError("empty JSON path (use '$' for the whole document)")
    pos = 0
    if src.startswith("$"):
        pos = 1
        if len(src) > 1 and src[1] not in ".[":
            raise ValueError(f"JSON path {text!r}: expected '.' or '[' after '$'")
        if src.startswith("$."):
            pos = 2
            if len(src) == 2:
                raise ValueError("JSON path '$.' has no key after the dot")
    steps: list[Step] = []
    need_key = pos > 1  # after "$." a key must follow
    while pos < len(src):
        char = src[pos]
        if char == "[":
            step, pos = _bracket(src, pos)
            steps.append(step)
            need_key = False
        elif char == ".":
            if not steps or need_key:
                raise ValueError(f"JSON path {text!r}: unexpected '.' at position {pos}")
            pos += 1
            need_key = True
            if pos == len(src):
                raise ValueError(f"JSON path {text!r}: ends with '.'")
        elif char == "]":
            raise ValueError(f"JSON path {text!r}: unmatched ']' at position {pos}")
        else:
            if steps and not need_key:
                raise ValueError(f"JSON path {text!r}: expected '.' or '[' at position {pos}")
            end = pos
            while end < len(src) and src[end] not in _KEY_END:
                end += 1
            steps.append(src[pos:end])
            pos = end
            need_key = False
        if need_key and pos < len(src) and src[pos] in "[]":
            raise ValueError(f"JSON path {text!r}: expected a key at position {pos}")
    return JsonPath(text=text, steps=tuple(steps))


def _bracket(src: str, pos: int) -> tuple[Step, int]:
    """Parse `[...]` starting at `pos`; return the step and the position after `]`."""
    if pos + 1 < len(src) and src[pos + 1] in "'\"":
        quote = src[pos + 1]
        close = src.find(quote + "]", pos + 2)
        if close < 0:
            raise ValueError(f"JSON path {src!r}: unterminated quoted key at position {pos}")
        return src[pos + 2 : close], close + 2
    close = src.find("]", pos)
    if close < 0:
        raise ValueError(f"JSON path {src!r}: unterminated '[' at position {pos}")
    inner = src[pos + 1 : close].strip()
    if inner == "*":
        return None, close + 1
    try:
        return int(inner), close + 1
    except ValueError:
        raise ValueError(
            f"JSON path {src!r}: expected an index, '*' or a quoted key inside [] at position {pos}"
        ) from None
