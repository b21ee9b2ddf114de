"""The consumer's aiohttp app: `POST /alerts` and `GET /healthz`; the dedupe store, the HTTP session and the
actions are created and closed in cleanup_ctx.

POST /alerts answers 401 for a missing, malformed, stale or wrong signature (the message says which), 400 for a
body that is not a driftcar alert, 200 `{"status": "duplicate"}` for a key already done, 409 while the same key
is being processed, 502 when an action failed (the key is released: the sender retries) and 200 with each
action's outcome otherwise.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aiohttp
import orjson
from aiohttp import web

from alerts.consumer.actions import build_action
from alerts.consumer.actions.base import Action, ActionContext
from alerts.consumer.config import ConsumerConfig
from alerts.consumer.dedupe import DedupeStore
from alerts.consumer.errors import StoreUnavailable, Unauthenticated
from alerts.consumer.processor import AlertProcessor, parse_alert
from alerts.signing import (
    IDEMPOTENCY_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    SecretError,
    SignatureError,
    read_secret,
    verify,
)
from sidecar.errors import ConfigError, DriftcarError
from sidecar.tasks import cancel_and_wait

logger = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

CONFIG = web.AppKey("config", ConsumerConfig)
SECRETS: web.AppKey[tuple[bytes, ...]] = web.AppKey("secrets")
STORE = web.AppKey("store", DedupeStore)
SESSION = web.AppKey("session", aiohttp.ClientSession)
ACTIONS: web.AppKey[dict[str, Action]] = web.AppKey("actions")
PROCESSOR = web.AppKey("processor", AlertProcessor)

PURGE_INTERVAL_S = 3600.0


def load_secrets(config: ConsumerConfig) -> tuple[bytes, ...]:
    """Every configured secret (rotation: any one verifies); ConfigError naming what could not be read."""
    try:
        return tuple(read_secret(env=s.secret_env, file=s.secret_file) for s in config.secrets)
    except SecretError as exc:
        raise ConfigError(str(exc)) from None


def json_response(data: Any, status: int = 200) -> web.Response:
    """A JSON response serialized with orjson."""
    return web.Response(body=orjson.dumps(data), status=status, content_type="application/json")


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Turn the error tree and aiohttp's HTTP errors into `{"error": ...}` responses."""
    try:
        return await handler(request)
    except DriftcarError as exc:
        return json_response({"error": str(exc)}, status=exc.status)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        return json_response({"error": exc.reason}, status=exc.status)
    except Exception:  # the request boundary: the sender gets JSON and retries, the log gets the traceback
        logger.exception("%s %s failed", request.method, request.path)
        return json_response({"error": "internal error"}, status=500)


async def receive_alert(request: web.Request) -> web.Response:
    """Verify, de-duplicate and act on one alert."""
    app = request.app
    body = await request.read()
    secrets = app[SECRETS]
    try:
        verify(
            list(secrets),
            request.headers.get(TIMESTAMP_HEADER),
            request.headers.get(SIGNATURE_HEADER),
            body,
            tolerance=app[CONFIG].timestamp_tolerance,
        )
    except SignatureError as exc:
        logger.warning("alert from %s refused: %s", request.remote, exc)
        raise Unauthenticated(str(exc)) from None
    alert = parse_alert(body, request.headers.get(IDEMPOTENCY_HEADER))
    return json_response(await app[PROCESSOR].handle(alert))


async def healthz(request: web.Request) -> web.Response:
    """Liveness: the process answers."""
    return json_response({"status": "ok"})


async def _purge(store: DedupeStore, retention: float) -> None:
    while True:
        try:
            gone = await store.purge(time.time() - retention)
            if gone:
                logger.info("dedupe store: forgot %d delivered key(s)", gone)
        except StoreUnavailable as exc:  # the purge loop's boundary: try again at the next round
            logger.warning("dedupe store purge failed: %s", exc)
        await asyncio.sleep(PURGE_INTERVAL_S)


async def _store_ctx(app: web.Application) -> AsyncIterator[None]:
    dedupe = app[CONFIG].dedupe
    store = await DedupeStore.open(dedupe.path)
    app[STORE] = store
    purge = asyncio.create_task(_purge(store, dedupe.retention), name="dedupe-purge")
    try:
        yield
    finally:
        await cancel_and_wait(purge)
        await store.close()


async def _session_ctx(app: web.Application) -> AsyncIterator[None]:
    # For `http` actions; each action sets its own total timeout, this one is only the backstop.
    session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=300), trust_env=False)
    app[SESSION] = session
    try:
        yield
    finally:
        await session.close()


async def _actions_ctx(app: web.Application) -> AsyncIterator[None]:
    context = ActionContext(session=app[SESSION])
    actions: dict[str, Action] = {}
    try:
        for name, cfg in app[CONFIG].actions.items():
            actions[name] = build_action(name, cfg, context)
        app[ACTIONS] = actions
        app[PROCESSOR] = AlertProcessor(app[CONFIG], app[STORE], actions)
        yield
    finally:
        for action in actions.values():
            await action.close()


def create_app(config: ConsumerConfig) -> web.Application:
    """The consumer app; its secrets are read now (ConfigError naming an unreadable variable or file)."""
    app = web.Application(client_max_size=config.max_body_bytes, middlewares=[error_middleware])
    app[CONFIG] = config
    app[SECRETS] = load_secrets(config)
    app.cleanup_ctx.extend([_store_ctx, _session_ctx, _actions_ctx])
    app.router.add_post("/alerts", receive_alert)
    app.router.add_get("/healthz", healthz)
    return app


async def serve(config: ConsumerConfig) -> None:
    """Listen until SIGTERM or SIGINT, then finish the requests in flight and close everything."""
    runner = web.AppRunner(create_app(config), shutdown_timeout=30.0)
    try:
        # Inside the try: a failed setup (e.g. an action's client) still closes what was opened before it.
        await runner.setup()
        site = web.TCPSite(runner, config.listen.host, config.listen.port)
        await site.start()
        for host, port, *_ in runner.addresses:
            logger.info("driftcar consume listening on %s:%s", host, port)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()
        logger.info("driftcar consume stopping")
    finally:
        await runner.cleanup()
