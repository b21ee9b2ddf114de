"""Pairing KServe's request and response events by id: bounded in count and bytes, with a time to live.

The two events of one inference arrive as separate POSTs, in either order, possibly from different pods.
The first waits here; its partner completes the pair. An event alone for `ttl` seconds leaves as an unpaired
`Pair` (recorded with `no response logged` or `no request logged`: KServe logs no response for a non-200
answer). The ids of finished pairs are remembered for `ttl` (bounded like the buffer), so a repeated or late
event is counted and ignored instead of becoming a second record. When the buffer is full an event that
would open a new entry is refused; events completing a waiting entry are always taken.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from sidecar.ingest.cloudevents import InferenceEvent

Key = tuple[str, str, str, str]
Outcome = Literal["paired", "pending", "duplicate", "late", "full"]

NO_RESPONSE = "no response logged"
NO_REQUEST = "no request logged"


@dataclass(frozen=True, slots=True)
class Pair:
    """A request and its response (either may be missing after the TTL), ready to become an exchange."""

    request: InferenceEvent | None
    response: InferenceEvent | None
    received: float
    """Wall-clock time the first of the two events arrived."""

    @property
    def error(self) -> str | None:
        """Why the pair is incomplete, if it is."""
        if self.response is None:
            return NO_RESPONSE
        if self.request is None:
            return NO_REQUEST
        return None


@dataclass(slots=True)
class _Pending:
    event: InferenceEvent
    since: float
    received: float


class PairingBuffer:
    """Holds the first event of each pair until its partner arrives or `ttl` passes."""

    def __init__(
        self,
        ttl: float,
        max_pending: int,
        max_bytes: int,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
    ) -> None:
        if ttl <= 0 or max_pending < 1 or max_bytes < 1:
            raise ValueError("need ttl > 0, max_pending >= 1 and max_bytes >= 1")
        self._ttl, self._max, self._max_bytes = ttl, max_pending, max_bytes
        self._clock, self._wall = clock, wall
        self._pending: OrderedDict[Key, _Pending] = OrderedDict()
        self._finished: OrderedDict[Key, float] = OrderedDict()
        self._bytes = 0

    def depth(self) -> tuple[int, int]:
        """Events waiting for their partner, and their body bytes."""
        return len(self._pending), self._bytes

    def knows(self, key: Key) -> bool:
        """Whether an event of this key waits here or its pair finished here within the TTL."""
        return key in self._pending or key in self._finished

    def add(self, event: InferenceEvent) -> tuple[Outcome, Pair | None]:
        """Take one event: the completed pair when its partner was waiting, else None with the outcome."""
        now = self._clock()
        self._forget_finished(now)
        key = event.key
        waiting = self._pending.get(key)
        if waiting is not None:
            if waiting.event.kind == event.kind:
                return "duplicate", None
            del self._pending[key]
            self._bytes -= len(waiting.event.body)
            self._finish(key, now)
            request, response = (waiting.event, event) if event.kind == "response" else (event, waiting.event)
            return "paired", Pair(request, response, waiting.received)
        if key in self._finished:
            return "late", None
        if len(self._pending) >= self._max or self._bytes + len(event.body) > self._max_bytes:
            return "full", None
        self._pending[key] = _Pending(event, now, self._wall())
        self._bytes += len(event.body)
        return "pending", None

    def expire(self) -> list[Pair]:
        """Remove and return the entries that waited longer than the TTL, oldest first."""
        now = self._clock()
        self._forget_finished(now)
        out: list[Pair] = []
        while self._pending:
            key, waiting = next(iter(self._pending.items()))
            if now - waiting.since < self._ttl:
                break
            out.append(self._unpaired(key, waiting, now))
        return out

    def drain(self) -> list[Pair]:
        """Remove and return every waiting entry (at shutdown: nothing accepted is lost)."""
        now = self._clock()
        return [self._unpaired(key, waiting, now) for key, waiting in list(self._pending.items())]

    def _unpaired(self, key: Key, waiting: _Pending, now: float) -> Pair:
        del self._pending[key]
        self._bytes -= len(waiting.event.body)
        self._finish(key, now)
        event = waiting.event
        if event.kind == "request":
            return Pair(event, None, waiting.received)
        return Pair(None, event, waiting.received)

    def _finish(self, key: Key, now: float) -> None:
        self._finished[key] = now
        self._finished.move_to_end(key)
        while len(self._finished) > self._max:
            self._finished.popitem(last=False)

    def _forget_finished(self, now: float) -> None:
        while self._finished:
            key, since = next(iter(self._finished.items()))
            if now - since < self._ttl:
                break
            del self._finished[key]
