"""The `command` action with real processes: the payload on stdin, alert facts in the environment, failures."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import orjson
import pytest

from tests.alerts.consumer.conftest import ConsumerFactory
from tests.alerts.consumer.helpers import make_event, one_rule

RECORD = """
import json, os, sys
keys = [k for k in os.environ if k.startswith("DRIFTCAR_") and "SECRET" not in k]
json.dump(
    {"stdin": json.load(sys.stdin), "argv": sys.argv[2:], "env": {k: os.environ[k] for k in sorted(keys)},
     "extra": os.environ.get("EXTRA"), "cwd": os.getcwd()},
    open(sys.argv[1], "w"),
)
"""


async def test_the_program_gets_the_payload_arguments_and_environment(
    make_consumer: ConsumerFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "out.json"
    monkeypatch.setenv("RETRAIN_QUEUE", "gpu-small")
    action = {
        "kind": "command",
        "argv": [
            sys.executable,
            "-c",
            RECORD,
            str(out),
            "--monitor",
            "{{ monitor }}",
            "--version={{ model.version }}",
        ],
        "env": {"EXTRA": "queue=${RETRAIN_QUEUE}"},
        "cwd": str(tmp_path),
    }
    consumer = await make_consumer(actions={"run": action}, rules=one_rule("run"))
    event = make_event()
    status, body = await consumer.post(event)
    assert (status, body["actions"]) == (
        200,
        [{"action": "run", "kind": "command", "outcome": "ok", "exit_code": 0}],
    )
    seen = orjson.loads(out.read_bytes())
    assert seen["stdin"] == event.to_json()
    assert seen["argv"] == ["--monitor", "churn", "--version=3"]
    assert seen["extra"] == "queue=gpu-small"
    assert seen["cwd"] == str(tmp_path)
    expected = {
        "DRIFTCAR_ALERT_ACTION": "rollback",
        "DRIFTCAR_ALERT_ID": event.id,
        "DRIFTCAR_ALERT_STATUS": "firing",
        "DRIFTCAR_MODEL": "churn",
        "DRIFTCAR_MODEL_VERSION": "3",
        "DRIFTCAR_MONITOR": "churn",
    }
    assert {k: seen["env"].get(k) for k in expected} == expected


async def test_a_non_zero_exit_is_a_502_with_the_end_of_stderr(make_consumer: ConsumerFactory) -> None:
    script = "import sys; sys.stderr.write('x' * 2000 + 'retrain job rejected'); sys.exit(3)"
    consumer = await make_consumer(
        actions={"run": {"kind": "command", "argv": [sys.executable, "-c", script]}}, rules=one_rule("run")
    )
    status, body = await consumer.post(make_event())
    assert status == 502
    assert body["error"].startswith(
        f"action run (command) failed: {sys.executable} exited with status 3: xxx"
    )
    assert body["error"].endswith("retrain job rejected")
    assert len(body["error"]) < 700


async def test_a_program_past_its_timeout_is_killed(make_consumer: ConsumerFactory) -> None:
    sleeper = [sys.executable, "-c", "import time; time.sleep(60)"]
    consumer = await make_consumer(
        actions={"run": {"kind": "command", "argv": sleeper, "timeout": "0.5s"}}, rules=one_rule("run")
    )
    started = time.monotonic()
    status, body = await consumer.post(make_event())
    assert status == 502
    assert body["error"] == f"action run (command) failed: {sys.executable} ran past 0.5 s and was killed"
    assert time.monotonic() - started < 10


async def test_a_missing_program_is_a_502(make_consumer: ConsumerFactory, tmp_path: Path) -> None:
    missing = str(tmp_path / "no-such-program")
    consumer = await make_consumer(
        actions={"run": {"kind": "command", "argv": [missing]}}, rules=one_rule("run")
    )
    status, body = await consumer.post(make_event())
    assert status == 502
    assert body["error"] == f"action run (command) failed: cannot run {missing}: No such file or directory"
