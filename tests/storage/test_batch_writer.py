"""BatchWriter on both backends: batching, shutdown, real outages, spool replay exactly once, exact counts."""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from storage.codec import to_row
from storage.engine import create_engine
from storage.records import Record
from storage.replay import replay_oldest
from storage.spool import Spool
from storage.store import RecordStore
from storage.writer import BatchWriter, WriterStats
from tests.storage.helpers import FaultyStore, make_records, outage, wait_until

FAST: dict[str, Any] = {"flush_interval": 0.02, "retry_initial": 0.02, "retry_max": 0.2}


def submit_all(writer: BatchWriter, batch: list[Record], chunk: int = 10) -> int:
    """Submit in request-sized chunks, as the capture pipeline does; return how many were taken."""
    chunks = [batch[i : i + chunk] for i in range(0, len(batch), chunk)]
    return sum(writer.submit(c, 100 * len(c)) for c in chunks)


def spool_with(directory: Path, batch: list[Record]) -> Path:
    """A spool directory holding one sealed segment with `batch`; return the segment's path."""
    with Spool(directory) as spool:
        spool.append(batch)
        (segment,) = spool.seal()
    return segment.path


async def stored(engine: AsyncEngine) -> int:
    return await RecordStore(engine).count()


async def test_batches_flush_by_size_and_by_interval(migrated_engine: AsyncEngine, tmp_path: Path) -> None:
    store = FaultyStore(RecordStore(migrated_engine))
    async with BatchWriter(store, Spool(tmp_path), batch_size=1000, **FAST) as writer:
        assert submit_all(writer, make_records(3)) == 3
        await wait_until(lambda: writer.stats().written == 3)  # fewer than a batch: flushed by the interval
        assert submit_all(writer, make_records(5000, start=3)) == 5000
        await wait_until(lambda: writer.stats().written == 5003)
    assert store.insert_sizes[0] == 3
    assert max(store.insert_sizes) == 1000
    assert await stored(migrated_engine) == 5003


async def test_close_flushes_everything_accepted(migrated_engine: AsyncEngine, tmp_path: Path) -> None:
    writer = BatchWriter(RecordStore(migrated_engine), Spool(tmp_path), batch_size=2000, **FAST)
    await writer.start()
    assert submit_all(writer, make_records(20_000), chunk=7) == 20_000
    await writer.close()
    stats = writer.stats()
    assert (stats.accepted, stats.written) == (20_000, 20_000)
    assert (stats.spooled, stats.dropped, stats.queue_records) == (0, 0, 0)
    assert await stored(migrated_engine) == 20_000
    assert writer.submit(make_records(1), 100) == 0  # after close
    assert writer.stats().dropped == 1


async def test_outage_spools_then_replays_when_the_store_is_back(
    migrated_engine: AsyncEngine, database_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="storage")
    engine = create_engine(database_url, busy_timeout_ms=100)
    try:
        writer = BatchWriter(RecordStore(engine), Spool(tmp_path), batch_size=500, **FAST)
        await writer.start()
        async with outage(migrated_engine):
            submit_all(writer, make_records(3000))
            await wait_until(lambda: writer.stats().spooled == 3000)
            assert writer.stats().store_up is False
            submit_all(writer, make_records(1000, start=3000))
            await wait_until(lambda: writer.stats().spooled == 4000)
        await wait_until(lambda: writer.stats().replayed == 4000)
        submit_all(writer, make_records(1000, start=4000))
        await writer.close()
    finally:
        await engine.dispose()
    stats = writer.stats()
    assert (stats.written, stats.replayed, stats.dropped) == (1000, 4000, 0)
    assert (stats.spool_bytes, stats.store_up) == (0, True)
    assert await stored(migrated_engine) == 5000
    assert sorted(r.request_id for r in await RecordStore(migrated_engine).recent(10_000)) == sorted(
        r.request_id for r in make_records(5000)
    )
    assert "req-" not in caplog.text  # no record content in logs


async def test_close_during_outage_spools_and_the_next_start_replays(
    migrated_engine: AsyncEngine, database_url: str, tmp_path: Path
) -> None:
    engine = create_engine(database_url, busy_timeout_ms=100)
    try:
        async with outage(migrated_engine):
            writer = BatchWriter(RecordStore(engine), Spool(tmp_path), **FAST)
            await writer.start()
            submit_all(writer, make_records(2500))
            await writer.close(timeout=10)
            assert (writer.stats().spooled, writer.stats().dropped) == (2500, 0)
        assert await stored(migrated_engine) == 0
        async with BatchWriter(RecordStore(engine), Spool(tmp_path), **FAST) as restarted:
            await wait_until(lambda: restarted.stats().replayed == 2500)
    finally:
        await engine.dispose()
    assert await stored(migrated_engine) == 2500


async def test_segment_committed_but_not_deleted_is_not_replayed_twice(
    migrated_engine: AsyncEngine, tmp_path: Path
) -> None:
    """A crash between a replay's commit and the segment's deletion leaves the file; not stored twice."""
    batch = make_records(300)
    path = spool_with(tmp_path, batch)
    store = RecordStore(migrated_engine)
    assert await store.insert_segment(path.stem, [to_row(r) for r in batch])  # committed; then it died
    async with BatchWriter(store, Spool(tmp_path), **FAST) as writer:
        await wait_until(lambda: not path.exists())
    assert (writer.stats().replayed, writer.stats().spool_bytes) == (0, 0)
    assert await stored(migrated_engine) == 300


async def test_connection_lost_after_replay_commit_is_retried_exactly_once(
    migrated_engine: AsyncEngine, tmp_path: Path
) -> None:
    path = spool_with(tmp_path, make_records(300))
    store = FaultyStore(RecordStore(migrated_engine))
    store.crash_after_commit = 1
    async with BatchWriter(store, Spool(tmp_path), **FAST) as writer:
        await wait_until(lambda: not path.exists())
        assert writer.stats().last_error == "injected loss of connection after commit"
    assert await stored(migrated_engine) == 300


async def test_torn_spool_tail_is_skipped_and_counted(migrated_engine: AsyncEngine, tmp_path: Path) -> None:
    path = spool_with(tmp_path, make_records(101))
    data = path.read_bytes()
    path.write_bytes(data[: data.rindex(b"\n", 0, -1) + 20])  # the last line cut short, as after kill -9
    async with BatchWriter(RecordStore(migrated_engine), Spool(tmp_path), **FAST) as writer:
        await wait_until(lambda: writer.stats().spool_bytes == 0)
    assert (writer.stats().replayed, writer.stats().spool_corrupt) == (100, 1)
    assert await stored(migrated_engine) == 100


@pytest.mark.parametrize("limit", ["records", "bytes"])
async def test_full_queue_spills_to_the_spool(
    migrated_engine: AsyncEngine, tmp_path: Path, limit: str
) -> None:
    bounds = {"max_queue_records": 100} if limit == "records" else {"max_queue_bytes": 10_000}
    async with BatchWriter(RecordStore(migrated_engine), Spool(tmp_path), **bounds, **FAST) as writer:
        assert submit_all(writer, make_records(1000)) == 1000  # 100 bytes per record: 100 fit either way
        stats = writer.stats()
        assert (stats.queue_records, stats.spooled, stats.dropped) == (100, 900, 0)
        await wait_until(lambda: writer.stats().replayed == 900)
    assert (writer.stats().written, writer.stats().accepted) == (100, 1000)
    assert await stored(migrated_engine) == 1000


async def test_close_replays_the_spool_while_the_store_is_up(
    migrated_engine: AsyncEngine, tmp_path: Path
) -> None:
    writer = BatchWriter(RecordStore(migrated_engine), Spool(tmp_path), max_queue_records=100, **FAST)
    await writer.start()
    assert submit_all(writer, make_records(3000)) == 3000
    await writer.close()
    assert (writer.stats().written, writer.stats().replayed, writer.stats().spool_bytes) == (100, 2900, 0)
    assert await stored(migrated_engine) == 3000


@pytest.mark.parametrize("spool_bytes", [20_000, None])
async def test_drops_are_counted_only_when_the_spool_is_full_too(
    migrated_engine: AsyncEngine, tmp_path: Path, spool_bytes: int | None
) -> None:
    spool = Spool(tmp_path, max_bytes=spool_bytes) if spool_bytes else None
    async with BatchWriter(RecordStore(migrated_engine), spool, max_queue_records=100, **FAST) as writer:
        accepted = submit_all(writer, make_records(1000))
        spooled = writer.stats().spooled
        assert accepted == 100 + spooled
        assert (spooled > 0) == (spool is not None)
        assert writer.stats().dropped == 1000 - accepted
        await wait_until(lambda: writer.stats().written + writer.stats().replayed == accepted)
    assert await stored(migrated_engine) == accepted


async def test_refused_record_is_isolated_and_the_rest_written(
    migrated_engine: AsyncEngine, tmp_path: Path
) -> None:
    batch = make_records(1000)
    batch[617] = dataclasses.replace(batch[617], row=2**64)  # no integer column takes this
    async with BatchWriter(RecordStore(migrated_engine), Spool(tmp_path), **FAST) as writer:
        submit_all(writer, batch)
    assert (writer.stats().written, writer.stats().rejected, writer.stats().store_up) == (999, 1, True)
    assert await stored(migrated_engine) == 999


async def test_unexpected_error_is_logged_and_nothing_is_lost(
    migrated_engine: AsyncEngine, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    store = FaultyStore(RecordStore(migrated_engine))
    store.raise_bug = 1
    async with BatchWriter(store, Spool(tmp_path), **FAST) as writer:
        submit_all(writer, make_records(100))
        await wait_until(lambda: writer.stats().written + writer.stats().replayed == 100)
    assert "unexpected error" in caplog.text
    assert "RuntimeError: injected bug" in caplog.text
    assert await stored(migrated_engine) == 100


async def test_stats_is_a_frozen_snapshot(migrated_engine: AsyncEngine) -> None:
    stats = BatchWriter(RecordStore(migrated_engine)).stats()
    assert stats == WriterStats(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, True, None)
    with pytest.raises(dataclasses.FrozenInstanceError):
        stats.accepted = 1  # type: ignore[misc]


async def test_replay_counts_records_before_they_leave_the_spool(
    migrated_engine: AsyncEngine, tmp_path: Path
) -> None:
    # /metrics reads the counters from a thread while a replay runs: at no moment may records be neither in
    # the spool's bytes nor counted as replayed (a drained-looking writer that had replayed nothing).
    with Spool(tmp_path / "spool") as spool:
        assert spool.append(make_records(300)) == 300
        spool.seal()
        seen: list[tuple[int, int]] = []
        outcome = await replay_oldest(
            spool, RecordStore(migrated_engine), lambda done: seen.append((done.replayed, spool.nbytes))
        )
        assert outcome is not None and outcome.replayed == 300
        assert len(seen) == 1 and seen[0][0] == 300 and seen[0][1] > 0  # counted while still spooled
        assert spool.nbytes == 0
    assert await stored(migrated_engine) == 300
