"""A pair of KServe logger events as the `Exchange` the proxy would have captured for the same inference.

The events carry no path, so the path is the one the protocol uses for the service: V2 (Open Inference
Protocol) when a body has tensors (`"datatype"`), `/v2/models/{service}/infer`; else V1,
`/v1/models/{service}:predict`. Capture then labels the records `kserve_v2` or `kserve_v1` with the route
template, the service name as the model and the event id as the request id. Time: the request event's
`ce-time` (else the response's, else when the first event arrived); latency: the difference of the two `ce-time`s (the agent
stamps each event when it sends it), 0 when either is missing. Status: the response's `ce-statuscode`, else
200 (without `logAllResponses` KServe logs responses only for 200 answers); 0 (unknown) without a response.
"""

from __future__ import annotations

from typing import Final, Literal

from multidict import CIMultiDict, CIMultiDictProxy

from sidecar.capture.base import Exchange
from sidecar.ingest.cloudevents import InferenceEvent
from sidecar.ingest.pairing import Pair

Protocol = Literal["kserve_v1", "kserve_v2"]

UNKNOWN_STATUS: Final = 0
_TENSOR: Final = b'"datatype"'


def protocol_of(pair: Pair) -> Protocol:
    """`kserve_v2` when either body carries Open Inference Protocol tensors, else `kserve_v1`."""
    for event in (pair.request, pair.response):
        if event is not None and _TENSOR in event.body:
            return "kserve_v2"
    return "kserve_v1"


def path_of(service: str, protocol: Protocol) -> str:
    """The path a client would have called on the service for this protocol."""
    if protocol == "kserve_v2":
        return f"/v2/models/{service}/infer"
    return f"/v1/models/{service}:predict"


def to_exchange(pair: Pair) -> tuple[Exchange, Protocol]:
    """The exchange for a pair (complete or not), and the protocol to read it with."""
    first = pair.request or pair.response
    assert first is not None, "a pair has at least one event"
    protocol = protocol_of(pair)
    request, response = pair.request, pair.response
    ts = next((e.time for e in (request, response) if e is not None and e.time is not None), pair.received)
    latency_ms = 0.0
    if (
        request is not None
        and response is not None
        and request.time is not None
        and response.time is not None
    ):
        latency_ms = max(0.0, (response.time - request.time) * 1000.0)
    exchange = Exchange(
        method="POST",
        path=path_of(first.service, protocol),
        query="",
        request_headers=_headers(request),
        request_body=request.body if request is not None else None,
        status=_status(response),
        response_headers=_headers(response),
        response_body=response.body if response is not None else None,
        request_id=first.id,
        ts=ts,
        latency_ms=latency_ms,
        error=pair.error,
    )
    return exchange, protocol


def _status(response: InferenceEvent | None) -> int:
    if response is None:
        return UNKNOWN_STATUS
    return response.status if response.status is not None else 200


def _headers(event: InferenceEvent | None) -> CIMultiDictProxy[str]:
    headers: CIMultiDict[str] = CIMultiDict()
    if event is not None and event.content_type:
        headers["Content-Type"] = event.content_type
    return CIMultiDictProxy(headers)
