"""End to end: traffic through the proxy, a shift in known columns and a bias against one group, a scheduled run.

The model server scores loans from `debt` and `score`; the traffic is 1,000 baseline rows, then the same rows
shuffled with `income` shifted and `region` re-mixed, while the model (a bad deploy) turns down half of the
women it would have approved. Every other column of the second phase holds exactly the first phase's values,
so drift in any of them would be a detector error, not chance. The monitor's default reference is the first
1,000 records and its window the newest 1,000; it fires every 2 s. The stored summary must flag exactly
`income` and `region`, and `female` on `sex`; the HTML report and the index must show it in headless Chromium.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import numpy as np
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from sidecar.server import Sidecar
from tests.browser import chromium_path, dump_dom
from tests.sidecar.conftest import SidecarFactory, admin_url, proxy_url
from tests.sidecar.reports.tables import split_section, visible_text

ROWS = 1000
BATCH = 20
SHIFTED = {"income", "region"}
FEATURES = ["age", "debt", "income", "region", "score", "sex"]
BIASED = "female"
BIASED_KEY = web.AppKey("biased", list[bool])


def _approve(row: dict[str, Any], biased: bool) -> int:
    ok = row["score"] - 0.5 * row["debt"] > 0.0
    if biased and row["sex"] == BIASED and row["id"] % 2 == 0:
        return 0
    return int(ok)


def _model_app() -> web.Application:
    """An MLflow-style scoring server whose bias the test switches on."""
    app = web.Application()
    app[BIASED_KEY] = [False]

    async def invocations(request: web.Request) -> web.Response:
        body = await request.json()
        rows = body["dataframe_records"]
        biased = request.app[BIASED_KEY][0]
        return web.json_response({"predictions": [_approve(r, biased) for r in rows]})

    app.router.add_post("/invocations", invocations)
    return app


def make_rows() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(baseline, shifted): the shifted rows are the baseline's, shuffled, with income and region moved."""
    rng = np.random.default_rng(11)
    base: list[dict[str, Any]] = [
        {
            "id": i,
            "age": int(rng.integers(18, 80)),
            "debt": round(float(rng.normal(0.0, 1.0)), 4),
            "income": round(float(rng.lognormal(10.0, 0.4)), 2),
            "region": str(rng.choice(["north", "south", "east", "west"], p=[0.4, 0.3, 0.2, 0.1])),
            "score": round(float(rng.normal(0.2, 1.0)), 4),
            "sex": str(rng.choice(["female", "male"])),
        }
        for i in range(ROWS)
    ]
    shifted = []
    for i, j in enumerate(rng.permutation(ROWS)):
        row = dict(base[int(j)])
        row["id"] = i
        row["income"] = round(row["income"] * 0.6, 2)
        if row["region"] in ("north", "south") and i % 2 == 0:
            row["region"] = "west"
        shifted.append(row)
    return base, shifted


@pytest.fixture
async def model_server() -> AsyncIterator[TestServer]:
    server = TestServer(_model_app(), host="127.0.0.1")
    await server.start_server()
    yield server
    await server.close()


def _monitor() -> dict[str, Any]:
    return {
        "name": "loans",
        "features": FEATURES,
        "window": {"records": ROWS},
        "schedule": {"every": 2},
        "reference": {"first_n": ROWS},
        "fairness": {"protected": ["sex"], "favorable": 1},
        "column_types": {"sex": "categorical", "region": "categorical"},
        "min_rows": 200,
    }


async def _send(http: aiohttp.ClientSession, sidecar: Sidecar, rows: list[dict[str, Any]], tag: str) -> None:
    for start in range(0, len(rows), BATCH):
        batch = rows[start : start + BATCH]
        headers = {"X-Request-ID": f"{tag}-{start // BATCH}"}
        async with http.post(
            proxy_url(sidecar, "/invocations"), json={"dataframe_records": batch}, headers=headers
        ) as resp:
            assert resp.status == 200, await resp.text()
            await resp.read()


async def _get(http: aiohttp.ClientSession, url: str) -> Any:
    async with http.get(url) as resp:
        assert resp.status == 200, await resp.text()
        return await resp.json()


async def _wait_for(predicate: Any, timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = await predicate()
        if found:
            return found
        await asyncio.sleep(0.25)
    pytest.fail(f"timed out after {timeout} s waiting for {what}")


async def test_scheduled_run_flags_exactly_the_shift_and_the_bias(
    make_sidecar: SidecarFactory, model_server: TestServer, tmp_path: Path
) -> None:
    sidecar = await make_sidecar(
        str(model_server.make_url("")),
        monitors=[_monitor()],
        routes=[{"path": "/invocations", "adapter": {"adapter": "mlflow", "model": "loan-approval"}}],
    )
    base, shifted = make_rows()
    async with aiohttp.ClientSession() as http:
        await _send(http, sidecar, base, "base")
        model_server.app[BIASED_KEY][0] = True
        phase_two = time.time()
        await _send(http, sidecar, shifted, "shifted")
        sent_at = time.time()

        # Ground truth for the shifted phase: the unbiased decision, by request id and row.
        labels = [
            {"request_id": f"shifted-{i // BATCH}", "row": i % BATCH, "label": _approve(r, biased=False)}
            for i, r in enumerate(shifted)
        ]
        async with http.post(admin_url(sidecar, "/api/feedback"), json={"labels": labels}) as resp:
            assert resp.status == 200, await resp.text()
            assert (await resp.json()) == {"stored": ROWS}

        async def settled_run() -> dict[str, Any] | None:
            doc = await _get(http, admin_url(sidecar, "/api/monitors/loans/runs?limit=50"))
            for run in doc["runs"]:
                # A run that started after every record and label was stored and whose window is phase two.
                if run["status"] == "ok" and run["claimed_at"] > sent_at + 1.0:
                    assert run["summary"]["window_start"] >= phase_two
                    return dict(run)
            return None

        run = await _wait_for(settled_run, 60.0, "a scheduled run over the shifted phase")
        summary = run["summary"]
        assert run["n_rows"] == ROWS and run["reference_version"] == 1
        assert summary["reference"] == {"rows": ROWS, "version": 1, "source": "first_n"}

        # Exactly the shifted columns drift; the dataset verdict follows drift_share 0.5 (2 of 6: no).
        drifted = {f["column"] for f in summary["flags"] if f["kind"] == "column_drift"}
        assert drifted == SHIFTED
        tested = {c["column"] for c in summary["drift"]["columns"]}
        assert tested == set(FEATURES)
        assert summary["drift"]["dataset_drift"] is False
        # The bias: every fairness flag is on `sex` and finds `female` worse off.
        fairness = [f for f in summary["flags"] if f["kind"] in ("fairness", "bias_drift")]
        assert fairness and {(f["attribute"], f["group"]) for f in fairness} == {("sex", BIASED)}
        assert "demographic_parity_ratio" in {f["metric"] for f in fairness}
        assert "equal_opportunity_difference" in {f["metric"] for f in fairness}
        assert summary["performance"] is not None  # the labels arrived through /api/feedback

        # Earlier runs before the reference existed were skipped with the reason, and the scheduler went on.
        doc = await _get(http, admin_url(sidecar, "/api/monitors/loans/runs?limit=200"))
        statuses = {r["status"] for r in doc["runs"]}
        assert statuses <= {"ok", "skipped", "running"}
        latest = await _get(http, admin_url(sidecar, "/api/monitors/loans/reports/latest"))
        assert latest["status"] == "ok" and latest["links"]["html"] == f"/reports/{latest['id']}"
        same = await _get(http, admin_url(sidecar, f"/reports/{run['id']}.json"))
        assert same["summary"] == summary

    # The report and the index, drawn by a real browser from the admin port.
    chromium = chromium_path()
    dom = await asyncio.to_thread(
        dump_dom, chromium, admin_url(sidecar, f"/reports/{run['id']}"), tmp_path / "profile"
    )
    section, evidently = split_section(dom)
    drawn = visible_text(evidently)
    assert "Dataset Drift" in drawn
    assert set(re.findall(r"(\w+) (?:num|cat) Detected", drawn)) == SHIFTED
    assert BIASED in visible_text(section)
    index = await asyncio.to_thread(dump_dom, chromium, admin_url(sidecar, "/reports"), tmp_path / "profile2")
    text = visible_text(index)
    assert "loans" in text and "income" in text and "region" in text and BIASED in text
    assert "<svg" in index
