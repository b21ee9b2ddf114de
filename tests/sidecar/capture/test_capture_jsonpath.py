"""The JSON path syntax: compilation, evaluation and precise syntax errors."""

from __future__ import annotations

import re
from typing import Any

import pytest

from sidecar.capture.jsonpath import MISSING, compile_path

DOC: dict[str, Any] = {
    "input_series": [[1, 2], [3, 4]],
    "data": {"ndarray": [[5.1, 3.5]], "names": ["a", "b"]},
    "items": [{"x": 1, "y": {"z": "p"}}, {"x": 2}, {"y": {"z": "q"}}],
    "odd.key": {"[x]": 7},
    "grid": [[{"v": 1}, {"v": 2}], [{"v": 3}]],
}


@pytest.mark.parametrize(
    ("path", "expected", "batched"),
    [
        ("$", DOC, False),
        ("input_series", [[1, 2], [3, 4]], False),
        ("$.input_series", [[1, 2], [3, 4]], False),
        ("data.ndarray", [[5.1, 3.5]], False),
        ("data.names[1]", "b", False),
        ("data.names[-1]", "b", False),
        ("input_series[0][1]", 2, False),
        ("$['odd.key']", {"[x]": 7}, False),
        ('["odd.key"]["[x]"]', 7, False),
        ("items[*].x", [1, 2, None], True),
        ("items[*].y.z", ["p", None, "q"], True),
        ("items[ * ]", DOC["items"], True),
        ("grid[*][*].v", [[1, 2], [3]], True),
        ("$[*]", MISSING, True),
        ("data.missing", MISSING, False),
        ("data.names[2]", MISSING, False),
        ("data.names[-3]", MISSING, False),
        ("data.names.x", MISSING, False),
        ("input_series[0].x", MISSING, False),
        ("data[0]", MISSING, False),
    ],
)
def test_evaluate(path: str, expected: Any, batched: bool) -> None:
    compiled = compile_path(path)
    result = compiled.evaluate(DOC)
    if expected is MISSING:
        assert result is MISSING
    else:
        assert result == expected
    assert compiled.batched is batched


def test_root_of_a_list_and_scalars() -> None:
    assert compile_path("$[*]").evaluate([1, 2]) == [1, 2]
    assert compile_path("$[1]").evaluate([1, 2]) == 2
    assert compile_path("$").evaluate(3) == 3
    assert compile_path("a").evaluate(None) is MISSING


def test_compiled_once() -> None:
    assert compile_path("items[*].x") is compile_path("items[*].x")


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("", "empty JSON path (use '$' for the whole document)"),
        ("   ", "empty JSON path (use '$' for the whole document)"),
        ("$.", "JSON path '$.' has no key after the dot"),
        ("$x", "JSON path '$x': expected '.' or '[' after '$'"),
        ("a..b", "JSON path 'a..b': unexpected '.' at position 2"),
        (".a", "JSON path '.a': unexpected '.' at position 0"),
        ("a.", "JSON path 'a.': ends with '.'"),
        ("a.[0]", "JSON path 'a.[0]': expected a key at position 2"),
        ("a]", "JSON path 'a]': unmatched ']' at position 1"),
        ("a[0]b", "JSON path 'a[0]b': expected '.' or '[' at position 4"),
        ("a[x]", "JSON path 'a[x]': expected an index, '*' or a quoted key inside [] at position 1"),
        ("a[0", "JSON path 'a[0': unterminated '[' at position 1"),
        ("a['b", 'JSON path "a[\'b": unterminated quoted key at position 1'),
    ],
)
def test_syntax_errors(path: str, message: str) -> None:
    with pytest.raises(ValueError, match="^" + re.escape(message) + "$"):
        compile_path(path)
