"""Running the alembic migrations programmatically on an async engine, whatever the working directory."""

from __future__ import annotations

import logging
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from storage.engine import redacted_url

logger = logging.getLogger(__name__)

SCRIPT_LOCATION = Path(__file__).resolve().parent / "migrations"
# Key of the PostgreSQL advisory lock that serialises concurrent upgrades (replicas starting together).
_PG_LOCK_KEY = 0x64726966_74636172  # "driftcar"


def alembic_config(connection: Connection | None = None) -> Config:
    """An alembic Config built in code: script location from the installed package, no alembic.ini."""
    config = Config()
    config.set_main_option("script_location", str(SCRIPT_LOCATION))
    config.set_main_option("path_separator", "os")
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def head_revision() -> str:
    """The newest revision shipped with this version of driftcar."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    if head is None:
        raise RuntimeError(f"no migrations found in {SCRIPT_LOCATION}")
    return head


def _upgrade(connection: Connection, revision: str) -> None:
    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_LOCK_KEY})
    command.upgrade(alembic_config(connection), revision)


def _downgrade(connection: Connection, revision: str) -> None:
    command.downgrade(alembic_config(connection), revision)


def _current(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


async def upgrade(engine: AsyncEngine, revision: str = "head") -> None:
    """Upgrade the database schema to `revision` (default: the newest); a no-op when already there."""
    logger.info("upgrading database %s to %s", redacted_url(engine.url), revision)
    async with engine.begin() as connection:
        await connection.run_sync(_upgrade, revision)


async def downgrade(engine: AsyncEngine, revision: str) -> None:
    """Downgrade the database schema to `revision` (`base` drops everything driftcar created)."""
    logger.warning("downgrading database %s to %s", redacted_url(engine.url), revision)
    async with engine.begin() as connection:
        await connection.run_sync(_downgrade, revision)


async def current_revision(engine: AsyncEngine) -> str | None:
    """The revision the database is at, or None when it has never been migrated."""
    async with engine.connect() as connection:
        return await connection.run_sync(_current)
