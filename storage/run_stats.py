"""Aggregates over report runs for the monitors' metrics: when each monitor last finished a run of each status."""

from __future__ import annotations

from collections.abc import Collection

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from storage.errors import translated
from storage.schema import report_runs


async def last_finished(engine: AsyncEngine, monitors: Collection[str]) -> dict[tuple[str, str], float]:
    """(monitor, status) -> when the monitor's latest run of that status finished (epoch seconds), for the
    given monitors' finished runs (`ok`, `failed`, `skipped`)."""
    if not monitors:
        return {}
    query = (
        select(report_runs.c.monitor, report_runs.c.status, func.max(report_runs.c.finished_at))
        .where(
            report_runs.c.monitor.in_(sorted(monitors)),
            report_runs.c.status != "running",
            report_runs.c.finished_at.is_not(None),
        )
        .group_by(report_runs.c.monitor, report_runs.c.status)
    )
    with translated():
        async with engine.connect() as conn:
            rows = list(await conn.execute(query))
    return {(str(monitor), str(status)): float(at) for monitor, status, at in rows}
