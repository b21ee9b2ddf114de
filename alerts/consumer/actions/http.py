"""Call a URL for an alert (e.g. start a Prefect deployment run to retrain); any 2xx answer is success.

The body is the config's JSON template filled from the alert (or the alert's payload itself), sent with the
alert's id as `Idempotency-Key` so that a receiver that honours it drops the consumer's own retries.
"""

from __future__ import annotations

import logging
from typing import Any

import aiohttp
import orjson

from alerts.consumer.actions.base import ActionError, ActionResult, Alert
from alerts.consumer.config import HttpConfig
from alerts.consumer.template import expand_env, render
from alerts.signing import IDEMPOTENCY_HEADER

logger = logging.getLogger(__name__)

_ERROR_TEXT = 300


class HttpAction:
    """One HTTP request per alert through the consumer's shared session."""

    kind = "http"

    def __init__(self, name: str, config: HttpConfig, session: aiohttp.ClientSession) -> None:
        self.name = name
        self.config = config
        self.target = f"http:{name}"
        self._session = session
        # `${NAME}` references are resolved now: a missing variable stops the consumer at startup.
        self._headers = {k: expand_env(v, f"action {name}: header {k}") for k, v in config.headers.items()}

    async def close(self) -> None:
        """Nothing to release: the session belongs to the app."""

    async def run(self, alert: Alert) -> ActionResult:
        """Send the request; ActionError on a connection failure, a timeout or a non-2xx answer."""
        cfg = self.config
        headers = {IDEMPOTENCY_HEADER: alert.event.id, **self._headers}
        data: bytes | None = None
        if cfg.method != "GET":
            body: Any = alert.payload if cfg.body is None else render(cfg.body, alert.payload)
            data = orjson.dumps(body)
            headers.setdefault("Content-Type", "application/json")
        try:
            async with self._session.request(
                cfg.method,
                cfg.url,
                data=data,
                headers=headers,
                timeout=aiohttp.ClientTimeout(total=cfg.timeout),
            ) as resp:
                text = await resp.text(errors="replace")
                if not 200 <= resp.status < 300:
                    raise ActionError(f"{cfg.method} {cfg.url}: HTTP {resp.status}: {text[:_ERROR_TEXT]}")
        except TimeoutError:
            raise ActionError(f"{cfg.method} {cfg.url}: no answer within {cfg.timeout:g} s") from None
        except aiohttp.ClientError as exc:
            raise ActionError(f"{cfg.method} {cfg.url}: {type(exc).__name__}: {exc}") from None
        logger.info("http action %s: %s %s -> %d", self.name, cfg.method, cfg.url, resp.status)
        return ActionResult("ok", {"url": cfg.url, "status": resp.status})
