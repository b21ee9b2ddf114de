"""The writer's bookkeeping: mutable totals inside, a frozen `WriterStats` snapshot outside, log rate limits."""

from __future__ import annotations

import time
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class WriterStats:
    """A snapshot of the writer's totals since start, and its gauges.

    accepted: records `submit` took (queued or spooled); written: stored from the queue; spooled: written to
    the spool (queue full, store down, shutdown); replayed: stored from spool segments; dropped: lost because
    neither queue nor spool could take them (or shutdown ran out of time); rejected: refused by the database
    or the encoder, not retried; spool_corrupt: unreadable spool lines skipped during replay (a torn tail).
    queue_records / queue_bytes include batches being written.
    """

    accepted: int
    written: int
    spooled: int
    replayed: int
    dropped: int
    rejected: int
    spool_corrupt: int
    queue_records: int
    queue_bytes: int
    spool_bytes: int
    store_up: bool
    last_error: str | None


@dataclass(slots=True)
class Counters:
    """The totals, updated in place by the writer."""

    accepted: int = 0
    written: int = 0
    spooled: int = 0
    replayed: int = 0
    dropped: int = 0
    rejected: int = 0
    spool_corrupt: int = 0

    def snapshot(
        self, *, queue: tuple[int, int], spool: tuple[int, int], store_up: bool, last_error: str | None
    ) -> WriterStats:
        """Freeze the totals with the gauges: `queue` is (records, bytes), `spool` (bytes, records rejected)."""
        return WriterStats(
            accepted=self.accepted,
            written=self.written,
            spooled=self.spooled,
            replayed=self.replayed,
            dropped=self.dropped,
            rejected=self.rejected + spool[1],
            spool_corrupt=self.spool_corrupt,
            queue_records=queue[0],
            queue_bytes=queue[1],
            spool_bytes=spool[0],
            store_up=store_up,
            last_error=last_error,
        )


class RateLimit:
    """Lets a repeating warning through once per `interval` seconds per key."""

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self._last: dict[str, float] = {}

    def allow(self, key: str) -> bool:
        """True when a message under `key` may be logged now."""
        now = time.monotonic()
        if now - self._last.get(key, -float("inf")) < self.interval:
            return False
        self._last[key] = now
        return True
