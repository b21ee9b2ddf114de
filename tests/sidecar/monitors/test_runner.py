"""MonitorRunner against real databases: claims, windows, the default reference, labels, failures, recovery."""

from __future__ import annotations

import asyncio
import os
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from sidecar.monitors.config import MonitorConfig
from sidecar.monitors.runner import MonitorRunner, ReportPool
from sidecar.reports.summary import ReportSummary
from storage.feedback import FeedbackStore
from storage.records import Record
from storage.store import RecordStore
from tests.storage.helpers import predict_records

T0 = 1_790_000_000.0
N = 300


def _records(
    n: int, start_ts: float, *, shift: float = 0.0, seed: int = 0, prefix: str = "r"
) -> list[Record]:
    """One record per second from `start_ts`; `shift` moves `x0` and makes `c` mostly `b`."""
    rng = np.random.default_rng(seed)
    rows = [
        (
            {
                "x0": float(rng.normal(shift * 2)),
                "x1": float(rng.normal()),
                "c": "b" if shift and i % 4 else str(rng.choice(["a", "b"])),
            },
            int(rng.integers(0, 2)),
        )
        for i in range(n)
    ]
    return predict_records(start_ts, rows, id_prefix=prefix)


def _monitor(**overrides: Any) -> MonitorConfig:
    values: dict[str, Any] = {
        "name": "m",
        "window": {"minutes": N / 60},
        "schedule": {"every": 60},
        "reference": {"first_n": N},
        "min_rows": 50,
        "column_types": {"c": "categorical"},
    }
    return MonitorConfig.model_validate(values | overrides)


@pytest.fixture
async def filled(migrated_engine: AsyncEngine) -> AsyncEngine:
    """N baseline records from T0, then N shifted ones from T0 + N."""
    store = RecordStore(migrated_engine)
    await store.insert(_records(N, T0, seed=1, prefix="base"))
    await store.insert(_records(N, T0 + N, shift=1.0, seed=2, prefix="new"))
    return migrated_engine


async def test_time_window_with_the_default_reference(filled: AsyncEngine) -> None:
    runner = MonitorRunner(filled, replica="test")
    monitor = _monitor()
    outcome = await runner.run(monitor, T0 + 2 * N)
    assert outcome.status == "ok", outcome.error
    run = outcome.run
    assert run is not None and run.status == "ok" and run.n_rows == N and run.has_html
    assert (run.window_start, run.window_end) == (T0 + N, T0 + 2 * N)
    summary = outcome.summary
    assert summary is not None
    assert summary.reference.source == "first_n" and summary.reference.rows == N
    assert {f.column for f in summary.flags_of("column_drift")} == {"x0", "c"}
    assert ReportSummary.from_json(__import__("json").dumps(run.summary)) == summary
    refs = await runner.references.list_references("m")
    assert [(r.version, r.source, r.n_rows) for r in refs] == [(1, "first_n", N)]
    # The same window again: claimed already, and the existing run is named.
    again = await runner.run(monitor, T0 + 2 * N)
    assert again.status == "claimed" and again.run is not None and again.run.id == run.id
    # The baseline window against the same (default) reference: nothing drifts; the reference is reused.
    baseline = await runner.run(monitor, T0 + N)
    assert baseline.status == "ok" and baseline.summary is not None
    assert baseline.summary.flags_of("column_drift") == ()
    assert len(await runner.references.list_references("m")) == 1


async def test_count_window_reports_the_span_of_its_records(filled: AsyncEngine) -> None:
    runner = MonitorRunner(filled, replica="test")
    monitor = _monitor(window={"records": 100})
    outcome = await runner.run(monitor, T0 + 2 * N)
    assert outcome.status == "ok" and outcome.summary is not None and outcome.run is not None
    assert outcome.run.n_rows == 100
    # Claimed as the schedule period ending at the tick; the report shows the records' own span.
    assert (outcome.run.window_start, outcome.run.window_end) == (T0 + 2 * N - 60, T0 + 2 * N)
    assert outcome.summary.window_start == T0 + 2 * N - 100
    assert outcome.summary.window_end == T0 + 2 * N - 1


async def test_no_reference_and_too_few_records_skips_with_the_reason(migrated_engine: AsyncEngine) -> None:
    await RecordStore(migrated_engine).insert(_records(40, T0))
    runner = MonitorRunner(migrated_engine, replica="test")
    outcome = await runner.run(_monitor(), T0 + N)
    assert outcome.status == "skipped" and outcome.run is not None and outcome.run.status == "skipped"
    assert outcome.run.error is not None and "only 40 of the first 300 records" in outcome.run.error
    assert await runner.references.list_references("m") == []


async def test_a_window_smaller_than_min_rows_is_skipped(filled: AsyncEngine) -> None:
    runner = MonitorRunner(filled, replica="test")
    outcome = await runner.run(_monitor(), T0 + 2 * N, start=T0 + 2 * N - 10)
    assert outcome.status == "skipped" and outcome.run is not None
    assert outcome.run.error == "the window has 10 rows, fewer than min_rows=50"


async def test_labels_from_feedback_bring_performance(filled: AsyncEngine) -> None:
    labels = [{"request_id": f"new{i}", "row": 0, "label": i % 2} for i in range(N)]
    assert await FeedbackStore(filled).add_feedback(labels) == N
    runner = MonitorRunner(filled, replica="test")
    with_labels = await runner.run(_monitor(), T0 + 2 * N)
    assert with_labels.summary is not None and with_labels.summary.performance is not None
    assert with_labels.summary.label == "label"
    # A window without any label: no performance section, and no error about it either.
    without = await runner.run(_monitor(), T0 + N)
    assert without.summary is not None and without.summary.performance is None
    assert without.summary.label is None and without.summary.errors == ()


async def test_a_run_that_raises_is_failed_and_the_next_one_runs(filled: AsyncEngine) -> None:
    runner = MonitorRunner(filled, replica="test")
    # The stored reference lacks the protected column: the report cannot be computed at all.
    reference = pd.DataFrame(
        {"x0": np.zeros(100), "x1": np.zeros(100), "c": ["a"] * 100, "prediction": [1] * 100}
    )
    await runner.references.put_reference("m", reference)
    broken = _monitor(fairness={"protected": ["c"]}, features=["x0", "x1", "c"])
    outcome = await runner.run(broken.model_copy(update={"fairness": None}), T0 + 2 * N)
    assert outcome.status == "ok"
    bad_reference = reference.drop(columns="c")
    await runner.references.put_reference("m", bad_reference)
    failed = await runner.run(broken, T0 + N)
    assert failed.status == "failed" and failed.run is not None and failed.run.status == "failed"
    assert failed.error is not None and "column(s) not in the reference: c" in failed.error
    assert failed.run.error == failed.error
    # The runner goes on: a later window is claimed and judged again (and fails for the same reason).
    later = await runner.run(broken, T0 + N + 60)
    assert later.status == "failed" and later.run is not None and later.run.id != failed.run.id
    # A failed window can be taken over on demand once the cause is fixed.
    await runner.references.put_reference("m", reference)
    retried = await runner.run(broken, T0 + N, reclaim_failed=True)
    assert retried.status == "ok" and retried.run is not None and retried.run.id == failed.run.id


async def test_a_dead_report_worker_fails_the_run_and_the_pool_is_replaced(filled: AsyncEngine) -> None:
    pool = ReportPool(workers=1)
    try:
        runner = MonitorRunner(filled, pool=pool, replica="test")
        executor = pool.executor()
        # A worker that dies (OOM kill, segfault) breaks the pool for every future run.
        with pytest.raises(Exception):  # noqa: B017, PT011 - the pool raises BrokenProcessPool
            await asyncio.wrap_future(executor.submit(os._exit, 1))
        failed = await runner.run(_monitor(), T0 + 2 * N)
        assert failed.status == "failed" and failed.error is not None
        assert failed.error.startswith("BrokenProcessPool")
        recovered = await runner.run(_monitor(), T0 + N)
        assert recovered.status == "ok", recovered.error
        assert pool.executor() is not executor
    finally:
        await asyncio.to_thread(pool.close)


async def test_a_cancelled_run_is_marked_failed(filled: AsyncEngine) -> None:
    runner = MonitorRunner(filled, replica="test")
    task = asyncio.create_task(runner.run(_monitor(), T0 + 2 * N))
    for _ in range(200):
        runs = await runner.runs.list_runs("m")
        if runs:
            break
        await asyncio.sleep(0.01)
    assert await runner.wait_idle(timeout=0) is False
    with pytest.raises(asyncio.CancelledError):
        await task
    (run,) = await runner.runs.list_runs("m")
    assert run.status == "failed" and run.error == "cancelled: driftcar shut down during the run"
