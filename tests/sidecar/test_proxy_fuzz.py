"""Hypothesis through the real proxy: whatever the body and headers, the client gets the upstream's exact bytes
and capture stores a record for every request (it never crashes on what it cannot understand).

One sidecar and one echo upstream serve every example of a test. They run on an event loop in a thread of
their own (`proxy_harness.py`); each (synchronous) example calls into it with `ProxyHarness.run`.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.sidecar.proxy_harness import ProxyHarness, running_proxy
from tests.sidecar.upstream import create_upstream

CAPTURE_LIMIT = 4096
"""Small, so that generated bodies land on both sides of it (buffered and captured vs. streamed, too large)."""

PATHS = [
    "/predict",
    "/v1/models/m:predict",
    "/v1/models/m/versions/2:classify",
    "/v2/models/m/infer",
    "/v2/models/m/versions/1/infer",
    "/invocations",
    "/serving-endpoints/m/invocations",
    "/predictions",
    "/api/v1.0/predictions",
    "/seldon/ns/m/api/v1.0/predictions",
    "/x?y=%ff&z",
]
CONTENT_TYPES = [
    "application/json",
    "application/json; charset=utf-8",
    "application/json; charset=latin-1",
    "application/vnd.api+json",
    "application/x-ndjson",  # answered as a streamed (re-chunked) response
    "text/event-stream",
    "text/plain",
    "text/csv",
    "application/octet-stream",
    "application/x-www-form-urlencoded",
    "multipart/form-data; boundary=xyz",
    "image/png",
]
HEADER_TEXT = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=40).map(str.strip)


async def _post(
    harness: ProxyHarness, path: str, body: bytes, headers: dict[str, str], chunked: bool
) -> tuple[int, bytes]:
    """POST through the proxy; (status, response bytes as received)."""
    data: bytes | AsyncIterator[bytes] = _pieces(body) if chunked else body
    async with harness.client.post(
        harness.url(path), data=data, headers=headers, skip_auto_headers=["Content-Type"]
    ) as resp:
        return resp.status, await resp.read()


async def _pieces(body: bytes) -> AsyncIterator[bytes]:
    for i in range(0, len(body), 1000):
        yield body[i : i + 1000]


@pytest.fixture
def harness(tmp_path: Path) -> Iterator[ProxyHarness]:
    """An echo upstream and a sidecar in front of it (upstream path `/echo`), for the whole test function
    (all of its examples)."""
    with running_proxy(tmp_path, create_upstream(), capture_limit=CAPTURE_LIMIT, upstream_path="/echo") as h:
        yield h


# --- bodies ----------------------------------------------------------------------------------------------------

JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**30), max_value=10**30)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=6) | st.dictionaries(st.text(max_size=10), children, max_size=6)
    ),
    max_leaves=25,
)


def _dumps(value: Any) -> bytes:
    """JSON as Python writes it: NaN and Infinity appear as bare (invalid) tokens."""
    return json.dumps(value, allow_nan=True).encode()


PROTOCOL_SHAPES = st.one_of(
    st.builds(lambda x: {"instances": x}, JSON_VALUES),
    st.builds(lambda x: {"inputs": x}, JSON_VALUES),
    st.builds(lambda x, s: {"signature_name": s, "inputs": x}, JSON_VALUES, JSON_VALUES),
    st.builds(
        lambda n, shape, dt, data: {"inputs": [{"name": n, "shape": shape, "datatype": dt, "data": data}]},
        JSON_VALUES,
        st.lists(st.integers(-2, 5), max_size=3) | JSON_VALUES,
        st.sampled_from(["FP32", "INT64", "BYTES", "BOOL", "FP16", "nope"]) | JSON_VALUES,
        JSON_VALUES,
    ),
    st.builds(lambda c, d: {"dataframe_split": {"columns": c, "data": d}}, JSON_VALUES, JSON_VALUES),
    st.builds(lambda r: {"dataframe_records": r}, JSON_VALUES),
    st.builds(lambda d: {"data": {"ndarray": d, "names": ["a", "b"]}}, JSON_VALUES),
    st.builds(lambda d: {"input": d}, JSON_VALUES),
    st.builds(lambda d: {"feature1": d, "feature2": 1}, JSON_VALUES),
)


@st.composite
def _truncated(draw: st.DrawFn) -> bytes:
    doc = _dumps(draw(PROTOCOL_SHAPES | JSON_VALUES))
    return doc[: draw(st.integers(0, max(0, len(doc) - 1)))]


@st.composite
def _nested(draw: st.DrawFn) -> bytes:
    depth = draw(st.integers(1, 50_000))
    opener, closer = draw(st.sampled_from([(b"[", b"]"), (b'{"a":', b"}")]))
    inner = draw(st.sampled_from([b"1", b"NaN", b"[]", b'"x"']))
    closed = draw(st.booleans())
    return opener * depth + inner + (closer * depth if closed else b"")


BODIES = st.one_of(
    st.binary(max_size=2 * CAPTURE_LIMIT),
    st.builds(_dumps, PROTOCOL_SHAPES),
    st.builds(_dumps, JSON_VALUES),
    _truncated(),
    _nested(),
    st.sampled_from(
        [
            b"",
            b"NaN",
            b'{"instances": [NaN, Infinity, -Infinity]}',
            b'{"instances": [[1e999, -1e999, 1e-999]]}',
            b'{"a": "\xff\xfe\xfd"}',
            b'{"a": "\\ud800"}',
            b'{"inputs": [{"name": "x", "shape": [1000000000, 1000000000], "datatype": "FP32", "data": [1]}]}',
            b'{"instances": [' + b"1," * 5000 + b"1]}",
            b"\xef\xbb\xbf" + b'{"instances": [1]}',
            b'{"instances": [1]}\x00trailing',
        ]
    ),
)


@dataclass(frozen=True)
class Case:
    """One generated request."""

    path: str
    body: bytes
    headers: dict[str, str]
    chunked: bool


@st.composite
def _cases(draw: st.DrawFn) -> Case:
    body = draw(BODIES)
    headers: dict[str, str] = {}
    ctype = draw(st.none() | st.sampled_from(CONTENT_TYPES) | HEADER_TEXT)
    if ctype:
        headers["Content-Type"] = ctype
    encoding = draw(st.none() | st.sampled_from(["gzip", "deflate", "br", "identity", "x-gzip"]))
    if encoding:
        headers["Content-Encoding"] = encoding
        if encoding == "gzip" and draw(st.booleans()):
            body = gzip.compress(body, mtime=0)
    if draw(st.booleans()):
        headers["Inference-Header-Content-Length"] = str(draw(st.integers(-5, 3 * CAPTURE_LIMIT)))
    return Case(draw(st.sampled_from(PATHS)), body, headers, draw(st.booleans()))


def test_any_request_round_trips_byte_exact_and_is_recorded(harness: ProxyHarness) -> None:
    sent = harness.sent

    @settings(
        max_examples=100,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(case=_cases())
    def check(case: Case) -> None:
        request_id = f"fuzz-{len(sent)}"
        status, body = harness.run(
            _post(harness, case.path, case.body, {**case.headers, "X-Request-ID": request_id}, case.chunked)
        )
        assert (status, body) == (200, case.body)
        sent.append(request_id)

    check()
    stored, _ = harness.run(harness.stored())
    missing = set(sent) - stored
    assert not missing, f"{len(missing)} of {len(sent)} requests left no record, e.g. {sorted(missing)[:5]}"
