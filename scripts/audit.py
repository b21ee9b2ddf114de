"""Dependency audit: pip-audit on the installed environment (or a requirements file), judged strictly.

    python scripts/audit.py [-r REQUIREMENTS] [--service pypi|osv] [--strict]

Exit 0: every package was checked and none has a known vulnerability with a fix available (vulnerabilities
without any fix are printed as warnings: there is nothing to upgrade to). Exit 1: at least one has a fix.
Exit 2 (only with --strict, or DRIFTCAR_AUDIT_STRICT=1): the vulnerability service could not be used.

Why a wrapper: when pip-audit's service cannot answer for a version (PyPI's per-version JSON answering 404, as
behind some mirrors and proxies), it skips that package and still says "No known vulnerabilities found" with
exit 0; a wrapper that counts what was really checked is the only way to tell "clean" from "not audited".
An unusable service is reported loudly, and fails the run only when strict: CI on a machine that cannot reach
the service must stay usable (see docs/security.md).

Fallback for what pip-audit skipped: PyPI's *project* JSON (`/pypi/<name>/json`) lists the vulnerabilities of
the project's latest release (the same OSV-sourced data pip-audit reads per version). Where the per-version
JSON is unreachable but the project JSON is not (this build machine), every skipped package whose installed
version *is* the latest release is audited from it; the others stay skipped, each with its reason.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

EXIT_OK, EXIT_VULNERABLE, EXIT_NOT_AUDITED = 0, 1, 2
BANNER = "!" * 78
PROJECT_JSON = "https://pypi.org/pypi/{name}/json"
_SKIPPED_VERSION = re.compile(r"^Dependency not found on PyPI and could not be audited: (\S+) \(([^)]+)\)$")

Fetch = Callable[[str], dict[str, Any]]
"""Reads one project's JSON from PyPI (raises OSError or ValueError when it cannot)."""


@dataclass(frozen=True)
class Finding:
    """One known vulnerability of one installed package."""

    package: str
    version: str
    vuln_id: str
    fix_versions: tuple[str, ...]


@dataclass
class Verdict:
    """What the audit established."""

    audited: int = 0
    skipped: list[str] = field(default_factory=list)
    fixable: list[Finding] = field(default_factory=list)
    unfixable: list[Finding] = field(default_factory=list)


def judge(report: dict[str, Any]) -> Verdict:
    """Sort pip-audit's JSON report into audited / skipped packages and fixable / unfixable findings."""
    verdict = Verdict()
    for dep in report.get("dependencies", []):
        if "skip_reason" in dep:
            verdict.skipped.append(f"{dep['name']}: {dep['skip_reason']}")
            continue
        verdict.audited += 1
        for vuln in dep.get("vulns", []):
            finding = Finding(
                dep["name"], dep.get("version", "?"), vuln["id"], tuple(vuln.get("fix_versions", []))
            )
            (verdict.fixable if finding.fix_versions else verdict.unfixable).append(finding)
    return verdict


def audit_latest_releases(
    report: dict[str, Any], fetch: Fetch, workers: int = 8
) -> tuple[dict[str, Any], int]:
    """Replace each dependency pip-audit skipped as "not found on PyPI" (its per-version JSON unreachable) by an
    audited one when the installed version is the project's latest release, whose vulnerabilities the project
    JSON lists; the others keep a skip reason that says why. Returns the new report and how many were audited."""
    deps = list(report.get("dependencies", []))
    todo = [(i, m) for i, d in enumerate(deps) if (m := _SKIPPED_VERSION.match(d.get("skip_reason", "")))]
    if not todo:
        return report, 0

    def check(match: re.Match[str]) -> dict[str, Any]:
        name, version = match.group(1), match.group(2)
        try:
            project = fetch(PROJECT_JSON.format(name=name))
            latest = str(project["info"]["version"])
            vulns = project.get("vulnerabilities") or []
        except (OSError, ValueError, KeyError, TypeError) as exc:
            return {"name": name, "skip_reason": f"{match.string}; project JSON unreadable too: {exc}"}
        if latest != version:
            return {
                "name": name,
                "skip_reason": f"installed {version} is not the latest release ({latest}), and only the latest "
                "release's vulnerabilities can be read here (PyPI's per-version JSON is unreachable)",
            }
        found = [
            {"id": v["id"], "fix_versions": list(v.get("fixed_in") or []), "aliases": v.get("aliases", [])}
            for v in vulns
            if not v.get("withdrawn")
        ]
        return {"name": name, "version": version, "vulns": _one_per_alias_group(found)}

    with ThreadPoolExecutor(max_workers=workers) as pool:
        results = list(pool.map(check, [m for _, m in todo]))
    for (i, _), dep in zip(todo, results, strict=True):
        deps[i] = dep
    return {**report, "dependencies": deps}, sum("skip_reason" not in d for d in results)


def _one_per_alias_group(vulns: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """PyPI lists one advisory under each of its ids (PYSEC-..., GHSA-...); keep the first of each group."""
    seen: set[str] = set()
    out = []
    for v in vulns:
        ids = {v["id"], *v.get("aliases", [])}
        if ids & seen:
            continue
        seen |= ids
        out.append({"id": v["id"], "fix_versions": v["fix_versions"]})
    return out


def _fetch_json(url: str) -> dict[str, Any]:
    with urllib.request.urlopen(url, timeout=30) as resp:
        data = json.loads(resp.read())
    if not isinstance(data, dict):
        raise ValueError(f"{url}: not a JSON object")
    return data


def _not_audited(reason: str, strict: bool) -> int:
    print(BANNER, file=sys.stderr)
    print(f"DEPENDENCY AUDIT NOT DONE: {reason}", file=sys.stderr)
    print("No package was checked for known vulnerabilities: this is NOT a clean result.", file=sys.stderr)
    if not strict:
        print(
            "(not failing: run with --strict or DRIFTCAR_AUDIT_STRICT=1 where the service is reachable)",
            file=sys.stderr,
        )
    print(BANNER, file=sys.stderr)
    return EXIT_NOT_AUDITED if strict else EXIT_OK


def run(requirements: str | None, service: str, strict: bool) -> int:
    """Run pip-audit and judge its report; returns the exit status."""
    cmd = [sys.executable, "-m", "pip_audit", "-s", service, "-f", "json", "--progress-spinner", "off"]
    if requirements:
        cmd += ["-r", requirements, "--no-deps", "--disable-pip"]
    else:
        cmd += ["--skip-editable"]  # driftcar itself, installed from this tree
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=900, check=False)
    try:
        report = json.loads(proc.stdout)
    except json.JSONDecodeError:
        last = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        return _not_audited(f"pip-audit ({service}) failed: {last[:300]}", strict)
    report, latest_checked = audit_latest_releases(report, _fetch_json)
    verdict = judge(report)
    if latest_checked:
        print(
            f"dependency audit: {latest_checked} packages pip-audit skipped were checked against their latest "
            "release's vulnerabilities (PyPI project JSON)"
        )
    if verdict.audited == 0:
        example = verdict.skipped[0] if verdict.skipped else "no package found"
        return _not_audited(f"the {service} service answered for no package ({example})", strict)
    print(f"dependency audit ({service}): {verdict.audited} packages checked, {len(verdict.skipped)} skipped")
    for line in verdict.skipped:
        print(f"  skipped {line}")
    for f in verdict.unfixable:
        print(f"  WARNING {f.package} {f.version}: {f.vuln_id} (no fixed version yet)")
    for f in verdict.fixable:
        print(f"  VULNERABLE {f.package} {f.version}: {f.vuln_id}, fixed in {', '.join(f.fix_versions)}")
    if verdict.fixable:
        print(f"dependency audit failed: {len(verdict.fixable)} known vulnerabilities with a fix available")
        return EXIT_VULNERABLE
    if verdict.skipped and strict:
        return _not_audited(f"{len(verdict.skipped)} packages could not be checked", strict)
    return EXIT_OK


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description="pip-audit, judged: fail on vulnerabilities with a fix.")
    parser.add_argument("-r", "--requirement", help="audit this requirements file instead of the environment")
    parser.add_argument(
        "--service", choices=["pypi", "osv"], default=os.environ.get("DRIFTCAR_AUDIT_SERVICE", "pypi")
    )
    parser.add_argument(
        "--strict",
        action="store_true",
        default=os.environ.get("DRIFTCAR_AUDIT_STRICT") == "1",
        help="fail (exit 2) when the vulnerability service cannot be used",
    )
    args = parser.parse_args(argv)
    return run(args.requirement, args.service, args.strict)


if __name__ == "__main__":
    raise SystemExit(main())
