"""`driftcar consume` as a real process: config errors, `--check`, serving, SIGTERM, and repeats dropped across a
restart of the process."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path
from typing import Any

import aiohttp
import yaml

from sidecar.server import free_port
from tests.alerts.consumer.conftest import consumer_config
from tests.alerts.consumer.helpers import SECRET, SECRET_ENV, Consumer, make_event, one_rule
from tests.processes import DRIFTCAR, wait_http

APPEND = "import sys; open(sys.argv[1], 'a').write(sys.stdin.read() + '\\n')"


def write_config(tmp_path: Path, **values: Any) -> Path:
    """A YAML config file in tmp_path."""
    path = tmp_path / "consume.yaml"
    path.write_text(yaml.safe_dump(consumer_config(tmp_path, **values)), encoding="utf-8")
    return path


async def run_cli(*args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    """Run `driftcar ARGS` to completion; (exit status, stdout, stderr)."""
    proc = await asyncio.create_subprocess_exec(
        *DRIFTCAR, *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=env
    )
    out, err = await asyncio.wait_for(proc.communicate(), timeout=60)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def test_config_mistakes_exit_2_naming_the_key(tmp_path: Path) -> None:
    config = write_config(tmp_path, listen={"hots": "0.0.0.0"})
    status, _, err = await run_cli("consume", "--config", str(config))
    assert status == 2
    assert "listen.hots: unknown key" in err
    status, _, err = await run_cli("consume")
    assert (status, "a config file is required" in err) == (2, True)
    good = write_config(tmp_path)
    status, _, err = await run_cli("consume", "--config", str(good), "--port", "70000")
    assert (status, "listen.port: Input should be less than or equal to 65535" in err) == (2, True)


async def test_an_unusable_dedupe_file_exits_2(tmp_path: Path) -> None:
    (tmp_path / "not-a-dir").write_text("", encoding="utf-8")
    config = write_config(tmp_path, dedupe={"path": str(tmp_path / "not-a-dir" / "dedupe.db")})
    status, _, err = await run_cli(
        "consume", "--config", str(config), "--check", env={**os.environ, SECRET_ENV: SECRET}
    )
    assert status == 2
    assert f"dedupe store {tmp_path / 'not-a-dir' / 'dedupe.db'}" in err


async def test_check_sets_everything_up_without_serving(tmp_path: Path) -> None:
    config = write_config(tmp_path, actions={"a": {"kind": "command", "argv": ["true"]}}, rules=one_rule("a"))
    status, out, _ = await run_cli(
        "consume", "--config", str(config), "--check", env={**os.environ, SECRET_ENV: SECRET}
    )
    assert status == 0
    assert out.strip() == f"{config}: ok (1 action(s), 1 rule(s))"
    env = {k: v for k, v in os.environ.items() if k != SECRET_ENV}
    status, _, err = await run_cli("consume", "--config", str(config), "--check", env=env)
    assert status == 2
    assert f"environment variable {SECRET_ENV} is not set" in err


async def _serve(config: Path, port: int) -> asyncio.subprocess.Process:
    proc = await asyncio.create_subprocess_exec(
        *DRIFTCAR,
        "consume",
        "--config",
        str(config),
        "--port",
        str(port),
        env={**os.environ, SECRET_ENV: SECRET},
    )
    await wait_http(f"http://127.0.0.1:{port}/healthz", proc, timeout=30)
    return proc


async def _stop(proc: asyncio.subprocess.Process) -> int:
    proc.send_signal(signal.SIGTERM)
    return await asyncio.wait_for(proc.wait(), timeout=30)


async def test_serves_until_sigterm_and_remembers_keys_across_a_restart(tmp_path: Path) -> None:
    log = tmp_path / "log.jsonl"
    action = {"kind": "command", "argv": [sys.executable, "-c", APPEND, str(log)]}
    config = write_config(tmp_path, actions={"log": action}, rules=one_rule("log"))
    port = free_port()
    event = make_event()
    async with aiohttp.ClientSession() as http:
        consumer = Consumer(f"http://127.0.0.1:{port}", http)
        proc = await _serve(config, port)
        try:
            assert (await consumer.post(event))[1]["status"] == "done"
            assert (await consumer.post(event, secret="not-the-secret-at-all-000"))[0] == 401
        finally:
            assert await _stop(proc) == 0
        proc = await _serve(config, port)
        try:
            assert (await consumer.post(event))[1] == {"status": "duplicate", "id": event.id}
        finally:
            assert await _stop(proc) == 0
    assert len(log.read_text(encoding="utf-8").splitlines()) == 1
