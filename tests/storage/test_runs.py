"""Report runs: exactly-once claims across replicas, the run life cycle, listing, stale runs, retention."""

from __future__ import annotations

import asyncio
import gzip
import time

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from storage.engine import create_engine
from storage.errors import NotFound, RunStateError
from storage.records import Record
from storage.retention import delete_records_older_than
from storage.runs import RunStore
from storage.schema import records, report_runs
from storage.store import RecordStore
from tests.storage.helpers import make_records


async def _count(engine: AsyncEngine, table: object = report_runs) -> int:
    async with engine.connect() as conn:
        return int((await conn.execute(select(func.count()).select_from(table))).scalar_one())  # type: ignore[arg-type]


@pytest.mark.parametrize("reclaim", [False, True], ids=["claim", "reclaim"])
async def test_ten_replicas_race_for_one_window(
    database_url: str, migrated_engine: AsyncEngine, reclaim: bool
) -> None:
    """Ten replicas, each with its own engine, claim the same window at once: exactly one gets it."""
    if reclaim:  # the window's run failed before; every replica tries to take it over
        failed = await RunStore(migrated_engine).claim_run("m", 0.0, 60.0, "dead")
        assert failed is not None
        await RunStore(migrated_engine).fail_run(failed, "crashed")
    engines = [create_engine(database_url) for _ in range(10)]
    try:
        stores = [RunStore(e) for e in engines]
        for store in stores:  # connect first, so that the claims themselves overlap
            await store.list_runs(limit=1)
        results = await asyncio.gather(
            *(
                s.claim_run("m", 0.0, 60.0, f"replica-{i}", reclaim_failed=reclaim)
                for i, s in enumerate(stores)
            )
        )
    finally:
        for e in engines:
            await e.dispose()
    winners = [r for r in results if r is not None]
    assert len(winners) == 1, results
    assert await _count(migrated_engine) == 1
    run = await RunStore(migrated_engine).get_run(winners[0])
    assert (run.status, run.replica) == ("running", f"replica-{results.index(winners[0])}")


async def test_life_cycle(migrated_engine: AsyncEngine) -> None:
    store = RunStore(migrated_engine)
    run_id = await store.claim_run("m", 100.0, 160.0, "r1")
    assert run_id is not None
    assert await store.claim_run("m", 100.0, 160.0, "r2") is None  # taken, even by the same replica
    assert await store.claim_run("m", 100.0, 160.5, "r2") is not None  # another window
    assert await store.claim_run("other", 100.0, 160.0, "r2") is not None  # another monitor
    html = "<html><body>" + "drift " * 1000 + "</body></html>"
    summary = {"dataset_drift": True, "share": 0.25, "score": float("nan"), "columns": ["a", "b"]}
    await store.finish_run(run_id, summary, html, n_rows=1234, reference_version=3)
    run = await store.get_run(run_id)
    assert (run.status, run.n_rows, run.reference_version, run.error, run.has_html) == (
        "ok",
        1234,
        3,
        None,
        True,
    )
    assert run.summary == {"dataset_drift": True, "share": 0.25, "score": None, "columns": ["a", "b"]}
    assert run.finished_at is not None and run.finished_at >= run.claimed_at
    assert await store.get_html(run_id) == html.encode()
    async with migrated_engine.connect() as conn:
        stored = (
            await conn.execute(select(report_runs.c.html).where(report_runs.c.id == run_id))
        ).scalar_one()
    assert gzip.decompress(stored) == html.encode() and len(stored) < len(html) / 10
    with pytest.raises(RunStateError, match=f"report run {run_id} is ok, not running"):
        await store.fail_run(run_id, "too late")
    with pytest.raises(NotFound, match="no report run 999"):
        await store.finish_run(999, None, None, 0, None)
    with pytest.raises(NotFound):
        await store.get_run(999)
    with pytest.raises(NotFound):
        await store.get_html(999)


async def test_fail_skip_and_reclaim(migrated_engine: AsyncEngine) -> None:
    store = RunStore(migrated_engine)
    failing = await store.claim_run("m", 0.0, 1.0, "r1")
    skipping = await store.claim_run("m", 1.0, 2.0, "r1")
    assert failing is not None and skipping is not None
    await store.fail_run(failing, "boom\x00" + "x" * 5000)
    await store.skip_run(skipping, "3 rows, fewer than 100")
    failed, skipped = await store.get_run(failing), await store.get_run(skipping)
    assert (failed.status, failed.error is not None and failed.error[:5], len(failed.error or "")) == (
        "failed",
        "boom\ufffd",
        4000,
    )
    assert (skipped.status, skipped.error, skipped.has_html) == ("skipped", "3 rows, fewer than 100", False)
    assert await store.get_html(skipping) is None
    assert await store.claim_run("m", 0.0, 1.0, "r2") is None  # failed windows stay claimed by default
    assert await store.claim_run("m", 1.0, 2.0, "r2", reclaim_failed=True) is None  # skipped is final
    assert await store.claim_run("m", 0.0, 1.0, "r2", reclaim_failed=True) == failing
    retaken = await store.get_run(failing)
    assert (retaken.status, retaken.replica, retaken.error, retaken.finished_at) == (
        "running",
        "r2",
        None,
        None,
    )


@pytest.mark.parametrize(("start", "end"), [(1.0, 1.0), (2.0, 1.0), (float("nan"), 1.0), (0.0, float("inf"))])
async def test_claim_needs_a_window(migrated_engine: AsyncEngine, start: float, end: float) -> None:
    with pytest.raises(ValueError, match="finite start < end"):
        await RunStore(migrated_engine).claim_run("m", start, end, "r")


async def test_listing_newest_first(migrated_engine: AsyncEngine) -> None:
    store = RunStore(migrated_engine)
    ids = {}
    for end in (30.0, 10.0, 20.0):  # claimed out of window order
        run_id = await store.claim_run("m", end - 10, end, "r")
        assert run_id is not None
        ids[end] = run_id
    other = await store.claim_run("n", 0.0, 40.0, "r")
    assert other is not None
    await store.finish_run(ids[10.0], {}, "<p>", 1, 1)
    assert [r.window_end for r in await store.list_runs("m")] == [30.0, 20.0, 10.0]
    assert [r.id for r in await store.list_runs(limit=2)] == [other, ids[30.0]]
    assert [r.id for r in await store.list_runs("m", status="ok")] == [ids[10.0]]
    latest = await store.latest_run("m")
    assert latest is not None and latest.id == ids[30.0]
    latest_ok = await store.latest_run("m", status="ok")
    assert latest_ok is not None and (latest_ok.id, latest_ok.has_html) == (ids[10.0], True)
    assert await store.latest_run("nobody") is None


async def test_stale_runs_are_failed(migrated_engine: AsyncEngine) -> None:
    store = RunStore(migrated_engine)
    old = await store.claim_run("m", 0.0, 1.0, "dead")
    done = await store.claim_run("m", 1.0, 2.0, "alive")
    assert old is not None and done is not None
    await store.finish_run(done, {}, None, 0, None)
    async with migrated_engine.begin() as conn:  # both claimed an hour ago
        await conn.execute(report_runs.update().values(claimed_at=report_runs.c.claimed_at - 3600))
    fresh = await store.claim_run("m", 2.0, 3.0, "alive")
    assert fresh is not None
    assert await store.mark_stale_runs_failed(time.time() - 600) == 1
    stale = await store.get_run(old)
    assert (stale.status, stale.error) == ("failed", "abandoned: still running at the stale cutoff")
    assert (await store.get_run(done)).status == "ok"
    assert (await store.get_run(fresh)).status == "running"
    with pytest.raises(RunStateError, match="is failed, not running"):
        await store.finish_run(old, {}, None, 0, None)  # the dead replica came back too late


async def test_prune_runs_keeps_the_newest_and_running(migrated_engine: AsyncEngine) -> None:
    store = RunStore(migrated_engine)
    for i in range(6):
        run_id = await store.claim_run("m", float(i), i + 1.0, "r")
        assert run_id is not None
        if i != 1:  # the run of window 1 is still running
            await store.finish_run(run_id, {}, None, 0, None)
    await store.claim_run("other", 0.0, 1.0, "r")
    assert await store.prune_runs("m", keep_last=2) == 3  # windows 0, 2, 3 go; 4, 5 kept; 1 is running
    assert sorted(r.window_start for r in await store.list_runs("m")) == [1.0, 4.0, 5.0]
    assert await store.prune_runs("m", keep_last=0) == 2
    assert len(await store.list_runs("other")) == 1


async def test_delete_records_older_than(migrated_engine: AsyncEngine) -> None:
    batch: list[Record] = make_records(25, features=2)  # ts 1_700_000_000.000 .. .024
    await RecordStore(migrated_engine).insert(batch)
    cutoff = batch[17].ts
    assert await delete_records_older_than(migrated_engine, cutoff, batch_size=4) == 17
    assert await _count(migrated_engine, records) == 8
    oldest_left = (await RecordStore(migrated_engine).recent())[-1]
    assert oldest_left.request_id == "req-17"
    assert await delete_records_older_than(migrated_engine, cutoff) == 0
    with pytest.raises(ValueError, match="batch_size"):
        await delete_records_older_than(migrated_engine, cutoff, batch_size=0)
