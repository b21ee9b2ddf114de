"""Storage test helpers: record factories, a filled SQLite database, real outages of both backends, a fault-injecting store wrapper."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import asyncpg
import pandas as pd
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from storage.codec import Row
from storage.engine import create_engine
from storage.errors import StoreUnavailable
from storage.migrate import upgrade
from storage.records import Record
from storage.references import ReferenceStore
from storage.store import RecordStore
from tests.conftest import pg_base_url


def make_records(n: int, *, start: int = 0, model: str = "iris", features: int = 12) -> list[Record]:
    """`n` distinct records with increasing ts, `features` float features each."""
    base = 1_700_000_000.0
    return [
        Record(
            ts=base + (start + i) / 1000,
            request_id=f"req-{start + i}",
            row=(start + i) % 4,
            route="/v2/models/{model}/infer",
            protocol="kserve_v2",
            status=200,
            latency_ms=3.25,
            model=model,
            model_version="1",
            features={f"f{j}": (start + i) * 0.5 + j for j in range(features)},
            prediction=[0.25, 0.75],
            extra={"n": start + i},
        )
        for i in range(n)
    ]


def predict_records(
    start: float,
    rows: Iterable[tuple[dict[str, Any], Any]],
    *,
    id_prefix: str,
    model_version: str = "1",
    every: float = 1,
) -> list[Record]:
    """Records of model `m` on the generic `/predict` route, one every `every` seconds from `start`, one per
    (features, prediction) row; request ids `{id_prefix}0`, `{id_prefix}1`, ..."""
    return [
        Record(
            ts=start + i * every,
            request_id=f"{id_prefix}{i}",
            row=0,
            route="/predict",
            protocol="generic",
            status=200,
            latency_ms=1.0,
            model="m",
            model_version=model_version,
            features=features,
            prediction=prediction,
        )
        for i, (features, prediction) in enumerate(rows)
    ]


async def fill_sqlite(path: Path, records: Sequence[Record], references: Mapping[str, pd.DataFrame]) -> str:
    """A migrated SQLite database at `path` holding `records` and a reference per monitor; its URL."""
    url = f"sqlite+aiosqlite:///{path}"
    engine = create_engine(url)
    try:
        await upgrade(engine)
        await RecordStore(engine).insert(records)
        for monitor, reference in references.items():
            await ReferenceStore(engine).put_reference(monitor, reference)
    finally:
        await engine.dispose()
    return url


async def wait_until(predicate: Callable[[], bool], within: float = 15.0) -> None:
    """Poll `predicate` every 10 ms until it holds; fail the test after `within` seconds."""
    deadline = time.monotonic() + within
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {within}s")
        await asyncio.sleep(0.01)


@asynccontextmanager
async def outage(engine: AsyncEngine) -> AsyncIterator[None]:
    """Make the database really refuse writes until the block exits.

    SQLite: another connection holds the write lock (`BEGIN EXCLUSIVE`). PostgreSQL: the database stops
    accepting connections and its backends are terminated.
    """
    if engine.dialect.name == "sqlite":
        holder = sqlite3.connect(str(engine.url.database), isolation_level=None)
        try:
            holder.execute("BEGIN EXCLUSIVE")
            yield
            holder.execute("ROLLBACK")
        finally:
            holder.close()
        return
    name = engine.url.database
    dsn = make_url(pg_base_url()).set(drivername="postgresql").render_as_string(hide_password=False)
    admin = await asyncpg.connect(dsn)
    try:
        await admin.execute(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS false')
        await admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = $1 AND pid <> pg_backend_pid()",
            name,
        )
        yield
    finally:
        await admin.execute(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS true')
        await admin.close()


class FaultyStore:
    """Wraps the real store and injects failures on demand (the database itself stays real)."""

    def __init__(self, store: RecordStore) -> None:
        self.store = store
        self.fail_inserts = 0
        """Fail this many coming `insert` calls with StoreUnavailable before touching the database."""
        self.crash_after_commit = 0
        """Fail this many coming `insert_segment` calls AFTER their transaction committed."""
        self.raise_bug = 0
        """Raise a RuntimeError (a bug, not a storage error) from this many coming `insert` calls."""
        self.insert_sizes: list[int] = []

    @property
    def write_concurrency(self) -> int:
        """The real store's."""
        return self.store.write_concurrency

    async def insert(self, batch: Sequence[Record]) -> int:
        """Insert through the real store unless a fault is pending."""
        if self.raise_bug:
            self.raise_bug -= 1
            raise RuntimeError("injected bug")
        if self.fail_inserts:
            self.fail_inserts -= 1
            raise StoreUnavailable("injected outage")
        self.insert_sizes.append(len(batch))
        return await self.store.insert(batch)

    async def insert_segment(self, segment_id: str, rows: Sequence[Row]) -> bool:
        """Insert the segment through the real store; then maybe 'crash' before the caller can ack it."""
        applied = await self.store.insert_segment(segment_id, rows)
        if self.crash_after_commit:
            self.crash_after_commit -= 1
            raise StoreUnavailable("injected loss of connection after commit")
        return applied

    async def ping(self) -> None:
        """Ping the real store."""
        await self.store.ping()
