"""`RecordStore`: every read and write of the `records` table, with a fast bulk path per backend."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from typing import Any, Protocol

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from storage import codec
from storage.errors import TRANSLATED, StoreUnavailable, translate
from storage.records import Record
from storage.schema import records, spool_segments


class RecordSink(Protocol):
    """What the batch writer needs from a store; `RecordStore` is one (tests wrap it to inject faults)."""

    @property
    def write_concurrency(self) -> int:
        """How many inserts are worth running at once."""
        ...

    async def insert(self, batch: Sequence[Record]) -> int: ...

    async def insert_segment(self, segment_id: str, rows: Sequence[codec.Row]) -> bool: ...

    async def ping(self) -> None: ...


# SQLite's default SQLITE_MAX_VARIABLE_NUMBER since 3.32 (2020).
_SQLITE_MAX_VARIABLES = 32766
# Rows per INSERT statement: large enough to amortise the statement, small enough to encode in well under 1 ms.
_SQLITE_SLICE_ROWS = 200


class _AlreadyApplied(Exception):
    """Raised inside the replay transaction to roll it back when the segment id is already recorded."""


class RecordStore:
    """Inserts and queries records. PostgreSQL inserts go through binary COPY, SQLite through executemany.

    Every method raises `StoreUnavailable` when the database cannot be reached or written, and `insert` /
    `insert_segment` raise `RecordsRejected` when the records themselves were refused.
    """

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._postgres = engine.dialect.name == "postgresql"
        # The Core insert compiled once to the driver's positional SQL; rows are then bound as plain tuples,
        # which skips SQLAlchemy's per-row parameter processing (JSON is encoded by `codec.to_row`).
        compiled = records.insert().compile(dialect=engine.dialect, column_keys=list(codec.COLUMNS))
        if compiled.positiontup != list(codec.COLUMNS):
            raise RuntimeError("records insert columns do not match codec.COLUMNS")
        self._insert_sql = str(compiled)
        # SQLite: one multi-row INSERT per chunk instead of executemany. sqlite3 releases the GIL around every
        # step, so executemany hands the GIL back and forth once per row; with the proxy's event loop busy in
        # the other thread that fell to ~2k rows/s in a measurement, against ~100k/s for multi-row statements.
        head, _, values = self._insert_sql.partition(" VALUES ")
        self._sqlite_head = head + " VALUES "
        self._sqlite_group = values.strip()
        self._sqlite_chunk = min(_SQLITE_SLICE_ROWS, max(1, _SQLITE_MAX_VARIABLES // len(codec.COLUMNS)))
        self._sqlite_sql: dict[int, str] = {}

    @property
    def write_concurrency(self) -> int:
        """2 on PostgreSQL, whose COPY is server-bound (two backends use two cores); 1 on SQLite (one writer)."""
        return 2 if self._postgres else 1

    @property
    def engine(self) -> AsyncEngine:
        """The engine this store writes to (owned by the caller)."""
        return self._engine

    @asynccontextmanager
    async def _begin(self) -> AsyncIterator[AsyncConnection]:
        try:
            async with self._engine.begin() as conn:
                yield conn
        except TRANSLATED as exc:
            raise translate(exc) from exc

    async def _insert(self, conn: AsyncConnection, rows: Iterable[codec.Row]) -> None:
        """Insert `to_row` tuples; a lazy iterable lets PostgreSQL parse while the rest is encoded."""
        if self._postgres:
            raw = await conn.get_raw_connection()
            driver: Any = raw.driver_connection
            if not driver.is_in_transaction():
                # SQLAlchemy's asyncpg adapter opens its transaction lazily, on the first statement.
                await conn.exec_driver_sql("SELECT 1")
            # asyncpg sends every 512 KiB of encoded rows, so the server works while the rest is produced.
            await driver.copy_records_to_table(records.name, records=rows, columns=codec.COLUMNS)
        else:
            # Encode and insert in slices: each await hands the event loop back to the proxy, so a large batch
            # never holds it for more than ~1 ms of encoding.
            part: list[codec.Row] = []
            for row in rows:
                part.append(row)
                if len(part) == self._sqlite_chunk:
                    await self._insert_part(conn, part)
                    part = []
            if part:
                await self._insert_part(conn, part)

    async def _insert_part(self, conn: AsyncConnection, part: list[codec.Row]) -> None:
        await conn.exec_driver_sql(self._multi_row_sql(len(part)), tuple(v for row in part for v in row))

    def _multi_row_sql(self, n: int) -> str:
        sql = self._sqlite_sql.get(n)
        if sql is None:
            sql = self._sqlite_sql[n] = self._sqlite_head + ", ".join([self._sqlite_group] * n)
        return sql

    async def insert(self, batch: Sequence[Record]) -> int:
        """Insert the records in one transaction; return how many were written."""
        if not batch:
            return 0
        async with self._begin() as conn:
            await self._insert(conn, (codec.to_row(r) for r in batch))
        return len(batch)

    async def insert_segment(self, segment_id: str, rows: Sequence[codec.Row]) -> bool:
        """Insert a spool segment's rows exactly once: False, writing nothing, if it was applied before."""
        try:
            async with self._begin() as conn:
                try:
                    marker = {"id": segment_id, "records": len(rows), "applied_at": time.time()}
                    await conn.execute(spool_segments.insert().values(marker))
                except IntegrityError:
                    raise _AlreadyApplied from None
                if rows:
                    await self._insert(conn, rows)
        except _AlreadyApplied:
            return False
        return True

    async def recent(self, limit: int = 100, model: str | None = None) -> list[Record]:
        """The newest records (by ts, then insertion order), optionally of one model only."""
        query = select(records).order_by(records.c.ts.desc(), records.c.id.desc()).limit(limit)
        if model is not None:
            query = query.where(records.c.model == model)
        try:
            async with self._engine.connect() as conn:
                result = await conn.execute(query)
                return [codec.from_row(row) for row in result]
        except TRANSLATED as exc:
            raise translate(exc) from exc

    async def count(self, model: str | None = None) -> int:
        """How many records are stored (of one model, when given)."""
        query = select(func.count()).select_from(records)
        if model is not None:
            query = query.where(records.c.model == model)
        try:
            async with self._engine.connect() as conn:
                return int((await conn.execute(query)).scalar_one())
        except TRANSLATED as exc:
            raise translate(exc) from exc

    async def ping(self) -> None:
        """Raise StoreUnavailable unless the database takes writes (a rolled-back insert proves it)."""
        try:
            async with self._engine.connect() as conn:
                transaction = await conn.begin()
                try:
                    # Also catches read-only replicas, read-only or locked SQLite files and a missing schema.
                    probe = {"id": f"ping-{uuid.uuid4().hex}", "records": 0, "applied_at": 0.0}
                    await conn.execute(spool_segments.insert().values(probe))
                finally:
                    await transaction.rollback()
        except TRANSLATED as exc:
            raise StoreUnavailable(str(translate(exc))) from exc
