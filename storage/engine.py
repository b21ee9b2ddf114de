"""Creating the async engine: URL normalisation, SQLite pragmas, pool settings and a log-safe URL."""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import StaticPool

from storage import codec

logger = logging.getLogger(__name__)

_SQLITE_DRIVERS = {"sqlite", "sqlite+pysqlite", "sqlite+aiosqlite"}
_POSTGRES_DRIVERS = {
    "postgres",
    "postgresql",
    "postgresql+asyncpg",
    "postgresql+psycopg",
    "postgresql+psycopg2",
}


def normalize_url(url: str | URL) -> URL:
    """Return the URL with its async driver: `sqlite:` -> `sqlite+aiosqlite:`, `postgresql:` -> `+asyncpg`."""
    parsed = make_url(url)
    driver = parsed.drivername
    if driver in _SQLITE_DRIVERS:
        return parsed.set(drivername="sqlite+aiosqlite")
    if driver in _POSTGRES_DRIVERS:
        return parsed.set(drivername="postgresql+asyncpg")
    raise ValueError(f"unsupported database URL scheme {driver!r}: use sqlite:///PATH or postgresql://...")


def redacted_url(url: str | URL) -> str:
    """The URL as a string with its password masked, for logs and error messages (never raises)."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "<unparseable database URL>"  # the parser's own message would repeat the password


def _is_memory(url: URL) -> bool:
    return url.database in (None, "", ":memory:") or "mode=memory" in str(url.query.get("mode", ""))


def _sqlite_pragmas(busy_timeout_ms: int) -> Any:
    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        try:
            # WAL lets readers (reports, the admin API) run while the writer writes; with WAL, NORMAL only
            # risks the last transactions on power loss, not corruption.
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
            cursor.execute("PRAGMA foreign_keys=ON")
        finally:
            cursor.close()

    return on_connect


def create_engine(
    url: str | URL,
    *,
    pool_size: int = 5,
    max_overflow: int = 5,
    busy_timeout_ms: int = 5000,
    connect_timeout: float = 10.0,
    command_timeout: float = 60.0,
    echo: bool = False,
) -> AsyncEngine:
    """Create the async engine for a SQLite or PostgreSQL URL, with orjson for JSON columns."""
    target = normalize_url(url)
    options: dict[str, Any] = {
        "json_serializer": codec.dumps_str,
        "json_deserializer": codec.loads,
        "echo": echo,
    }
    if target.drivername == "sqlite+aiosqlite":
        if _is_memory(target):
            options["poolclass"] = StaticPool  # one shared connection: each new one would be empty
        else:
            options.update(pool_size=pool_size, max_overflow=max_overflow)
        options["connect_args"] = {"timeout": busy_timeout_ms / 1000}
    else:
        options.update(
            pool_size=pool_size,
            max_overflow=max_overflow,
            pool_pre_ping=True,  # survive server restarts and terminated backends without a failed batch
            pool_recycle=1800,
            connect_args={
                "timeout": connect_timeout,
                "command_timeout": command_timeout,
                "server_settings": {"application_name": "driftcar"},
            },
        )
    engine = create_async_engine(target, **options)
    if target.drivername == "sqlite+aiosqlite":
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas(busy_timeout_ms))
    logger.debug("database engine for %s", redacted_url(target))
    return engine
