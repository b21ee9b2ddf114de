"""Migrations: from an empty database on both backends, idempotent, matching `storage.schema`, and the CLI."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from storage.engine import create_engine
from storage.migrate import current_revision, downgrade, head_revision, upgrade
from storage.schema import metadata


def _schema_diff(connection: Connection) -> list[object]:
    return list(compare_metadata(MigrationContext.configure(connection), metadata))


def _tables(connection: Connection) -> set[str]:
    return set(inspect(connection).get_table_names())


async def test_upgrade_from_empty_is_idempotent_and_matches_schema(
    engine: AsyncEngine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # the script location must not depend on the working directory
    assert await current_revision(engine) is None
    await upgrade(engine)
    await upgrade(engine)
    assert await current_revision(engine) == head_revision() == "0004"
    async with engine.connect() as conn:
        assert {
            "records",
            "spool_segments",
            "reference_sets",
            "feedback",
            "report_runs",
            "alembic_version",
        } <= await conn.run_sync(_tables)
        assert await conn.run_sync(_schema_diff) == []


async def test_downgrade_to_base_and_up_again(engine: AsyncEngine) -> None:
    await upgrade(engine)
    await downgrade(engine, "base")
    assert await current_revision(engine) is None
    async with engine.connect() as conn:
        assert not {
            "records",
            "spool_segments",
            "reference_sets",
            "feedback",
            "report_runs",
        } & await conn.run_sync(_tables)
    await upgrade(engine)
    assert await current_revision(engine) == head_revision()


@pytest.mark.postgres
@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
async def test_concurrent_upgrades_are_serialised(database_url: str) -> None:
    engines = [create_engine(database_url) for _ in range(3)]
    try:
        await asyncio.gather(*(upgrade(e) for e in engines))
        assert await current_revision(engines[0]) == head_revision()
    finally:
        for e in engines:
            await e.dispose()


async def _cli(*args: str, env_url: str | None = None, cwd: Path) -> tuple[int, str]:
    env = {k: v for k, v in os.environ.items() if k != "DRIFTCAR_DATABASE_URL"}
    if env_url is not None:
        env["DRIFTCAR_DATABASE_URL"] = env_url
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "sidecar.cli",
        "db",
        *args,
        cwd=cwd,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await proc.communicate()
    assert proc.returncode is not None
    return proc.returncode, out.decode()


async def test_cli_upgrade_then_current(database_url: str, tmp_path: Path) -> None:
    code, out = await _cli("current", "--database-url", database_url, cwd=tmp_path)
    assert code == 1, out
    assert "needs `driftcar db upgrade`" in out
    code, out = await _cli("upgrade", "--database-url", database_url, cwd=tmp_path)
    assert code == 0, out
    code, out = await _cli("current", env_url=database_url, cwd=tmp_path)
    assert (code, out.splitlines()[-1].endswith("newest 0004: up to date")) == (0, True), out


async def test_cli_default_url_is_sqlite_file_in_cwd(tmp_path: Path) -> None:
    code, out = await _cli("upgrade", cwd=tmp_path)
    assert code == 0, out
    assert (tmp_path / "driftcar.db").is_file()


async def test_cli_hides_password_and_reports_unreachable_database(tmp_path: Path) -> None:
    url = "postgresql://driftcar:s3cret-pw@127.0.0.1:9/nowhere"  # port 9 (discard) is closed here
    code, out = await _cli("upgrade", "--database-url", url, cwd=tmp_path)
    assert code == 2
    assert "s3cret-pw" not in out
    assert "driftcar:***@127.0.0.1:9/nowhere" in out


async def test_0002_upgrades_and_downgrades_around_existing_records(engine: AsyncEngine) -> None:
    from storage.store import RecordStore
    from tests.storage.helpers import make_records

    await upgrade(engine, "0001")
    await RecordStore(engine).insert(make_records(3))
    await upgrade(engine)
    assert await RecordStore(engine).count() == 3
    await downgrade(engine, "0001")
    async with engine.connect() as conn:
        assert not {"reference_sets", "feedback", "report_runs"} & await conn.run_sync(_tables)
    assert await RecordStore(engine).count() == 3
