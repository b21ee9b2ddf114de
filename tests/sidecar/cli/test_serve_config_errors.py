"""Broken config files through `driftcar serve --config`: exit 2 with the key path (or the YAML line) on
stderr, before anything starts — no socket bound (an audit hook watches `socket.bind`), no database opened
or created, no spool directory, the configured ports still free. No half-configured process.

All files run in one process that imports driftcar once and forks the real entry point per file
(`forkserve.py`); a fresh interpreter per file would cost seconds each on a shared 2-core machine.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from sidecar.server import free_port

ROOT = Path(__file__).resolve().parents[3]
FORKSERVE = Path(__file__).with_name("forkserve.py")
PORT, ADMIN = free_port(), free_port()
VALID = f"upstream: http://127.0.0.1:1\nport: {PORT}\nadmin_port: {ADMIN}\nhost: 127.0.0.1\n"
MONITOR = VALID + "monitors:\n  - name: m\n"
WEBHOOK = "alerts:\n  webhooks:\n    - {name: ops, url: 'http://127.0.0.1:1/', secret_env: HOME}\n"

# (id, file contents, what stderr must name)
CASES: list[tuple[str, str, str]] = [
    ("unknown-top-level", VALID + "upstrem: http://x\n", "  upstrem: unknown key"),
    ("unknown-capture", VALID + "capture:\n  max_body_byte: 10\n", "  capture.max_body_byte: unknown key"),
    ("unknown-timeouts", VALID + "timeouts: {connec: 1}\n", "  timeouts.connec: unknown key"),
    ("unknown-route", VALID + "routes:\n  - path: /p\n    sample: 0.5\n", "  routes.0.sample: unknown key"),
    (
        "unknown-route-adapter",
        VALID + "routes:\n  - path: /p\n  - path: /q\n    adapter: {adapter: generic, input: x}\n",
        "  routes.1.adapter.input: unknown key",
    ),
    ("unknown-monitor", MONITOR + "    windw: {minutes: 5}\n", "  monitors.0.windw: unknown key"),
    ("unknown-schedule", MONITOR + "    schedule: {evry: 5m}\n", "  monitors.0.schedule.evry: unknown key"),
    (
        "unknown-drift",
        MONITOR + "    drift: {drift_shar: 0.3}\n",
        "  monitors.0.drift.drift_shar: unknown key",
    ),
    (
        "unknown-alert-rule",
        MONITOR + "    alerts:\n      - {name: r, when: dataset_drift, severty: critical}\n",
        "  monitors.0.alerts.0.severty: unknown key",
    ),
    (
        "unknown-webhook-key",
        VALID + WEBHOOK.replace("secret_env: HOME", "secret_env: HOME, urll: x"),
        "  alerts.webhooks.0.urll: unknown key",
    ),
    ("unknown-delivery", VALID + "alerts: {delivery: {pol: 1}}\n", "  alerts.delivery.pol: unknown key"),
    ("unknown-reports", VALID + "reports: {worker: 2}\n", "  reports.worker: unknown key"),
    ("unknown-retention", VALID + "retention: {record_days: 2}\n", "  retention.record_days: unknown key"),
    (
        "wrong-type-int",
        VALID + "capture: {max_body_bytes: lots}\n",
        "  capture.max_body_bytes: Input should be a valid integer",
    ),
    ("wrong-type-list", VALID + "routes: {path: /x}\n", "  routes: Input should be a valid list"),
    (
        "wrong-type-bool",
        VALID + "capture: {enabled: maybe}\n",
        "  capture.enabled: Input should be a valid boolean",
    ),
    (
        "wrong-type-port",
        "upstream: http://127.0.0.1:1\nport: eighty\n",
        "  port: Input should be a valid integer",
    ),
    (
        "out-of-range",
        VALID + "routes:\n  - {path: /p, sample_rate: 2}\n",
        "  routes.0.sample_rate: Input should be less than or equal to 1",
    ),
    (
        "relative-glob",
        VALID + "routes:\n  - path: v1/models/*\n",
        "  routes.0.path: Value error, glob 'v1/models/*' must start with '/'",
    ),
    (
        "unclosed-glob",
        VALID + "routes:\n  - path: '/v1/models/[ab'\n",
        "  routes.0.path: Value error, glob '/v1/models/[ab': '[' at position 11 has no closing ']'",
    ),
    (
        "bad-json-path",
        VALID + "routes:\n  - path: /p\n    adapter: {inputs: 'a[', outputs: $}\n",
        "  routes.0.adapter.inputs: Value error, JSON path 'a[': unterminated '['",
    ),
    (
        "bad-duration",
        MONITOR + "    schedule: {every: 5 parsecs}\n",
        "  monitors.0.schedule.every: Value error, expected a duration such as 30s",
    ),
    (
        "bad-window",
        MONITOR + "    window: {minutes: -5}\n",
        "  monitors.0.window.minutes: Input should be greater than 0",
    ),
    (
        "bad-cron",
        MONITOR + "    schedule: {cron: '61 * * * *'}\n",
        "  monitors.0.schedule.cron: Value error, invalid crontab",
    ),
    (
        "unknown-feature-type",
        MONITOR + "    column_types: {income: colour}\n",
        "  monitors.0.column_types.income: Input should be 'numeric', 'categorical'",
    ),
    (
        "unknown-drift-method",
        MONITOR + "    drift: {method_by_column: {income: nope}}\n",
        "  monitors.0.drift.method_by_column.income: Input should be 'ks'",
    ),
    (
        "unknown-webhook-reference",
        VALID
        + WEBHOOK
        + "monitors:\n  - name: m\n    alerts:\n      - {name: r, when: dataset_drift, webhooks: [pager]}\n",
        "  monitors.0.alerts.0.webhooks: monitor 'm', alert 'r': unknown webhook(s) pager (configured: ops)",
    ),
    (
        "unsigned-webhook",
        VALID + "alerts:\n  webhooks:\n    - {name: ops, url: 'http://127.0.0.1:1/'}\n",
        "  alerts.webhooks.0: Value error, a `driftcar` webhook is signed: set secret_env or secret_file",
    ),
    (
        "missing-webhook-secret",
        VALID
        + "alerts:\n  webhooks:\n    - {name: ops, url: 'http://127.0.0.1:1/', secret_env: DRIFTCAR_TEST_UNSET_SECRET}\n",
        "DRIFTCAR_TEST_UNSET_SECRET",
    ),
    (
        "duplicate-monitor",
        VALID + "monitors:\n  - name: a\n  - name: a\n",
        "  monitors: Value error, monitor name 'a' is used twice",
    ),
    (
        "duplicate-key",
        VALID + "capture:\n  enabled: true\n  enabled: false\n",
        "invalid YAML at line 7, column 3: duplicate key 'enabled'",
    ),
    (
        "yaml-syntax",
        VALID + "capture: {max_body_bytes: 10\nroutes: []\n",
        "invalid YAML at line 6, column 7: expected ',' or '}'",
    ),
    (
        "yaml-tab",
        VALID + "capture:\n\tenabled: true\n",
        "invalid YAML at line 6, column 1: found character '\\t'",
    ),
    ("not-a-mapping", "- upstream: http://127.0.0.1:1\n", "expected a mapping at the top level, got list"),
    ("scalar", "upstream http://127.0.0.1:1\n", "expected a mapping at the top level, got str"),
    ("empty", "", "  upstream: Field required"),
    ("comments-only", "# nothing here\n", "  upstream: Field required"),
    ("not-utf8", VALID.encode().decode() + "host: caf\udce9\n", "not UTF-8 text"),
]


def _port_free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


@pytest.mark.slow  # one interpreter with driftcar's imports (~3 s CPU), then a fork per file
def test_every_broken_config_exits_2_naming_the_key_before_anything_starts(tmp_path: Path) -> None:
    configs = []
    for name, text, _ in CASES:
        path = tmp_path / f"{name}.yaml"
        path.write_bytes(text.encode("utf-8", "surrogateescape"))
        configs.append(str(path))
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, str(FORKSERVE), *configs],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    codes = json.loads(done.stdout.splitlines()[-1])
    failures = []
    for (name, _, expected), config, code in zip(CASES, configs, codes, strict=True):
        err = Path(config + ".err").read_text(encoding="utf-8")
        attempts = Path(config + ".audit").read_text(encoding="utf-8").splitlines()
        if code != 2 or expected not in err or not err.startswith("driftcar serve: error: ") or attempts:
            failures.append(f"{name}: exit {code}, attempts {attempts}, stderr:\n{err}")
    assert not failures, "\n".join(failures)
    leftovers = {p.name for p in tmp_path.iterdir()} - {
        Path(c + suffix).name for c in configs for suffix in ("", ".err", ".audit")
    }
    assert not leftovers  # no driftcar.db, no driftcar-spool
    assert _port_free(PORT) and _port_free(ADMIN)
