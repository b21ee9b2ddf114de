"""Counters of ingestion: events received, pairs recorded (paired or not), events dropped, store fallbacks,
batch records."""

from __future__ import annotations

from aiohttp import web
from prometheus_client import CollectorRegistry, Counter, Gauge


class IngestMetrics:
    """The ingest instruments, registered in the sidecar's registry."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.events = Counter(
            "driftcar_ingest_events_total",
            "KServe logger CloudEvents accepted on /ingest/kserve, by type (request, response).",
            ["type"],
            registry=registry,
        )
        self.paired = Counter(
            "driftcar_ingest_paired_total",
            "KServe logger requests recorded with their response.",
            registry=registry,
        )
        self.unpaired = Counter(
            "driftcar_ingest_unpaired_total",
            "KServe logger events recorded alone after the pairing TTL (or at shutdown), by missing side.",
            ["missing"],
            registry=registry,
        )
        self.dropped = Counter(
            "driftcar_ingest_events_dropped_total",
            "KServe logger events not recorded, by reason: full (pairing buffer), duplicate (same id and type "
            "still waiting), late (its pair was already recorded).",
            ["reason"],
            registry=registry,
        )
        self.pending = Gauge(
            "driftcar_ingest_pending_events",
            "KServe logger events waiting for their partner: in this process's pairing buffer, plus (with "
            "ingest.pairing: store) the shared table's waiting events as last counted.",
            registry=registry,
        )
        self.fallbacks = Counter(
            "driftcar_ingest_store_fallbacks_total",
            "KServe logger events paired in this process's memory because the shared pairing table could not "
            "be used (ingest.pairing: store), by reason: error (the store failed), busy (too many claims "
            "already waiting on the store).",
            ["reason"],
            registry=registry,
        )
        self.records = Counter(
            "driftcar_ingest_batch_records_total",
            "Records stored through POST /ingest/records.",
            registry=registry,
        )


INGEST_METRICS = web.AppKey("ingest_metrics", IngestMetrics)
