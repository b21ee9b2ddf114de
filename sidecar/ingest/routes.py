"""Registering ingestion on the admin app: its routes and the pairing buffer's lifetime."""

from __future__ import annotations

from aiohttp import web

from sidecar.ingest.kserve import kserve_ctx, post_kserve
from sidecar.ingest.records import post_records


def setup_ingest_routes(app: web.Application) -> None:
    """Add `POST /ingest/kserve` and `POST /ingest/records`, and the KServe pairing context (after capture's)."""
    app.cleanup_ctx.append(kserve_ctx)
    app.router.add_post("/ingest/kserve", post_kserve)
    app.router.add_post("/ingest/records", post_records)
