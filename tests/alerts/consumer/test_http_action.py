"""The `http` action against a real local receiver: a Prefect-style `create_flow_run` call, retries on errors."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from sidecar.errors import ConfigError
from sidecar.server import free_port
from tests.alerts.consumer.conftest import ConsumerFactory, Receiver
from tests.alerts.consumer.helpers import make_event

FLOW_RUN = "/api/deployments/3f6c2d1e/create_flow_run"


async def test_a_templated_body_and_env_headers_reach_the_url(
    make_consumer: ConsumerFactory, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PREFECT_API_KEY", "pnu_test_key")
    action = {
        "kind": "http",
        "url": receiver.url(FLOW_RUN),
        "headers": {"Authorization": "Bearer ${PREFECT_API_KEY}", "X-Source": "driftcar"},
        "body": {
            "name": "retrain-{{ model.name }}-{{ run.id }}",
            "parameters": {"monitor": "{{ monitor }}", "alert": "{{ id }}", "report": "{{ run.report_url }}"},
            "tags": ["driftcar", "{{ severity }}"],
        },
    }
    consumer = await make_consumer(
        actions={"retrain": action}, rules=[{"match": {"action": "retrain"}, "run": "retrain"}]
    )
    event = make_event(action="retrain")
    status, body = await consumer.post(event)
    assert status == 200
    assert body["actions"] == [
        {"action": "retrain", "kind": "http", "outcome": "ok", "url": receiver.url(FLOW_RUN), "status": 200}
    ]
    [seen] = receiver.seen
    assert (seen.method, seen.path_qs) == ("POST", FLOW_RUN)
    assert seen.headers["Authorization"] == "Bearer pnu_test_key"
    assert seen.headers["X-Source"] == "driftcar"
    assert seen.headers["Content-Type"] == "application/json"
    assert seen.headers["Idempotency-Key"] == event.id
    assert orjson.loads(seen.body) == {
        "name": "retrain-churn-7",
        "parameters": {"monitor": "churn", "alert": event.id, "report": "http://driftcar/r/7"},
        "tags": ["driftcar", "critical"],
    }


async def test_without_a_template_the_alert_payload_is_sent(
    make_consumer: ConsumerFactory, receiver: Receiver
) -> None:
    consumer = await make_consumer(
        actions={"hook": {"kind": "http", "url": receiver.url("/hook"), "method": "PUT"}},
        rules=[{"match": {"status": "any"}, "run": "hook"}],
    )
    event = make_event(status="resolved")
    assert (await consumer.post(event))[0] == 200
    assert receiver.seen[0].method == "PUT"
    assert orjson.loads(receiver.seen[0].body) == event.to_json()


async def test_an_error_answer_is_a_502_and_the_retry_calls_again(
    make_consumer: ConsumerFactory, receiver: Receiver
) -> None:
    receiver.answers = [503, 201]
    consumer = await make_consumer(
        actions={"hook": {"kind": "http", "url": receiver.url("/hook")}},
        rules=[{"match": {"action": "rollback"}, "run": "hook"}],
    )
    event = make_event()
    status, body = await consumer.post(event)
    assert status == 502
    assert body["error"].startswith(f"action hook (http) failed: POST {receiver.url('/hook')}: HTTP 503: ")
    status, body = await consumer.post(event)
    assert (status, body["actions"][0]["status"]) == (200, 201)
    assert (await consumer.post(event))[1]["status"] == "duplicate"
    assert len(receiver.seen) == 2


async def test_an_unreachable_url_is_a_502(make_consumer: ConsumerFactory) -> None:
    url = f"http://127.0.0.1:{free_port()}/hook"
    consumer = await make_consumer(
        actions={"hook": {"kind": "http", "url": url, "timeout": 5}},
        rules=[{"match": {"action": "rollback"}, "run": "hook"}],
    )
    status, body = await consumer.post(make_event())
    assert status == 502
    assert f"POST {url}: ClientConnectorError" in body["error"]


async def test_a_missing_header_variable_stops_the_consumer_at_startup(
    make_consumer: ConsumerFactory, tmp_path: Path
) -> None:
    action = {
        "kind": "http",
        "url": "http://127.0.0.1:1/x",
        "headers": {"Authorization": "Bearer ${NO_SUCH_VAR_X}"},
    }
    with pytest.raises(
        ConfigError, match="action hook: header Authorization: environment variable NO_SUCH_VAR_X"
    ):
        await make_consumer(actions={"hook": action})
