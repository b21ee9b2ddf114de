"""The MLflow adapter: every input format, CSV, Databricks paths, response shapes."""

from __future__ import annotations

from typing import Any

import pytest

from sidecar.capture.mlflow import MLflowAdapter
from sidecar.capture.options import CaptureOptions
from sidecar.capture.registry import to_records
from tests.fixtures.protocols import ProtocolCase, assert_records_match, cases_for, make_exchange

CSV = (("Content-Type", "text/csv; charset=utf-8"),)


@pytest.mark.parametrize("case", cases_for("mlflow"), ids=lambda c: c.name)
def test_fixture_cases(case: ProtocolCase) -> None:
    assert_records_match(to_records(case.exchange(), case.capture_options()), case)


@pytest.mark.parametrize(
    ("path", "template", "model"),
    [
        ("/invocations", "/invocations", None),
        ("/serving-endpoints/churn/invocations", "/serving-endpoints/{model}/invocations", "churn"),
        ("/models/churn/invocations", "/models/churn/invocations", None),
    ],
)
def test_routes(path: str, template: str, model: str | None) -> None:
    route = MLflowAdapter().route(path)
    assert route is not None
    assert (route.template, route.model) == (template, model)


@pytest.mark.parametrize(
    ("request_body", "response_body", "options", "expected"),
    [
        # dataframe_split without columns: f-names, or the configured names over the columns
        (b'{"dataframe_split": {"data": [[1, 2]]}}', b'{"predictions": [0]}', {}, [({"f0": 1, "f1": 2}, 0)]),
        (
            b'{"dataframe_split": {"columns": ["a", "b"], "data": [[1, 2]]}}',
            b"[0]",
            {"feature_names": ["x", "y"]},
            [({"x": 1, "y": 2}, 0)],
        ),
        # a single-column split with scalar rows
        (
            b'{"dataframe_split": {"columns": ["text"], "data": ["hi", "yo"]}}',
            b'{"predictions": [1, 0]}',
            {},
            [({"text": "hi"}, 1), ({"text": "yo"}, 0)],
        ),
        # inputs as one row of scalars, and as a scalar
        (b'{"inputs": {"a": 1, "b": "x"}}', b'{"predictions": [3]}', {}, [({"a": 1, "b": "x"}, 3)]),
        (b'{"inputs": 4}', b'{"predictions": [3]}', {}, [({"f0": 4}, 3)]),
        # instances as columns
        (b'{"instances": {"a": [1, 2]}}', b'{"predictions": [3, 4]}', {}, [({"a": 1}, 3), ({"a": 2}, 4)]),
        # MLflow 1.x bodies: a bare list of records, a bare list of predictions
        (b'[{"a": 1}]', b"[7]", {}, [({"a": 1}, 7)]),
        # a DataFrame output: one dict per row
        (
            b'{"dataframe_records": [{"a": 1}, {"a": 2}]}',
            b'{"predictions": [{"label": 0, "score": 0.9}, {"label": 1, "score": 0.7}]}',
            {},
            [({"a": 1}, {"label": 0, "score": 0.9}), ({"a": 2}, {"label": 1, "score": 0.7})],
        ),
        # a dict output of per-row columns
        (
            b'{"dataframe_records": [{"a": 1}, {"a": 2}]}',
            b'{"predictions": {"label": [0, 1]}}',
            {},
            [({"a": 1}, {"label": 0}), ({"a": 2}, {"label": 1})],
        ),
    ],
)
def test_json_formats(
    request_body: bytes, response_body: bytes, options: dict[str, Any], expected: list[tuple[Any, Any]]
) -> None:
    records = to_records(
        make_exchange("/invocations", request_body, response_body), CaptureOptions(**options)
    )
    assert [(r.features, r.prediction) for r in records] == expected
    assert {r.error for r in records} == {None}


def test_csv_values() -> None:
    body = b"age,city,score,note\n42,Bern,0.5,\n-3,Z\xc3\xbcrich,1e3,n/a\n"
    records = to_records(make_exchange("/invocations", body, b'{"predictions": [1, 0]}', request_headers=CSV))
    assert [r.features for r in records] == [
        {"age": 42, "city": "Bern", "score": 0.5, "note": None},
        {"age": -3, "city": "Z\u00fcrich", "score": 1000.0, "note": "n/a"},
    ]


@pytest.mark.parametrize(
    ("body", "error"),
    [
        (b"a,b\n1,2\n3\n", "request CSV line 3 has 1 fields, the header 2"),
        (b"", "request body is empty"),
        (b"\n\n", "request body is empty"),
        (
            b"a,b\n\xff,1\n",
            "request body is not CSV ('utf-8' codec can't decode byte 0xff in position 4: invalid start "
            "byte)",
        ),
    ],
)
def test_csv_errors(body: bytes, error: str) -> None:
    records = to_records(make_exchange("/invocations", body, b'{"predictions": [1]}', request_headers=CSV))
    assert [(r.features, r.prediction, r.error) for r in records] == [(None, 1, error)]


@pytest.mark.parametrize(
    ("body", "error"),
    [
        (b'{"data": [[1]]}', "request has none of dataframe_split, dataframe_records, instances, inputs"),
        (b'{"dataframe_split": {"columns": ["a"]}}', "dataframe_split has no data list"),
        (b'{"dataframe_records": 5}', "dataframe_records is not a list"),
        (b"7", "request body is not a JSON object"),
    ],
)
def test_request_errors(body: bytes, error: str) -> None:
    records = to_records(make_exchange("/invocations", body, b'{"predictions": [1]}'))
    assert [(r.features, r.prediction, r.error) for r in records] == [(None, 1, error)]
