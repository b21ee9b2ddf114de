"""Deliver the outbox: signed POSTs with timeouts, retries with exponential backoff and full jitter up to a
maximum age, one delivery-log row per attempt, an `Idempotency-Key` on every request.

Notifications are delivered at least once and in order per destination: a notification is only taken when no
earlier one for the same destination is still pending, so a receiver that is down holds its queue (others go
on) and gets everything, in order, once it is back. A retried notification carries the same id, so a
receiver that drops repeats by `Idempotency-Key` sees each exactly once. The outbox lives in the database:
nothing is lost across a restart, and several replicas share it (a lease keeps two from sending one
notification at the same time).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import aiohttp
from sqlalchemy import and_, delete, exists, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from alerts.config import AlertsSettings, WebhookConfig
from alerts.payload import AlertEvent, alertmanager_api_body, alertmanager_webhook_body, driftcar_body
from alerts.signing import IDEMPOTENCY_HEADER, SecretError, read_secret, sign
from sidecar.tasks import cancel_and_wait
from storage.codec import clean_text
from storage.errors import StorageError, translated
from storage.schema import alert_deliveries, alert_outbox

logger = logging.getLogger(__name__)

USER_AGENT = "driftcar-alerts/1"
_MAX_ERROR = 1000


class DispatchConfigError(ValueError):
    """A webhook's secret cannot be read; the process must not start half configured."""


def load_secrets(settings: AlertsSettings) -> dict[str, bytes]:
    """Every webhook's secret, read now; DispatchConfigError names the webhook and the source at fault."""
    secrets: dict[str, bytes] = {}
    for hook in settings.webhooks:
        if hook.secret_env is None and hook.secret_file is None:
            continue
        try:
            secrets[hook.name] = read_secret(hook.secret_env, hook.secret_file)
        except SecretError as exc:
            raise DispatchConfigError(f"alerts.webhooks {hook.name!r}: {exc}") from None
    return secrets


@dataclass(frozen=True, slots=True)
class Attempt:
    """The outcome of one delivery attempt."""

    ok: bool
    status_code: int | None
    error: str | None
    duration_ms: float


def request_for(
    hook: WebhookConfig, event: AlertEvent, secret: bytes | None, external_url: str, refresh_for: float
) -> tuple[str, bytes, dict[str, str]]:
    """The URL, body and headers of one delivery."""
    if hook.format == "alertmanager_api":
        url, body = hook.url.rstrip("/") + "/api/v2/alerts", alertmanager_api_body(event, refresh_for)
    elif hook.format == "alertmanager_webhook":
        url, body = hook.url, alertmanager_webhook_body(event, hook.name, external_url)
    else:
        url, body = hook.url, driftcar_body(event)
    headers = {"Content-Type": "application/json", "User-Agent": USER_AGENT, IDEMPOTENCY_HEADER: event.id}
    if secret is not None:
        headers.update(sign(secret, body))
    return url, body, headers


class Dispatcher:
    """The delivery loop; `wake()` makes it look at the outbox now instead of at the next poll."""

    def __init__(
        self,
        engine: AsyncEngine,
        settings: AlertsSettings,
        session: aiohttp.ClientSession,
        secrets: Mapping[str, bytes],
        *,
        external_url: str,
        refresh_for: float = 3600.0,
    ) -> None:
        self._engine = engine
        self._settings = settings
        self._hooks = {h.name: h for h in settings.webhooks}
        self._session = session
        self._secrets = dict(secrets)
        self.external_url = external_url
        self._refresh_for = refresh_for
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._last_cleanup = 0.0
        self.delivered = 0
        self.failed_attempts = 0
        self.dead = 0
        # Attempts by (webhook, outcome): delivered, failed (retried later) or dead (given up); read by /metrics.
        self.deliveries: Counter[tuple[str, str]] = Counter(
            {(h.name, outcome): 0 for h in settings.webhooks for outcome in ("delivered", "failed", "dead")}
        )

    def wake(self) -> None:
        """Deliver what is due now."""
        self._wake.set()

    def start(self) -> None:
        """Start the loop (from the running event loop)."""
        self._task = asyncio.create_task(self._loop(), name="alert-dispatcher")

    async def stop(self) -> None:
        """Stop the loop; a delivery in flight is abandoned and retried later (by id, so never twice)."""
        await cancel_and_wait(self._task)
        self._task = None

    async def _loop(self) -> None:
        delivery = self._settings.delivery
        while True:
            try:
                busy = await self.run_once()
            except StorageError as exc:
                logger.warning("alert outbox unavailable: %s; retrying in %gs", exc, delivery.poll)
                busy = False
            # The loop must outlive any single failure; the notification stays in the outbox.
            except Exception:
                logger.exception("alert dispatcher round failed")
                busy = False
            if busy:
                continue
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=delivery.poll)

    async def run_once(self, now: float | None = None) -> bool:
        """One round: take the due notifications, deliver them; True if it found any."""
        now = time.time() if now is None else now
        taken = await self._take(now)
        if taken:
            by_destination: dict[str, list[Any]] = {}
            for row in taken:
                by_destination.setdefault(row.destination, []).append(row)
            await asyncio.gather(*(self._deliver_all(rows) for rows in by_destination.values()))
        if now - self._last_cleanup > 3600:
            self._last_cleanup = now
            await self._cleanup(now)
        return bool(taken)

    async def _take(self, now: float) -> list[Any]:
        earlier = alert_outbox.alias("earlier")
        blocked = exists().where(
            earlier.c.destination == alert_outbox.c.destination,
            earlier.c.status == "pending",
            earlier.c.id < alert_outbox.c.id,
        )
        due = (
            select(alert_outbox.c.id)
            .where(
                alert_outbox.c.status == "pending",
                alert_outbox.c.next_attempt_at <= now,
                (alert_outbox.c.lease_until.is_(None)) | (alert_outbox.c.lease_until < now),
                ~blocked,
            )
            .order_by(alert_outbox.c.id)
            .limit(self._settings.delivery.batch)
        )
        if self._engine.dialect.name == "postgresql":
            due = due.with_for_update(skip_locked=True)
        take = (
            update(alert_outbox)
            .where(alert_outbox.c.id.in_(due.scalar_subquery()))
            .values(lease_until=now + self._settings.delivery.lease)
            .returning(
                alert_outbox.c.id,
                alert_outbox.c.event_id,
                alert_outbox.c.destination,
                alert_outbox.c.event,
                alert_outbox.c.created_at,
                alert_outbox.c.attempts,
            )
        )
        with translated():
            async with self._engine.begin() as conn:
                rows = list(await conn.execute(take))
        return sorted(rows, key=lambda r: r.id)

    async def _deliver_all(self, rows: list[Any]) -> None:
        for index, row in enumerate(rows):
            if not await self._deliver(row):
                # Keep the order: later notifications to this destination wait for this one.
                await self._release([r.id for r in rows[index + 1 :]])
                return

    async def _release(self, ids: list[int]) -> None:
        if not ids:
            return
        with translated():
            async with self._engine.begin() as conn:
                await conn.execute(
                    update(alert_outbox).where(alert_outbox.c.id.in_(ids)).values(lease_until=None)
                )

    async def _deliver(self, row: Any) -> bool:
        hook = self._hooks.get(row.destination)
        now = time.time()
        attempt_no = row.attempts + 1
        if hook is None:
            result = Attempt(False, None, f"no webhook named {row.destination!r} is configured", 0.0)
        else:
            result = await self._post(hook, AlertEvent.from_json(row.event))
        age = now - row.created_at
        values: dict[str, Any] = {"attempts": attempt_no, "lease_until": None}
        if result.ok:
            values.update(status="delivered", delivered_at=time.time(), last_error=None)
            self.delivered += 1
            self.deliveries[(row.destination, "delivered")] += 1
            logger.info("alert %s delivered to %s (attempt %d)", row.event_id, row.destination, attempt_no)
        else:
            self.failed_attempts += 1
            max_age = hook.max_age if hook is not None else 0.0
            values["last_error"] = result.error
            if age >= max_age:
                values["status"] = "dead"
                self.dead += 1
                self.deliveries[(row.destination, "dead")] += 1
                logger.error(
                    "alert %s to %s given up after %d attempts over %.0f s: %s",
                    row.event_id,
                    row.destination,
                    attempt_no,
                    age,
                    result.error,
                )
            else:
                self.deliveries[(row.destination, "failed")] += 1
                delay = self.backoff(attempt_no)
                values["next_attempt_at"] = now + delay
                logger.warning(
                    "alert %s to %s failed (attempt %d): %s; retrying in %.1f s",
                    row.event_id,
                    row.destination,
                    attempt_no,
                    result.error,
                    delay,
                )
        log = {
            "outbox_id": row.id,
            "attempt": attempt_no,
            "at": now,
            "status_code": result.status_code,
            "error": result.error,
            "duration_ms": result.duration_ms,
        }
        with translated():
            async with self._engine.begin() as conn:
                await conn.execute(update(alert_outbox).where(alert_outbox.c.id == row.id).values(**values))
                await conn.execute(alert_deliveries.insert().values(**log))
        return result.ok

    def backoff(self, attempt: int) -> float:
        """Full jitter: uniform in [0, min(max_backoff, initial * 2**(attempt-1))], at least 10% of it."""
        delivery = self._settings.delivery
        cap: float = min(delivery.max_backoff, delivery.initial_backoff * 2 ** min(attempt - 1, 30))
        return cap * (0.1 + 0.9 * random.random())  # jitter, not security

    async def _post(self, hook: WebhookConfig, event: AlertEvent) -> Attempt:
        url, body, headers = request_for(
            hook, event, self._secrets.get(hook.name), self.external_url, self._refresh_for
        )
        started = time.perf_counter()
        try:
            timeout = aiohttp.ClientTimeout(total=hook.timeout)
            async with self._session.post(url, data=body, headers=headers, timeout=timeout) as resp:
                text = await resp.text(errors="replace")
                elapsed = (time.perf_counter() - started) * 1000
                if 200 <= resp.status < 300:
                    return Attempt(True, resp.status, None, elapsed)
                return Attempt(False, resp.status, f"HTTP {resp.status}: {_short(text)}", elapsed)
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            elapsed = (time.perf_counter() - started) * 1000
            reason = "timed out" if isinstance(exc, TimeoutError) else f"{type(exc).__name__}: {exc}"
            return Attempt(False, None, _short(reason), elapsed)

    async def _cleanup(self, now: float) -> None:
        cutoff = now - self._settings.delivery.keep_days * 86400
        finished = select(alert_outbox.c.id).where(
            and_(alert_outbox.c.status != "pending", alert_outbox.c.created_at < cutoff)
        )
        with translated():
            async with self._engine.begin() as conn:
                await conn.execute(delete(alert_deliveries).where(alert_deliveries.c.outbox_id.in_(finished)))
                gone = (
                    await conn.execute(delete(alert_outbox).where(alert_outbox.c.id.in_(finished)))
                ).rowcount
        if gone:
            logger.info("alert outbox: deleted %d finished notification(s) older than %s", gone, cutoff)


def _short(text: str) -> str:
    return clean_text(text[:_MAX_ERROR]) or ""
