"""Alerts as the sidecar sends them, and a consumer app served on 127.0.0.1 to post them to."""

from __future__ import annotations

import dataclasses
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import aiohttp
import orjson
from aiohttp.test_utils import TestServer

from alerts.payload import AlertEvent, RunRef, driftcar_body
from alerts.signing import IDEMPOTENCY_HEADER, sign

SECRET = "s3cret-for-tests-0123456789"
SECRET_ENV = "DRIFTCAR_TEST_CONSUMER_SECRET"


def make_event(**changes: Any) -> AlertEvent:
    """A firing rollback alert about model churn version 3, with a fresh id; fields overridable."""
    now = time.time()
    event = AlertEvent(
        id=uuid.uuid4().hex,
        status="firing",
        fingerprint="9f2c1e",
        monitor="churn",
        rule="disparate-impact",
        severity="critical",
        action="rollback",
        summary="demographic parity ratio 0.61 < 0.8 for sex",
        starts_at=now - 120,
        ends_at=None,
        run=RunRef(
            id=7, window_start=now - 3600, window_end=now, report_url="http://driftcar/r/7", summary_url=None
        ),
        labels={"team": "ml"},
        details=({"metric": "demographic_parity_ratio", "value": 0.61, "attribute": "sex"},),
        model="churn",
        model_version="3",
        created_at=now,
    )
    return dataclasses.replace(event, **changes)


def one_rule(*names: str) -> list[dict[str, Any]]:
    """A single rule taking every firing rollback alert to the actions `names`."""
    return [{"match": {"action": "rollback"}, "run": list(names)}]


@dataclass
class Consumer:
    """A consumer listening on `base_url` (an app in this process, or a `driftcar consume` process)."""

    base_url: str
    http: aiohttp.ClientSession
    server: TestServer | None = None

    def url(self, path: str) -> str:
        """Absolute URL of a path on the consumer."""
        return self.base_url + path

    async def stop(self) -> None:
        """Stop the in-process app (as a restart would)."""
        if self.server is not None:
            await self.server.close()

    async def post(
        self,
        alert: AlertEvent | bytes,
        *,
        secret: str = SECRET,
        now: float | None = None,
        headers: dict[str, str] | None = None,
        omit: Iterable[str] = (),
    ) -> tuple[int, dict[str, Any]]:
        """POST /alerts signed with `secret` at `now`; `headers` override, `omit` removes; (status, JSON)."""
        body = alert if isinstance(alert, bytes) else driftcar_body(alert)
        sent = sign(secret.encode(), body, now=now)
        if isinstance(alert, AlertEvent):
            sent[IDEMPOTENCY_HEADER] = alert.id
        sent["Content-Type"] = "application/json"
        sent.update(headers or {})
        for name in omit:
            sent.pop(name, None)
        async with self.http.post(self.url("/alerts"), data=body, headers=sent) as resp:
            return resp.status, orjson.loads(await resp.read())
