"""Every `examples/*/driftcar.yaml`: accepted by the real `driftcar check`, and its routes capture what its
monitors need from that server's recorded traffic (tests/fixtures/servers) through a real sidecar."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from multidict import CIMultiDict

from sidecar.configfile import read_yaml
from sidecar.monitors.config import MonitorConfig
from sidecar.server import Sidecar
from sidecar.settings import Settings
from tests.fixtures.protocols import ProtocolCase, case
from tests.sidecar.conftest import proxy_url, wait_records

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
CONFIGS = sorted(EXAMPLES.glob("*/driftcar.yaml"))
NAMES = [config.parent.name for config in CONFIGS]
REQUIRED = {"fastapi", "mlflow", "kserve-v1", "kserve-v2", "tfserving", "cog", "bentoml", "seldon"}

# The recorded exchanges of the server each example sits in front of (tests/fixtures/servers/).
TRAFFIC: dict[str, list[str]] = {
    "fastapi": ["fastapi_predict", "custom_api_with_paths"],
    "mlflow": ["mlflow_dataframe_split", "mlflow_dataframe_records", "mlflow_csv"],
    "kserve-v1": ["kserve_v1_predict_labelled_kserve"],
    "kserve-v2": [
        "kserve_v2_json_nested",
        "kserve_v2_binary",
        "kserve_v2_binary_batch_json_response",
        "kserve_v2_binary_bytes",
    ],
    "tfserving": ["tfserving_predict_row_signature", "tfserving_regress"],
    "cog": ["cog_succeeded"],
    "bentoml": ["bentoml_classify_batch"],
    "seldon": ["seldon_ndarray_names"],
}
CASE_HEADER = "X-Test-Case"
CASES = web.AppKey("cases", dict)


def test_every_serving_system_has_an_example() -> None:
    assert set(NAMES) >= REQUIRED, f"missing examples: {sorted(REQUIRED - set(NAMES))}"
    assert set(NAMES) <= set(TRAFFIC), f"add the recorded traffic of {sorted(set(NAMES) - set(TRAFFIC))}"


def _secrets(config: Path) -> dict[str, str]:
    """A made-up secret for every webhook's `secret_env` (serve and check refuse to start without it)."""
    hooks = read_yaml(config).get("alerts", {}).get("webhooks", [])
    return {h["secret_env"]: f"test-secret-for-{h['name']}-0123456789" for h in hooks if "secret_env" in h}


@pytest.fixture(scope="module")
def checks(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, subprocess.Popen[str]]]:
    """`driftcar check --config` for every example, started at once (each pays ~2 s of imports)."""
    cwd = tmp_path_factory.mktemp("check")
    base = {k: v for k, v in os.environ.items() if not k.startswith("DRIFTCAR_")}
    procs = {
        config.parent.name: subprocess.Popen(
            [sys.executable, "-m", "sidecar.cli", "check", "--config", str(config)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=cwd,
            env={**base, **_secrets(config), "PYTHONPATH": str(EXAMPLES.parent)},
        )
        for config in CONFIGS
    }
    yield procs
    for proc in procs.values():
        if proc.returncode is None:
            proc.kill()
        proc.communicate()
    assert list(cwd.iterdir()) == [], "check created files"


@pytest.mark.slow
@pytest.mark.parametrize("config", CONFIGS, ids=NAMES)
def test_driftcar_check_accepts_the_example(config: Path, checks: dict[str, subprocess.Popen[str]]) -> None:
    out, err = checks[config.parent.name].communicate(timeout=300)
    assert checks[config.parent.name].returncode == 0, err
    assert out.startswith("configuration OK\n")
    settings = Settings.model_validate(read_yaml(config))
    for monitor in settings.monitors:
        assert f"  {monitor.name}: " in out


@pytest.mark.parametrize("config", CONFIGS, ids=NAMES)
def test_guide_next_to_the_config(config: Path) -> None:
    guide = (config.parent / "README.md").read_text(encoding="utf-8")
    assert f"driftcar check --config examples/{config.parent.name}/driftcar.yaml" in guide
    assert ":8080" in guide


async def _replay(request: web.Request) -> web.Response:
    """Answer with the recorded response of the case named in the request."""
    recorded: ProtocolCase = request.app[CASES][request.headers[CASE_HEADER]]
    await request.read()
    return web.Response(
        status=recorded.status, headers=CIMultiDict(recorded.response_headers), body=recorded.response_body
    )


@pytest.fixture
async def model_server() -> AsyncIterator[TestServer]:
    """The example's model server: answers each recorded request with its recorded response, byte for byte."""
    app = web.Application(handler_args={"auto_decompress": False})
    app[CASES] = {c.name: case(c.name) for names in TRAFFIC.values() for c in map(case, names)}
    app.router.add_route("*", "/{tail:.*}", _replay)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    yield server
    await server.close()


def _test_values(config: Path, upstream: str, tmp_path: Path) -> dict[str, Any]:
    """The example's settings with test ports, database and spool; monitors and webhooks left out (no report
    workers to start, no secrets to read: only capture is under test here)."""
    values = read_yaml(config)
    values.pop("monitors", None)
    values.pop("alerts", None)
    values.update(
        upstream=upstream,
        host="127.0.0.1",
        port=0,
        admin_host="127.0.0.1",
        admin_port=0,
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'driftcar.db'}",
        capture={**values.get("capture", {}), "spool_dir": str(tmp_path / "spool"), "flush_interval": 0.05},
    )
    return values


def _assert_feeds(monitor: MonitorConfig, records: list[dict[str, Any]]) -> None:
    """The records this monitor selects exist and carry its features, protected attributes and prediction."""
    selected = [
        r
        for r in records
        if all(r[key] == value for key, value in monitor.record_filter().items() if value is not None)
    ]
    assert selected, f"monitor {monitor.name}: no captured record matches {monitor.record_filter()}"
    needed = set(monitor.features or ()) | set(monitor.fairness.protected if monitor.fairness else ())
    for record in selected:
        assert record["error"] is None, record["error"]
        assert needed <= set(record["features"]), f"{monitor.name}: features {sorted(record['features'])}"
        if monitor.prediction == "prediction_argmax":
            assert isinstance(record["prediction"], list) and len(record["prediction"]) > 1
        else:
            assert record["prediction"] is not None


@pytest.mark.parametrize("config", CONFIGS, ids=NAMES)
async def test_routes_capture_what_the_monitors_watch(
    config: Path, model_server: TestServer, tmp_path: Path
) -> None:
    example = Settings.model_validate(read_yaml(config))
    sidecar = Sidecar(Settings.model_validate(_test_values(config, str(model_server.make_url("")), tmp_path)))
    sent = [case(name) for name in TRAFFIC[config.parent.name]]
    await sidecar.start()
    try:
        async with aiohttp.ClientSession(auto_decompress=False) as http:
            for i, recorded in enumerate(sent):
                headers = CIMultiDict(recorded.request_headers)
                headers[CASE_HEADER] = recorded.name
                headers["X-Request-ID"] = f"req-{i}"
                url = proxy_url(sidecar, recorded.path)
                async with http.request(
                    recorded.method, url, data=recorded.request_body, headers=headers
                ) as resp:
                    assert resp.status == recorded.status
                    assert await resp.read() == recorded.response_body
            expected = sum(len(c.rows) for c in sent)
            records = await wait_records(http, sidecar, expected, timeout=60.0)
    finally:
        await sidecar.stop()
    assert len(records) == expected
    for i, recorded in enumerate(sent):
        mine = [r for r in records if r["request_id"] == f"req-{i}"]
        assert len(mine) == len(recorded.rows), recorded.name
        assert {r["protocol"] for r in mine} == {recorded.protocol}, recorded.name
    for monitor in example.monitors:
        _assert_feeds(monitor, records)
