"""The processor with stand-in actions: actions on one target never interleave, other targets run alongside."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from pathlib import Path

from alerts.consumer.actions.base import Action, ActionResult, Alert
from alerts.consumer.config import parse_config
from alerts.consumer.dedupe import DedupeStore
from alerts.consumer.processor import AlertProcessor
from tests.alerts.consumer.helpers import make_event


@dataclass
class Recorder:
    """An action that logs when it starts and ends, and takes a moment in between."""

    name: str
    target: str
    log: list[str] = field(default_factory=list)
    kind: str = "stand-in"

    async def run(self, alert: Alert) -> ActionResult:
        self.log.append(f"start {self.name} {alert.event.status}")
        await asyncio.sleep(0.05)
        self.log.append(f"end {self.name} {alert.event.status}")
        return ActionResult("ok")

    async def close(self) -> None:
        """Nothing held."""


async def test_actions_on_one_target_run_one_at_a_time(tmp_path: Path) -> None:
    log: list[str] = []
    actions: dict[str, Action] = {
        "back": Recorder("back", "mlflow:m@production", log),
        "forward": Recorder("forward", "mlflow:m@production", log),
        "elsewhere": Recorder("elsewhere", "kubernetes:ml/other", log),
    }
    config = parse_config(
        {
            "secrets": [{"secret_env": "UNUSED"}],
            "actions": {n: {"kind": "command", "argv": ["true"]} for n in actions},
            "rules": [
                {"match": {"status": "firing"}, "run": "back"},
                {"match": {"status": "resolved"}, "run": ["forward", "elsewhere"]},
            ],
        }
    )
    store = await DedupeStore.open(tmp_path / "d.db")
    try:
        processor = AlertProcessor(config, store, actions)
        firing, resolved = make_event(), make_event(status="resolved")
        await asyncio.gather(
            processor.handle(Alert(firing, firing.to_json())),
            processor.handle(Alert(resolved, resolved.to_json())),
        )
    finally:
        await store.close()
    shared = [entry for entry in log if "elsewhere" not in entry]
    assert shared in (
        ["start back firing", "end back firing", "start forward resolved", "end forward resolved"],
        ["start forward resolved", "end forward resolved", "start back firing", "end back firing"],
    )
