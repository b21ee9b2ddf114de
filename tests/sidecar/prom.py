"""Helpers for tests that run Debian's Prometheus binaries (Prometheus, promtool, Alertmanager) and check
docs/observability.md."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import shutil
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from sidecar.server import free_port

DOCS = Path(__file__).parents[2] / "docs" / "observability.md"


def binary(*names: str, package: str = "prometheus") -> str:
    """The path of the first of `names` installed; fails the test under CI (env `CI` set) and skips it
    elsewhere when none is."""
    for name in names:
        found = shutil.which(name)
        if found:
            return found
    message = (
        f"{names[0]} is not installed (Debian's {package} package; scripts/ensure-services.sh installs it)"
    )
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


async def eventually(check: Callable[[], Awaitable[Any]], timeout: float, what: str) -> Any:
    """Poll `check()` until it returns something truthy; fail with `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        found = await check()
        if found:
            return found
        assert time.monotonic() < deadline, f"timed out after {timeout:g} s waiting for {what}"
        await asyncio.sleep(0.1)


@contextlib.asynccontextmanager
async def serving(executable: str, *args: str, log: Path, ready_within: float = 60.0) -> AsyncIterator[str]:
    """Run a Prometheus or Alertmanager on a free 127.0.0.1 port (`--web.listen-address` added to `args`),
    its output in `log`; its base URL once `/-/ready` answers. Terminated (killed after 15 s) at the end."""
    port = free_port()
    with log.open("wb") as out:
        process = await asyncio.create_subprocess_exec(
            executable, *args, f"--web.listen-address=127.0.0.1:{port}", stdout=out, stderr=out
        )
    url = f"http://127.0.0.1:{port}"
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as http:

            async def ready() -> bool:
                if process.returncode is not None:
                    output = await asyncio.to_thread(log.read_text)
                    raise AssertionError(f"{Path(executable).name} exited: {output}")
                try:
                    async with http.get(f"{url}/-/ready") as resp:
                        return resp.status == 200
                except (aiohttp.ClientError, TimeoutError):
                    return False

            await eventually(ready, ready_within, f"{Path(executable).name} to be ready")
        yield url
    finally:
        if process.returncode is None:
            process.terminate()
            try:
                await asyncio.wait_for(process.wait(), 15)
            except TimeoutError:
                process.kill()
                await process.wait()


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
