"""From a verified request body to actions run: parse the alert, claim its key, run the matching actions."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any, get_args

import orjson

from alerts.consumer.actions.base import Action, ActionError, Alert
from alerts.consumer.config import ConsumerConfig
from alerts.consumer.dedupe import DedupeStore
from alerts.consumer.errors import ActionFailed, BadPayload, InProgress, StoreUnavailable
from alerts.payload import PAYLOAD_VERSION, AlertEvent, AlertStatus, Severity
from alerts.payload import Action as SuggestedAction

logger = logging.getLogger(__name__)

_CHOICES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("status", get_args(AlertStatus)),
    ("severity", get_args(Severity)),
    ("action", get_args(SuggestedAction)),
)


def parse_alert(body: bytes, idempotency_key: str | None) -> Alert:
    """The alert in a request body (driftcar's payload, version 1); BadPayload saying what is wrong."""
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise BadPayload("the body is not JSON") from None
    if not isinstance(payload, dict):
        raise BadPayload("the body must be a JSON object")
    if payload.get("kind") != "driftcar.alert" or payload.get("version") != PAYLOAD_VERSION:
        raise BadPayload(f"not a driftcar alert: expected kind `driftcar.alert`, version `{PAYLOAD_VERSION}`")
    for key, choices in _CHOICES:
        if payload.get(key) not in choices:
            raise BadPayload(f"`{key}` must be one of {', '.join(choices)}")
    try:
        event = AlertEvent.from_json(payload)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise BadPayload(f"invalid alert payload: {type(exc).__name__}: {exc}") from None
    if not isinstance(event.id, str) or not event.id:
        raise BadPayload("`id` must be a non-empty string")
    if idempotency_key is not None and idempotency_key != event.id:
        raise BadPayload("the Idempotency-Key header does not match the payload's `id`")
    return Alert(event, payload)


class AlertProcessor:
    """Runs each alert's actions at most once to success, whatever the sender retries."""

    def __init__(self, config: ConsumerConfig, store: DedupeStore, actions: dict[str, Action]) -> None:
        self._config = config
        self._store = store
        self._actions = actions
        # One run at a time per target: a rollback and a roll-forward of one alias (or two alerts each moving it
        # back a step) must not interleave.
        self._locks = {action.target: asyncio.Lock() for action in actions.values()}

    async def handle(self, alert: Alert) -> dict[str, Any]:
        """Claim the alert's key and run its actions; the response body, or ConsumerError."""
        event = alert.event
        key = event.id
        claim = await self._store.claim(key, time.time(), self._config.dedupe.in_progress_timeout)
        if claim.outcome == "duplicate":
            logger.info("alert %s: duplicate, dropped", key)
            return {"status": "duplicate", "id": key}
        if claim.outcome == "busy":
            raise InProgress(f"alert {key} is being processed by another delivery; retry later")
        names = self._config.actions_for(event)
        logger.info(
            "alert %s (%s %s/%s, %s, attempt %d): %s",
            key,
            event.status,
            event.monitor,
            event.rule,
            event.action,
            claim.attempt,
            ", ".join(names) or "no matching rule",
        )
        results: list[dict[str, Any]] = []
        error = "interrupted"
        try:
            for name in names:
                if name in claim.done:
                    results.append({**claim.done[name], "earlier_attempt": True})
                    continue
                results.append(await self._run(name, alert))
                await self._store.action_done(key, name, results[-1], time.time())
            response = {"status": "done" if names else "ignored", "id": key, "actions": results}
            await self._store.finish(key, response, time.time())
            error = ""
            return response
        except ActionFailed as exc:
            error = str(exc)
            raise
        finally:
            if error:
                await self._release(key, error)

    async def _run(self, name: str, alert: Alert) -> dict[str, Any]:
        action = self._actions[name]
        async with self._locks[action.target]:
            try:
                result = await action.run(alert)
            except ActionError as exc:
                logger.warning("alert %s: action %s (%s) failed: %s", alert.event.id, name, action.kind, exc)
                raise ActionFailed(f"action {name} ({action.kind}) failed: {exc}") from None
        logger.info("alert %s: action %s (%s): %s", alert.event.id, name, action.kind, result.outcome)
        return result.to_json(name, action.kind)

    async def _release(self, key: str, error: str) -> None:
        try:
            await self._store.fail(key, error, time.time())
        except StoreUnavailable as exc:
            # The claim stays `running` and is taken over after the in-progress timeout.
            logger.warning("alert %s: could not release the claim: %s", key, exc)
