"""Fixtures for proxy tests: a real upstream on 127.0.0.1 and real driftcar sidecars in front of it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from sidecar.server import Sidecar
from sidecar.settings import Settings
from tests.conftest import fresh_pg_database
from tests.sidecar.upstream import create_upstream

SidecarFactory = Callable[..., Awaitable[Sidecar]]


@pytest.fixture
async def upstream() -> AsyncIterator[TestServer]:
    """The stand-in model server."""
    server = TestServer(create_upstream(), host="127.0.0.1")
    await server.start_server()
    yield server
    await server.close()


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """A fresh SQLite database file."""
    return f"sqlite+aiosqlite:///{tmp_path / 'driftcar.db'}"


@pytest.fixture
async def postgres_url() -> AsyncIterator[str]:
    """A new PostgreSQL database on the real server (fails under CI when the server is down)."""
    async with fresh_pg_database() as url:
        yield url


@pytest.fixture
async def make_sidecar(tmp_path: Path, sqlite_url: str) -> AsyncIterator[SidecarFactory]:
    """Start driftcar sidecars (stopped at teardown); keyword arguments override Settings fields."""
    started: list[Sidecar] = []

    async def factory(upstream_url: str, **overrides: Any) -> Sidecar:
        values: dict[str, Any] = {
            "upstream": upstream_url,
            "host": "127.0.0.1",
            "port": 0,
            "admin_port": 0,
            "database_url": sqlite_url,
            "capture": {"spool_dir": str(tmp_path / "spool"), "flush_interval": 0.05},
        }
        for key, value in overrides.items():
            if isinstance(value, dict) and isinstance(values.get(key), dict):
                values[key] = {**values[key], **value}
            else:
                values[key] = value
        sidecar = Sidecar(Settings.model_validate(values))
        await sidecar.start()
        started.append(sidecar)
        return sidecar

    yield factory
    for sidecar in started:
        await sidecar.stop()


@pytest.fixture
async def sidecar(make_sidecar: SidecarFactory, upstream: TestServer) -> Sidecar:
    """One sidecar in front of the stand-in upstream, on SQLite."""
    return await make_sidecar(str(upstream.make_url("")))


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    """A client that, like a real one, sees the bytes on the wire (no automatic decompression)."""
    async with aiohttp.ClientSession(auto_decompress=False) as session:
        yield session


def proxy_url(sidecar: Sidecar, path: str) -> str:
    """URL of `path` through the sidecar's proxy port."""
    return f"http://127.0.0.1:{sidecar.port}{path}"


def admin_url(sidecar: Sidecar, path: str) -> str:
    """URL of `path` on the sidecar's admin port."""
    return f"http://127.0.0.1:{sidecar.admin_port}{path}"


async def wait_records(
    http: aiohttp.ClientSession, sidecar: Sidecar, count: int, timeout: float = 10.0, **query: str
) -> list[dict[str, Any]]:
    """Poll the admin API until at least `count` records are stored; return them newest first."""
    deadline = asyncio.get_running_loop().time() + timeout
    params = {"limit": "1000", **query}
    while True:
        async with http.get(admin_url(sidecar, "/api/records"), params=params) as resp:
            assert resp.status == 200, await resp.text()
            doc = await resp.json()
        found: list[dict[str, Any]] = doc["records"]
        if len(found) >= count or asyncio.get_running_loop().time() > deadline:
            return found
        await asyncio.sleep(0.05)


__all__ = ["SidecarFactory", "admin_url", "proxy_url", "wait_records", "web"]
