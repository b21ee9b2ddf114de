"""Headless Chromium for tests that check what a browser renders: find it, and dump a page's DOM offline.

Needs `/usr/bin/chromium` (Debian package `chromium`, installed by scripts/ensure-services.sh); without it a
test fails under CI (env `CI` set) and is skipped elsewhere.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
TIMEOUT_S = 90


def chromium_path() -> str:
    """The Chromium executable; fails the test under CI and skips it elsewhere when there is none."""
    found = shutil.which("chromium") or (str(CHROMIUM) if CHROMIUM.exists() else None)
    if found is None:
        message = (
            "chromium is not installed (Debian package `chromium`; scripts/ensure-services.sh installs it)"
        )
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return found


def dump_dom(chromium: str, url_or_path: Path | str, profile: Path) -> str:
    """The DOM after Chromium ran the page's scripts, with background services off.

    A `Path` is loaded as a `file://` URL; a string is used as given (e.g. `http://127.0.0.1:PORT/reports`).
    """
    url = url_or_path.resolve().as_uri() if isinstance(url_or_path, Path) else url_or_path
    command = [
        chromium,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={profile}",
        "--virtual-time-budget=10000",
        "--dump-dom",
        url,
    ]
    # Its own session, so that a timeout ends Chromium's helper processes too, not only the browser.
    with subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True
    ) as browser:
        try:
            out, err = browser.communicate(timeout=TIMEOUT_S)
        except subprocess.TimeoutExpired:
            os.killpg(browser.pid, signal.SIGKILL)
            browser.communicate()
            pytest.fail(f"chromium did not finish within {TIMEOUT_S} s")
    assert browser.returncode == 0, err[-2000:]
    return out
