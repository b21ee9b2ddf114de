"""Idempotency-Keys seen, in a SQLite file: repeats are dropped across restarts, failed deliveries retried.

A delivery is claimed (`running`) before its actions run, each action's success is recorded as it happens, and
the key becomes `done` only when all succeeded. A failed delivery (`failed`) is claimed again by the sender's
retry, which skips the actions already done. A `running` claim older than the in-progress timeout belongs to a
consumer that died mid-action and may be claimed again.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import aiosqlite
import orjson

from alerts.consumer.errors import StoreUnavailable

logger = logging.getLogger(__name__)

SCHEMA_VERSION = 1
_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS deliveries (
        key TEXT PRIMARY KEY,
        state TEXT NOT NULL CHECK (state IN ('running', 'done', 'failed')),
        attempts INTEGER NOT NULL,
        claimed_at REAL NOT NULL,
        finished_at REAL,
        error TEXT,
        response TEXT
    )""",
    "CREATE INDEX IF NOT EXISTS deliveries_finished ON deliveries (finished_at)",
    """CREATE TABLE IF NOT EXISTS action_runs (
        key TEXT NOT NULL,
        action TEXT NOT NULL,
        finished_at REAL NOT NULL,
        result TEXT NOT NULL,
        PRIMARY KEY (key, action)
    )""",
)

ClaimOutcome = Literal["new", "duplicate", "busy"]


@dataclass(frozen=True, slots=True)
class Claim:
    """What the store says about a key being delivered."""

    outcome: ClaimOutcome
    """`new`: run the actions; `duplicate`: already done; `busy`: another delivery is running it."""
    attempt: int
    done: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Results of the actions an earlier attempt already completed, by action name."""
    response: dict[str, Any] | None = None
    """A duplicate's original response."""


class DedupeStore:
    """The deliveries table on one aiosqlite connection; transactions are serialized by a lock."""

    def __init__(self, db: aiosqlite.Connection) -> None:
        self._db = db
        self._lock = asyncio.Lock()

    @classmethod
    async def open(cls, path: Path) -> DedupeStore:
        """Open (creating) the file and its tables."""
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            db = await aiosqlite.connect(path, isolation_level=None, timeout=10.0)
        except (OSError, sqlite3.Error) as exc:
            raise StoreUnavailable(f"dedupe store {path}: {exc}") from None
        store = cls(db)
        try:
            await db.execute("PRAGMA journal_mode=WAL")
            async with store._transaction():
                for statement in _SCHEMA:
                    await db.execute(statement)
                await db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
        except BaseException:
            await db.close()
            raise
        return store

    async def close(self) -> None:
        """Close the connection."""
        await self._db.close()

    @asynccontextmanager
    async def _transaction(self) -> AsyncIterator[aiosqlite.Connection]:
        async with self._lock:
            try:
                # IMMEDIATE: the write lock is taken up front, so two processes cannot both claim a key.
                await self._db.execute("BEGIN IMMEDIATE")
                try:
                    yield self._db
                except BaseException:
                    await self._db.rollback()
                    raise
                await self._db.commit()
            except sqlite3.Error as exc:
                raise StoreUnavailable(f"dedupe store: {exc}") from None

    async def claim(self, key: str, now: float, in_progress_timeout: float) -> Claim:
        """Claim `key` for delivery, unless it is done or being delivered right now."""
        async with self._transaction() as db:
            async with db.execute(
                "SELECT state, attempts, claimed_at, response FROM deliveries WHERE key = ?", (key,)
            ) as cur:
                row = await cur.fetchone()
            if row is None:
                await db.execute(
                    "INSERT INTO deliveries (key, state, attempts, claimed_at) VALUES (?, 'running', 1, ?)",
                    (key, now),
                )
                return Claim("new", 1)
            state, attempts, claimed_at, response = row
            if state == "done":
                return Claim("duplicate", attempts, response=orjson.loads(response) if response else None)
            if state == "running" and now - claimed_at < in_progress_timeout:
                return Claim("busy", attempts)
            if state == "running":
                logger.warning("delivery %s: taking over a claim abandoned %.0f s ago", key, now - claimed_at)
            await db.execute(
                "UPDATE deliveries SET state = 'running', attempts = ?, claimed_at = ?, finished_at = NULL "
                "WHERE key = ?",
                (attempts + 1, now, key),
            )
            async with db.execute("SELECT action, result FROM action_runs WHERE key = ?", (key,)) as cur:
                done = {name: orjson.loads(result) for name, result in await cur.fetchall()}
            return Claim("new", attempts + 1, done=done)

    async def action_done(self, key: str, action: str, result: dict[str, Any], now: float) -> None:
        """Record that `action` succeeded for `key` (a retry will not run it again)."""
        async with self._transaction() as db:
            await db.execute(
                "INSERT OR REPLACE INTO action_runs (key, action, finished_at, result) VALUES (?, ?, ?, ?)",
                (key, action, now, orjson.dumps(result).decode()),
            )

    async def finish(self, key: str, response: dict[str, Any], now: float) -> None:
        """Mark `key` done: every later delivery of it is a duplicate."""
        async with self._transaction() as db:
            await db.execute(
                "UPDATE deliveries SET state = 'done', finished_at = ?, error = NULL, response = ? WHERE key = ?",
                (now, orjson.dumps(response).decode(), key),
            )

    async def fail(self, key: str, error: str, now: float) -> None:
        """Release `key` after a failed attempt: the sender's retry claims it again."""
        async with self._transaction() as db:
            await db.execute(
                "UPDATE deliveries SET state = 'failed', finished_at = ?, error = ? WHERE key = ?",
                (now, error[:2000], key),
            )

    async def state(self, key: str) -> str | None:
        """The key's state (`running`, `done`, `failed`), or None if unknown."""
        async with (
            self._transaction() as db,
            db.execute("SELECT state FROM deliveries WHERE key = ?", (key,)) as cur,
        ):
            row = await cur.fetchone()
        return None if row is None else str(row[0])

    async def purge(self, before: float) -> int:
        """Forget deliveries finished (or abandoned) before `before`; the number forgotten."""
        old = "SELECT key FROM deliveries WHERE coalesce(finished_at, claimed_at) < ?"
        async with self._transaction() as db:
            await db.execute(f"DELETE FROM action_runs WHERE key IN ({old})", (before,))
            cur = await db.execute(
                "DELETE FROM deliveries WHERE coalesce(finished_at, claimed_at) < ?", (before,)
            )
            return cur.rowcount
