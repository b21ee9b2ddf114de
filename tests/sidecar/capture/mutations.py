"""Body mutations for the hostile-exchange strategies (`hostile.py`): each takes hypothesis' `draw` and a valid
body and returns (what it did, the mutated bytes). JSON mutations apply at any path of the parsed document."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from typing import Any, Final

from hypothesis import strategies as st

DEEP: Final = 100_000
"""Nesting depth of the deep documents (orjson refuses more than 1024; Python's parsers recurse)."""
HUGE: Final = 20_000
"""Elements in a huge array (kept modest: every example of a CI run parses it several times)."""

_NUMBER = re.compile(rb"(?<![\w.\"])-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?")
_INVALID_UTF8 = (
    b"\xff",
    b"\xfe\xff",
    b"\xc3\x28",
    b"\xed\xa0\x80",
    b"\xc0\xaf",
    b"\xf8\x88\x80\x80\x80",
    b"\x80",
)
_NONFINITE = (b"NaN", b"Infinity", b"-Infinity", b"1e999", b"-1e999", b"nan", b"inf")
_WRONG_VALUES: tuple[Any, ...] = (
    None,
    True,
    0,
    -1,
    2**70,
    1.5,
    "",
    "text",
    "\u0000\ud7ff",
    [],
    [[]],
    {},
    {"": None},
    [None, "x", 1],
    {"b64": "!!not base64!!"},
    {"b64": 12},
)
_DEEP_MARK = "\x00deep\x00"


def load_json(body: bytes) -> Any:
    """The body as JSON (NaN allowed), or None when it is not JSON (or is a binary-tensor body)."""
    try:
        return json.loads(body)
    except (ValueError, RecursionError):
        return None


def dumps(document: Any) -> bytes:
    """JSON as Python writes it (bare NaN/Infinity), with the deep-nesting marker expanded in place."""
    text = json.dumps(document, allow_nan=True).encode()
    marker = json.dumps(_DEEP_MARK).encode()
    return text.replace(marker, b"[" * DEEP + b"1" + b"]" * DEEP)


def json_paths(document: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """Every path in a JSON document (keys and indexes), the root `()` first."""
    yield prefix
    if isinstance(document, dict):
        for key, value in document.items():
            yield from json_paths(value, (*prefix, key))
    elif isinstance(document, list):
        for index, value in enumerate(document):
            yield from json_paths(value, (*prefix, index))


def _replaced(document: Any, path: tuple[Any, ...], make: Callable[[Any], Any]) -> Any:
    if not path:
        return make(document)
    head, rest = path[0], path[1:]
    if isinstance(document, dict):
        return {**document, head: _replaced(document[head], rest, make)}
    copy = list(document)
    copy[head] = _replaced(copy[head], rest, make)
    return copy


Mutation = Callable[[st.DrawFn, bytes], tuple[str, bytes]]


def _truncate(draw: st.DrawFn, body: bytes) -> tuple[str, bytes]:
    return "truncated", body[: draw(st.integers(0, max(0, len(body) - 1)))]


def _flip(draw: st.DrawFn, body: bytes) -> tuple[str, bytes]:
    if not body:
        return "flipped", bytes([draw(st.integers(0, 255))])
    at = draw(st.integers(0, len(body) - 1))
    return "flipped", body[:at] + bytes([draw(st.integers(0, 255))]) + body[at + 1 :]


def _bad_utf8(draw: st.DrawFn, body: bytes) -> tuple[str, bytes]:
    at = draw(st.integers(0, len(body)))
    return "invalid utf-8", body[:at] + draw(st.sampled_from(_INVALID_UTF8)) + body[at:]


def _nonfinite(draw: st.DrawFn, body: bytes) -> tuple[str, bytes]:
    numbers = list(_NUMBER.finditer(body))
    token = draw(st.sampled_from(_NONFINITE))
    if not numbers:
        return "nonfinite", body + token
    match = draw(st.sampled_from(numbers))
    return "nonfinite", body[: match.start()] + token + body[match.end() :]


def _wrong_type(draw: st.DrawFn, body: bytes) -> tuple[str, bytes]:
    document = load_json(body)
    if document is None:
        return _truncate(draw, body)
    path = draw(st.sampled_from(list(json_paths(document))))
    value = draw(st.sampled_from(_WRONG_VALUES))
    return "wrong type", dumps(_replaced(document, path, lambda _: value))


def _deep(draw: st.DrawFn, body: bytes) -> tuple[str, bytes]:
    document = load_json(body)
    if document is None or draw(st.booleans()):
        opener, closer = draw(st.sampled_from([(b"[", b"]"), (b'{"a":', b"}"), (b'{"instances":', b"}")]))
        closed = draw(st.booleans())
        return "deep", opener * DEEP + b"1" + (closer * DEEP if closed else b"")
    path = draw(st.sampled_from(list(json_paths(document))))
    return "deep", dumps(_replaced(document, path, lambda _: _DEEP_MARK))


def _lists(document: Any) -> list[tuple[Any, ...]]:
    return [p for p in json_paths(document) if isinstance(_at(document, p), list) and _at(document, p)]


def _at(document: Any, path: tuple[Any, ...]) -> Any:
    for step in path:
        document = document[step]
    return document


def _huge(draw: st.DrawFn, body: bytes) -> tuple[str, bytes]:
    document = load_json(body)
    lists = _lists(document) if document is not None else []
    if not lists:
        return "huge", b"[" + b",".join([b"1.5"] * HUGE) + b"]"
    path = draw(st.sampled_from(lists))
    return "huge", dumps(_replaced(document, path, lambda items: (items * HUGE)[:HUGE]))


def _count(draw: st.DrawFn, body: bytes) -> tuple[str, bytes]:
    document = load_json(body)
    lists = _lists(document) if document is not None else []
    if not lists:
        return _flip(draw, body)
    path = draw(st.sampled_from(lists))
    how = draw(st.sampled_from(["drop first", "drop last", "repeat", "empty"]))
    change: dict[str, Callable[[list[Any]], list[Any]]] = {
        "drop first": lambda items: items[1:],
        "drop last": lambda items: items[:-1],
        "repeat": lambda items: [*items, *items[-1:]],
        "empty": lambda items: [],
    }
    return f"count mismatch ({how})", dumps(_replaced(document, path, change[how]))


MUTATIONS: Final[tuple[Mutation, ...]] = (
    _truncate,
    _flip,
    _bad_utf8,
    _nonfinite,
    _wrong_type,
    _deep,
    _huge,
    _count,
)
