"""The generic adapter: FastAPI and BentoML shapes, bare lists, configured JSON paths."""

from __future__ import annotations

from typing import Any

import pytest

from sidecar.capture.options import CaptureOptions
from sidecar.capture.registry import to_records
from tests.fixtures.protocols import ProtocolCase, assert_records_match, cases_for, make_exchange


@pytest.mark.parametrize("case", cases_for("generic"), ids=lambda c: c.name)
def test_fixture_cases(case: ProtocolCase) -> None:
    assert_records_match(to_records(case.exchange(), case.capture_options()), case)


@pytest.mark.parametrize(
    ("request_body", "response_body", "options", "expected"),
    [
        # a bare list of scalars is one positional row
        (b"[5.1, 3.5]", b'{"prediction": 1}', {}, [({"f0": 5.1, "f1": 3.5}, 1)]),
        (b"[5.1, 3.5]", b"1", {"feature_names": ["a", "b"]}, [({"a": 5.1, "b": 3.5}, 1)]),
        # feature_names shorter than the row: the rest keep f-names
        (b"[[1, 2, 3]]", b"[0]", {"feature_names": ["a"]}, [({"a": 1, "f1": 2, "f2": 3}, 0)]),
        # a bare list of objects is a batch
        (b'[{"a": 1}, {"a": 2}]', b"[0, 1]", {}, [({"a": 1}, 0), ({"a": 2}, 1)]),
        # a scalar body
        (b'"hello"', b'{"label": "greeting"}', {}, [({"f0": "hello"}, "greeting")]),
        # one row, a probability vector answer
        (b'{"x": 1}', b'{"probabilities": [0.2, 0.8]}', {}, [({"x": 1}, [0.2, 0.8])]),
        (b'{"x": 1}', b"[[0.2, 0.8]]", {}, [({"x": 1}, [0.2, 0.8])]),
        # several outputs for one row: the whole object
        (b'{"x": 1}', b'{"label": 1, "score": 0.9}', {}, [({"x": 1}, {"label": 1, "score": 0.9})]),
        # several outputs as per-row columns
        (
            b'{"rows": [[1], [2]]}',
            b'{"label": [0, 1], "score": [0.9, 0.6]}',
            {},
            [({"f0": 1}, {"label": 0, "score": 0.9}), ({"f0": 2}, {"label": 1, "score": 0.6})],
        ),
        # a single key wrapping a flat list is one row with a list-valued feature
        (b'{"tokens": [1, 2, 3]}', b"0", {}, [({"tokens": [1, 2, 3]}, 0)]),
        # inputs "$" keeps a single-key batch-looking body as one row
        (b'{"series": [[1, 2]]}', b"0", {"inputs": "$"}, [({"series": [[1, 2]]}, 0)]),
        (
            b'{"payload": {"a": 1, "b": 2}}',
            b'{"out": {"y": 3}}',
            {"inputs": "payload", "outputs": "out.y"},
            [({"a": 1, "b": 2}, 3)],
        ),
        # a batched path with a hole keeps the rows aligned
        (
            b'{"items": [{"f": [1]}, {}]}',
            b'{"r": [{"p": 1}, {"p": 2}]}',
            {"inputs": "items[*].f", "outputs": "r[*].p"},
            [({"f0": 1}, 1), ({"f0": None}, 2)],
        ),
    ],
)
def test_reading_rules(
    request_body: bytes, response_body: bytes, options: dict[str, Any], expected: list[tuple[Any, Any]]
) -> None:
    records = to_records(make_exchange("/predict", request_body, response_body), CaptureOptions(**options))
    assert [(r.features, r.prediction) for r in records] == expected
    assert all(r.error is None and r.protocol == "generic" for r in records)


@pytest.mark.parametrize(
    ("request_body", "response_body", "options", "error", "rows"),
    [
        (
            b'{"rows": [[1], [2]]}',
            b"[0, 1, 2]",
            {},
            "count mismatch: 2 instances in request, 3 predictions in response",
            [({"f0": 1}, None), ({"f0": 2}, None)],
        ),
        (
            b'{"rows": [[1], [2]]}',
            b'{"label": 0, "score": 0.5}',
            {},
            "count mismatch: 2 instances in request, 1 predictions in response",
            [({"f0": 1}, None), ({"f0": 2}, None)],
        ),
        (b'{"a": 1}', b"{}", {"inputs": "b"}, "inputs path 'b' not found in request", [(None, {})]),
        (
            b'{"a": 1}',
            b'{"y": 1}',
            {"outputs": "z"},
            "outputs path 'z' not found in response",
            [({"a": 1}, None)],
        ),
        (b"[]", b"[]", {}, "no instances in request", [(None, None)]),
    ],
)
def test_unreadable_parts(
    request_body: bytes,
    response_body: bytes,
    options: dict[str, Any],
    error: str,
    rows: list[tuple[Any, Any]],
) -> None:
    records = to_records(make_exchange("/predict", request_body, response_body), CaptureOptions(**options))
    assert [(r.features, r.prediction) for r in records] == rows
    assert {r.error for r in records} == {error}


def test_non_json_request_keeps_the_predictions() -> None:
    records = to_records(make_exchange("/predict", b"<html>", b'{"y": 1}'))
    assert [(r.features, r.prediction) for r in records] == [(None, 1)]
    assert records[0].error is not None
    assert records[0].error.startswith("request body is not JSON (")


def test_health_endpoints_are_not_predictions() -> None:
    # MLflow's /ping answers "\n" labelled application/json; captured anyway, it is one record with reasons
    exchange = make_exchange("/ping", b"", b"\n", method="GET", request_headers=())
    records = to_records(exchange)
    assert [(r.protocol, r.route, r.features, r.prediction, r.error) for r in records] == [
        ("generic", "/ping", None, None, "request body is empty; response body is empty")
    ]
