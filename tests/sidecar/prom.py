"""Helpers for tests that run Debian's Prometheus binaries and check docs/observability.md."""

from __future__ import annotations

import asyncio
import os
import re
import shutil
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

DOCS = Path(__file__).parents[2] / "docs" / "observability.md"


def binary(name: str) -> str:
    """The path of `prometheus` or `promtool`; fails the test under CI (env `CI` set) and skips it elsewhere
    when it is not installed."""
    found = shutil.which(name)
    if found:
        return found
    message = f"{name} is not installed (Debian's prometheus package; scripts/ensure-services.sh installs it)"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


async def promtool(*args: str, stdin: str = "", expect: str = "") -> None:
    """Run promtool; it must succeed, printing `expect` (nothing by default)."""
    process = await asyncio.create_subprocess_exec(
        binary("promtool"),
        *args,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await asyncio.wait_for(process.communicate(stdin.encode()), 60)
    text = out.decode().strip()
    assert process.returncode == 0, text
    assert expect in text if expect else text == "", text


def documented_metrics() -> dict[str, str]:
    """Metric name -> type, from the tables of docs/observability.md."""
    rows = re.findall(r"^\| `(\w+)` \| (counter|gauge|histogram) \|", DOCS.read_text(), re.MULTILINE)
    return dict(rows)


def exposed_metrics(text: str) -> dict[str, str]:
    """Metric name (counters with `_total`, as queried) -> type, of driftcar's own families in an exposition
    (the ingest families are documented in docs/kserve.md)."""
    return {
        f.name + ("_total" if f.type == "counter" else ""): f.type
        for f in text_string_to_metric_families(text)
        if f.name.startswith("driftcar_") and not f.name.startswith("driftcar_ingest_")
    }
