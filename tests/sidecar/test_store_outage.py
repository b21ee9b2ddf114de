"""The store goes away under traffic: every request still succeeds, records wait in the spool, then all arrive."""

from __future__ import annotations

import asyncio

import aiohttp
import asyncpg
import pytest
from aiohttp.test_utils import TestServer
from sqlalchemy.engine import make_url

from sidecar.server import Sidecar
from tests.sidecar.conftest import SidecarFactory, proxy_url
from tests.sidecar.scrape import scrape_when
from tests.sidecar.test_admin import _disconnect, pg_admin

WRITTEN = "driftcar_records_written_total"
SPOOLED = "driftcar_records_spooled_total"
REPLAYED = "driftcar_records_replayed_total"
DROPPED = "driftcar_records_dropped_total"


async def _send(http: aiohttp.ClientSession, sidecar: Sidecar, ids: list[str]) -> None:
    async def one(rid: str) -> None:
        async with http.post(
            proxy_url(sidecar, "/predict"), json={"feature1": 6.5, "feature2": 1.0}, headers={"X-Request-ID": rid}
        ) as resp:
            assert resp.status == 200
            assert await resp.json() == {"prediction": 1}

    for start in range(0, len(ids), 25):
        await asyncio.gather(*(one(rid) for rid in ids[start : start + 25]))


@pytest.mark.postgres
async def test_records_survive_a_read_only_postgresql_through_the_spool(
    postgres_url: str, make_sidecar: SidecarFactory, upstream: TestServer, http: aiohttp.ClientSession
) -> None:
    sidecar = await make_sidecar(str(upstream.make_url("")), database_url=postgres_url)
    database = make_url(postgres_url).database
    assert database is not None
    before = [f"before-{i}" for i in range(50)]
    during = [f"during-{i}" for i in range(150)]
    await _send(http, sidecar, before)
    await scrape_when(http, sidecar, lambda m: m.value(WRITTEN) == 50)
    async with pg_admin() as admin:
        await admin.execute(f'ALTER DATABASE "{database}" SET default_transaction_read_only = on')
        await _disconnect(admin, database)
        try:
            await _send(http, sidecar, during)  # every request answered while the store refuses writes
            m = await scrape_when(http, sidecar, lambda m: m.value(SPOOLED) >= 150, timeout=20)
            assert m.value(WRITTEN) == 50
        finally:
            await admin.execute(f'ALTER DATABASE "{database}" RESET default_transaction_read_only')
            await _disconnect(admin, database)
        # Spooled records are counted as replayed, not written, once they reach the store.
        m = await scrape_when(http, sidecar, lambda m: m.value(REPLAYED) == 150, timeout=45)
        assert (m.value(WRITTEN), m.value(SPOOLED), m.value(DROPPED)) == (50, 150, 0)
    # Exactly the sent ids, once each, read straight from the database.
    conn = await asyncpg.connect(make_url(postgres_url).set(drivername="postgresql").render_as_string(False))
    try:
        stored = [r["request_id"] for r in await conn.fetch("SELECT request_id FROM records")]
    finally:
        await conn.close()
    assert sorted(stored) == sorted(before + during)
