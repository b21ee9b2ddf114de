"""The MLflow action against a real MLflow tracking server (SQLite backend, 127.0.0.1), started once per module:
rollback alerts move the alias back a version, roll-forwards restore it, and the history is in version tags."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest

from alerts.consumer.actions.base import Alert
from alerts.consumer.actions.mlflow_alias import MlflowAliasAction
from alerts.consumer.config import MlflowAliasConfig
from sidecar.server import free_port
from tests.alerts.consumer.conftest import ConsumerFactory
from tests.alerts.consumer.helpers import Consumer, make_event

if TYPE_CHECKING:
    from mlflow import MlflowClient

pytestmark = pytest.mark.slow

STARTUP_TIMEOUT_S = 120.0


@pytest.fixture(scope="module")
def mlflow_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`mlflow server` on a SQLite file; its URL. Stopped (its whole process group) after the module."""
    home = tmp_path_factory.mktemp("mlflow")
    port = free_port()
    log = (home / "server.log").open("wb")
    # No telemetry, and none of the background job runners (seven worker processes) the registry does not need.
    env = {**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true", "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
    command = [
        *(sys.executable, "-m", "mlflow", "server"),
        *("--backend-store-uri", f"sqlite:///{home / 'mlflow.db'}"),
        *("--artifacts-destination", str(home / "artifacts")),
        *("--host", "127.0.0.1", "--port", str(port), "--workers", "1"),
    ]
    proc = subprocess.Popen(
        command, cwd=home, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    url = f"http://127.0.0.1:{port}"
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    try:
        while True:
            if proc.poll() is not None or time.monotonic() > deadline:
                log.flush()
                output = (home / "server.log").read_text(errors="replace")[-3000:]
                pytest.fail(f"mlflow server did not start (exit {proc.returncode}):\n{output}")
            try:
                with opener.open(f"{url}/health", timeout=2) as resp:
                    if resp.status == 200:
                        break
            except OSError:
                time.sleep(0.3)
        yield url
    finally:
        # `mlflow server` runs uvicorn as a child: stop the group this fixture started.
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        log.close()


@pytest.fixture
def registry(mlflow_server: str) -> MlflowClient:
    """A client of the test server (mlflow imported only now, with its telemetry off)."""
    from mlflow import MlflowClient

    return MlflowClient(tracking_uri=mlflow_server, registry_uri=mlflow_server)


def register(registry: MlflowClient, versions: int = 3, alias_to: str = "3") -> str:
    """A new registered model with `versions` versions (sources only, no artifacts); alias production set."""
    name = f"churn-{uuid.uuid4().hex[:8]}"
    registry.create_registered_model(name)
    for i in range(1, versions + 1):
        registry.create_model_version(name, source=f"s3://models/{name}/{i}")
    registry.set_registered_model_alias(name, "production", alias_to)
    return name


def production(registry: MlflowClient, name: str) -> str:
    """The version the production alias points at."""
    return registry.get_model_version_by_alias(name, "production").version


def driftcar_tags(registry: MlflowClient, name: str, version: str) -> dict[str, str]:
    """driftcar's tags on one version."""
    return {
        k: v for k, v in registry.get_model_version(name, version).tags.items() if k.startswith("driftcar.")
    }


def action_config(url: str, model: str, operation: str = "rollback", **values: Any) -> dict[str, Any]:
    """An mlflow_alias action on `model`'s production alias."""
    return {"kind": "mlflow_alias", "tracking_uri": url, "model": model, "operation": operation, **values}


async def mlflow_consumer(make_consumer: ConsumerFactory, url: str, model: str, **values: Any) -> Consumer:
    """A consumer rolling back on firing rollback alerts and forward when they resolve."""
    return await make_consumer(
        actions={
            "rollback": action_config(url, model, **values),
            "forward": action_config(url, model, "roll_forward"),
        },
        rules=[
            {"match": {"action": "rollback", "model": model}, "run": "rollback"},
            {"match": {"action": "rollback", "model": model, "status": "resolved"}, "run": "forward"},
        ],
    )


async def test_a_rollback_alert_moves_the_alias_back_and_its_resolution_rolls_forward(
    make_consumer: ConsumerFactory, mlflow_server: str, registry: MlflowClient
) -> None:
    name = register(registry)
    consumer = await mlflow_consumer(make_consumer, mlflow_server, name)
    firing = make_event(model=name, model_version="3")
    status, body = await consumer.post(firing)
    assert status == 200, body
    assert body["actions"] == [
        {
            "action": "rollback",
            "kind": "mlflow_alias",
            "outcome": "ok",
            "model": name,
            "alias": "production",
            "from": "3",
            "to": "2",
        }
    ]
    assert production(registry, name) == "2"
    rolled_to = driftcar_tags(registry, name, "2")
    assert {k: v for k, v in rolled_to.items() if not k.endswith(".at")} == {
        "driftcar.rollback.production.from": "3",
        "driftcar.rollback.production.alert": firing.id,
    }
    assert abs(time.time() - _epoch(rolled_to["driftcar.rollback.production.at"])) < 60
    rolled_from = driftcar_tags(registry, name, "3")
    assert rolled_from["driftcar.rolled_back.production.to"] == "2"
    assert rolled_from["driftcar.rolled_back.production.alert"] == firing.id
    assert await consumer.post(firing) == (200, {"status": "duplicate", "id": firing.id})
    assert production(registry, name) == "2"

    resolved = make_event(model=name, model_version="3", status="resolved", ends_at=time.time())
    status, body = await consumer.post(resolved)
    assert status == 200, body
    assert (body["actions"][0]["from"], body["actions"][0]["to"]) == ("2", "3")
    assert production(registry, name) == "3"
    assert driftcar_tags(registry, name, "2") == {}
    forward = driftcar_tags(registry, name, "3")
    assert forward["driftcar.roll_forward.production.from"] == "2"
    assert forward["driftcar.roll_forward.production.alert"] == resolved.id


async def test_rollbacks_nest_and_roll_forward_in_reverse(
    make_consumer: ConsumerFactory, mlflow_server: str, registry: MlflowClient
) -> None:
    name = register(registry)
    consumer = await mlflow_consumer(make_consumer, mlflow_server, name)
    for expected in ("2", "1"):
        assert (await consumer.post(make_event(model=name)))[0] == 200
        assert production(registry, name) == expected
    status, body = await consumer.post(make_event(model=name))
    assert status == 502
    assert (
        body["error"]
        == f"action rollback (mlflow_alias) failed: model {name}: no version before 1 to roll back to"
    )
    for expected in ("2", "3"):
        assert (await consumer.post(make_event(model=name, status="resolved")))[0] == 200
        assert production(registry, name) == expected
    status, body = await consumer.post(make_event(model=name, status="resolved"))
    assert status == 200
    assert body["actions"][0]["outcome"] == "unchanged"
    assert body["actions"][0]["reason"] == "version 3 was not put there by a driftcar rollback"
    assert production(registry, name) == "3"


async def test_deleted_versions_are_skipped(
    make_consumer: ConsumerFactory, mlflow_server: str, registry: MlflowClient
) -> None:
    name = register(registry, versions=4, alias_to="4")
    registry.delete_model_version(name, "3")
    consumer = await mlflow_consumer(make_consumer, mlflow_server, name)
    status, body = await consumer.post(make_event(model=name))
    assert (status, body["actions"][0]["to"]) == (200, "2")
    assert production(registry, name) == "2"


async def test_a_retried_alert_moves_the_alias_once(mlflow_server: str, registry: MlflowClient) -> None:
    # As if the consumer died after moving the alias but before recording the key: the alert comes again.
    name = register(registry)
    action = MlflowAliasAction(
        "rollback", MlflowAliasConfig.model_validate(action_config(mlflow_server, name))
    )
    event = make_event(model=name)
    first = await action.run(Alert(event, event.to_json()))
    again = await action.run(Alert(event, event.to_json()))
    assert (first.outcome, again.outcome) == ("ok", "unchanged")
    assert again.detail["reason"] == "already rolled back by this alert"
    assert production(registry, name) == "2"


async def test_only_alerted_version_ignores_alerts_about_other_versions(
    make_consumer: ConsumerFactory, mlflow_server: str, registry: MlflowClient
) -> None:
    name = register(registry)
    consumer = await mlflow_consumer(make_consumer, mlflow_server, name, only_alerted_version=True)
    status, body = await consumer.post(make_event(model=name, model_version="2"))
    assert (status, body["actions"][0]["outcome"]) == (200, "unchanged")
    assert production(registry, name) == "3"
    assert (await consumer.post(make_event(model=name, model_version="3")))[0] == 200
    assert production(registry, name) == "2"


async def test_registry_errors_are_502(
    make_consumer: ConsumerFactory,
    mlflow_server: str,
    registry: MlflowClient,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    name = register(registry)
    registry.delete_registered_model_alias(name, "production")
    consumer = await mlflow_consumer(make_consumer, mlflow_server, name)
    status, body = await consumer.post(make_event(model=name))
    assert status == 502
    assert body["error"].startswith("action rollback (mlflow_alias) failed: MLflow: ")
    assert "Registered model alias production not found" in body["error"]

    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    down = await mlflow_consumer(make_consumer, f"http://127.0.0.1:{free_port()}", name)
    status, body = await down.post(make_event(model=name))
    assert status == 502
    assert body["error"].startswith("action rollback (mlflow_alias) failed: MLflow: ")


def _epoch(text: str) -> float:
    from datetime import datetime

    return datetime.fromisoformat(text).timestamp()
