"""The demo's webhook receiver, as a consumer of driftcar's alerts should be written: it checks each request's
signature and timestamp, drops repeats by `Idempotency-Key` (a retried delivery carries the same key), and
prints one line per notification as it arrives."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

import orjson
from aiohttp import web

from alerts.payload import AlertEvent
from alerts.signing import IDEMPOTENCY_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER, SignatureError, verify

logger = logging.getLogger(__name__)

PATH = "/alerts"


@dataclass(slots=True)
class Inbox:
    """What the receiver accepted, in order of arrival, and how many requests it refused or dropped."""

    secret: bytes
    say: Callable[[str], None]
    """Prints the receiver's lines."""
    alerts: list[AlertEvent] = field(default_factory=list)
    seen: set[str] = field(default_factory=set)
    rejected: int = 0
    duplicates: int = 0


INBOX = web.AppKey("inbox", Inbox)


def _finding(detail: dict[str, object]) -> str:
    message = str(detail.get("message") or "")
    group = detail.get("group")
    # A flag's message names the group worse off; a rule's own bound check leaves it in `group`.
    if group and "(worse off:" not in message:
        message += f" (worse off: {group})"
    return message


def describe_alert(event: AlertEvent) -> str:
    """One line: severity, monitor/rule, status, what was found, the suggested action and the report."""
    if event.status == "resolved":
        what = event.summary.removeprefix(f"{event.rule} resolved: ")
    else:
        found = [text for text in (_finding(d) for d in event.details) if text]
        more = f" (+{len(found) - 3} more)" if len(found) > 3 else ""
        what = "; ".join(found[:3]) + more if found else event.summary
    line = f"[{event.severity}] {event.monitor}/{event.rule} {event.status} — {what}"
    if event.status == "firing":
        line += f"; suggested action: {event.action}"
    if event.run is not None and event.run.report_url:
        line += f"; report {event.run.report_url}"
    return line


async def receive(request: web.Request) -> web.Response:
    """Accept one signed notification: 401 when the signature or timestamp is wrong, 200 otherwise."""
    inbox = request.app[INBOX]
    body = await request.read()
    try:
        verify(
            [inbox.secret], request.headers.get(TIMESTAMP_HEADER), request.headers.get(SIGNATURE_HEADER), body
        )
    except SignatureError as exc:
        inbox.rejected += 1
        inbox.say(f"ALERT rejected (401): {exc}")
        return web.json_response({"error": str(exc)}, status=401)
    key = request.headers.get(IDEMPOTENCY_HEADER)
    if not key:
        return web.json_response({"error": f"missing {IDEMPOTENCY_HEADER} header"}, status=400)
    if key in inbox.seen:
        inbox.duplicates += 1
        logger.debug("notification %s received again; dropped", key)
        return web.json_response({"ok": True, "duplicate": True})
    try:
        event = AlertEvent.from_json(orjson.loads(body))
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError) as exc:
        return web.json_response({"error": f"not a driftcar alert: {exc!r}"}, status=400)
    inbox.seen.add(key)
    inbox.alerts.append(event)
    inbox.say(f"ALERT received (signature ok): {describe_alert(event)}")
    return web.json_response({"ok": True})


def create_receiver_app(secret: bytes, say: Callable[[str], None]) -> web.Application:
    """The receiver: POST /alerts, checked against `secret`; `say` prints its lines."""
    app = web.Application()
    app[INBOX] = Inbox(secret, say)
    app.router.add_post(PATH, receive)
    return app
