"""Report runs: one per (monitor, window), claimed by exactly one replica, then finished, failed or skipped.

A claim is an `INSERT ... ON CONFLICT DO NOTHING RETURNING id` on the unique (monitor, window_start,
window_end): the database settles the race, on SQLite and PostgreSQL alike, with no lock held between
replicas. A run moves out of `running` once (finish, fail or skip); a replica that crashed leaves its run
`running` until `mark_stale_runs_failed`, after which `claim_run(..., reclaim_failed=True)` can take it over.
"Newest" means the latest window end (then the highest id).
"""

from __future__ import annotations

import asyncio
import gzip
import logging
import math
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import Select, and_, delete, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from storage.codec import clean_text
from storage.errors import NotFound, RunStateError, translated
from storage.schema import report_runs

logger = logging.getLogger(__name__)

RunStatus = Literal["running", "ok", "failed", "skipped"]
InTransaction = Callable[[AsyncConnection], Awaitable[None]]
"""Work done in the transaction that finishes a run."""
_MAX_ERROR_CHARS = 4000


@dataclass(frozen=True, slots=True)
class RunInfo:
    """One report run, without its HTML."""

    id: int
    monitor: str
    window_start: float
    window_end: float
    status: RunStatus
    replica: str
    claimed_at: float
    finished_at: float | None
    n_rows: int | None
    reference_version: int | None
    summary: dict[str, Any] | None
    error: str | None
    """Why the run failed, or was skipped."""
    has_html: bool


_INFO = select(
    *(column for column in report_runs.c if column.name != "html"),
    report_runs.c.html.is_not(None).label("has_html"),
)
_NEWEST = (report_runs.c.window_end.desc(), report_runs.c.id.desc())


def _info(row: Any) -> RunInfo:
    return RunInfo(
        id=row.id,
        monitor=row.monitor,
        window_start=row.window_start,
        window_end=row.window_end,
        status=row.status,
        replica=row.replica,
        claimed_at=row.claimed_at,
        finished_at=row.finished_at,
        n_rows=row.n_rows,
        reference_version=row.reference_version,
        summary=row.summary,
        error=row.error,
        has_html=bool(row.has_html),
    )


def _text(message: str) -> str:
    return clean_text(message[:_MAX_ERROR_CHARS]) or ""


class RunStore:
    """Claims, finishes and lists report runs."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._dialect = postgresql if engine.dialect.name == "postgresql" else sqlite

    async def claim_run(
        self, monitor: str, start: float, end: float, replica: str, *, reclaim_failed: bool = False
    ) -> int | None:
        """Claim the monitor's window [start, end) for `replica`: the new run's id, or None if already claimed.

        With `reclaim_failed`, a run of that window that failed is taken over (back to `running`) instead.
        """
        if not (math.isfinite(start) and math.isfinite(end) and start < end):
            raise ValueError(f"a run's window needs finite start < end, got [{start}, {end})")
        if not monitor or not replica:
            raise ValueError("monitor and replica must be non-empty")
        now = time.time()
        claim = (
            self._dialect.insert(report_runs)
            .values(
                monitor=monitor,
                window_start=start,
                window_end=end,
                status="running",
                replica=replica,
                claimed_at=now,
            )
            .on_conflict_do_nothing(index_elements=["monitor", "window_start", "window_end"])
            .returning(report_runs.c.id)
        )
        retake = (
            update(report_runs)
            .where(
                report_runs.c.monitor == monitor,
                report_runs.c.window_start == start,
                report_runs.c.window_end == end,
                report_runs.c.status == "failed",
            )
            .values(status="running", replica=replica, claimed_at=now, finished_at=None, error=None)
            .returning(report_runs.c.id)
        )
        with translated():
            async with self._engine.begin() as conn:
                run_id = (await conn.execute(claim)).scalar_one_or_none()
                if run_id is None and reclaim_failed:
                    # PostgreSQL re-checks `status = 'failed'` after waiting for a concurrent retake: one wins.
                    run_id = (await conn.execute(retake)).scalar_one_or_none()
        if run_id is None:
            logger.debug("monitor %r window [%s, %s) already claimed", monitor, start, end)
            return None
        return int(run_id)

    async def _leave_running(self, run_id: int, then: InTransaction | None = None, **values: Any) -> None:
        query = (
            update(report_runs)
            .where(report_runs.c.id == run_id, report_runs.c.status == "running")
            .values(finished_at=time.time(), **values)
        )
        with translated():
            async with self._engine.begin() as conn:
                if (await conn.execute(query)).rowcount == 1:
                    if then is not None:
                        await then(conn)
                    return
                status = (
                    await conn.execute(select(report_runs.c.status).where(report_runs.c.id == run_id))
                ).scalar_one_or_none()
        if status is None:
            raise NotFound(f"no report run {run_id}")
        raise RunStateError(f"report run {run_id} is {status}, not running")

    async def finish_run(
        self,
        run_id: int,
        summary: dict[str, Any] | None,
        html: str | bytes | None,
        n_rows: int,
        reference_version: int | None,
        then: InTransaction | None = None,
    ) -> None:
        """Mark a running run `ok` with its results; the HTML is stored gzip-compressed.

        `then(conn)` runs in the same transaction after the run is marked (alert states and the outbox): both
        are stored, or neither.
        """
        data = html.encode() if isinstance(html, str) else html
        packed = None if data is None else await asyncio.to_thread(gzip.compress, data, 6)
        await self._leave_running(
            run_id,
            then,
            status="ok",
            summary=summary,
            html=packed,
            n_rows=n_rows,
            reference_version=reference_version,
            error=None,
        )

    async def fail_run(self, run_id: int, error: str) -> None:
        """Mark a running run `failed` with the reason (kept to its first 4000 characters)."""
        await self._leave_running(run_id, status="failed", error=_text(error))

    async def skip_run(self, run_id: int, reason: str) -> None:
        """Mark a running run `skipped` (e.g. too few rows in the window), with the reason."""
        await self._leave_running(run_id, status="skipped", error=_text(reason))

    async def _rows(self, query: Select[Any]) -> list[RunInfo]:
        with translated():
            async with self._engine.connect() as conn:
                return [_info(row) for row in await conn.execute(query)]

    async def list_runs(
        self, monitor: str | None = None, limit: int = 50, status: RunStatus | None = None
    ) -> list[RunInfo]:
        """Runs (of one monitor, of one status, when given), newest first, at most `limit`."""
        query = _INFO.order_by(*_NEWEST).limit(limit)
        if monitor is not None:
            query = query.where(report_runs.c.monitor == monitor)
        if status is not None:
            query = query.where(report_runs.c.status == status)
        return await self._rows(query)

    async def get_run(self, run_id: int) -> RunInfo:
        """One run; NotFound when there is no such run."""
        found = await self._rows(_INFO.where(report_runs.c.id == run_id))
        if not found:
            raise NotFound(f"no report run {run_id}")
        return found[0]

    async def latest_run(self, monitor: str, status: RunStatus | None = None) -> RunInfo | None:
        """The monitor's newest run (of that status, when given), or None."""
        found = await self.list_runs(monitor, limit=1, status=status)
        return found[0] if found else None

    async def find_run(self, monitor: str, start: float, end: float) -> RunInfo | None:
        """The run of the monitor's window [start, end), if one was claimed."""
        found = await self._rows(
            _INFO.where(
                report_runs.c.monitor == monitor,
                report_runs.c.window_start == start,
                report_runs.c.window_end == end,
            )
        )
        return found[0] if found else None

    async def get_html_gzip(self, run_id: int) -> bytes | None:
        """The run's HTML report as stored (gzip); None when it has none; NotFound when there is no such run."""
        query = select(report_runs.c.id, report_runs.c.html).where(report_runs.c.id == run_id)
        with translated():
            async with self._engine.connect() as conn:
                row = (await conn.execute(query)).first()
        if row is None:
            raise NotFound(f"no report run {run_id}")
        return None if row.html is None else bytes(row.html)

    async def get_html(self, run_id: int) -> bytes | None:
        """The run's HTML report, decompressed; None when it has none; NotFound when there is no such run."""
        packed = await self.get_html_gzip(run_id)
        return None if packed is None else await asyncio.to_thread(gzip.decompress, packed)

    async def mark_stale_runs_failed(self, older_than: float) -> int:
        """Fail the runs still `running` that were claimed before `older_than` (epoch): their replica died."""
        query = (
            update(report_runs)
            .where(report_runs.c.status == "running", report_runs.c.claimed_at < older_than)
            .values(
                status="failed", finished_at=time.time(), error="abandoned: still running at the stale cutoff"
            )
        )
        with translated():
            async with self._engine.begin() as conn:
                count = int((await conn.execute(query)).rowcount)
        if count:
            logger.warning("marked %d report run(s) claimed before %s as failed (stale)", count, older_than)
        return count

    async def prune_runs(self, monitor: str, keep_last: int) -> int:
        """Delete the monitor's finished runs except the newest `keep_last` runs; return how many went.

        Runs still `running` are never deleted: their replica may be about to finish them.
        """
        if keep_last < 0:
            raise ValueError(f"keep_last must be >= 0, got {keep_last}")
        keep = (
            select(report_runs.c.id)
            .where(report_runs.c.monitor == monitor)
            .order_by(*_NEWEST)
            .limit(keep_last)
        )
        query = delete(report_runs).where(
            and_(
                report_runs.c.monitor == monitor,
                report_runs.c.status != "running",
                report_runs.c.id.not_in(keep.scalar_subquery()),
            )
        )
        with translated():
            async with self._engine.begin() as conn:
                return int((await conn.execute(query)).rowcount)
