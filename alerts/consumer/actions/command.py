"""Run a configured program for an alert: no shell, the alert's JSON payload on standard input.

The program also gets `DRIFTCAR_ALERT_ID`, `DRIFTCAR_ALERT_STATUS`, `DRIFTCAR_ALERT_ACTION`,
`DRIFTCAR_MONITOR`, `DRIFTCAR_MODEL` and `DRIFTCAR_MODEL_VERSION` in its environment. Exit status 0 is
success; anything else, or running past the timeout (the program is then killed), is a failure.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os

import orjson

from alerts.consumer.actions.base import ActionError, ActionResult, Alert
from alerts.consumer.config import CommandConfig
from alerts.consumer.template import expand_env, render_text

logger = logging.getLogger(__name__)

_TAIL = 500


async def _kill(proc: asyncio.subprocess.Process) -> None:
    with contextlib.suppress(ProcessLookupError):
        proc.kill()
    await proc.wait()


class CommandAction:
    """One process per alert."""

    kind = "command"

    def __init__(self, name: str, config: CommandConfig) -> None:
        self.name = name
        self.config = config
        self.target = f"command:{name}"
        self._env = {k: expand_env(v, f"action {name}: env {k}") for k, v in config.env.items()}

    async def close(self) -> None:
        """Nothing to release."""

    async def run(self, alert: Alert) -> ActionResult:
        """Start the program, feed it the alert, wait for its exit."""
        cfg = self.config
        event = alert.event
        argv = [render_text(arg, alert.payload) for arg in cfg.argv]
        env = {
            **os.environ,
            **self._env,
            "DRIFTCAR_ALERT_ID": event.id,
            "DRIFTCAR_ALERT_STATUS": event.status,
            "DRIFTCAR_ALERT_ACTION": event.action,
            "DRIFTCAR_MONITOR": event.monitor,
            "DRIFTCAR_MODEL": event.model or "",
            "DRIFTCAR_MODEL_VERSION": event.model_version or "",
        }
        try:
            proc = await asyncio.create_subprocess_exec(
                *argv,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.PIPE,
                env=env,
                cwd=cfg.cwd,
            )
        except OSError as exc:
            raise ActionError(f"cannot run {argv[0]}: {exc.strerror or exc}") from None
        try:
            async with asyncio.timeout(cfg.timeout):
                _, err = await proc.communicate(orjson.dumps(alert.payload))
        except TimeoutError:
            await _kill(proc)
            raise ActionError(f"{argv[0]} ran past {cfg.timeout:g} s and was killed") from None
        except asyncio.CancelledError:  # the consumer is shutting down: leave no program behind
            await _kill(proc)
            raise
        if proc.returncode != 0:
            tail = err.decode(errors="replace").strip()[-_TAIL:]
            logger.warning(
                "command action %s: %s exited with %s: %s", self.name, argv[0], proc.returncode, tail
            )
            raise ActionError(
                f"{argv[0]} exited with status {proc.returncode}" + (f": {tail}" if tail else "")
            )
        logger.info("command action %s: %s exited with 0", self.name, argv[0])
        return ActionResult("ok", {"exit_code": 0})
