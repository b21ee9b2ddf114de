"""`driftcar db`: apply the schema migrations, or show which revision a database is at."""

from __future__ import annotations

import argparse
import asyncio
import os
from collections.abc import Awaitable, Callable

from sqlalchemy.exc import ArgumentError
from sqlalchemy.ext.asyncio import AsyncEngine

from sidecar.cli import CliError
from storage.engine import create_engine, redacted_url
from storage.errors import TRANSLATED
from storage.migrate import current_revision, head_revision, upgrade

DEFAULT_URL = "sqlite+aiosqlite:///./driftcar.db"
URL_ENV = "DRIFTCAR_DATABASE_URL"


def configure(parser: argparse.ArgumentParser) -> None:
    """Add the `upgrade` and `current` actions and their `--database-url` option."""
    actions = parser.add_subparsers(dest="db_command", metavar="ACTION", required=True)
    for name, help_text in (
        ("upgrade", "upgrade the schema to the newest revision (safe to run again)"),
        ("current", "print the database's revision and the newest one this driftcar ships"),
    ):
        action = actions.add_parser(name, help=help_text, description=help_text)
        action.add_argument(
            "--database-url",
            default=os.environ.get(URL_ENV, DEFAULT_URL),
            help=f"SQLite or PostgreSQL URL (default: ${URL_ENV} or {DEFAULT_URL})",
        )


async def _with_engine(url: str, work: Callable[[AsyncEngine], Awaitable[int]]) -> int:
    try:
        engine = create_engine(url)
    except ArgumentError:
        # The parser's message repeats the URL, password included, so it is not shown.
        raise CliError("cannot parse the database URL; expected sqlite:///PATH or postgresql://...") from None
    except ValueError as exc:
        raise CliError(str(exc)) from None
    try:
        return await work(engine)
    except TRANSLATED as exc:
        raise CliError(f"database {redacted_url(engine.url)}: {type(exc).__name__}: {exc}") from None
    finally:
        await engine.dispose()


async def _upgrade(engine: AsyncEngine) -> int:
    await upgrade(engine)
    print(f"{redacted_url(engine.url)}: at revision {await current_revision(engine)}")
    return 0


async def _current(engine: AsyncEngine) -> int:
    revision = await current_revision(engine)
    head = head_revision()
    state = "up to date" if revision == head else "needs `driftcar db upgrade`"
    print(f"{redacted_url(engine.url)}: revision {revision or '(none)'}, newest {head}: {state}")
    return 0 if revision == head else 1


def run(args: argparse.Namespace) -> int:
    """Run the chosen action; exit status 0 on success (for `current`: 1 when the schema is behind)."""
    work = _upgrade if args.db_command == "upgrade" else _current
    return asyncio.run(_with_engine(str(args.database_url), work))
