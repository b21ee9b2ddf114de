"""driftcar as a real Prometheus sees it: Debian's `prometheus` scrapes a sidecar every second and its HTTP
API answers the request rate by model and route, the records written, and a monitor run's drift and fairness
exactly as the stored summary has them; `promtool check metrics` (its naming lints) accepts the exposition
(so does the fast tests/sidecar/monitors/test_metrics.py) and `promtool check rules` the documented alerts.

Both binaries come with Debian's `prometheus` package (scripts/ensure-services.sh installs it); without them the
tests fail under CI (env `CI` set) and are skipped elsewhere.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import numpy as np
import pandas as pd
import pytest
import yaml
from aiohttp import web
from aiohttp.test_utils import TestServer

from sidecar.server import Sidecar
from tests.alerts.windows import sidecar_config
from tests.sidecar.conftest import SidecarFactory, admin_url, proxy_url
from tests.sidecar.prom import DOCS, binary, eventually, promtool, serving
from tests.storage.helpers import fill_sqlite, predict_records

T0 = 1_790_000_000.0
N = 300
REQUESTS = 20
MODEL = "scorer"
DELIVERED = web.AppKey("delivered", list[bytes])
SECRET_ENV = "TEST_PROMETHEUS_HOOK_SECRET"


@dataclass
class Prometheus:
    """A running Prometheus and a client for its query API."""

    url: str
    http: aiohttp.ClientSession
    log: Path

    async def query(self, promql: str) -> list[tuple[dict[str, str], float]]:
        """An instant query's result: (labels, value) per series."""
        async with self.http.get(f"{self.url}/api/v1/query", params={"query": promql}) as resp:
            doc = await resp.json()
            assert resp.status == 200 and doc["status"] == "success", doc
        return [(r["metric"], float(r["value"][1])) for r in doc["data"]["result"]]

    async def value(self, promql: str, expected: float, timeout: float = 60.0) -> None:
        """Wait until the query has exactly one series, of value `expected` (scrapes come every second)."""
        last: list[list[tuple[dict[str, str], float]]] = []

        async def check() -> bool:
            last[:] = [await self.query(promql)]
            return len(last[0]) == 1 and last[0][0][1] == expected

        try:
            await eventually(check, timeout, f"{promql} == {expected!r}")
        except AssertionError:
            raise AssertionError(f"{promql}: expected {expected!r}, last answer {last}") from None


@pytest.fixture
async def start_prometheus(tmp_path: Path) -> AsyncIterator[Callable[[Sidecar], Awaitable[Prometheus]]]:
    """Start Prometheus on a free 127.0.0.1 port, scraping a sidecar's admin port every second."""
    executable = binary("prometheus")
    async with (
        aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as http,
        contextlib.AsyncExitStack() as running,
    ):

        async def start(sidecar: Sidecar) -> Prometheus:
            config = {
                "global": {"scrape_interval": "1s", "scrape_timeout": "1s", "evaluation_interval": "1s"},
                "scrape_configs": [
                    {
                        "job_name": "driftcar",
                        "static_configs": [{"targets": [f"127.0.0.1:{sidecar.admin_port}"]}],
                    }
                ],
            }
            (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(config))
            log = tmp_path / "prometheus.log"
            url = await running.enter_async_context(
                serving(
                    executable,
                    f"--config.file={tmp_path / 'prometheus.yml'}",
                    f"--storage.tsdb.path={tmp_path / 'tsdb'}",
                    log=log,
                )
            )
            return Prometheus(url, http, log)

        yield start


async def fill_window(tmp_path: Path) -> str:
    """A SQLite database with N records of model m from T0 (x0 shifted; women approved half as often) and a
    reference without either; its URL."""
    rng = np.random.default_rng(5)
    sex = rng.choice(["female", "male"], N)
    approved = np.where(sex == "female", rng.random(N) < 0.3, rng.random(N) < 0.6).astype(int)
    rows = [
        ({"x0": float(rng.normal(2.0)), "x1": float(rng.normal()), "sex": str(sex[i])}, int(approved[i]))
        for i in range(N)
    ]
    records = predict_records(T0, rows, id_prefix="w-", model_version="7")
    reference = pd.DataFrame(
        {
            "x0": rng.normal(size=N),
            "x1": rng.normal(size=N),
            "sex": rng.choice(["female", "male"], N),
            "prediction": (rng.random(N) < 0.5).astype(int),
        }
    )
    return await fill_sqlite(tmp_path / "window.db", records, {"m": reference})


@pytest.fixture
async def receiver() -> AsyncIterator[TestServer]:
    """A webhook receiver that accepts every alert."""
    app = web.Application()
    app[DELIVERED] = []

    async def hook(request: web.Request) -> web.Response:
        request.app[DELIVERED].append(await request.read())
        return web.json_response({"ok": True})

    app.router.add_post("/hook", hook)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    yield server
    await server.close()


def _config(database_url: str, receiver: TestServer) -> dict[str, Any]:
    hook = {"name": "ops", "url": str(receiver.make_url("/hook")), "secret_env": SECRET_ENV}
    config = sidecar_config(database_url, hook, 0.5)
    config["monitors"][0].update(
        {
            "window": {"minutes": N / 60},
            "fairness": {"protected": ["sex"], "favorable": 1, "min_group_size": 30},
            "column_types": {"sex": "categorical"},
            "drift": {"drift_share": 0.3},
        }
    )
    config["routes"] = [{"path": "/predict", "adapter": {"model": MODEL}}]
    config["metrics"] = {"refresh": 0.5}
    return config


async def _metrics_text(http: aiohttp.ClientSession, sidecar: Sidecar) -> str:
    async with http.get(admin_url(sidecar, "/metrics")) as resp:
        assert resp.status == 200
        return await resp.text()


async def test_the_docs_alerting_rules_pass_promtool(tmp_path: Path) -> None:
    (rules,) = [
        block
        for block in re.findall(r"```yaml\n(.*?)```", DOCS.read_text(), re.DOTALL)
        if block.startswith("groups:")
    ]
    names = {r["alert"] for g in yaml.safe_load(rules)["groups"] for r in g["rules"]}
    assert {"DriftcarDatasetDrift", "DriftcarNoSuccessfulRun", "DriftcarRecordsDropped"} <= names
    (tmp_path / "rules.yml").write_text(rules)
    await promtool("check", "rules", str(tmp_path / "rules.yml"), expect=f"SUCCESS: {len(names)} rules found")


@pytest.mark.slow
async def test_prometheus_scrapes_traffic_and_a_monitor_runs_drift_and_fairness(
    start_prometheus: Callable[[Sidecar], Awaitable[Prometheus]],
    make_sidecar: SidecarFactory,
    upstream: TestServer,
    receiver: TestServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(SECRET_ENV, "a-webhook-secret-of-some-length")
    url = await fill_window(tmp_path)
    sidecar = await make_sidecar(str(upstream.make_url("")), **_config(url, receiver))
    prometheus = await start_prometheus(sidecar)
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=120)) as http:
        await prometheus.value('up{job="driftcar"}', 1)
        by_route = f'sum by (model, route) (driftcar_request_duration_seconds_count{{model="{MODEL}"}})'
        # Two bursts, each seen by a scrape: a rate needs an increase between two samples of a series.
        for burst in range(2):
            for i in range(REQUESTS // 2):
                headers = {"X-Request-ID": f"p-{burst}-{i}"}
                async with http.post(proxy_url(sidecar, "/predict"), json={"x": i}, headers=headers) as resp:
                    assert resp.status == 200
            await prometheus.value(by_route, (burst + 1) * REQUESTS // 2)
        ((labels, _),) = await prometheus.query(by_route)
        assert labels == {"model": MODEL, "route": "/predict"}
        rates = await prometheus.query(
            "sum by (model, route) (rate(driftcar_request_duration_seconds_count[5m]))"
        )
        assert [labels for labels, rate in rates if rate > 0] == [{"model": MODEL, "route": "/predict"}]
        await prometheus.value("driftcar_records_written_total", REQUESTS)

        params = {"from": str(T0), "to": str(T0 + N)}
        async with http.post(admin_url(sidecar, "/api/monitors/m/run"), params=params) as resp:
            doc = await resp.json()
            assert resp.status == 200 and doc["status"] == "ok", doc
        summary = doc["run"]["summary"]
        drift = summary["drift"]
        (x0,) = [c for c in drift["columns"] if c["column"] == "x0"]
        assert x0["drifted"] and drift["dataset_drift"]
        (sex,) = summary["fairness"]["attributes"]
        (ratio,) = [d["value"] for d in sex["disparities"] if d["name"] == "demographic_parity_ratio"]
        (female,) = [g for g in sex["groups"] if g["label"] == "female"]
        assert ratio < 0.8

        m = 'monitor="m"'
        await prometheus.value(
            f"driftcar_monitor_dataset_drift_share{{{m}}}", drift["share_of_drifted_columns"]
        )
        await prometheus.value(f"driftcar_monitor_dataset_drift{{{m}}}", 1)
        await prometheus.value(
            f'driftcar_monitor_column_drift_score{{{m},column="x0",method="{x0["method"]}"}}', x0["score"]
        )
        await prometheus.value(f'driftcar_monitor_column_drifted{{{m},column="x0"}}', 1)
        fairness = f'driftcar_monitor_fairness{{{m},attribute="sex"'
        await prometheus.value(f'{fairness},group="",metric="demographic_parity_ratio"}}', ratio)
        await prometheus.value(
            f'{fairness},group="female",metric="selection_rate"}}', female["selection_rate"]
        )
        await prometheus.value(f'driftcar_monitor_rows{{{m},side="current"}}', N)
        await prometheus.value(f'driftcar_monitor_runs_total{{{m},status="ok"}}', 1)
        await prometheus.value(
            f"driftcar_monitor_last_success_timestamp_seconds{{{m}}}", doc["run"]["finished_at"]
        )
        await prometheus.value(f'driftcar_alerts_firing{{{m},rule="x0-drift",severity="critical"}}', 1)
        await prometheus.value('driftcar_alert_deliveries_total{webhook="ops",outcome="delivered"}', 1)
        assert len(receiver.app[DELIVERED]) == 1
        # What Prometheus scraped passes its own lints.
        await promtool("check", "metrics", stdin=await _metrics_text(http, sidecar))
