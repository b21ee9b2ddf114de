"""`driftcar demo` end to end: it trains, serves and captures every row, and its scheduled monitor reports no
drift on the baseline and fires nothing, then the injected drift and its bias, in a report served while the
demo lingers; the alerts reach the demo's receiver signed, once each, and the rollout gate fails."""

from __future__ import annotations

import asyncio
import re
import signal
import sys
import time
from pathlib import Path

import aiohttp
from aiohttp.test_utils import TestServer

from alerts.payload import AlertEvent, RunRef, driftcar_body
from alerts.signing import IDEMPOTENCY_HEADER, sign
from sidecar.demo.receiver import INBOX, PATH, create_receiver_app

DRIFTED = re.compile(r"^ {6}(\w+) +\S+ +\S+ \(threshold \S+\) +DRIFT$", re.M)
REPORT = re.compile(r"^ {4}report (http://127\.0\.0\.1:\d+)/reports/(\d+)$", re.M)
ALERT = re.compile(
    r"^  ALERT received \(signature ok\): \[(\w+)\] loans/([\w-]+) (firing|resolved) — (.+?)"
    r"(?:; suggested action: (\w+))?; report http://127\.0\.0\.1:\d+/reports/\d+$",
    re.M,
)
# 375 baseline requests: windows of 539 rows, in which the approval-rate ratio stays above 0.85 wherever a
# baseline window falls (with 200 requests, some dip to 0.76 and the disparate-impact rule fires), and, with
# these seeds, no column's test flags the baseline's second half (with 800, `age` does, p 0.018).
REQUESTS = 750


async def _until_serving(stream: asyncio.StreamReader) -> str:
    """The demo's output up to its `serving for` line (or its end)."""
    lines = []
    while line := (await stream.readline()).decode():
        lines.append(line)
        if line.startswith("serving for"):
            break
    return "".join(lines)


async def test_demo_reports_no_drift_then_the_injected_drift_bias_and_alerts(tmp_path: Path) -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "sidecar.cli", "--log-level", "WARNING", "demo", "--requests", str(REQUESTS),
        "--port", "0", "--admin-port", "0", "--linger", "60", "--dir", str(tmp_path),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, stdin=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    assert proc.stdout is not None
    try:
        text = await asyncio.wait_for(_until_serving(proc.stdout), timeout=90)
        assert "serving for 60 s" in text, text
        half = REQUESTS // 2
        sent = re.findall(rf"sent {half} requests \((\d+) rows\); statuses \{{200: {half}\}}; failed 0", text)
        assert len(sent) == 2, text
        written = re.findall(r"records written: (\d+), spooled: 0, dropped: 0", text)
        assert [int(w) for w in written] == [int(sent[0]), int(sent[0]) + int(sent[1])], text

        baseline, drift = text.split("\n2. drift:")
        run = r"^  run \d+, scheduled for [\d:]+: \d+ records captured .*\n    reference v1: the first \d+ records"
        assert re.search(run, baseline, re.M), baseline
        assert "    drift: none in the 8 columns or the prediction\n" in baseline, baseline
        assert "ALERT" not in baseline, baseline
        assert "\n  alerts: none fired (the receiver got nothing)\n" in baseline, baseline
        assert "\n  rollout gate /gate/loans: 200 pass\n" in baseline, baseline
        assert re.search(run, drift, re.M), drift
        drifted = set(DRIFTED.findall(drift))
        assert {"income", "debt_ratio", "region", "prediction"} <= drifted, drift
        assert {"age", "credit_lines", "employment_years"}.isdisjoint(drifted), drift
        unfair = r"FLAG fairness: sex: demographic_parity_ratio \S+ is below 0.8 \(worse off: female\)"
        assert re.search(unfair, drift), drift

        received = ALERT.findall(drift)
        assert received and received[0][2] == "firing", drift
        fired: dict[str, tuple[str, str, str]] = {}
        for severity, rule, status, what, action in received:
            if status == "firing":
                fired.setdefault(rule, (severity, action, what))
        assert set(fired) == {"disparate-impact", "input-drift"}, drift
        assert fired["disparate-impact"][:2] == ("critical", "rollback"), drift
        assert re.fullmatch(unfair.removeprefix("FLAG fairness: "), fired["disparate-impact"][2]), drift
        assert fired["input-drift"][:2] == ("warning", "retrain"), drift
        assert re.fullmatch(r"dataset drift: \d of 8 columns \(.*income.*\)", fired["input-drift"][2]), drift
        gate = "\n  rollout gate /gate/loans: 503 fail (disparate-impact, input-drift)\n"
        assert gate in drift, drift

        report = REPORT.search(drift)
        assert report is not None, drift
        admin, run_id = report.group(1), int(report.group(2))
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=20)) as http:
            async with http.get(f"{admin}/reports/{run_id}") as resp:
                assert resp.status == 200 and resp.content_type == "text/html"
                assert "income" in await resp.text()
            async with http.get(f"{admin}/reports/{run_id}.json") as resp:
                assert resp.status == 200
                summary = (await resp.json())["summary"]
            async with http.get(f"{admin}/reports") as resp:
                assert resp.status == 200 and f"/reports/{run_id}" in await resp.text()
            async with http.get(f"{admin}/api/alerts/outbox") as resp:
                assert resp.status == 200
                outbox = await resp.json()
        # Every notification was delivered, and the receiver printed each once.
        assert outbox["counts"] == {"delivered": len(received)}, (outbox, drift)
        flags = {(f["kind"], f["column"] or f["attribute"]) for f in summary["flags"]}
        assert {("column_drift", "income"), ("prediction_drift", "prediction"), ("fairness", "sex")} <= flags
        assert summary["reference"]["source"] == "first_n"
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGTERM)  # ends the linger early, as Ctrl-C would
        out, err = await asyncio.wait_for(proc.communicate(), timeout=60)
    assert proc.returncode == 0, err.decode()[-2000:]
    assert "ALERT" not in out.decode(), out.decode()  # no repeats while it lingers
    assert (tmp_path / "driftcar.db").is_file()


async def test_the_demo_receiver_checks_signatures_and_timestamps_and_drops_repeats() -> None:
    secret = b"a-demo-secret-of-some-length"
    now = float(int(time.time()))  # whole seconds survive the payload's millisecond timestamps
    event = AlertEvent(
        id="fp-1", status="firing", fingerprint="fp", monitor="loans", rule="disparate-impact",
        severity="critical", action="rollback", summary="sex: demographic_parity_ratio 0.593 is below 0.8",
        starts_at=now, ends_at=None, run=RunRef(7, now - 5, now, "http://admin/reports/7", None),
        details=({"kind": "fairness", "attribute": "sex", "metric": "demographic_parity_ratio", "value": 0.593,
                  "threshold": 0.8, "group": "female", "message": "sex: demographic_parity_ratio 0.593 is below 0.8"},),
        created_at=now,
    )  # fmt: skip
    body = driftcar_body(event)
    lines: list[str] = []
    app = create_receiver_app(secret, lines.append)
    async with TestServer(app, host="127.0.0.1") as server, aiohttp.ClientSession() as http:

        async def post(headers: dict[str, str]) -> int:
            sent = {IDEMPOTENCY_HEADER: event.id, "Content-Type": "application/json", **headers}
            async with http.post(server.make_url(PATH), data=body, headers=sent) as resp:
                return resp.status

        assert await post(sign(secret, body)) == 200
        assert await post(sign(secret, body)) == 200  # a retry of the same notification: dropped
        assert await post(sign(b"another-secret-of-some-length", body)) == 401
        assert await post(sign(secret, body, now=now - 3600)) == 401
        assert await post({}) == 401
    assert app[INBOX].alerts == [event] and app[INBOX].duplicates == 1 and app[INBOX].rejected == 3
    received, wrong, stale, unsigned = lines
    assert received == (
        "ALERT received (signature ok): [critical] loans/disparate-impact firing — sex: demographic_parity_ratio "
        "0.593 is below 0.8 (worse off: female); suggested action: rollback; report http://admin/reports/7"
    )
    assert wrong == "ALERT rejected (401): signature does not match"
    assert stale.startswith("ALERT rejected (401): stale timestamp: 36"), stale
    assert unsigned == "ALERT rejected (401): missing X-Driftcar-Timestamp header"
