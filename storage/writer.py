"""`BatchWriter`: takes records without waiting, stores them in batches, spools them when it cannot.

Flow: `submit` puts records in a bounded in-memory queue (or, when it is full, straight into the spool).
One drain task writes the queue in batches, up to `concurrency` at once (PostgreSQL's server work then runs
on several cores). When the store fails it is marked down: the queue is moved to the spool, and the store
is probed with exponential backoff and jitter; once it answers, the spool is replayed segment by segment,
each exactly once. `close` writes the queue (or spools it when the store is down), so nothing accepted is
lost on shutdown. A batch the database refuses is split in halves until the refused records are isolated;
those are counted as `rejected` and not retried.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Self

from storage.buffer import RecordBuffer
from storage.errors import RecordsRejected, SpoolError, StorageError
from storage.records import Record
from storage.replay import Replayed, replay_oldest
from storage.spool import Spool
from storage.stats import Counters, RateLimit, WriterStats
from storage.store import RecordSink

__all__ = ["BatchWriter", "WriterStats"]

logger = logging.getLogger(__name__)


@dataclass(slots=True)
class _Flight:
    """A batch taken from the queue; `done` records of its head are stored or rejected."""

    batch: list[Record]
    nbytes: int
    done: int = field(default=0)


class BatchWriter:
    """The batching writer; use `async with BatchWriter(store, spool) as writer:` or `start()` / `close()`."""

    def __init__(
        self,
        store: RecordSink,
        spool: Spool | None = None,
        *,
        max_queue_records: int = 100_000,
        max_queue_bytes: int = 64 << 20,
        batch_size: int = 5_000,
        concurrency: int | None = None,
        flush_interval: float = 0.5,
        retry_initial: float = 0.5,
        retry_max: float = 30.0,
        retry_jitter: float = 0.5,
        log_interval: float = 10.0,
    ) -> None:
        concurrency = store.write_concurrency if concurrency is None else concurrency
        if min(max_queue_records, max_queue_bytes, batch_size, concurrency) < 1:
            raise ValueError("max_queue_records, max_queue_bytes, batch_size and concurrency must be >= 1")
        if flush_interval <= 0 or not 0 < retry_initial <= retry_max or not 0 <= retry_jitter <= 1:
            raise ValueError("need flush_interval > 0, 0 < retry_initial <= retry_max, 0 <= retry_jitter <=1")
        self._store, self._spool = store, spool
        self._max_records, self._max_bytes = max_queue_records, max_queue_bytes
        self._batch_size, self._concurrency, self._flush_interval = batch_size, concurrency, flush_interval
        self._retry_initial, self._retry_max, self._retry_jitter = retry_initial, retry_max, retry_jitter
        self._buffer = RecordBuffer()
        self._in_flight: list[_Flight] = []
        self._wakeup, self._closing = asyncio.Event(), asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._closed, self._store_up, self._attempts = False, True, 0
        self._last_error: str | None = None
        self._n = Counters()
        self._unlogged_drops = 0
        self._may_log = RateLimit(log_interval).allow

    def _queued(self) -> tuple[int, int]:
        """Records and bytes held in memory: the queue plus the batches being written."""
        flying = self._in_flight
        return (
            self._buffer.records + sum(len(f.batch) - f.done for f in flying),
            self._buffer.nbytes + sum(f.nbytes for f in flying),
        )

    def stats(self) -> WriterStats:
        """Current counters and gauges."""
        return self._n.snapshot(
            queue=self._queued(),
            spool=(self._spool.nbytes, self._spool.rejected) if self._spool else (0, 0),
            store_up=self._store_up,
            last_error=self._last_error,
        )

    async def start(self) -> None:
        """Open the spool (what a previous run left there is replayed) and start the drain task."""
        if self._task is not None or self._closed:
            return
        if self._spool is not None:
            await asyncio.to_thread(self._spool.open)
        self._task = asyncio.create_task(self._run(), name="driftcar-record-writer")

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    def submit(self, batch: Sequence[Record], nbytes: int) -> int:
        """Queue records without waiting, spilling what doesn't fit to the spool; return how many it took."""
        n = len(batch)
        if self._closed:
            self._drop(n, "writer closed")
            return 0
        nbytes = max(nbytes, 0)
        queued, queued_bytes = self._queued()
        room = min(
            self._max_records - queued, (self._max_bytes - queued_bytes) * n // nbytes if nbytes else n
        )
        fit = max(0, min(n, room))
        if fit:
            was_empty = self._buffer.records == 0
            self._buffer.push(batch if fit == n else batch[:fit], nbytes if fit == n else nbytes * fit // n)
            if was_empty or self._buffer.records >= self._batch_size:
                self._wakeup.set()
        spooled = self._spill(batch[fit:]) if fit < n else 0
        self._drop(n - fit - spooled, "queue and spool full")
        self._n.accepted += fit + spooled
        return fit + spooled

    def _spill(self, batch: Sequence[Record]) -> int:
        """Append to the spool on the calling thread; return how many it took (0 without a usable spool)."""
        if self._spool is None or not batch:
            return 0
        try:
            taken = self._spool.append(batch)
        except SpoolError as exc:
            self._last_error = str(exc)
            if self._may_log("spool"):
                logger.warning("record spool: %s", exc)
            return 0
        self._n.spooled += taken
        return taken

    def _drop(self, count: int, reason: str) -> None:
        if count <= 0:
            return
        self._n.dropped += count
        self._unlogged_drops += count
        if self._may_log("drop"):
            logger.warning(
                "dropped %d records (%s); %d so far", self._unlogged_drops, reason, self._n.dropped
            )
            self._unlogged_drops = 0

    async def close(self, timeout: float = 10.0) -> None:
        """Store the queue (or spool it if the store is down), replay the spool until `timeout`, stop."""
        if self._closed:
            return
        self._closing.set()
        self._wakeup.set()
        if self._task is not None:
            try:
                await asyncio.wait_for(self._task, timeout)
            except TimeoutError:
                logger.warning("record writer: not drained within %.1fs; spooling the rest", timeout)
        self._closed = True
        # Batches cut off mid-write go to the spool too: stored twice if their commit had gone through.
        leftover = [r for f in self._in_flight for r in f.batch[f.done :]]
        leftover += self._buffer.take(self._buffer.records)[0]
        self._in_flight = []
        self._drop(len(leftover) - self._spill(leftover), "shutdown with the store down and the spool full")
        if self._n.dropped:
            logger.error("record writer closed; %d records were dropped in total", self._n.dropped)
        if self._spool is not None:
            await asyncio.to_thread(self._spool.close)

    async def _run(self) -> None:
        while not (self._closing.is_set() and self._buffer.records == 0 and not self._replayable()):
            try:
                if self._store_up:
                    await self._step()
                else:
                    await self._recover()
            except Exception as exc:  # the loop boundary: a bug here must not stop capture
                if not isinstance(exc, StorageError):
                    logger.exception("record writer: unexpected error; treating the store as down")
                was_up = self._store_up
                self._mark_down(exc)
                if not was_up:
                    await asyncio.sleep(self._retry_initial)  # failing while down (spool trouble): don't spin

    async def _step(self) -> None:
        """Store up: replay the spool while the queue is short (when closing: empty), else write batches."""
        short = self._buffer.records < (1 if self._closing.is_set() else self._batch_size)
        if short and self._replayable() and await self._replay_one():
            return
        await self._wait_for_batch()
        batches = -(-self._buffer.records // self._batch_size)
        flights = [
            _Flight(*self._buffer.take(self._batch_size)) for _ in range(min(batches, self._concurrency))
        ]
        self._in_flight = flights
        results = await asyncio.gather(*(self._write(f, f.batch) for f in flights), return_exceptions=True)
        self._in_flight = []
        for flight in reversed(flights):  # what was not stored goes back to the head, in order
            share = flight.nbytes * (len(flight.batch) - flight.done) // max(len(flight.batch), 1)
            self._buffer.push_front(flight.batch[flight.done :], share)
        errors = [r for r in results if isinstance(r, BaseException)]
        if errors:
            raise errors[0]

    async def _wait_for_batch(self) -> None:
        if self._buffer.records == 0 and not self._closing.is_set():
            self._wakeup.clear()
            await self._wakeup.wait()
        if self._buffer.records < self._batch_size and not self._closing.is_set():
            self._wakeup.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wakeup.wait(), self._flush_interval)

    async def _write(self, flight: _Flight, batch: list[Record]) -> None:
        """Insert `batch` (the next part of `flight`); on rejection bisect it to isolate the refused records."""
        try:
            await self._store.insert(batch)
        except RecordsRejected as exc:
            if len(batch) > 1:
                middle = len(batch) // 2
                await self._write(flight, batch[:middle])
                await self._write(flight, batch[middle:])
                return
            self._n.rejected += 1
            self._last_error = str(exc)
            if self._may_log("reject"):
                logger.warning("record of request %s refused by the store: %s", batch[0].request_id, exc)
        else:
            self._n.written += len(batch)
        flight.done += len(batch)

    def _replayable(self) -> bool:
        return self._store_up and self._spool is not None and self._spool.nbytes > 0

    async def _replay_one(self) -> bool:
        """Replay the oldest spool segment exactly once; False when there was none."""
        assert self._spool is not None
        return await replay_oldest(self._spool, self._store, self._count_replayed) is not None

    def _count_replayed(self, outcome: Replayed) -> None:
        self._n.replayed += outcome.replayed
        self._n.spool_corrupt += outcome.corrupt
        self._n.rejected += outcome.rejected

    async def _recover(self) -> None:
        """Store down: move the queue to the spool, wait out the backoff, then probe the store."""
        while self._buffer.records:
            chunk, nbytes = self._buffer.take(self._batch_size)
            taken = self._spill(chunk)
            if taken < len(chunk):  # spool full or unusable: the rest waits in the queue
                self._buffer.push_front(chunk[taken:], nbytes * (len(chunk) - taken) // len(chunk))
                break
            await asyncio.sleep(0)  # spooling encodes on the loop; let requests through between chunks
        if self._spool is not None and self._spool.has_unsealed:
            await asyncio.to_thread(self._spool.seal)
        if self._closing.is_set() and self._buffer.records == 0:
            return
        delay = min(self._retry_max, self._retry_initial * 2 ** min(self._attempts, 32))
        delay *= 1 - self._retry_jitter * random.random()
        if self._closing.is_set():
            await asyncio.sleep(delay)
        else:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._closing.wait(), delay)
            if self._closing.is_set():
                return  # spool what arrived meanwhile, then stop
        try:
            await self._store.ping()
        except StorageError as exc:
            self._attempts += 1
            self._last_error = str(exc)
            logger.debug("record store still unavailable (attempt %d): %s", self._attempts, exc)
            return
        logger.info("record store is back after %d failed probes; replaying the spool", self._attempts)
        self._store_up, self._attempts = True, 0

    def _mark_down(self, exc: BaseException) -> None:
        if self._store_up:
            logger.warning("record store unavailable, spooling until it is back: %s", exc)
        self._store_up = False
        self._last_error = str(exc) or type(exc).__name__
