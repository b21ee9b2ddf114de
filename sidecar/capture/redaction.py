"""Redaction of named features before anything is stored: the feature itself and every echo of its value.

A route's `redact` names are dropped or replaced by a salted SHA-256 wherever they occur as keys (features,
nested objects, the prediction, `extra`). Their values are also scrubbed from free text: an upstream's error
message often quotes the input (`"Value error, 'bob@example' is not a valid email"`), and that text is stored
as the record's `error`. Text matches are whole tokens (not inside a longer run of letters and digits), so a
redacted `age: 4` does not rewrite every 4 in a message; booleans and nulls are never looked for in text.
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
import re
from collections.abc import Iterable, Iterator
from typing import Any, Final, Literal

import orjson

from storage.records import Record

RedactMode = Literal["drop", "hash"]
DROPPED: Final = "[redacted]"
"""What a value quoted in free text becomes in `drop` mode (the key-value pairs themselves are removed)."""
_MAX_DEPTH: Final = 64


class Redactor:
    """Removes or salts-and-hashes named features, and scrubs their values from the rest of the record."""

    def __init__(self, salt: bytes) -> None:
        self._salt = salt

    def digest(self, value: Any) -> str:
        """Salted SHA-256 of a value's text form (stable within one salt)."""
        return "sha256:" + hashlib.sha256(self._salt + repr(value).encode()).hexdigest()[:32]

    def apply(self, records: list[Record], names: Iterable[str], mode: RedactMode) -> list[Record]:
        """Copies of one exchange's records with the named values gone from features, prediction, error, extra."""
        scrub = _Scrub(self, frozenset(names), mode)
        if not scrub.names:
            return records
        for record in records:
            scrub.collect(record.features)
        return [
            dataclasses.replace(
                record,
                features=scrub.keys(record.features),
                prediction=scrub.keys(record.prediction),
                error=scrub.text(record.error),
                extra=scrub.tree(record.extra),
            )
            for record in records
        ]


class _Scrub:
    """One exchange's redaction: the names, the values found under them, and their replacements in text."""

    def __init__(self, redactor: Redactor, names: frozenset[str], mode: RedactMode) -> None:
        self._redactor = redactor
        self.names = names
        self._mode = mode
        self._replacements: dict[str, str] = {}
        self._pattern: re.Pattern[str] | None = None

    def collect(self, value: Any, depth: int = 0) -> None:
        """Remember the values held under redacted names anywhere in `value` (for scrubbing text)."""
        if depth > _MAX_DEPTH:
            return
        if isinstance(value, dict):
            for key, item in value.items():
                if key in self.names:
                    for leaf in _leaves(item):
                        for text in _texts(leaf):
                            self._replacements.setdefault(text, self._replacement(leaf))
                    self._pattern = None
                else:
                    self.collect(item, depth + 1)
        elif isinstance(value, list):
            for item in value:
                self.collect(item, depth + 1)

    def keys(self, value: Any, depth: int = 0) -> Any:
        """A copy of `value` with the redacted names dropped or hashed at any depth (other values untouched)."""
        if depth > _MAX_DEPTH:
            return value
        if isinstance(value, dict):
            out: dict[Any, Any] = {}
            for key, item in value.items():
                if key not in self.names:
                    out[key] = self.keys(item, depth + 1)
                elif self._mode == "hash":
                    out[key] = self._redactor.digest(item)
            return out
        if isinstance(value, list):
            return [self.keys(item, depth + 1) for item in value]
        return value

    def tree(self, value: Any, depth: int = 0) -> Any:
        """Like `keys`, and every string in it scrubbed as `text` (for `extra`, which echoes request fields)."""
        value = self.keys(value, depth)
        return self._strings(value, depth)

    def _strings(self, value: Any, depth: int) -> Any:
        if depth > _MAX_DEPTH:
            return value
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, dict):
            return {key: self._strings(item, depth + 1) for key, item in value.items()}
        if isinstance(value, list):
            return [self._strings(item, depth + 1) for item in value]
        return value

    def text(self, value: str | None) -> str | None:
        """The text with every quoted redacted value replaced (by its digest, or `[redacted]`)."""
        if not value or not self._replacements:
            return value
        if self._pattern is None:
            alternatives = "|".join(re.escape(t) for t in sorted(self._replacements, key=len, reverse=True))
            self._pattern = re.compile(rf"(?<![0-9A-Za-z])(?:{alternatives})(?![0-9A-Za-z])")
        return self._pattern.sub(lambda m: self._replacements[m.group(0)], value)

    def _replacement(self, leaf: Any) -> str:
        return self._redactor.digest(leaf) if self._mode == "hash" else DROPPED


def _leaves(value: Any, depth: int = 0) -> Iterator[Any]:
    """The scalars inside a value (strings and numbers; booleans and nulls are no secrets worth scanning)."""
    if depth > _MAX_DEPTH:
        return
    if isinstance(value, dict):
        for item in value.values():
            yield from _leaves(item, depth + 1)
    elif isinstance(value, list):
        for item in value:
            yield from _leaves(item, depth + 1)
    elif isinstance(value, str | int | float) and not isinstance(value, bool):
        yield value


def _texts(leaf: str | int | float) -> set[str]:
    """How a value may appear in text: as itself, and JSON-escaped (a message that embeds a JSON document)."""
    if not isinstance(leaf, str):
        if isinstance(leaf, float) and not math.isfinite(leaf):
            return set()
        return {str(leaf), orjson.dumps(leaf).decode()}
    try:
        escaped = orjson.dumps(leaf).decode()[1:-1]
    except orjson.JSONEncodeError:  # a lone surrogate has no JSON form
        escaped = leaf
    return {t for t in (leaf, escaped) if t.strip()}
