"""`driftcar` as a child process in tests: its command line, and waiting until a process answers over HTTP."""

from __future__ import annotations

import asyncio
import sys

import aiohttp

DRIFTCAR = [sys.executable, "-m", "sidecar.cli"]
"""The `driftcar` command run by this interpreter (the source tree, whatever is on PATH)."""


async def wait_http(url: str, proc: asyncio.subprocess.Process, timeout: float = 60.0) -> None:
    """Poll `url` until it answers 200; fail if the process exits first or `timeout` seconds pass."""
    try:
        async with aiohttp.ClientSession() as http, asyncio.timeout(timeout):
            while True:
                if proc.returncode is not None:
                    raise AssertionError(f"{url}: the process exited early with {proc.returncode}")
                try:
                    async with http.get(url) as resp:
                        if resp.status == 200:
                            return
                except aiohttp.ClientError:
                    pass
                await asyncio.sleep(0.05)
    except TimeoutError:
        raise AssertionError(f"{url}: no 200 answer within {timeout:g} s") from None
