"""A database holding a finished report run with a real summary, as another replica (or an earlier process)
would have left it: for the tests of what `/metrics` reads from the store."""

from __future__ import annotations

import json
from typing import Any

from sidecar.reports.summary import ReportSummary
from storage.engine import create_engine
from storage.migrate import upgrade
from storage.runs import RunInfo, RunStore
from tests.alerts.summaries import shifted_summary

MONITOR = "loans"


async def store_runs(
    database_url: str, summary: ReportSummary | None = None, *, failed: bool = True
) -> tuple[RunInfo, RunInfo | None]:
    """Store an ok run of `summary` (default: the shifted one) of monitor `loans`, then (`failed`) a failed run
    of the window before it; return them as stored."""
    summary = summary or shifted_summary()
    assert summary.window_start is not None and summary.window_end is not None
    engine = create_engine(database_url)
    try:
        await upgrade(engine)
        runs = RunStore(engine)
        ok_id = await runs.claim_run(MONITOR, summary.window_start, summary.window_end, "elsewhere:1")
        assert ok_id is not None
        await runs.finish_run(ok_id, json.loads(summary.to_json()), None, summary.window_rows, 1)
        if not failed:
            return await runs.get_run(ok_id), None
        span = summary.window_end - summary.window_start
        failed_id = await runs.claim_run(
            MONITOR, summary.window_start - span, summary.window_start, "elsewhere:1"
        )
        assert failed_id is not None
        await runs.fail_run(failed_id, "RuntimeError: boom")
        return await runs.get_run(ok_id), await runs.get_run(failed_id)
    finally:
        await engine.dispose()


def monitor_config(**overrides: Any) -> dict[str, Any]:
    """Monitor `loans` on a yearly schedule (never due during a test): its period is still exported."""
    return {"name": MONITOR, "schedule": {"cron": "0 0 1 1 *"}, **overrides}
