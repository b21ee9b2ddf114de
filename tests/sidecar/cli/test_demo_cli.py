"""`driftcar demo` end to end: it trains, serves, captures every row and reports drift on what it captured."""

from __future__ import annotations

import asyncio
import re
import sys
from pathlib import Path


async def test_demo_captures_every_row_and_reports_the_injected_drift(tmp_path: Path) -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "sidecar.cli", "--log-level", "WARNING", "demo", "--requests", "400",
        "--port", "0", "--admin-port", "0", "--linger", "0", "--dir", str(tmp_path),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, stdin=asyncio.subprocess.DEVNULL,
    )
    out, err = await asyncio.wait_for(proc.communicate(), timeout=120)
    text = out.decode()
    assert proc.returncode == 0, err.decode()[-2000:]
    sent = re.search(r"sent 400 requests \((\d+) rows\); statuses \{200: 400\}; failed 0", text)
    assert sent is not None, text
    written = re.search(r"records written: (\d+), spooled: 0, dropped: 0", text)
    assert written is not None, text
    assert int(written.group(1)) == int(sent.group(1))
    drifted = {m.group(1) for m in re.finditer(r"^(\w+)\s+\w+\s+\w+\s+\S+\s+\S+\s+DRIFT", text, re.M)}
    assert {"income", "debt_ratio", "region"} <= drifted
    assert {"age", "credit_lines", "employment_years"}.isdisjoint(drifted)
    assert (tmp_path / "driftcar.db").is_file()
