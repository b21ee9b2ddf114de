"""Windows of captured traffic as DataFrames: one row per usable record, its features flattened by name.

A window's columns, in order: `ts`, `request_id`, `row`, the features, `prediction`, `prediction_argmax`
(only when some prediction is a list), `label`.

- Features are in the order of `features=`, or else sorted by name with digit runs as numbers (`f2` before
  `f10`): the same on both backends, since PostgreSQL's JSONB does not keep the order keys were sent in.
  A feature missing from a record is missing (None, or NaN in a numeric column) in its row.
- Column types follow pandas' inference on the values (ints with missing values become float64, and so on;
  see `storage.columns.to_array`), computed chunk by chunk.
- Records with an `error`, or without features (or features that are not a JSON object), are skipped.
- `prediction`: a scalar stays as it is; a one-element list is unwrapped to its element (a regression output
  `[0.7]`); a longer list (class probabilities, scores) is kept, and `prediction_argmax` holds the
  index of its largest value (nullable Int64; NA for rows whose prediction is not a list of numbers).
  Lists of numbers come back as float64 numpy arrays (JSON nulls as NaN), as they do from a stored
  reference; other lists stay lists.
- `label` is the ground truth from `feedback` for (request_id, row), or missing; the column is always there.
- A feature named like one of the columns above is renamed `features.<name>`.
- Time bounds are half-open, `start <= ts < end`, so consecutive windows never share a record.

PostgreSQL streams through a declared server-side cursor on the raw asyncpg connection (SQLAlchemy's result
layer added about 40% to the fetch); SQLite through SQLAlchemy's `yield_per`. JSON is fetched as text and
parsed with orjson, and each chunk is parsed into columns in a worker thread, so the event loop keeps running.
On PostgreSQL the next chunk is fetched while one is parsed, so the server's work and the parsing overlap
(`bench.window`, 1M records x 12 features: 7.0-7.4 s instead of 9.8 s).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any

from sqlalchemy import Select, Text, and_, cast, select
from sqlalchemy.ext.asyncio import AsyncEngine

from storage.columns import ColumnBuilder
from storage.errors import translated
from storage.schema import feedback, records

if TYPE_CHECKING:
    import pandas as pd

CHUNK_ROWS = 20_000
"""Rows fetched and parsed at a time: large enough to amortise round trips, small enough to stay responsive."""
Fetch = Callable[[], Awaitable[Sequence[Any]]]
Consume = Callable[[Sequence[Any]], Awaitable[None]]


def _query(
    *,
    model: str | None,
    model_version: str | None,
    route: str | None,
    start: float | None,
    end: float | None,
    newest_first: bool,
    limit: int | None,
) -> Select[Any]:
    joined = records.outerjoin(
        feedback, and_(feedback.c.request_id == records.c.request_id, feedback.c.row == records.c.row)
    )
    query = (
        select(
            records.c.ts,
            records.c.request_id,
            records.c.row,
            cast(records.c.features, Text),
            cast(records.c.prediction, Text),
            cast(feedback.c.label, Text),
        )
        .select_from(joined)
        .where(records.c.error.is_(None), records.c.features.is_not(None))
    )
    for column, value in (
        (records.c.model, model),
        (records.c.model_version, model_version),
        (records.c.route, route),
    ):
        if value is not None:
            query = query.where(column == value)
    if start is not None:
        query = query.where(records.c.ts >= start)
    if end is not None:
        query = query.where(records.c.ts < end)
    if newest_first:
        query = query.order_by(records.c.ts.desc(), records.c.id.desc())
    else:
        query = query.order_by(records.c.ts, records.c.id)
    return query if limit is None else query.limit(limit)


_CURSOR = "driftcar_window"


async def _pipelined(fetch: Fetch, consume: Consume) -> None:
    """Pass the chunks `fetch` returns to `consume` until one is empty, the next fetch running meanwhile.

    One chunk is consumed while the next is on its way (at most two in memory), so the database's work and
    the driver's overlap the parsing. An error on either side propagates once the fetch in flight is
    cancelled and finished, so the connection is idle when the caller closes it.
    """

    async def fetched() -> Sequence[Any]:
        with translated():
            return await fetch()

    pending = asyncio.ensure_future(fetched())
    try:
        while True:
            rows = await pending
            if not rows:
                return
            pending = asyncio.ensure_future(fetched())
            await consume(rows)
    finally:
        if not pending.done():
            pending.cancel()
            await asyncio.wait([pending])
        if not pending.cancelled():
            pending.exception()  # retrieved: when it failed after the error that ended the loop, that one wins


async def _stream(engine: AsyncEngine, query: Select[Any], consume: Consume) -> None:
    """Run the query and pass its rows to `consume` chunk by chunk.

    Only the database calls have their errors translated: an error in `consume` propagates as it is.
    """
    with translated():
        conn = await engine.connect()
    try:
        if engine.dialect.name == "postgresql":
            compiled = query.compile(dialect=engine.dialect)
            params = [compiled.params[name] for name in compiled.positiontup or ()]
            with translated():
                # SQLAlchemy's asyncpg adapter opens its transaction lazily; a cursor needs one.
                await conn.exec_driver_sql("SELECT 1")
                driver: Any = (await conn.get_raw_connection()).driver_connection
                # A declared cursor is planned for a fast start, so rows stream from the first FETCH (an index
                # scan in time order). asyncpg's `cursor()` is a protocol-level portal, planned for the whole
                # result: a hash join and a sort of every row before the first one was sent (2.9 s of 4.8 s
                # for 1M records), time the parsing could not overlap.
                await driver.execute(f"DECLARE {_CURSOR} NO SCROLL CURSOR FOR {compiled}", *params)
                # Prepared here, not through the statement cache: its result columns are this cursor's.
                statement = await driver.prepare(f"FETCH {CHUNK_ROWS} FROM {_CURSOR}")
            await _pipelined(statement.fetch, consume)
        else:
            with translated():
                result = await conn.stream(query.execution_options(yield_per=CHUNK_ROWS))
            partitions = result.partitions()
            try:
                while True:
                    with translated():
                        part = await anext(partitions, None)
                    if part is None:
                        break
                    await consume(part)
            finally:
                await partitions.aclose()
    finally:
        with translated():
            await conn.close()


Progress = Callable[[int], None]
"""Called with the number of rows fetched so far, after each chunk."""


async def _load(
    engine: AsyncEngine, features: Sequence[str] | None, progress: Progress | None = None, **where: Any
) -> pd.DataFrame:
    builder = ColumnBuilder(features)
    fetched = 0

    async def consume(rows: Sequence[Any]) -> None:
        nonlocal fetched
        await asyncio.to_thread(builder.add, rows)
        fetched += len(rows)
        if progress is not None:
            progress(fetched)

    await _stream(engine, _query(**where), consume)
    return await asyncio.to_thread(builder.frame, reverse=bool(where["newest_first"]))


def _check_bounds(start: float | None, end: float | None, n: int | None, name: str) -> None:
    if start is not None and end is not None and start > end:
        raise ValueError(f"start ({start}) is after end ({end})")
    if n is not None and (isinstance(n, bool) or not isinstance(n, int) or n < 1):
        raise ValueError(f"{name} must be a positive integer, got {n!r}")


async def load_window(
    engine: AsyncEngine,
    *,
    model: str | None = None,
    model_version: str | None = None,
    route: str | None = None,
    start: float | None = None,
    end: float | None = None,
    last_n: int | None = None,
    features: Sequence[str] | None = None,
    progress: Progress | None = None,
) -> pd.DataFrame:
    """Usable records with `start <= ts < end` (the newest `last_n` of them, if given), oldest first."""
    _check_bounds(start, end, last_n, "last_n")
    return await _load(
        engine,
        features,
        progress,
        model=model,
        model_version=model_version,
        route=route,
        start=start,
        end=end,
        newest_first=last_n is not None,
        limit=last_n,
    )


async def first_n_records(
    engine: AsyncEngine,
    n: int,
    *,
    model: str | None = None,
    model_version: str | None = None,
    route: str | None = None,
    start: float | None = None,
    features: Sequence[str] | None = None,
) -> pd.DataFrame:
    """The first `n` usable records (from `start`, when given), oldest first: the default reference."""
    _check_bounds(start, None, n, "n")
    return await _load(
        engine,
        features,
        model=model,
        model_version=model_version,
        route=route,
        start=start,
        end=None,
        newest_first=False,
        limit=n,
    )


async def operational_figures(
    engine: AsyncEngine,
    *,
    start: float,
    end: float,
    model: str | None = None,
    model_version: str | None = None,
    route: str | None = None,
) -> tuple[int, int, float | None]:
    """Over every captured record with `start <= ts < end`, failed ones included: (records, failed records,
    p99 latency in ms or None). A record failed when its status is >= 400 or it carries an error."""
    import numpy as np

    query = select(records.c.status, records.c.error.is_not(None), records.c.latency_ms).where(
        records.c.ts >= start, records.c.ts < end
    )
    for column, value in (
        (records.c.model, model),
        (records.c.model_version, model_version),
        (records.c.route, route),
    ):
        if value is not None:
            query = query.where(column == value)
    latencies: list[float] = []
    total = failed = 0
    with translated():
        async with engine.connect() as conn:
            result = await conn.stream(query.execution_options(yield_per=CHUNK_ROWS))
            async for part in result.partitions():
                for status, has_error, latency in part:
                    total += 1
                    failed += int(status >= 400 or bool(has_error))
                    if latency is not None:
                        latencies.append(latency)
    if not latencies:
        return total, failed, None
    p99 = await asyncio.to_thread(lambda: float(np.percentile(np.asarray(latencies), 99)))
    return total, failed, p99
