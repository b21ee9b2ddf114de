"""The TF Serving adapter: routes, row and columnar predict, classify/regress, b64, NaN/Infinity."""

from __future__ import annotations

import math
from typing import Any

import pytest

from sidecar.capture.options import CaptureOptions
from sidecar.capture.registry import to_records
from sidecar.capture.tfserving import TFServingAdapter
from tests.fixtures.protocols import ProtocolCase, assert_records_match, cases_for, make_exchange, same

TF = CaptureOptions(adapter="tfserving")


@pytest.mark.parametrize("case", cases_for("tfserving"), ids=lambda c: c.name)
def test_fixture_cases(case: ProtocolCase) -> None:
    assert_records_match(to_records(case.exchange(), case.capture_options()), case)


@pytest.mark.parametrize(
    ("path", "template", "model", "version", "extra"),
    [
        ("/v1/models/half:predict", "/v1/models/{model}:predict", "half", None, {"method": "predict"}),
        (
            "/v1/models/half/versions/7:regress",
            "/v1/models/{model}/versions/{version}:regress",
            "half",
            "7",
            {"method": "regress"},
        ),
        (
            "/v1/models/half/labels/canary:classify",
            "/v1/models/{model}/labels/{label}:classify",
            "half",
            "canary",
            {"method": "classify", "version_label": "canary"},
        ),
    ],
)
def test_routes(path: str, template: str, model: str, version: str | None, extra: dict[str, Any]) -> None:
    route = TFServingAdapter().route(path)
    assert route is not None
    assert (route.template, route.model, route.version, route.extra) == (template, model, version, extra)


@pytest.mark.parametrize(
    "path",
    [
        "/v1/models/half",
        "/v1/models/half:explain",
        "/v1/models/a/b:predict",
        "/v1/models/:predict",
        "/predict",
    ],
)
def test_other_paths_are_not_tfserving(path: str) -> None:
    assert TFServingAdapter().route(path) is None


@pytest.mark.parametrize(
    ("request_body", "response_body", "expected"),
    [
        # a single unnamed columnar tensor is read like instances
        (
            b'{"inputs": [[1, 2], [3, 4]]}',
            b'{"outputs": [0.5, 0.7]}',
            [({"f0": 1, "f1": 2}, 0.5), ({"f0": 3, "f1": 4}, 0.7)],
        ),
        (b'{"inputs": 3.0}', b'{"outputs": 7.0}', [({"f0": 3.0}, 7.0)]),
        # b64 values nested inside named inputs
        (
            b'{"instances": [{"image": {"b64": "AAAA"}, "k": 5}]}',
            b'{"predictions": [{"b64": "QQ=="}]}',
            [({"image": "<3 bytes>", "k": 5}, "<1 bytes>")],
        ),
        # -Infinity and NaN in the answer
        (b'{"instances": [1]}', b'{"predictions": [-Infinity]}', [({"f0": 1}, -math.inf)]),
    ],
)
def test_predict_shapes(request_body: bytes, response_body: bytes, expected: list[tuple[Any, Any]]) -> None:
    records = to_records(make_exchange("/v1/models/m:predict", request_body, response_body))
    assert same([[r.features, r.prediction] for r in records], [list(pair) for pair in expected])
    assert {r.error for r in records} == {None}


@pytest.mark.parametrize(
    ("path", "request_body", "response_body", "error"),
    [
        (
            "/v1/models/m:predict",
            b'{"instances": [1], "inputs": [1]}',
            b'{"predictions": [1]}',
            "request has both instances and inputs",
        ),
        (
            "/v1/models/m:predict",
            b'{"instances": 5}',
            b'{"predictions": [1]}',
            "request instances is not a list",
        ),
        (
            "/v1/models/m:predict",
            b'{"inputs": {"a": [1, 2], "b": [1]}}',
            b'{"outputs": [1, 2]}',
            "inputs: columns are not lists of one length",
        ),
        ("/v1/models/m:predict", b"[1, 2]", b'{"predictions": [1, 2]}', "request body is not a JSON object"),
        (
            "/v1/models/m:predict",
            b'{"instances": [1]}',
            b'{"error": "Tensor name: x has no shape information"}',
            "response reports an error: Tensor name: x has no shape information",
        ),
        (
            "/v1/models/m:predict",
            b'{"instances": [1]}',
            b'{"result": [1]}',
            "response has no predictions or outputs",
        ),
        ("/v1/models/m:classify", b'{"examples": [1]}', b'{"results": []}', "request has no examples list"),
        ("/v1/models/m:regress", b'{"examples": [{}]}', b'{"outputs": []}', "response has no results"),
    ],
)
def test_protocol_errors(path: str, request_body: bytes, response_body: bytes, error: str) -> None:
    records = to_records(make_exchange(path, request_body, response_body))
    assert records
    assert all(r.error == error and r.protocol == "tfserving" for r in records)


def test_classify_results_that_are_not_label_pairs_are_kept() -> None:
    records = to_records(
        make_exchange(
            "/v1/models/m:classify",
            b'{"examples": [{"a": 1}, {"a": 2}]}',
            b'{"results": [[["", 0.4], ["", 0.6]], [0.1, 0.9]]}',
        ),
        TF,
    )
    assert [r.prediction for r in records] == [[["", 0.4], ["", 0.6]], [0.1, 0.9]]


def test_lone_surrogates_are_not_json() -> None:
    # the stdlib fallback would accept "\ud800"; the store could not write it
    records = to_records(make_exchange("/v1/models/m:predict", b'{"instances": [NaN, "\\ud800"]}', b"{}"))
    assert records[0].features is None
    assert records[0].error is not None
    assert records[0].error.startswith("request body is not JSON (")
