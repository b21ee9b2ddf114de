"""App factories: the proxy app owns every resource (in cleanup_ctx); the admin app reads them."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

import aiohttp
from aiohttp import web
from prometheus_client import CollectorRegistry
from sqlalchemy.ext.asyncio import AsyncEngine

from sidecar.capture.pipeline import CapturePipeline
from sidecar.metrics import Metrics, QueueCollector
from sidecar.proxy import Proxy
from sidecar.settings import Settings
from storage.engine import create_engine, redacted_url
from storage.migrate import upgrade
from storage.spool import Spool
from storage.store import RecordStore
from storage.writer import BatchWriter

logger = logging.getLogger(__name__)

SETTINGS = web.AppKey("settings", Settings)
REGISTRY = web.AppKey("registry", CollectorRegistry)
METRICS = web.AppKey("metrics", Metrics)
ENGINE = web.AppKey("engine", AsyncEngine)
STORE = web.AppKey("store", RecordStore)
WRITER = web.AppKey("writer", BatchWriter)
PIPELINE = web.AppKey("pipeline", CapturePipeline)
SESSION = web.AppKey("session", aiohttp.ClientSession)
PROXY = web.AppKey("proxy", Proxy)
PROXY_APP = web.AppKey("proxy_app", web.Application)


async def _store_ctx(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    url = settings.database_url.get_secret_value()
    engine = create_engine(url)
    logger.info("store: %s", redacted_url(url))
    await upgrade(engine)
    app[ENGINE] = engine
    app[STORE] = RecordStore(engine)
    yield
    await engine.dispose()


async def _writer_ctx(app: web.Application) -> AsyncIterator[None]:
    cap = app[SETTINGS].capture
    writer = BatchWriter(
        app[STORE],
        Spool(cap.spool_dir, max_bytes=cap.spool_max_bytes),
        max_queue_records=cap.writer_max_records,
        max_queue_bytes=cap.writer_max_bytes,
        batch_size=cap.batch_size,
        flush_interval=cap.flush_interval,
    )
    await writer.start()
    app[WRITER] = writer
    yield
    await writer.close(timeout=app[SETTINGS].shutdown_timeout)


async def _pipeline_ctx(app: web.Application) -> AsyncIterator[None]:
    pipeline = CapturePipeline(app[SETTINGS], app[WRITER].submit, app[METRICS])
    app[REGISTRY].register(QueueCollector(pipeline.depth, app[WRITER].stats))
    await pipeline.start()
    app[PIPELINE] = pipeline
    yield
    # Runs after in-flight requests finished (runner shutdown): parse what is left, then the writer flushes.
    await pipeline.close()


async def _session_ctx(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    connector = aiohttp.TCPConnector(
        limit=settings.upstream_connections, limit_per_host=settings.upstream_connections, ttl_dns_cache=300
    )
    # auto_decompress=False: the client must get the upstream's bytes, compressed or not.
    session = aiohttp.ClientSession(
        connector=connector, auto_decompress=False, cookie_jar=aiohttp.DummyCookieJar(), trust_env=False
    )
    app[SESSION] = session
    app[PROXY] = Proxy(settings, session, app[PIPELINE].submit)
    yield
    await session.close()


async def _proxy_handler(request: web.Request) -> web.StreamResponse:
    return await request.app[PROXY].handle(request)


def create_app(settings: Settings, registry: CollectorRegistry | None = None) -> web.Application:
    """The proxy app: forwards everything to the upstream and owns the store, writer, capture and session."""
    # auto_decompress=False: forward the client's bytes as sent (a gzip body the upstream refuses stays refused).
    # handler_cancellation: a client that disconnects cancels its upstream call.
    app = web.Application(handler_args={"auto_decompress": False, "handler_cancellation": True})
    app[SETTINGS] = settings
    app[REGISTRY] = registry if registry is not None else CollectorRegistry()
    app[METRICS] = Metrics(app[REGISTRY], max_models=settings.capture.max_models)
    app.cleanup_ctx.extend([_store_ctx, _writer_ctx, _pipeline_ctx, _session_ctx])
    app.router.add_route("*", "/{tail:.*}", _proxy_handler)
    return app
