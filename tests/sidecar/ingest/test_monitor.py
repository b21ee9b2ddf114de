"""A monitor runs over records that arrived only through the KServe logger (no proxied traffic at all)."""

from __future__ import annotations

from datetime import UTC, datetime

import aiohttp
import numpy as np
import orjson
import pytest
from aiohttp.test_utils import TestServer

from tests.sidecar.conftest import SidecarFactory, admin_url, wait_records
from tests.sidecar.ingest.events import event

T0 = 1_795_600_800.0
BATCH = 60

MONITOR = {
    "name": "iris",
    "model": "sklearn-iris",
    "window": {"minutes": 60},
    "schedule": {"every": 3600, "enabled": False},
    "min_rows": 50,
    "reference": {"first_n": 2 * BATCH},
}


def _iso(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).isoformat().replace("+00:00", "Z")


@pytest.mark.slow
async def test_monitor_run_over_ingested_records(
    make_sidecar: SidecarFactory, upstream: TestServer, http: aiohttp.ClientSession
) -> None:
    sidecar = await make_sidecar(str(upstream.make_url("")), monitors=[MONITOR])
    rng = np.random.default_rng(7)
    # Two baseline requests (the default reference: the first 2 * BATCH records), then two with f0 shifted.
    for i, shift in enumerate([0.0, 0.0, 3.0, 3.0]):
        rows = rng.normal(size=(BATCH, 4))
        rows[:, 0] += shift
        t = T0 + 10 * i
        request = orjson.dumps({"instances": rows.tolist()})
        response = orjson.dumps({"predictions": rng.integers(0, 2, BATCH).tolist()})
        for kind, body, at in (("request", request, t), ("response", response, t + 0.01)):
            ev = event(kind, f"req-{i}", body, time=_iso(at))
            async with http.post(
                admin_url(sidecar, "/ingest/kserve"), data=ev.body, headers=ev.headers
            ) as resp:
                assert resp.status == 202, await resp.text()
    assert len(await wait_records(http, sidecar, 4 * BATCH)) == 4 * BATCH
    window = {"from": str(T0 + 20), "to": str(T0 + 40)}
    async with http.post(admin_url(sidecar, "/api/monitors/iris/run"), params=window) as resp:
        assert resp.status == 200, await resp.text()
        doc = await resp.json()
    run = doc["run"]
    assert run["status"] == "ok" and run["n_rows"] == 2 * BATCH
    assert run["summary"]["reference"]["source"] == "first_n"
    assert {f["column"] for f in run["summary"]["flags"] if f["kind"] == "column_drift"} == {"f0"}
