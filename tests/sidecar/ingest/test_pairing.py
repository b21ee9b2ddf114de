"""The pairing buffer on a fake clock: either order, TTL, duplicates, late events, bounds, drain."""

from __future__ import annotations

import pytest
from multidict import CIMultiDict, CIMultiDictProxy

from sidecar.ingest.cloudevents import InferenceEvent, parse_binary
from sidecar.ingest.exchange import to_exchange
from sidecar.ingest.pairing import PairingBuffer
from sidecar.ingest.shared import from_stored, to_stored
from tests.sidecar.ingest.events import V1_PAIR, V2_PAIR, Event


def parsed(ev: Event, event_id: str | None = None) -> InferenceEvent:
    headers = dict(ev.headers)
    if event_id is not None:
        headers["Ce-Id"] = event_id
    return parse_binary(CIMultiDictProxy(CIMultiDict(headers)), ev.body)


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def buffer(clock: Clock, max_pending: int = 10, max_bytes: int = 1 << 20) -> PairingBuffer:
    return PairingBuffer(10.0, max_pending, max_bytes, clock=clock, wall=lambda: 1000.0 + clock.now)


@pytest.mark.parametrize("response_first", [False, True])
def test_either_order_pairs(response_first: bool) -> None:
    pairs = PairingBuffer(10.0, 10, 1 << 20)
    request, response = parsed(V2_PAIR[0]), parsed(V2_PAIR[1])
    first, second = (response, request) if response_first else (request, response)
    assert pairs.add(first) == ("pending", None)
    outcome, pair = pairs.add(second)
    assert outcome == "paired" and pair is not None
    assert (pair.request, pair.response, pair.error) == (request, response, None)
    assert pairs.depth() == (0, 0)
    exchange, protocol = to_exchange(pair)
    assert protocol == "kserve_v2" and exchange.path == "/v2/models/sklearn-iris/infer"
    assert exchange.request_id == "9a3e55b0-v2" and exchange.status == 200
    assert exchange.latency_ms == pytest.approx(20.0, abs=0.01)


def test_ttl_duplicates_and_late_events() -> None:
    clock = Clock()
    pairs = buffer(clock)
    request = parsed(V1_PAIR[0])
    assert pairs.add(request)[0] == "pending"
    assert pairs.add(request)[0] == "duplicate"
    clock.now = 9.9
    assert pairs.expire() == []
    clock.now = 10.0
    (alone,) = pairs.expire()
    assert alone.request == request and alone.response is None and alone.error == "no response logged"
    assert alone.received == 1000.0
    assert pairs.add(parsed(V1_PAIR[1]))[0] == "late"  # its request was recorded alone already
    clock.now = 20.0
    assert pairs.add(parsed(V1_PAIR[1]))[0] == "pending"  # forgotten after another TTL
    (orphan,) = pairs.drain()
    assert orphan.request is None and orphan.error == "no request logged"


def test_bounds_refuse_new_ids_but_complete_pairs() -> None:
    clock = Clock()
    request = parsed(V1_PAIR[0])
    pairs = buffer(clock, max_pending=1)
    assert pairs.add(request)[0] == "pending"
    assert pairs.add(parsed(V2_PAIR[0]))[0] == "full"
    assert pairs.add(parsed(V1_PAIR[1]))[0] == "paired"
    by_bytes = buffer(clock, max_bytes=len(request.body))
    assert by_bytes.add(request)[0] == "pending" and by_bytes.depth() == (1, len(request.body))
    assert by_bytes.add(parsed(V1_PAIR[0], "another"))[0] == "full"


def test_keys_include_the_service_and_component() -> None:
    pairs = PairingBuffer(10.0, 10, 1 << 20)
    request = V1_PAIR[0]
    other = Event({**request.headers, "Ce-Component": "transformer"}, request.body)
    assert pairs.add(parsed(request))[0] == "pending"
    assert pairs.add(parsed(other))[0] == "pending"
    assert pairs.depth()[0] == 2


def test_invalid_settings() -> None:
    with pytest.raises(ValueError, match="ttl > 0"):
        PairingBuffer(0, 1, 1)


def test_knows_waiting_and_recently_finished_keys() -> None:
    clock = Clock()
    pairs = buffer(clock)
    request, response = parsed(V1_PAIR[0]), parsed(V1_PAIR[1])
    assert not pairs.knows(request.key)
    pairs.add(request)
    assert pairs.knows(request.key) and pairs.knows(response.key)
    pairs.add(response)
    assert pairs.knows(request.key)  # finished: a repeat is late here
    clock.now = 10.0
    pairs.expire()
    assert not pairs.knows(request.key)


def test_a_stored_event_round_trips() -> None:
    event = parsed(V2_PAIR[1])
    stored = to_stored(event, 1234.5)
    assert (stored.event_id, stored.received) == (event.id, 1234.5)
    assert from_stored(stored) == event
