"""`driftcar serve` starts without pandas, scipy, scikit-learn, Evidently or pyarrow: only report workers need them.

Each test runs a fresh interpreter, since this one has imported everything already.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from sidecar.server import free_port

HEAVY = ("pandas", "scipy", "sklearn", "evidently", "pyarrow")
# A configuration that validates every option model the detectors define (method names, column types,
# fairness, bias caps, quality thresholds, performance options) and gives the sidecar monitors to schedule.
CONFIG = """\
upstream: http://127.0.0.1:1
monitors:
  - name: loans
    model: loan-approval
    features: [income, region]
    column_types: {region: categorical}
    fairness: {protected: [sex], favorable: 1}
    bias: {max_difference: {equal_opportunity_difference: 0.2}}
    drift: {drift_share: 0.3, method_by_type: {numeric: wasserstein}, method_by_column: {region: TVD}}
    quality: {max_out_of_range_share: 0.1}
    performance: {average: weighted}
    schedule: {every: 1h}
"""
# Printed by the child: the heavy top-level packages it has imported.
REPORT_HEAVY = f"""
import json, sys
print(json.dumps(sorted({{m.split(".")[0] for m in sys.modules}} & set({HEAVY!r}))), flush=True)
"""


def _run(code: str, cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code, *args], cwd=cwd, capture_output=True, text=True, timeout=120
    )


def _heavy_imported(stdout: str) -> list[str]:
    found: list[str] = json.loads(stdout.strip().splitlines()[-1])
    return found


def test_settings_and_server_modules_import_nothing_heavy(tmp_path: Path) -> None:
    (tmp_path / "driftcar.yaml").write_text(CONFIG, encoding="utf-8")
    code = (
        "import sidecar.settings, sidecar.server, sidecar.cli.serve\n"
        "from sidecar.errors import ConfigError\n"
        "settings = sidecar.settings.load_settings('driftcar.yaml')\n"
        "assert settings.monitors[0].drift.method_by_column == {'region': 'TVD'}\n"
        "open('bad.yaml', 'w').write(open('driftcar.yaml').read().replace('TVD', 'tvd'))\n"
        "try:\n"
        "    sidecar.settings.load_settings('bad.yaml')\n"
        "except ConfigError as exc:\n"
        "    assert 'method_by_column' in str(exc) and 'empirical_mmd' in str(exc), str(exc)\n"
        "else:\n"
        "    raise AssertionError('an unknown drift method was accepted')\n" + REPORT_HEAVY
    )
    done = _run(code, tmp_path)
    assert done.returncode == 0, done.stderr
    assert _heavy_imported(done.stdout) == []


def test_serving_sidecar_with_monitors_has_imported_nothing_heavy(tmp_path: Path) -> None:
    """`driftcar serve` itself, with monitors (whose report workers start at once), checked once it serves."""
    (tmp_path / "driftcar.yaml").write_text(CONFIG, encoding="utf-8")
    admin = free_port()
    code = (
        "import os, signal, sys, threading, time, urllib.request\n"
        "from sidecar.cli import main\n"
        "def report_when_serving() -> None:\n"
        "    deadline = time.monotonic() + 90\n"
        "    while time.monotonic() < deadline:\n"
        "        try:\n"
        f"            urllib.request.urlopen('http://127.0.0.1:{admin}/healthz', timeout=5).close()\n"
        "            break\n"
        "        except OSError:\n"
        "            time.sleep(0.05)\n"
        + "\n".join("    " + line for line in REPORT_HEAVY.strip().splitlines())
        + "\n    os.kill(os.getpid(), signal.SIGTERM)\n"
        "threading.Thread(target=report_when_serving, daemon=True).start()\n"
        "sys.exit(main(sys.argv[1:]))\n"
    )
    done = _run(
        code,
        tmp_path,
        "serve",
        "--config",
        "driftcar.yaml",
        "--host",
        "127.0.0.1",
        "--port",
        str(free_port()),
        "--admin-port",
        str(admin),
        "--database-url",
        f"sqlite:///{tmp_path / 'driftcar.db'}",
    )
    assert done.returncode == 0, done.stderr
    assert "driftcar proxying" in done.stderr  # it served before reporting
    assert _heavy_imported(done.stdout) == []
