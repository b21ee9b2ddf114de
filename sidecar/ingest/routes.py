"""Registering ingestion on the admin app: its routes and the pairing buffer's lifetime."""

from __future__ import annotations

from aiohttp import web

from sidecar.app import REGISTRY
from sidecar.ingest.kserve import kserve_ctx, post_kserve
from sidecar.ingest.metrics import INGEST_METRICS, IngestMetrics
from sidecar.ingest.records import post_records


def setup_ingest_routes(app: web.Application) -> None:
    """Add `POST /ingest/kserve` and `POST /ingest/records`, their metrics, and the KServe pairing context
    (appended after capture's, so it closes first)."""
    app[INGEST_METRICS] = IngestMetrics(app[REGISTRY])
    app.cleanup_ctx.append(kserve_ctx)
    app.router.add_post("/ingest/kserve", post_kserve)
    app.router.add_post("/ingest/records", post_records)
