"""The Seldon v1 adapter: ndarray and tensor messages, payload fields, the ingress path."""

from __future__ import annotations

from typing import Any

import pytest

from sidecar.capture.options import CaptureOptions
from sidecar.capture.registry import select_adapter, to_records
from tests.fixtures.protocols import ProtocolCase, assert_records_match, cases_for, make_exchange

PATH = "/api/v1.0/predictions"


@pytest.mark.parametrize("case", cases_for("seldon"), ids=lambda c: c.name)
def test_fixture_cases(case: ProtocolCase) -> None:
    assert_records_match(to_records(case.exchange(), case.capture_options()), case)


@pytest.mark.parametrize(
    ("request_body", "response_body", "options", "expected"),
    [
        (
            b'{"data":{"ndarray":[[1,2]]}}',
            b'{"data":{"ndarray":[[0]]}}',
            {"feature_names": ["a", "b"]},
            [({"a": 1, "b": 2}, 0)],
        ),
        (
            b'{"data":{"names":["a","b"],"ndarray":[[1,2]]}}',
            b'{"data":{"ndarray":[3]}}',
            {"feature_names": ["x"]},
            [({"x": 1, "b": 2}, 3)],
        ),
        (
            b'{"data":{"tensor":{"shape":[2],"values":[1,2]}}}',
            b'{"data":{"tensor":{"shape":[2,1],"values":[5,6]}}}',
            {},
            [({"f0": 1}, 5), ({"f0": 2}, 6)],
        ),
        (
            b'{"jsonData":{"text":"hi","lang":"en"}}',
            b'{"jsonData":{"label":"greeting"}}',
            {},
            [({"text": "hi", "lang": "en"}, {"label": "greeting"})],
        ),
        (b'{"jsonData":[1,2]}', b'{"jsonData":7}', {}, [({"jsonData": [1, 2]}, 7)]),
        (b'{"strData":"hello"}', b'{"strData":"HELLO"}', {}, [({"strData": "hello"}, "HELLO")]),
        (b'{"binData":"AAECAw=="}', b'{"binData":"AA=="}', {}, [({"binData": "<4 bytes>"}, "<1 bytes>")]),
    ],
)
def test_messages(
    request_body: bytes, response_body: bytes, options: dict[str, Any], expected: list[tuple[Any, Any]]
) -> None:
    records = to_records(make_exchange(PATH, request_body, response_body), CaptureOptions(**options))
    assert [(r.features, r.prediction) for r in records] == expected
    assert {(r.error, r.protocol) for r in records} == {(None, "seldon")}


@pytest.mark.parametrize(
    ("request_body", "error"),
    [
        (b'{"data":{"names":["a"]}}', "data has neither ndarray nor tensor"),
        (b'{"data":{"tensor":{"shape":[3],"values":[1,2]}}}', "tensor 'tensor': 2 values for shape [3]"),
        (b'{"data":{"tensor":{"shape":[2],"values":5}}}', "data.tensor.values is not a list"),
        (b'{"meta":{}}', "body has none of data, jsonData, strData, binData"),
    ],
)
def test_request_errors(request_body: bytes, error: str) -> None:
    records = to_records(make_exchange(PATH, request_body, b'{"data":{"ndarray":[1]}}'))
    assert [(r.features, r.prediction, r.error) for r in records] == [(None, 1, error)]


def test_bare_predict_path_is_recognised_by_body() -> None:
    exchange = make_exchange("/predict", b'{"data":{"ndarray":[[1,2]]}}', b'{"data":{"ndarray":[[0.2,0.8]]}}')
    assert select_adapter(exchange).name == "seldon"
    assert [(r.route, r.features, r.prediction) for r in to_records(exchange)] == [
        ("/predict", {"f0": 1, "f1": 2}, [0.2, 0.8])
    ]
