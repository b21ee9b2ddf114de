"""The report job in a real process pool: workers pre-import Evidently, and the event loop keeps running."""

from __future__ import annotations

import asyncio
import dataclasses
import time

import pandas as pd

from sidecar.reports import ReportContext, ReportResult, create_report_pool, render_in_pool
from sidecar.reports.pool import evidently_loaded
from tests.sidecar.reports.known import make_spec

Frames = tuple[pd.DataFrame, pd.DataFrame]


async def _longest_stall(done: asyncio.Event) -> float:
    """The longest gap between ticks of a 10 ms timer until `done` is set."""
    worst, last = 0.0, time.perf_counter()
    while not done.is_set():
        await asyncio.sleep(0.01)
        now = time.perf_counter()
        worst, last = max(worst, now - last), now
    return worst


async def test_render_in_a_process_pool(frames: Frames, context: ReportContext, report: ReportResult) -> None:
    reference, current = frames
    pool = create_report_pool(max_workers=1)
    try:
        loop = asyncio.get_running_loop()
        assert await asyncio.wait_for(loop.run_in_executor(pool, evidently_loaded), timeout=60)
        done = asyncio.Event()
        stall = asyncio.create_task(_longest_stall(done))
        started = time.perf_counter()
        result = await asyncio.wait_for(
            render_in_pool(pool, reference, current, make_spec(), context), timeout=60
        )
        elapsed = time.perf_counter() - started
        done.set()
        worst = await stall
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
    same_time = dataclasses.replace(result.summary, created_at=report.summary.created_at)
    assert same_time == report.summary
    assert result.html is not None and report.html is not None
    assert abs(len(result.html) - len(report.html)) < 10_000  # same report; Evidently's widget ids differ
    assert worst < 0.5, f"the event loop stalled {worst:.2f} s during a {elapsed:.2f} s report"


def _priority() -> int:
    import os

    return os.getpriority(os.PRIO_PROCESS, 0)


async def test_workers_give_up_cpu_priority() -> None:
    import os

    pool = create_report_pool(max_workers=1, nice=7)
    try:
        loop = asyncio.get_running_loop()
        worker = await asyncio.wait_for(loop.run_in_executor(pool, _priority), timeout=60)
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
    assert worker == min(19, os.getpriority(os.PRIO_PROCESS, 0) + 7)
