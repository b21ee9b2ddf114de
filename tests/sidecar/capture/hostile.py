"""Hostile exchanges for every protocol: hypothesis strategies that mutate the protocol fixtures' valid bodies.

Each example starts from a `ProtocolCase` (tests/fixtures, real servers' bytes) and applies one mutation to
one or both sides: truncation at any byte, a flipped byte, an invalid UTF-8 sequence, NaN/Infinity for a
number, a value of the wrong type at any JSON path, 100k levels of nesting at any path, a huge array, a list
with elements dropped or repeated (count mismatch), the other side of a different case, lying KServe V2
binary headers (`Inference-Header-Content-Length`, `binary_data_size`), and gzip bodies that are truncated,
not gzip at all, or decompress far beyond the capture limit.

Shared by the adapter tests, the proxy test and `bench/fuzz.py` (which runs them with many more examples).
"""

from __future__ import annotations

import dataclasses
import gzip
import json
from dataclasses import dataclass
from functools import cache
from typing import Any, Final, get_args

import orjson
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from multidict import CIMultiDict, CIMultiDictProxy

from sidecar.capture.base import Exchange, Extraction
from sidecar.capture.options import AdapterName, CaptureOptions
from sidecar.capture.pipeline import decoded
from sidecar.capture.registry import REGISTRY, to_records
from storage.records import Record
from tests.fixtures.protocol_case import Headers
from tests.fixtures.protocols import CASES, ProtocolCase
from tests.sidecar.capture.mutations import MUTATIONS, load_json

CAPTURE_LIMIT: Final = 1 << 20
"""The capture limit hostile exchanges are decoded under (the default; a gzip bomb expands far beyond it)."""
_SUPPRESS = [HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much]
settings.register_profile("ci", max_examples=60, deadline=None, suppress_health_check=_SUPPRESS)
settings.register_profile("fuzz", max_examples=5_000, deadline=None, suppress_health_check=_SUPPRESS)
CI: Final = settings(settings.get_profile("ci"))
"""Settings for the CI tests: ~60 examples each, no deadline (the machine is shared and slow)."""

WIRE_CASES: Final = tuple(c for c in CASES if c.wire)
BINARY_CASES: Final = tuple(
    c for c in WIRE_CASES if any(k.lower() == "inference-header-content-length" for k, _ in c.request_headers)
)
_LIES: Final = ("-1", "-182", "0", "1", "abc", "", " 12", "+12", "1e3", "0x10", "99999999999999999999", "1 2")


@dataclass(frozen=True)
class Hostile:
    """One mutated exchange as it is on the wire (bodies possibly gzip-encoded, as the headers say)."""

    mutation: str
    case: str
    method: str
    path: str
    request_headers: Headers
    request_body: bytes
    status: int
    response_headers: Headers
    response_body: bytes
    options: dict[str, Any]

    def __repr__(self) -> str:
        # Hypothesis prints a failing example: whole 200 KiB bodies would drown it (and warn, an error here).
        shown = (
            f"{f.name}={_short(value) if f.name.endswith('body') else value!r}"
            for f in dataclasses.fields(self)
            for value in [getattr(self, f.name)]
        )
        return f"Hostile({', '.join(shown)})"

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        """Hypothesis' pretty printer: the short repr (it would list every field of a dataclass in full)."""
        printer.text(repr(self))

    def exchange(self, request_id: str = "hostile-1", limit: int = CAPTURE_LIMIT) -> Exchange:
        """The exchange as capture sees it: bodies over `limit` not kept, gzip decoded as the pipeline does."""
        truncated = frozenset(
            side
            for side, body in (("request", self.request_body), ("response", self.response_body))
            if len(body) > limit
        )
        req_headers = CIMultiDictProxy(CIMultiDict(self.request_headers))
        resp_headers = CIMultiDictProxy(CIMultiDict(self.response_headers))
        req, req_error = decoded(
            None if "request" in truncated else self.request_body, req_headers.get("Content-Encoding"), limit
        )
        resp, resp_error = decoded(
            None if "response" in truncated else self.response_body,
            resp_headers.get("Content-Encoding"),
            limit,
        )
        return Exchange(
            method=self.method,
            path=self.path,
            query="",
            request_headers=req_headers,
            request_body=req,
            status=self.status,
            response_headers=resp_headers,
            response_body=resp,
            request_id=request_id,
            ts=1_764_057_600.0,
            latency_ms=3.5,
            error=req_error or resp_error,
            truncated=truncated,
            request_size=len(self.request_body) if "request" in truncated else None,
            response_size=len(self.response_body) if "response" in truncated else None,
        )


def _short(body: bytes) -> str:
    """A body as shown in reprs: whole up to 300 bytes, else its ends and size."""
    if len(body) <= 300:
        return repr(body)
    return f"{body[:150]!r} + ...<{len(body)} bytes>... + {body[-100:]!r}"


def _base(case: ProtocolCase) -> Hostile:
    """The case unchanged, with its bodies decoded (mutations apply to the plain bytes)."""
    return Hostile(
        mutation="none",
        case=case.name,
        method=case.method,
        path=case.path,
        request_headers=_without(case.request_headers, "content-encoding"),
        request_body=_plain(case.request_body, case.request_headers),
        status=case.status,
        response_headers=_without(case.response_headers, "content-encoding"),
        response_body=_plain(case.response_body, case.response_headers),
        options={k: v for k, v in case.options.items() if k != "adapter"},
    )


def _plain(body: bytes, headers: Headers) -> bytes:
    gzipped = any(k.lower() == "content-encoding" and v.lower() == "gzip" for k, v in headers)
    return gzip.decompress(body) if gzipped else body


def _without(headers: Headers, name: str) -> Headers:
    return tuple((k, v) for k, v in headers if k.lower() != name)


def _with(headers: Headers, name: str, value: str) -> Headers:
    return (*_without(headers, name.lower()), (name, value))


@st.composite
def mutated(draw: st.DrawFn, cases: tuple[ProtocolCase, ...] = WIRE_CASES) -> Hostile:
    """A fixture exchange with one body mutation on the request, the response or both."""
    base = _base(draw(st.sampled_from(cases)))
    sides = draw(st.sampled_from([("request",), ("response",), ("request", "response")]))
    request, response = base.request_body, base.response_body
    names = []
    for side in sides:
        name, body = draw(st.sampled_from(MUTATIONS))(draw, request if side == "request" else response)
        names.append(f"{side} {name}")
        if side == "request":
            request = body
        else:
            response = body
    return dataclasses.replace(base, mutation=", ".join(names), request_body=request, response_body=response)


@st.composite
def swapped(draw: st.DrawFn) -> Hostile:
    """A case's request with another case's response (shape and count mismatches across protocols)."""
    base = _base(draw(st.sampled_from(WIRE_CASES)))
    other = _base(draw(st.sampled_from(WIRE_CASES)))
    return dataclasses.replace(
        base,
        mutation=f"response of {other.case}",
        response_headers=other.response_headers,
        response_body=other.response_body,
        status=draw(st.sampled_from([base.status, other.status])),
    )


@st.composite
def lying_binary(draw: st.DrawFn) -> Hostile:
    """KServe V2 binary tensors whose header length or `binary_data_size` lies (or is no number at all)."""
    base = _base(draw(st.sampled_from(BINARY_CASES)))
    side = draw(st.sampled_from(["request", "response"]))
    headers = base.request_headers if side == "request" else base.response_headers
    body = base.request_body if side == "request" else base.response_body
    declared = dict((k.lower(), v) for k, v in headers).get("inference-header-content-length")
    length = int(declared) if declared is not None else len(body)
    how = draw(st.sampled_from(["header length", "binary_data_size", "both"]))
    if how != "header length":
        header = load_json(body[:length])
        if isinstance(header, dict):
            tensors = [
                t for key in ("inputs", "outputs") for t in header.get(key) or [] if isinstance(t, dict)
            ]
            for tensor in tensors:
                size = draw(st.integers(-5, 2 * len(body)) | st.sampled_from([2**63, "12", None, 1.5]))
                tensor["parameters"] = {**(tensor.get("parameters") or {}), "binary_data_size": size}
            new_header = json.dumps(header).encode()
            body = new_header + body[length:]
            length = len(new_header)
    if how != "binary_data_size":
        lie = draw(
            st.sampled_from(_LIES)
            | st.integers(-10, 2 * len(body)).map(str)
            | st.sampled_from([str(len(body)), str(len(body) + 1), str(length - 1), str(length + 1)])
        )
    else:
        lie = str(length)
    headers = _with(headers, "Inference-Header-Content-Length", lie)
    if side == "request":
        return dataclasses.replace(
            base, mutation=f"request {how} lies", request_headers=headers, request_body=body
        )
    return dataclasses.replace(
        base, mutation=f"response {how} lies", response_headers=headers, response_body=body
    )


@cache
def gzip_bomb() -> bytes:
    """A 50 KiB gzip body that decompresses to 50 MiB of JSON-looking digits."""
    return gzip.compress(b'{"instances": [' + b"1" * (50 << 20), compresslevel=9, mtime=0)


@st.composite
def bad_gzip(draw: st.DrawFn) -> Hostile:
    """A `Content-Encoding: gzip` body that is truncated, not gzip at all, or decompresses to far too much."""
    base = _base(draw(st.sampled_from(WIRE_CASES)))
    side = draw(st.sampled_from(["request", "response"]))
    plain = base.request_body if side == "request" else base.response_body
    packed = gzip.compress(plain, mtime=0)
    how = draw(st.sampled_from(["truncated", "not gzip", "bomb", "trailing junk", "flipped"]))
    if how == "truncated":
        body = packed[: draw(st.integers(0, len(packed) - 1))]
    elif how == "not gzip":
        body = plain
    elif how == "bomb":
        body = gzip_bomb()
    elif how == "trailing junk":
        body = packed + b"\x00junk"
    else:
        at = draw(st.integers(10, len(packed) - 1))
        body = packed[:at] + bytes([packed[at] ^ 0xFF]) + packed[at + 1 :]
    encoding = draw(st.sampled_from(["gzip", "x-gzip", "GZIP"]))
    if side == "request":
        headers = _with(base.request_headers, "Content-Encoding", encoding)
        return dataclasses.replace(
            base, mutation=f"request gzip {how}", request_headers=headers, request_body=body
        )
    headers = _with(base.response_headers, "Content-Encoding", encoding)
    return dataclasses.replace(
        base, mutation=f"response gzip {how}", response_headers=headers, response_body=body
    )


def hostile(cases: tuple[ProtocolCase, ...] = WIRE_CASES) -> st.SearchStrategy[Hostile]:
    """Any hostile exchange: mostly mutations of `cases`, plus swaps, lying binary tensors and bad gzip."""
    return st.one_of(mutated(cases), mutated(cases), swapped(), lying_binary(), bad_gzip())


PATH_OPTIONS: Final[tuple[dict[str, Any], ...]] = (
    {},
    {"inputs": "$", "outputs": "$"},
    {"inputs": "a[*].b", "outputs": "r[*]"},
    {"inputs": "instances[0]", "outputs": "predictions[-1]"},
    {"feature_names": ["x", "y"]},
)
"""Route options the hostile exchanges are read under (JSON paths only matter to `generic`)."""
_FORCEABLE: Final = frozenset(get_args(AdapterName))


def check_adapter(adapter: str, case: Hostile, options: CaptureOptions) -> list[Record]:
    """Run one adapter's own `extract` (it must not raise), then the capture boundary; check both results."""
    exchange = case.exchange()
    extraction = REGISTRY.get(adapter).extract(exchange, options)
    assert isinstance(extraction, Extraction)
    assert extraction.rows or extraction.error, "neither rows nor a reason"
    forced = options.model_copy(update={"adapter": adapter}) if adapter in _FORCEABLE else options
    records = to_records(exchange, forced)
    assert records
    assert [r.row for r in records] == list(range(len(records)))
    for record in records:
        # the boundary's catch-all (`capture failed: ...`) must not be what handled it
        assert not (record.error or "").startswith("capture failed"), record.error
        assert record.error is not None or record.features is not None or record.prediction is not None
        orjson.dumps([record.features, record.prediction, record.extra])  # the store can write it
    return records


@st.composite
def adapter_inputs(draw: st.DrawFn, adapter: str) -> tuple[Hostile, CaptureOptions]:
    """A hostile exchange (mutated from the adapter's own fixtures half of the time) and its route options."""
    own = tuple(c for c in WIRE_CASES if c.protocol == adapter) or WIRE_CASES
    case = draw(hostile(own) | hostile())
    options = draw(st.sampled_from(PATH_OPTIONS)) | case.options
    return case, CaptureOptions.model_validate(options)
