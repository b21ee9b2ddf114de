"""POST /alerts over real HTTP: signatures and timestamps, payload checks, de-duplication across restarts, and
failed actions answered 5xx and retried until they succeed exactly once."""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path
from typing import Any

import orjson
import pytest

from alerts.consumer.app import create_app
from alerts.consumer.config import parse_config
from alerts.payload import driftcar_body
from alerts.signing import IDEMPOTENCY_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER, sign
from sidecar.errors import ConfigError
from tests.alerts.consumer.conftest import ConsumerFactory, consumer_config
from tests.alerts.consumer.helpers import SECRET, make_event, one_rule

APPEND = "import sys; open(sys.argv[1], 'a').write(sys.stdin.read() + '\\n')"
# Fails the first time (leaving a flag file), then appends its input like APPEND.
FLAKY = """
import pathlib, sys
log, flag = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
payload = sys.stdin.read()
if not flag.exists():
    flag.write_text("failed once")
    sys.exit("transient failure")
with log.open("a") as f:
    f.write(payload + "\\n")
"""
# Announces it started, then waits for a release file.
BLOCKING = """
import pathlib, sys, time
pathlib.Path(sys.argv[1]).write_text("started")
while not pathlib.Path(sys.argv[2]).exists():
    time.sleep(0.02)
"""


def append_action(log: Path) -> dict[str, Any]:
    """A command action appending the alert's payload to `log`, one line per run."""
    return {"kind": "command", "argv": [sys.executable, "-c", APPEND, str(log)], "timeout": 30}


def lines(path: Path) -> list[dict[str, Any]]:
    """The payloads an APPEND/FLAKY command wrote."""
    if not path.exists():
        return []
    return [orjson.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


async def test_a_signed_alert_runs_the_matching_action_with_the_payload(
    make_consumer: ConsumerFactory, tmp_path: Path
) -> None:
    log = tmp_path / "log.jsonl"
    consumer = await make_consumer(actions={"log": append_action(log)}, rules=one_rule("log"))
    event = make_event()
    status, body = await consumer.post(event)
    assert status == 200
    assert body == {
        "status": "done",
        "id": event.id,
        "actions": [{"action": "log", "kind": "command", "outcome": "ok", "exit_code": 0}],
    }
    assert lines(log) == [event.to_json()]


@pytest.mark.parametrize(
    ("tamper", "message"),
    [
        pytest.param({"secret": "not-the-secret-at-all-000"}, "signature does not match", id="wrong-secret"),
        pytest.param({"now_offset": -301}, "stale timestamp", id="stale"),
        pytest.param({"now_offset": +301}, "stale timestamp", id="future"),
        pytest.param({"omit": [TIMESTAMP_HEADER]}, f"missing {TIMESTAMP_HEADER} header", id="no-timestamp"),
        pytest.param({"omit": [SIGNATURE_HEADER]}, f"missing {SIGNATURE_HEADER} header", id="no-signature"),
        pytest.param({"headers": {SIGNATURE_HEADER: "md5=abc"}}, "must be `sha256=<hex>`", id="bad-scheme"),
        pytest.param(
            {"headers": {TIMESTAMP_HEADER: "yesterday"}}, "must be Unix seconds", id="bad-timestamp"
        ),
        pytest.param({"resign_at": 60}, "signature does not match", id="timestamp-not-the-signed-one"),
    ],
)
async def test_bad_signatures_and_timestamps_are_refused_and_run_nothing(
    make_consumer: ConsumerFactory, tmp_path: Path, tamper: dict[str, Any], message: str
) -> None:
    log = tmp_path / "log.jsonl"
    consumer = await make_consumer(actions={"log": append_action(log)}, rules=one_rule("log"))
    event = make_event()
    now = time.time()
    headers = dict(tamper.get("headers", {}))
    if "resign_at" in tamper:  # a fresh timestamp, but not the one the signature covers
        headers[TIMESTAMP_HEADER] = str(int(now) + tamper["resign_at"])
    status, body = await consumer.post(
        event,
        secret=tamper.get("secret", SECRET),
        now=now + tamper.get("now_offset", 0),
        headers=headers,
        omit=tamper.get("omit", ()),
    )
    assert status == 401
    assert message in body["error"]
    assert lines(log) == []
    # Nothing was recorded for the key: the genuine delivery still runs.
    assert (await consumer.post(event))[0] == 200
    assert len(lines(log)) == 1


async def test_a_body_changed_after_signing_is_refused(
    make_consumer: ConsumerFactory, tmp_path: Path
) -> None:
    consumer = await make_consumer()
    event = make_event()
    headers = sign(SECRET.encode(), driftcar_body(event))
    forged = driftcar_body(make_event(id=event.id, action="redeploy"))
    async with consumer.http.post(consumer.url("/alerts"), data=forged, headers=headers) as resp:
        assert resp.status == 401
        assert (await resp.json())["error"] == "signature does not match"


async def test_rotated_secrets_each_verify(
    make_consumer: ConsumerFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    old = tmp_path / "old-secret"
    old.write_text("the-previous-secret-0123\n", encoding="utf-8")
    log = tmp_path / "log.jsonl"
    consumer = await make_consumer(
        secrets=[{"secret_env": "DRIFTCAR_TEST_CONSUMER_SECRET"}, {"secret_file": str(old)}],
        actions={"log": append_action(log)},
        rules=one_rule("log"),
    )
    assert (await consumer.post(make_event(), secret="the-previous-secret-0123"))[0] == 200
    assert (await consumer.post(make_event(), secret=SECRET))[0] == 200
    # A sender mid-rotation sends both signatures; one matching is enough.
    event = make_event()
    body = driftcar_body(event)
    unknown = sign(b"a-secret-this-consumer-lacks", body)[SIGNATURE_HEADER]
    headers = sign(SECRET.encode(), body)
    headers[SIGNATURE_HEADER] = f"{unknown},{headers[SIGNATURE_HEADER]}"
    async with consumer.http.post(consumer.url("/alerts"), data=body, headers=headers) as resp:
        assert resp.status == 200
    assert len(lines(log)) == 3


@pytest.mark.parametrize(
    ("body", "headers", "message"),
    [
        pytest.param(b"{not json", {}, "the body is not JSON", id="not-json"),
        pytest.param(b"[1, 2]", {}, "must be a JSON object", id="array"),
        pytest.param(
            orjson.dumps({**make_event().to_json(), "kind": "other"}), {}, "not a driftcar alert", id="kind"
        ),
        pytest.param(
            orjson.dumps({**make_event().to_json(), "version": "4"}), {}, "not a driftcar alert", id="version"
        ),
        pytest.param(
            orjson.dumps({**make_event().to_json(), "status": "open"}), {}, "`status` must be", id="status"
        ),
        pytest.param(
            orjson.dumps({**make_event().to_json(), "action": "reboot"}), {}, "`action` must be", id="action"
        ),
        pytest.param(
            orjson.dumps({k: v for k, v in make_event().to_json().items() if k != "monitor"}),
            {},
            "invalid alert payload: KeyError",
            id="missing-field",
        ),
        pytest.param(
            driftcar_body(make_event(id="abc")),
            {IDEMPOTENCY_HEADER: "xyz"},
            "Idempotency-Key header does not match",
            id="key-mismatch",
        ),
    ],
)
async def test_signed_bodies_that_are_not_alerts_are_bad_requests(
    make_consumer: ConsumerFactory, body: bytes, headers: dict[str, str], message: str
) -> None:
    consumer = await make_consumer()
    status, answer = await consumer.post(body, headers=headers)
    assert status == 400
    assert message in answer["error"]


async def test_repeats_are_dropped_also_after_a_restart(
    make_consumer: ConsumerFactory, tmp_path: Path
) -> None:
    log = tmp_path / "log.jsonl"
    config = {"actions": {"log": append_action(log)}, "rules": one_rule("log")}
    first = await make_consumer(**config)
    event = make_event()
    assert (await first.post(event))[1]["status"] == "done"
    assert await first.post(event) == (200, {"status": "duplicate", "id": event.id})
    await first.stop()

    second = await make_consumer(**config)  # a new process would see the same file
    assert await second.post(event) == (200, {"status": "duplicate", "id": event.id})
    assert (await second.post(make_event()))[1]["status"] == "done"
    assert len(lines(log)) == 2


async def test_a_failed_action_is_a_5xx_and_the_retry_runs_only_what_is_left(
    make_consumer: ConsumerFactory, tmp_path: Path
) -> None:
    first_log, flaky_log, flag = tmp_path / "first.jsonl", tmp_path / "flaky.jsonl", tmp_path / "flag"
    flaky = {"kind": "command", "argv": [sys.executable, "-c", FLAKY, str(flaky_log), str(flag)]}
    consumer = await make_consumer(
        actions={"first": append_action(first_log), "flaky": flaky}, rules=one_rule("first", "flaky")
    )
    event = make_event()
    status, body = await consumer.post(event)
    assert status == 502
    assert (
        body["error"]
        == "action flaky (command) failed: " + f"{sys.executable} exited with status 1: transient failure"
    )
    assert len(lines(first_log)) == 1 and lines(flaky_log) == []

    status, body = await consumer.post(event)  # the sender's retry
    assert status == 200
    assert body["actions"] == [
        {"action": "first", "kind": "command", "outcome": "ok", "exit_code": 0, "earlier_attempt": True},
        {"action": "flaky", "kind": "command", "outcome": "ok", "exit_code": 0},
    ]
    assert await consumer.post(event) == (200, {"status": "duplicate", "id": event.id})
    assert len(lines(first_log)) == 1 and lines(flaky_log) == [event.to_json()]


async def test_a_key_being_processed_is_answered_409(make_consumer: ConsumerFactory, tmp_path: Path) -> None:
    started, release = tmp_path / "started", tmp_path / "release"
    blocking = {"kind": "command", "argv": [sys.executable, "-c", BLOCKING, str(started), str(release)]}
    consumer = await make_consumer(actions={"slow": blocking}, rules=one_rule("slow"))
    event = make_event()
    first = asyncio.create_task(consumer.post(event))
    async with asyncio.timeout(20):
        while not started.exists():
            await asyncio.sleep(0.02)
    status, body = await consumer.post(event)
    assert status == 409
    assert "being processed" in body["error"]
    release.write_text("go", encoding="utf-8")
    assert (await first)[1]["status"] == "done"
    assert (await consumer.post(event))[1]["status"] == "duplicate"


@pytest.mark.parametrize(
    ("changes", "ran"),
    [
        pytest.param({}, True, id="firing-rollback"),
        pytest.param({"status": "resolved"}, False, id="resolved-is-not-matched-by-default"),
        pytest.param({"action": "notify"}, False, id="other-action"),
        pytest.param({"severity": "warning"}, False, id="below-min-severity"),
        pytest.param({"labels": {"team": "web"}}, False, id="other-label"),
    ],
)
async def test_only_matching_alerts_run_actions(
    make_consumer: ConsumerFactory, tmp_path: Path, changes: dict[str, Any], ran: bool
) -> None:
    log = tmp_path / "log.jsonl"
    consumer = await make_consumer(
        actions={"log": append_action(log)},
        rules=[
            {
                "match": {
                    "action": ["rollback", "redeploy"],
                    "min_severity": "critical",
                    "labels": {"team": "ml"},
                },
                "run": "log",
            }
        ],
    )
    event = make_event(**changes)
    status, body = await consumer.post(event)
    assert status == 200
    assert body["status"] == ("done" if ran else "ignored")
    assert len(lines(log)) == int(ran)
    assert (await consumer.post(event))[1]["status"] == "duplicate"


async def test_healthz_and_errors_are_json(make_consumer: ConsumerFactory) -> None:
    consumer = await make_consumer(max_body_bytes=2048)
    async with consumer.http.get(consumer.url("/healthz")) as resp:
        assert (resp.status, await resp.json()) == (200, {"status": "ok"})
    async with consumer.http.get(consumer.url("/alerts")) as resp:
        assert resp.status == 405
        assert "error" in await resp.json()
    async with consumer.http.post(consumer.url("/alerts"), data=b"x" * 4096) as resp:
        assert resp.status == 413
        assert "error" in await resp.json()


async def test_an_unreadable_secret_stops_the_consumer_before_it_listens(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DRIFTCAR_TEST_CONSUMER_SECRET")
    with pytest.raises(ConfigError, match="environment variable DRIFTCAR_TEST_CONSUMER_SECRET is not set"):
        create_app(parse_config(consumer_config(tmp_path)))
    short = tmp_path / "short"
    short.write_text("tiny", encoding="utf-8")
    with pytest.raises(ConfigError, match="at least 16 characters"):
        create_app(parse_config(consumer_config(tmp_path, secrets=[{"secret_file": str(short)}])))
