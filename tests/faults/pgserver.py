"""A private PostgreSQL server for tests that stop the database: never the shared one on :5432.

`PgServer` runs `initdb` into a temporary directory and `pg_ctl start/stop` on a free port (as the `postgres`
user when running as root, since PostgreSQL refuses to run as root). The `pg_server` fixture starts one per
session; each test gets its own database on it (`private_pg_url`) and finds the server running. Without the
PostgreSQL binaries the fixture fails under CI (env `CI` set) and skips elsewhere.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import pytest

from sidecar.server import free_port

_SEARCH = ("/usr/lib/postgresql/*/bin", "/usr/local/pgsql/bin", "/usr/pgsql-*/bin")


def find_bin_dir() -> Path | None:
    """The directory holding `initdb` and `pg_ctl` (PATH first, then the usual install places)."""
    on_path = shutil.which("initdb")
    if on_path:
        return Path(on_path).parent
    for pattern in _SEARCH:
        for found in sorted(glob.glob(pattern), reverse=True):  # newest major version first
            if (Path(found) / "initdb").exists() and (Path(found) / "pg_ctl").exists():
                return Path(found)
    return None


class PgServer:
    """One PostgreSQL cluster in a temporary directory, on 127.0.0.1:`port`; `start`/`stop` at will."""

    def __init__(self, bin_dir: Path) -> None:
        self.bin_dir = bin_dir
        self.port = free_port()
        # Not under pytest's tmp_path: that is private to root, and the server runs as `postgres`.
        self.directory = Path(tempfile.mkdtemp(prefix="driftcar-pg-"))
        self.data = self.directory / "data"
        self._as_postgres = os.geteuid() == 0
        if self._as_postgres:
            shutil.chown(self.directory, "postgres", "postgres")

    @property
    def url(self) -> str:
        """SQLAlchemy URL of the `postgres` database."""
        return f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, *args: str, timeout: float = 120.0) -> None:
        command = [str(self.bin_dir / args[0]), *args[1:]]
        if self._as_postgres:
            command = ["runuser", "-u", "postgres", "--", *command]
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(args[:2])} failed ({done.returncode}): {done.stderr or done.stdout}")

    def init(self) -> None:
        """Create the cluster (trust auth; no fsync: a test server that is stopped cleanly, never crashed)."""
        self._run("initdb", "-D", str(self.data), "-A", "trust", "-U", "postgres", "-N", "-E", "UTF8")

    def start(self) -> None:
        """Start the server and wait until it accepts connections."""
        options = (
            f"-p {self.port} -k {self.directory} -c listen_addresses=127.0.0.1 -c fsync=off "
            "-c synchronous_commit=off -c full_page_writes=off -c shared_buffers=16MB -c max_connections=50"
        )
        log = str(self.directory / "server.log")
        self._run("pg_ctl", "-D", str(self.data), "-o", options, "-l", log, "-w", "-t", "60", "start")

    def stop(self) -> None:
        """Stop the server at once (`-m fast`: open sessions are terminated, as in a failover)."""
        self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "-t", "60", "stop")

    def is_running(self) -> bool:
        """True when the postmaster is up."""
        return (self.data / "postmaster.pid").exists()

    def remove(self) -> None:
        """Stop if running and delete the cluster."""
        if self.is_running():
            self.stop()
        shutil.rmtree(self.directory, ignore_errors=True)


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PgServer]:
    """A private PostgreSQL server for the session (fails under CI, skips elsewhere, without the binaries)."""
    bin_dir = find_bin_dir()
    if bin_dir is None:
        message = "initdb/pg_ctl not found: a private PostgreSQL server cannot be started"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    server = PgServer(bin_dir)
    try:
        server.init()
        server.start()
        yield server
    finally:
        server.remove()


@pytest.fixture
async def private_pg_url(pg_server: PgServer) -> AsyncIterator[str]:
    """A new database on the private server (which is running when the test starts); dropped afterwards."""
    if not pg_server.is_running():
        pg_server.start()  # a failed test may have left it stopped
    name = f"driftcar_fault_{uuid.uuid4().hex[:12]}"
    admin_dsn = f"postgresql://postgres@127.0.0.1:{pg_server.port}/postgres"
    admin = await asyncpg.connect(admin_dsn, timeout=10)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    yield f"postgresql+asyncpg://postgres@127.0.0.1:{pg_server.port}/{name}"
    if not pg_server.is_running():
        pg_server.start()
    admin = await asyncpg.connect(admin_dsn, timeout=10)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()
