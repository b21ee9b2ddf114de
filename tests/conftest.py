"""Fixtures shared by every test package: a fresh, real database per test, on SQLite and on PostgreSQL.

PostgreSQL comes from `DRIFTCAR_TEST_PG_URL` (default: the local server's `test` database); each test gets its
own database created next to it and dropped afterwards. When the server is unreachable, PostgreSQL tests fail
under CI (env `CI` set) and are skipped elsewhere.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import asyncpg
import pytest
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from storage.engine import create_engine, redacted_url
from storage.migrate import upgrade

PG_URL_ENV = "DRIFTCAR_TEST_PG_URL"
DEFAULT_PG_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"


def pg_base_url() -> str:
    """The PostgreSQL URL tests create their databases next to."""
    return os.environ.get(PG_URL_ENV, DEFAULT_PG_URL)


async def _admin_connection() -> asyncpg.Connection:
    """A plain asyncpg connection to the base database, or fail/skip when the server is unreachable."""
    dsn = make_url(pg_base_url()).set(drivername="postgresql").render_as_string(hide_password=False)
    try:
        return await asyncpg.connect(dsn, timeout=5)
    except (OSError, TimeoutError, asyncpg.PostgresError) as exc:
        where = redacted_url(pg_base_url())
        message = f"PostgreSQL at {where} (${PG_URL_ENV}) is unreachable: {type(exc).__name__}: {exc}"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)


@asynccontextmanager
async def fresh_pg_database() -> AsyncIterator[str]:
    """Create a uniquely named PostgreSQL database; yield its URL; drop it (closing its connections)."""
    admin = await _admin_connection()
    name = f"driftcar_test_{uuid.uuid4().hex[:16]}"
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        try:
            yield make_url(pg_base_url()).set(database=name).render_as_string(hide_password=False)
        finally:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


@pytest.fixture(
    params=[
        pytest.param("sqlite", id="sqlite"),
        pytest.param("postgresql", id="postgresql", marks=pytest.mark.postgres),
    ]
)
async def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """A URL to a new, empty database (a SQLite file in tmp_path, or a new PostgreSQL database)."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'driftcar.db'}"
        return
    async with fresh_pg_database() as url:
        yield url


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    """An engine on the fresh database, not migrated."""
    created = create_engine(database_url)
    try:
        yield created
    finally:
        await created.dispose()


@pytest.fixture
async def migrated_engine(engine: AsyncEngine) -> AsyncEngine:
    """An engine on the fresh database, upgraded to the newest schema."""
    await upgrade(engine)
    return engine
