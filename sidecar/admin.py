"""The admin server (its own port, never proxied): health, readiness, metrics and record inspection."""

from __future__ import annotations

import asyncio
import hmac
import ipaddress
import logging
from collections.abc import Awaitable, Callable
from dataclasses import asdict

import aiohttp
import orjson
from aiohttp import web
from aiohttp.typedefs import Middleware
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from sidecar.app import REGISTRY, SESSION, SETTINGS, STORE, WRITER
from sidecar.errors import BadRequest, DriftcarError, Unauthorized
from sidecar.logs import REQUEST_ID
from sidecar.proxy.http import request_id_from
from storage.errors import StoreUnavailable

logger = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
_OPEN_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})
_MAX_LIMIT = 1000


def json_response(data: object, status: int = 200) -> web.Response:
    """A JSON response serialised with orjson (non-str keys and numpy scalars allowed)."""
    body = orjson.dumps(data, option=orjson.OPT_NON_STR_KEYS | orjson.OPT_SERIALIZE_NUMPY)
    return web.Response(body=body, status=status, content_type="application/json")


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Turn driftcar's error tree, storage failures and aiohttp's HTTP errors into `{"error": ...}` responses."""
    try:
        return await handler(request)
    except DriftcarError as exc:
        resp = json_response({"error": str(exc)}, status=exc.status)
        if isinstance(exc, Unauthorized):
            resp.headers["WWW-Authenticate"] = 'Bearer realm="driftcar"'
        return resp
    except StoreUnavailable as exc:
        logger.warning("admin %s: %s", request.path, exc)
        return json_response({"error": f"store unavailable: {exc}"}, status=503)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        return json_response({"error": exc.reason}, status=exc.status)
    except Exception:  # the admin API's boundary: an operator gets JSON, the log gets the traceback
        logger.exception("admin %s %s failed", request.method, request.path)
        return json_response({"error": "internal error"}, status=500)


@web.middleware
async def request_id_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Carry the request's id (the client's X-Request-ID if safe, else a new one) into logs and the response."""
    raw = request.headers.get("X-Request-ID")
    request_id = request_id_from(raw.encode("latin-1", "replace") if raw is not None else None)
    token = REQUEST_ID.set(request_id)
    try:
        resp = await handler(request)
    except web.HTTPException as exc:  # redirects and the like pass through error_middleware as exceptions
        exc.headers["X-Request-ID"] = request_id
        raise
    finally:
        REQUEST_ID.reset(token)
    if not resp.prepared:
        resp.headers["X-Request-ID"] = request_id
    return resp


def bearer_token(request: web.Request) -> str | None:
    """The token of an `Authorization: Bearer ...` header (the scheme is case-insensitive, RFC 9110 §11.1)."""
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    return given.strip() if scheme.lower() == "bearer" else None


def token_matches(given: str | None, expected: str | None) -> bool:
    """A presented token equals a configured one, compared in constant time (nothing matches None)."""
    if given is None or expected is None:
        return False
    return hmac.compare_digest(given.encode("utf-8", "surrogateescape"), expected.encode())


def _auth_middleware(token: str | None, open_prefixes: tuple[str, ...] = ()) -> Middleware:
    @web.middleware
    async def auth(request: web.Request, handler: Handler) -> web.StreamResponse:
        if (
            token is not None
            and request.path not in _OPEN_PATHS
            and not (open_prefixes and request.path.startswith(open_prefixes))
            and not token_matches(bearer_token(request), token)
        ):
            raise Unauthorized("a valid bearer token is required (Authorization: Bearer ...)")
        return await handler(request)

    return auth


async def healthz(request: web.Request) -> web.Response:
    """Liveness: the process answers."""
    return json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    """Readiness: the upstream answers HTTP and the store accepts a write."""
    app = request.app
    settings = app[SETTINGS]
    checks: dict[str, str] = {}
    try:
        timeout = aiohttp.ClientTimeout(total=min(2.0, settings.timeouts.connect + 1))
        async with app[SESSION].get(settings.upstream + "/", timeout=timeout) as resp:
            await resp.read()
        checks["upstream"] = "ok"
    except (aiohttp.ClientError, TimeoutError) as exc:
        checks["upstream"] = f"unreachable: {type(exc).__name__}"
    try:
        await asyncio.wait_for(app[STORE].ping(), timeout=5.0)
        checks["store"] = "ok"
    except Exception as exc:  # any driver error means "not ready"; the reason is reported, not raised
        checks["store"] = f"not writable: {type(exc).__name__}"
    ok = all(v == "ok" for v in checks.values())
    return json_response(
        {"status": "ok" if ok else "unavailable", "checks": checks}, status=200 if ok else 503
    )


async def metrics(request: web.Request) -> web.Response:
    """Prometheus exposition of the sidecar's registry."""
    registry = request.app[REGISTRY]
    body = await asyncio.to_thread(generate_latest, registry)
    resp = web.Response(body=body)
    resp.headers["Content-Type"] = CONTENT_TYPE_LATEST
    return resp


async def records(request: web.Request) -> web.Response:
    """The newest records as JSON: `?limit=` (default 50, max 1000) and optional `?model=`."""
    raw = request.query.get("limit", "50")
    try:
        limit = int(raw)
    except ValueError:
        raise BadRequest(f"limit must be an integer, got {raw!r}") from None
    if not 1 <= limit <= _MAX_LIMIT:
        raise BadRequest(f"limit must be between 1 and {_MAX_LIMIT}")
    model = request.query.get("model") or None
    rows = await request.app[STORE].recent(limit, model=model)
    return json_response(
        {"records": [asdict(r) for r in rows], "writer": asdict(request.app[WRITER].stats())}
    )


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def setup_admin(app: web.Application) -> None:
    """Add the admin routes and middlewares to the sidecar app."""
    settings = app[SETTINGS]
    token = settings.admin_token.get_secret_value() if settings.admin_token else None
    if token is None and not _is_loopback(settings.admin_host):
        logger.warning(
            "admin API bound to %s without admin_token: records, reports and state changes are open to anyone "
            "who reaches it (set admin_token or admin_token_file, or bind admin_host to 127.0.0.1)",
            settings.admin_host or "every interface",
        )
    open_prefixes: tuple[str, ...] = ("/gate/",) if settings.alerts.open_gate else ()
    if settings.ingest.token is not None:  # /ingest/ then checks the admin or the ingest token itself
        open_prefixes += ("/ingest/",)
    app.middlewares.extend(
        [request_id_middleware, error_middleware, _auth_middleware(token, open_prefixes)]
    )
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/api/records", records)
