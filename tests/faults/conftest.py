"""Fixtures for fault tests: the upstream as a process, `driftcar serve` processes, a private PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from tests.faults.pgserver import pg_server, private_pg_url
from tests.faults.procs import Driftcar, Upstream

DriftcarFactory = Callable[..., Awaitable[Driftcar]]


@pytest.fixture
async def upstream_proc() -> AsyncIterator[Upstream]:
    """The model server in its own process (killed at teardown)."""
    upstream = Upstream()
    await upstream.start()
    yield upstream
    if upstream.proc is not None and upstream.proc.returncode is None:
        upstream.resume()  # a stopped process ignores everything but SIGKILL and SIGCONT
        await upstream.kill()


@pytest.fixture
async def start_driftcar(tmp_path: Path) -> AsyncIterator[DriftcarFactory]:
    """Start `driftcar serve` processes (killed at teardown if still running); `config` is its YAML."""
    started: list[Driftcar] = []

    async def factory(upstream: str, database_url: str, config: dict[str, Any] | None = None) -> Driftcar:
        driftcar = Driftcar(tmp_path, upstream, database_url, config)
        started.append(driftcar)
        await driftcar.start()
        return driftcar

    yield factory
    for driftcar in started:
        await driftcar.close()


__all__ = ["DriftcarFactory", "pg_server", "private_pg_url"]
