"""The dependency audit (`make audit`, scripts/audit.py): fails on a fixable vulnerability, is loud when blind.

Whether a known-vulnerable pin really fails depends on reaching the vulnerability service; where it cannot be
reached (this build machine: PyPI's per-version JSON answers 404 and OSV is not reachable) that test skips
with the reason, and the judging of pip-audit's report is proven on reports of the same shape instead.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from scripts.audit import judge

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "audit.py"


def _audit(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("DRIFTCAR_AUDIT")}
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args], capture_output=True, text=True, timeout=300, env={**base, **(env or {})},
        check=False,
    )


def _dep(name: str, version: str, *vulns: tuple[str, list[str]]) -> dict[str, Any]:
    return {"name": name, "version": version, "vulns": [{"id": i, "fix_versions": f} for i, f in vulns]}


def test_a_vulnerability_with_a_fix_is_fixable_and_one_without_is_a_warning() -> None:
    report = {
        "dependencies": [
            _dep("jinja2", "2.10", ("PYSEC-2019-217", ["2.10.1"])),
            _dep("ecdsa", "0.19.2", ("GHSA-wj6h-64fc-37mp", [])),
            _dep("orjson", "3.10.0"),
            {"name": "private-pkg", "skip_reason": "Dependency not found on PyPI and could not be audited"},
        ],
        "fixes": [],
    }
    verdict = judge(report)
    assert verdict.audited == 3
    assert [(f.package, f.vuln_id, f.fix_versions) for f in verdict.fixable] == [
        ("jinja2", "PYSEC-2019-217", ("2.10.1",))
    ]
    assert [f.package for f in verdict.unfixable] == ["ecdsa"]
    assert len(verdict.skipped) == 1


def test_a_report_that_skipped_everything_audited_nothing() -> None:
    # What pip-audit prints as "No known vulnerabilities found" (exit 0) when its service answers 404.
    report = {"dependencies": [{"name": "aiohttp", "skip_reason": "Dependency not found on PyPI"}], "fixes": []}
    assert judge(report).audited == 0


@pytest.fixture
def vulnerable_pin(tmp_path: Path) -> Path:
    """A requirements file pinning a release with published vulnerabilities fixed in later releases."""
    path = tmp_path / "requirements.txt"
    path.write_text("jinja2==2.10\n")
    return path


def test_a_known_vulnerable_pin_fails_the_audit(vulnerable_pin: Path) -> None:
    done = _audit("-r", str(vulnerable_pin), "--strict")
    if done.returncode == 2 and "DEPENDENCY AUDIT NOT DONE" in done.stderr:
        pytest.skip("the vulnerability service is unreachable from this machine: " + done.stderr.splitlines()[1])
    assert done.returncode == 1, done.stdout + done.stderr
    assert "VULNERABLE jinja2 2.10" in done.stdout and "fixed in" in done.stdout


def test_an_unreachable_service_is_loud_and_fails_only_when_strict(vulnerable_pin: Path) -> None:
    # Every request to the service goes through a proxy that refuses connections.
    offline = {"HTTPS_PROXY": "http://127.0.0.1:9", "https_proxy": "http://127.0.0.1:9", "NO_PROXY": "", "no_proxy": ""}
    lenient = _audit("-r", str(vulnerable_pin), env=offline)
    assert lenient.returncode == 0
    assert "DEPENDENCY AUDIT NOT DONE" in lenient.stderr and "NOT a clean result" in lenient.stderr
    strict = _audit("-r", str(vulnerable_pin), env={**offline, "DRIFTCAR_AUDIT_STRICT": "1"})
    assert strict.returncode == 2, strict.stdout + strict.stderr
    assert "DEPENDENCY AUDIT NOT DONE" in strict.stderr
