"""The window load's pipeline: the next chunk is fetched while the previous one is parsed, errors still end it.

`_pipelined` is exercised with plain async callables (to control the order of events), then `load_window` on
both backends with an error raised while parsing a later chunk.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import pandas as pd
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.pool import QueuePool

from storage import windows
from storage.columns import ColumnBuilder
from storage.errors import StoreUnavailable
from storage.feedback import FeedbackItem, FeedbackStore
from storage.store import RecordStore
from storage.windows import _pipelined, load_window
from tests.storage.test_windows import T0, rec

BOUND = 30.0
"""Longest wait for an event that should come at once: a broken pipeline fails instead of hanging."""


class Source:
    """Chunks [0, 1], [2, 3], ...; `fail_at` makes that fetch (0-based) fail, `hold_at` makes it wait."""

    def __init__(self, chunks: int, *, fail_at: int | None = None, hold_at: int | None = None) -> None:
        self.chunks = chunks
        self.fail_at, self.hold_at = fail_at, hold_at
        self.calls = 0
        self.in_flight = 0
        self.most_in_flight = 0
        self.started = [asyncio.Event() for _ in range(chunks + 1)]
        self.cancelled = False
        self.finished = asyncio.Event()

    async def fetch(self) -> Sequence[Any]:
        n = self.calls
        self.calls += 1
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        self.started[n].set()
        try:
            if n == self.hold_at:
                await asyncio.sleep(BOUND * 2)  # only ever cancelled
            await asyncio.sleep(0)
            if n == self.fail_at:
                raise ConnectionResetError("the server went away")
            return [2 * n, 2 * n + 1] if n < self.chunks else []
        except asyncio.CancelledError:
            self.cancelled = True
            raise
        finally:
            self.in_flight -= 1
            if n == self.hold_at:
                self.finished.set()


async def test_the_next_chunk_is_fetched_while_one_is_consumed() -> None:
    source = Source(4)
    seen: list[int] = []
    consumed = 0

    async def consume(rows: Sequence[Any]) -> None:
        nonlocal consumed
        # Chunk k's consumer waits for fetch k + 1 to have started: a sequential loop would never get there.
        await asyncio.wait_for(source.started[consumed + 1].wait(), BOUND)
        consumed += 1
        seen.extend(rows)

    await asyncio.wait_for(_pipelined(source.fetch, consume), BOUND)
    assert seen == list(range(8))
    assert source.calls == 5 and source.most_in_flight == 1  # one fetch at a time, the empty one ends it


async def test_a_failing_fetch_ends_the_load_with_a_storage_error() -> None:
    source = Source(5, fail_at=2)
    seen: list[int] = []

    async def consume(rows: Sequence[Any]) -> None:
        seen.extend(rows)

    with pytest.raises(StoreUnavailable) as caught:
        await asyncio.wait_for(_pipelined(source.fetch, consume), BOUND)
    assert isinstance(caught.value.__cause__, ConnectionResetError)
    assert seen == [0, 1, 2, 3] and source.calls == 3


async def test_a_failing_consumer_cancels_the_fetch_in_flight_first() -> None:
    source = Source(5, hold_at=2)

    async def consume(rows: Sequence[Any]) -> None:
        if rows[0] == 2:
            await asyncio.wait_for(source.started[2].wait(), BOUND)
            raise ValueError("bad chunk")

    with pytest.raises(ValueError, match="bad chunk"):
        await asyncio.wait_for(_pipelined(source.fetch, consume), BOUND)
    # By the time the error arrives, the fetch in flight was cancelled and has finished: the connection is idle.
    assert source.cancelled and source.finished.is_set() and source.in_flight == 0
    assert source.calls == 3


async def test_a_cancelled_load_cancels_the_fetch_in_flight() -> None:
    source = Source(5, hold_at=1)
    consumed = asyncio.Event()

    async def consume(rows: Sequence[Any]) -> None:
        consumed.set()

    task = asyncio.ensure_future(_pipelined(source.fetch, consume))
    await asyncio.wait_for(source.started[1].wait(), BOUND)
    await asyncio.wait_for(consumed.wait(), BOUND)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(task, BOUND)
    assert source.cancelled and source.finished.is_set() and source.in_flight == 0


async def test_an_error_in_a_later_chunk_propagates_and_frees_the_connection(
    migrated_engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A parsing error in the third chunk ends the load; the engine then loads the same frame as before."""
    await RecordStore(migrated_engine).insert(
        [rec(i, {"a": i * 0.5, "b": f"s{i % 3}"}, [0.1 * (i % 4), 0.5]) for i in range(23)]
    )
    await FeedbackStore(migrated_engine).add_feedback([FeedbackItem(f"r{i}", i % 2) for i in range(0, 23, 3)])
    whole = await load_window(migrated_engine, model="m")
    monkeypatch.setattr(windows, "CHUNK_ROWS", 4)
    chunked = await load_window(migrated_engine, model="m")
    pd.testing.assert_frame_equal(chunked, whole)  # six chunks through the pipeline, one frame
    newest = await load_window(migrated_engine, model="m", last_n=10)
    pd.testing.assert_frame_equal(newest, whole.tail(10).reset_index(drop=True))

    real_add = ColumnBuilder.add
    calls: list[int] = []

    def failing_add(self: ColumnBuilder, rows: Sequence[Any]) -> None:
        calls.append(len(rows))
        if len(calls) == 3:
            raise ValueError("chunk 3 is bad")
        real_add(self, rows)

    monkeypatch.setattr(ColumnBuilder, "add", failing_add)
    with pytest.raises(ValueError, match="chunk 3 is bad"):
        await asyncio.wait_for(load_window(migrated_engine, model="m"), BOUND)
    assert calls == [4, 4, 4]
    pool = migrated_engine.pool
    assert isinstance(pool, QueuePool) and pool.checkedout() == 0  # the connection went back
    monkeypatch.setattr(ColumnBuilder, "add", real_add)
    again = await asyncio.wait_for(load_window(migrated_engine, model="m", start=T0), BOUND)
    pd.testing.assert_frame_equal(again, whole)
