"""Parsing KServe logger CloudEvents: binary and structured mode agree; bad input is only ever InvalidEvent."""

from __future__ import annotations

import base64
import contextlib

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st
from multidict import CIMultiDict, CIMultiDictProxy

from sidecar.ingest.cloudevents import parse_binary, parse_structured
from sidecar.ingest.errors import InvalidEvent
from tests.sidecar.ingest.events import DOCS_PAIR, V2_PAIR

ATTRIBUTES = st.sampled_from(
    ["specversion", "id", "type", "source", "time", "inferenceservicename", "statuscode", "namespace"]
)


def headers(values: dict[str, str]) -> CIMultiDictProxy[str]:
    return CIMultiDictProxy(CIMultiDict(values))


def test_binary_mode_reads_every_attribute() -> None:
    request, response = DOCS_PAIR
    event = parse_binary(headers(request.headers), request.body)
    assert (event.id, event.kind, event.service, event.namespace, event.component, event.endpoint) == (
        "689b15e7-84a1-4e89-9805-20809efc216d",
        "request",
        "sklearn-iris",
        "default",
        "predictor",
        "",
    )
    assert event.time == pytest.approx(1_680_680_393.501752, abs=1e-6)
    assert event.content_type == "application/x-www-form-urlencoded" and event.body == request.body
    assert parse_binary(headers(response.headers), response.body).kind == "response"


@pytest.mark.parametrize("encoding", ["data", "data_base64"])
def test_structured_mode_matches_binary_mode(encoding: str) -> None:
    binary = V2_PAIR[1]
    document: dict[str, object] = {
        name[3:].lower(): value for name, value in binary.headers.items() if name.startswith("Ce-")
    }
    document["datacontenttype"] = "application/json"
    document["statuscode"] = 200
    if encoding == "data":
        document["data"] = orjson.loads(binary.body)
    else:
        document["data_base64"] = base64.b64encode(binary.body).decode()
    structured = parse_structured(orjson.dumps(document))
    expected = parse_binary(headers(binary.headers), binary.body)
    assert structured.key == expected.key and structured.time == expected.time and structured.status == 200
    assert orjson.loads(structured.body) == orjson.loads(expected.body)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"[1]", "structured CloudEvent must be a JSON object"),
        (b"{", "structured CloudEvent is not valid JSON"),
        (b'{"data_base64": "***"}', "data_base64 is not valid base64"),
        (b'{"specversion": "1.0"}', "missing CloudEvent attribute id"),
    ],
)
def test_bad_structured_events(body: bytes, message: str) -> None:
    with pytest.raises(InvalidEvent, match=message):
        parse_structured(body)


@given(st.dictionaries(ATTRIBUTES, st.text(max_size=40)), st.binary(max_size=64))
def test_binary_mode_raises_only_invalid_event(values: dict[str, str], body: bytes) -> None:
    with contextlib.suppress(InvalidEvent):
        parse_binary(headers({f"ce-{k}": v for k, v in values.items()}), body)


@given(
    st.binary(max_size=200)
    | st.dictionaries(ATTRIBUTES, st.integers(-(2**63), 2**63 - 1) | st.text()).map(orjson.dumps)
)
def test_structured_mode_raises_only_invalid_event(body: bytes) -> None:
    with contextlib.suppress(InvalidEvent):
        parse_structured(body)
