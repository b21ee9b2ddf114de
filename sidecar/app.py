"""The app factory: the admin aiohttp app owns every resource in cleanup_ctx, the proxy server among them."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator

import aiohttp
from aiohttp import web
from prometheus_client import CollectorRegistry, ProcessCollector, disable_created_metrics
from sqlalchemy.ext.asyncio import AsyncEngine

from alerts.dispatcher import DispatchConfigError, Dispatcher, load_secrets
from alerts.store import AlertStore
from sidecar.capture.pipeline import CapturePipeline
from sidecar.errors import ConfigError
from sidecar.logs import quiet_client_errors
from sidecar.metrics import Metrics, QueueCollector
from sidecar.monitors.gate import ALERT_STORE
from sidecar.monitors.keys import DISPATCHER, FEEDBACK, POOL, RUNNER, SCHEDULER
from sidecar.monitors.metrics import MonitorMetrics
from sidecar.monitors.runner import MonitorRunner, ReportPool
from sidecar.monitors.scheduler import MonitorScheduler
from sidecar.proxy import ProxyCore, ProxyServer
from sidecar.settings import Settings
from storage.engine import create_engine, redacted_url
from storage.feedback import FeedbackStore
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
PROXY = web.AppKey("proxy", ProxyServer)
MONITOR_METRICS = web.AppKey("monitor_metrics", MonitorMetrics)


async def _store_ctx(app: web.Application) -> AsyncIterator[None]:
    url = app[SETTINGS].database_url.get_secret_value()
    engine = create_engine(url)
    logger.info("store: %s", redacted_url(url))
    try:
        await upgrade(engine)
        app[ENGINE] = engine
        app[STORE] = RecordStore(engine)
        yield
    finally:
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
        retry_max=cap.retry_max,
    )
    await writer.start()
    app[WRITER] = writer
    yield
    await writer.close(timeout=app[SETTINGS].shutdown_timeout)


async def _pipeline_ctx(app: web.Application) -> AsyncIterator[None]:
    pipeline = CapturePipeline(app[SETTINGS], app[WRITER].submit, app[METRICS])
    collector = QueueCollector(pipeline.depth, app[WRITER].stats)
    app[REGISTRY].register(collector)
    await pipeline.start()
    app[PIPELINE] = pipeline
    yield
    # The proxy has drained by now: parse what is left, then the writer flushes it.
    await pipeline.close()
    app[REGISTRY].unregister(collector)


async def _session_ctx(app: web.Application) -> AsyncIterator[None]:
    # driftcar's own outbound HTTP (readiness probes; later webhooks), never the proxied traffic.
    session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10), trust_env=False)
    app[SESSION] = session
    yield
    await session.close()


SECRETS = web.AppKey("webhook_secrets", dict[str, bytes])


async def _alerts_ctx(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    secrets = app[SECRETS]
    dispatcher = Dispatcher(
        app[ENGINE],
        settings.alerts,
        app[SESSION],
        secrets,
        external_url=settings.admin_url() or "",
        refresh_for=_alertmanager_refresh(settings),
    )
    app[DISPATCHER] = dispatcher
    app[ALERT_STORE] = AlertStore(app[ENGINE])
    dispatcher.start()
    yield
    await dispatcher.stop()


def _alertmanager_refresh(settings: Settings) -> float:
    """How long a firing alert posted to Alertmanager lasts: three of the longest schedule periods (each run
    re-posts it), at least 15 minutes."""
    periods = [m.schedule.every or 3600.0 for m in settings.monitors if m.alerts]
    return max([900.0, *(3 * p for p in periods)])


async def _monitor_metrics_ctx(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    dispatcher = app[DISPATCHER]
    metrics = MonitorMetrics(app[ENGINE], settings.monitors, settings.metrics, lambda: dispatcher.deliveries)
    app[REGISTRY].register(metrics)
    app[MONITOR_METRICS] = metrics
    metrics.start()
    yield
    await metrics.stop()
    app[REGISTRY].unregister(metrics)


async def _monitors_ctx(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    engine = app[ENGINE]
    pool = ReportPool(settings.reports.workers, settings.reports.max_tasks_per_child, settings.reports.nice)
    if settings.monitors:
        pool.executor()  # the workers import Evidently now, not at the first run
    alerts = settings.alerts.model_copy(update={"external_url": settings.admin_url()})
    runner = MonitorRunner(
        engine,
        pool=pool,
        replica=settings.replica,
        alerts=alerts,
        on_alerts=app[DISPATCHER].wake,
        on_finished=app[MONITOR_METRICS].run_finished,
    )
    scheduler = MonitorScheduler(engine, runner, settings.monitors, settings.reports, settings.retention)
    app[POOL], app[RUNNER], app[SCHEDULER], app[FEEDBACK] = pool, runner, scheduler, FeedbackStore(engine)
    scheduler.start()
    try:
        yield
    finally:
        await scheduler.stop(settings.shutdown_timeout)
        await asyncio.to_thread(pool.close)


async def _proxy_ctx(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    metrics = app[METRICS]
    core = ProxyCore(settings, app[PIPELINE].submit, on_retry=metrics.upstream_retries.inc)
    server = ProxyServer(core, settings.host, settings.port)
    await server.start()
    app[PROXY] = server
    logger.info("proxying %s:%d -> %s", settings.host, server.port, settings.upstream)
    yield
    # First out: stop accepting, finish in-flight requests; the contexts above then flush their records.
    await server.stop(settings.shutdown_timeout)


def create_app(settings: Settings, registry: CollectorRegistry | None = None) -> web.Application:
    """The sidecar: admin routes on this app; store, writer, capture, HTTP session, monitors (scheduler and
    report workers) and proxy in cleanup_ctx."""
    from sidecar.admin import setup_admin
    from sidecar.ingest.routes import setup_ingest_routes
    from sidecar.monitors.gate import setup_gate_routes
    from sidecar.monitors.routes import setup_monitor_routes

    # Admin requests carry label batches and reference pins; reference files are streamed, not read whole.
    app = web.Application(client_max_size=64 << 20)
    app[SETTINGS] = settings
    try:
        # Read before anything starts: a missing secret must not leave a half-started sidecar behind.
        app[SECRETS] = load_secrets(settings.alerts)
    except DispatchConfigError as exc:
        raise ConfigError(str(exc)) from None
    # `_created` series double every counter's and histogram's series for a start time nobody queries
    # (Prometheus detects counter resets itself); prometheus_client's switch is process-wide.
    disable_created_metrics()  # type: ignore[no-untyped-call]  # prometheus_client leaves it unannotated
    quiet_client_errors()  # process-wide too: a client's unparseable request is not a server error
    if registry is None:
        registry = CollectorRegistry()
        ProcessCollector(registry=registry)  # process_cpu_seconds_total, process_resident_memory_bytes, ...
    app[REGISTRY] = registry
    app[METRICS] = Metrics(app[REGISTRY], max_models=settings.capture.max_models)
    app.cleanup_ctx.extend(
        [
            _store_ctx,
            _writer_ctx,
            _pipeline_ctx,
            _session_ctx,
            _alerts_ctx,
            _monitor_metrics_ctx,
            _monitors_ctx,
            _proxy_ctx,
        ]
    )
    setup_admin(app)
    setup_monitor_routes(app)
    setup_gate_routes(app)
    setup_ingest_routes(app)
    return app
