"""The demo's checks on its alerts, through the admin API and the receiver's inbox: nothing fired on the
baseline, every alert firing after the drift reached the receiver, and what the rollout gate answers."""

from __future__ import annotations

import asyncio
import time

import aiohttp

from alerts.store import AlertState
from sidecar.demo.receiver import Inbox


async def alert_states(
    http: aiohttp.ClientSession, admin: str, monitor: str, status: str | None = None
) -> list[AlertState] | str:
    """The monitor's alerts as `GET /api/alerts` lists them, or why it did not answer."""
    params = {"monitor": monitor, **({"status": status} if status else {})}
    try:
        async with http.get(f"{admin}/api/alerts", params=params) as resp:
            resp.raise_for_status()
            return [AlertState(**doc) for doc in (await resp.json())["alerts"]]
    except (aiohttp.ClientError, TimeoutError) as exc:
        return f"the admin API did not answer: {exc!r}"


def fired(states: list[AlertState], inbox: Inbox) -> list[str]:
    """The rules that have fired so far: notified or firing in driftcar's account, or seen by the receiver."""
    rules = sorted({s.rule for s in states if s.notifications or s.status != "resolved"})
    return rules + sorted({a.rule for a in inbox.alerts} - set(rules))


def undelivered(firing: list[AlertState], inbox: Inbox) -> list[str]:
    """The firing alerts whose firing notification the receiver has not got."""
    got = {a.rule for a in inbox.alerts if a.status == "firing"}
    return [s.rule for s in firing if s.rule not in got]


async def wait_delivered(firing: list[AlertState], inbox: Inbox, timeout: float) -> list[str]:
    """Wait up to `timeout` s for the receiver to get every firing alert; those it still lacks."""
    deadline = time.monotonic() + timeout
    while (missing := undelivered(firing, inbox)) and time.monotonic() < deadline:
        await asyncio.sleep(0.1)  # the dispatcher posts as soon as a run queues a notification
    return missing


async def gate(http: aiohttp.ClientSession, admin: str, monitor: str) -> tuple[int | None, str]:
    """`GET /gate/{monitor}`: its status (None without an answer) and one line, e.g. `503 fail (rule, ...)`."""
    path = f"/gate/{monitor}"
    try:
        async with http.get(admin + path) as resp:
            status, doc = resp.status, await resp.json()
    except (aiohttp.ClientError, TimeoutError) as exc:
        return None, f"rollout gate {path}: no answer ({exc!r})"
    reasons = ", ".join(str(r["rule"]) for r in doc.get("reasons", []))
    return status, f"rollout gate {path}: {status} {doc.get('status')}" + (f" ({reasons})" if reasons else "")
