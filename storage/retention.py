"""Retention: deleting old records and feedback in small transactions.

Each batch is its own transaction, so SQLite's single write lock is released between batches and the
writer's inserts get through (a batch of 5,000 takes a few milliseconds); on PostgreSQL short transactions
keep the deleted rows' locks and the WAL per transaction small. Report runs are pruned per monitor by
`RunStore.prune_runs`.
"""

from __future__ import annotations

import asyncio
import logging

from sqlalchemy import Column, Table, delete, select, tuple_
from sqlalchemy.ext.asyncio import AsyncEngine

from storage.errors import translated
from storage.schema import feedback, records

logger = logging.getLogger(__name__)

BATCH_ROWS = 5000


async def _delete_in_batches(
    engine: AsyncEngine, table: Table, key: Column[float], cutoff: float, batch_size: int
) -> int:
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    # Rows are picked by primary key: a `DELETE ... LIMIT` exists on neither backend's default build.
    primary = tuple(table.primary_key.columns)
    picked = select(*primary).where(key < cutoff).limit(batch_size)
    chosen = primary[0].in_(picked) if len(primary) == 1 else tuple_(*primary).in_(picked)
    query = delete(table).where(chosen)
    total = 0
    while True:
        with translated():
            async with engine.begin() as conn:
                count = int((await conn.execute(query)).rowcount)
        total += count
        if count < batch_size:
            break
        await asyncio.sleep(0)  # let other tasks (the writer) have the database between batches
    if total:
        logger.info("retention: deleted %d %s row(s) older than %s", total, table.name, cutoff)
    return total


async def delete_records_older_than(
    engine: AsyncEngine, cutoff_ts: float, *, batch_size: int = BATCH_ROWS
) -> int:
    """Delete the records with `ts < cutoff_ts`, `batch_size` per transaction; return how many went."""
    return await _delete_in_batches(engine, records, records.c.ts, cutoff_ts, batch_size)


async def delete_feedback_older_than(
    engine: AsyncEngine, cutoff_ts: float, *, batch_size: int = BATCH_ROWS
) -> int:
    """Delete the labels received before `cutoff_ts`, `batch_size` per transaction; return how many went."""
    return await _delete_in_batches(engine, feedback, feedback.c.received_at, cutoff_ts, batch_size)
