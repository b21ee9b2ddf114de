"""`driftcar reference`: store a monitor's reference data from a file, or list its versions.

    driftcar reference set MONITOR FILE [--database-url URL] [--note TEXT]
    driftcar reference list MONITOR [--database-url URL]

`set` reads and checks the whole file (CSV, Parquet or JSON lines) before it stores anything; a bad file is
reported on one line naming the line or column at fault (exit status 2). Both actions bring the database
schema up to date first.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import os
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from sqlalchemy.exc import ArgumentError

from sidecar.cli import CliError
from sidecar.cli.db import DEFAULT_URL, URL_ENV
from storage.engine import create_engine, redacted_url
from storage.errors import TRANSLATED, InvalidReference, StorageError
from storage.migrate import upgrade

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncEngine

    from storage.references import ReferenceInfo


def configure(parser: argparse.ArgumentParser) -> None:
    """Add the `set` and `list` actions."""
    actions = parser.add_subparsers(dest="reference_command", metavar="ACTION", required=True)
    put_help = "store FILE as the monitor's next reference version (the file is checked whole first)"
    put = actions.add_parser("set", help=put_help, description=put_help)
    put.add_argument("monitor", help="the monitor's name")
    put.add_argument("file", help="reference data: .csv, .parquet or .jsonl")
    put.add_argument("--note", help="a note stored with this version")
    list_help = "list the monitor's reference versions, newest first"
    listing = actions.add_parser("list", help=list_help, description=list_help)
    listing.add_argument("monitor", help="the monitor's name")
    for action in (put, listing):
        action.add_argument(
            "--database-url",
            default=os.environ.get(URL_ENV, DEFAULT_URL),
            help=f"SQLite or PostgreSQL URL (default: ${URL_ENV} or {DEFAULT_URL})",
        )


def _line(info: ReferenceInfo) -> str:
    created = datetime.datetime.fromtimestamp(info.created_at, datetime.UTC).strftime("%Y-%m-%d %H:%M:%SZ")
    note = f"  {info.note}" if info.note else ""
    return (
        f"v{info.version}  {created}  {info.source:<7}  {info.n_rows} rows x {len(info.columns)} columns  "
        f"{info.size_bytes} bytes{note}"
    )


async def _with_engine(url: str, work: Callable[[AsyncEngine], Awaitable[int]]) -> int:
    try:
        engine = create_engine(url)
    except ArgumentError:
        raise CliError("cannot parse the database URL; expected sqlite:///PATH or postgresql://...") from None
    except ValueError as exc:
        raise CliError(str(exc)) from None
    try:
        await upgrade(engine)
        return await work(engine)
    except InvalidReference as exc:
        raise CliError(str(exc)) from None
    except StorageError as exc:
        raise CliError(f"database {redacted_url(engine.url)}: {type(exc).__name__}: {exc}") from None
    except TRANSLATED as exc:  # from the migration, which runs outside the storage error translation
        raise CliError(f"database {redacted_url(engine.url)}: {type(exc).__name__}: {exc}") from None
    finally:
        await engine.dispose()


def run(args: argparse.Namespace) -> int:
    """Run the chosen action; exit status 0 on success."""
    from storage.reference_files import read_reference_file
    from storage.references import ReferenceStore

    if args.reference_command == "set":
        try:
            frame = read_reference_file(args.file)  # the whole file is checked before the database is touched
        except InvalidReference as exc:
            raise CliError(str(exc)) from None

        async def put(engine: AsyncEngine) -> int:
            try:
                info = await ReferenceStore(engine).put_reference(args.monitor, frame, "upload", args.note)
            except InvalidReference as exc:  # a column that cannot be stored: name the file, as for the rest
                raise CliError(f"{args.file}: {exc}") from None
            print(f"{args.monitor}: stored reference {_line(info)}")
            return 0

        return asyncio.run(_with_engine(str(args.database_url), put))

    async def show(engine: AsyncEngine) -> int:
        infos = await ReferenceStore(engine).list_references(args.monitor)
        if not infos:
            print(
                f"{args.monitor}: no reference yet (set one with `driftcar reference set {args.monitor} FILE`)"
            )
        for info in infos:
            print(_line(info))
        return 0

    return asyncio.run(_with_engine(str(args.database_url), show))
