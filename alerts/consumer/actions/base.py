"""What every action is: a name, and `run(alert)` returning a typed outcome or raising ActionError."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

import aiohttp

from alerts.payload import AlertEvent

Outcome = Literal["ok", "unchanged", "dry_run"]


class ActionError(Exception):
    """An action did not do its job; the message says what failed (no secrets, no payloads)."""


@dataclass(frozen=True, slots=True)
class ActionResult:
    """What an action did: `ok`, `unchanged` (nothing to do, e.g. already rolled back by this alert) or
    `dry_run`, with a few facts for the sender's delivery log."""

    outcome: Outcome
    detail: dict[str, Any] = field(default_factory=dict)

    def to_json(self, name: str, kind: str) -> dict[str, Any]:
        """The result as reported in the HTTP response and stored with the key."""
        return {"action": name, "kind": kind, "outcome": self.outcome, **self.detail}


@dataclass(frozen=True, slots=True)
class Alert:
    """The alert an action runs for: the parsed event and the payload exactly as received."""

    event: AlertEvent
    payload: dict[str, Any]


class Action(Protocol):
    """One configured action."""

    name: str
    kind: str
    target: str
    """What the action changes (e.g. `kubernetes:ml/churn-api`): actions on one target run one at a time."""

    async def run(self, alert: Alert) -> ActionResult:
        """Do it; raise ActionError on failure."""
        ...

    async def close(self) -> None:
        """Release what the action holds (at the consumer's shutdown)."""
        ...


@dataclass(frozen=True, slots=True)
class ActionContext:
    """Shared resources actions receive (the consumer's app owns them)."""

    session: aiohttp.ClientSession
