"""Reading alert states, the outbox and the delivery log (the writes happen in `alerts.state` and
`alerts.dispatcher`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from alerts.payload import SEVERITY_RANK, Severity
from storage.errors import translated
from storage.schema import alert_deliveries, alert_outbox, alert_states


@dataclass(frozen=True, slots=True)
class AlertState:
    """One alert's current state."""

    fingerprint: str
    monitor: str
    rule: str
    status: str
    severity: str
    action: str
    consecutive: int
    started_at: float | None
    resolved_at: float | None
    last_notified_at: float | None
    notifications: int
    last_window_end: float
    last_run_id: int | None
    details: list[dict[str, Any]] | None
    updated_at: float


@dataclass(frozen=True, slots=True)
class OutboxEntry:
    """One queued notification to one destination and how its delivery went."""

    id: int
    event_id: str
    destination: str
    monitor: str
    status: str
    attempts: int
    created_at: float
    next_attempt_at: float
    delivered_at: float | None
    last_error: str | None
    event: dict[str, Any]


class AlertStore:
    """Queries over alert states and the outbox."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def states(
        self, monitor: str | None = None, status: str | None = None, min_severity: Severity = "info"
    ) -> list[AlertState]:
        """Alerts (of one monitor / status, at least `min_severity`), firing first, then by rule."""
        query = select(alert_states)
        if monitor is not None:
            query = query.where(alert_states.c.monitor == monitor)
        if status is not None:
            query = query.where(alert_states.c.status == status)
        allowed = [s for s, rank in SEVERITY_RANK.items() if rank >= SEVERITY_RANK[min_severity]]
        query = query.where(alert_states.c.severity.in_(allowed))
        with translated():
            async with self._engine.connect() as conn:
                rows = list(await conn.execute(query))
        found = [AlertState(**{c: getattr(r, c) for c in AlertState.__dataclass_fields__}) for r in rows]
        return sorted(found, key=lambda a: (a.status != "firing", a.monitor, a.rule))

    async def outbox(self, status: str | None = None, limit: int = 100) -> list[OutboxEntry]:
        """Notifications, newest first."""
        query = select(alert_outbox).order_by(alert_outbox.c.id.desc()).limit(limit)
        if status is not None:
            query = query.where(alert_outbox.c.status == status)
        with translated():
            async with self._engine.connect() as conn:
                rows = list(await conn.execute(query))
        return [OutboxEntry(**{c: getattr(r, c) for c in OutboxEntry.__dataclass_fields__}) for r in rows]

    async def counts(self) -> dict[str, int]:
        """Notifications per outbox status."""
        query = select(alert_outbox.c.status, func.count()).group_by(alert_outbox.c.status)
        with translated():
            async with self._engine.connect() as conn:
                return {status: int(n) for status, n in await conn.execute(query)}

    async def attempts(self, outbox_id: int) -> list[dict[str, Any]]:
        """The delivery log of one notification, oldest first."""
        query = (
            select(alert_deliveries)
            .where(alert_deliveries.c.outbox_id == outbox_id)
            .order_by(alert_deliveries.c.attempt)
        )
        with translated():
            async with self._engine.connect() as conn:
                return [dict(r._mapping) for r in await conn.execute(query)]

    async def forget_removed_rules(self, configured: dict[str, set[str]]) -> int:
        """Delete the states of alerts whose rule is no longer configured (renamed, relabelled or removed) on
        the given monitors (monitor -> fingerprints of its rules), so they stop holding the gate; return how
        many went. Monitors not given are left alone (another replica may know them)."""
        gone = 0
        with translated():
            async with self._engine.begin() as conn:
                for monitor, fingerprints in configured.items():
                    query = delete(alert_states).where(alert_states.c.monitor == monitor)
                    if fingerprints:
                        query = query.where(alert_states.c.fingerprint.not_in(sorted(fingerprints)))
                    gone += int((await conn.execute(query)).rowcount)
        return gone
