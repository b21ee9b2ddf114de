"""Every broken reference file through `POST /api/monitors/{name}/references`: 400 with `{"error": ...}` naming
the line/column at fault, and the monitor's references unchanged (the version uploaded before is intact)."""

from __future__ import annotations

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from tests.sidecar.conftest import SidecarFactory, admin_url
from tests.storage.bad_references import BAD_FILES, GOOD


@pytest.mark.slow  # one sidecar with a monitor for all files: its report worker pre-imports Evidently
async def test_bad_uploads_are_400_and_leave_the_references_unchanged(
    make_sidecar: SidecarFactory, upstream: TestServer
) -> None:
    sidecar = await make_sidecar(
        str(upstream.make_url("")), monitors=[{"name": "m", "schedule": {"every": 3600, "enabled": False}}]
    )
    url = admin_url(sidecar, "/api/monitors/m/references")
    async with aiohttp.ClientSession() as http:
        async with http.post(url, data=GOOD, headers={"Content-Type": "text/csv"}) as resp:
            assert resp.status == 201, await resp.text()
        async with http.get(url) as resp:
            before = (await resp.json())["references"]
        failures = []
        for bad in BAD_FILES:
            async with http.post(url, data=bad.content, headers={"Content-Type": bad.content_type}) as resp:
                doc = await resp.json()
            expected = bad.upload_message or bad.message
            if resp.status != 400 or set(doc) != {"error"} or expected not in doc["error"]:
                failures.append(f"{bad.name}: {resp.status} {doc}")
        assert not failures, "\n".join(failures)
        async with http.get(url) as resp:
            assert (await resp.json())["references"] == before
    assert [r["version"] for r in before] == [1]
