"""The Cog adapter: status decides success, async predictions, opaque inputs, routes."""

from __future__ import annotations

from typing import Any

import pytest

from sidecar.capture.cog import CogAdapter
from sidecar.capture.registry import select_adapter, to_records
from tests.fixtures.protocols import ProtocolCase, assert_records_match, cases_for, make_exchange


@pytest.mark.parametrize("case", cases_for("cog"), ids=lambda c: c.name)
def test_fixture_cases(case: ProtocolCase) -> None:
    assert_records_match(to_records(case.exchange(), case.capture_options()), case)


@pytest.mark.parametrize(
    ("path", "template"),
    [
        ("/predictions", "/predictions"),
        ("/predictions/pred_123", "/predictions/{id}"),
        ("/predictions/pred_123/cancel", "/predictions/{id}/cancel"),
        ("/predictions/a/b", None),
        ("/api/v1.0/predictions", None),
    ],
)
def test_routes(path: str, template: str | None) -> None:
    route = CogAdapter().route(path)
    assert (route.template if route else None) == template


@pytest.mark.parametrize(
    ("response", "prediction", "error"),
    [
        (b'{"status":"canceled","output":null}', None, "prediction canceled"),
        (b'{"status":"processing","output":null}', None, "prediction processing: output goes to the webhook"),
        (b'{"status":"failed","error":""}', None, "prediction failed"),
        (b'{"output":["a","b"]}', ["a", "b"], None),
        (
            b'{"status":"succeeded","output":{"label":"cat","boxes":[[1,2,3,4]]}}',
            {"label": "cat", "boxes": [[1, 2, 3, 4]]},
            None,
        ),
        (b'{"status":"weird"}', None, "response has no prediction status (weird)"),
        (b"[1]", None, "response body is not a JSON object"),
    ],
)
def test_statuses(response: bytes, prediction: Any, error: str | None) -> None:
    records = to_records(make_exchange("/predictions", b'{"input":{"x":1}}', response))
    assert [(r.features, r.prediction, r.error) for r in records] == [({"x": 1}, prediction, error)]


def test_data_uris_and_long_strings_become_markers() -> None:
    body = (
        b'{"input":{"image":"data:image/png;base64,iVBORw0KGgo=","prompt":"' + b"p" * 1500 + b'","n":2},'
        b'"id":"x1"}'
    )
    response = b'{"status":"succeeded","output":["data:image/png;base64,QUJD","short"]}'
    records = to_records(make_exchange("/predictions/x1", body, response, method="PUT"))
    assert [(r.route, r.features, r.prediction) for r in records] == [
        (
            "/predictions/{id}",
            {"image": "<8 bytes>", "prompt": "<1500 bytes>", "n": 2},
            ["<3 bytes>", "short"],
        )
    ]


def test_request_without_input() -> None:
    records = to_records(
        make_exchange("/predictions", b'{"inputs":{"x":1}}', b'{"status":"succeeded","output":1}')
    )
    assert [(r.features, r.prediction, r.error) for r in records] == [
        (None, 1, "request has no input object")
    ]


def test_sniffed_on_another_path() -> None:
    exchange = make_exchange(
        "/run", b'{"input":{"x":1},"webhook":"http://h"}', b'{"status":"succeeded","output":1}'
    )
    assert select_adapter(exchange).name == "cog"
    fastapi = make_exchange("/run", b'{"input":{"x":1},"user":"u"}', b'{"status":"ok"}')
    assert select_adapter(fastapi).name == "generic"
