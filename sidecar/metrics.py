"""Prometheus metrics: one registry per app, request histograms and the capture/writer counters."""

from __future__ import annotations

from collections.abc import Callable, Iterator

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from storage.writer import WriterStats

# Proxy latency is dominated by the model; buckets reach from sub-millisecond to a minute.
LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)
OTHER = "other"
_MAX_CACHED_CHILDREN = 4096
# Generic routes are literal request paths, so any client can mint new ones: their label set is bounded too.
MAX_ROUTES = 200


class Metrics:
    """The sidecar's own instruments, registered in `registry`."""

    def __init__(
        self, registry: CollectorRegistry, max_models: int = 50, max_routes: int = MAX_ROUTES
    ) -> None:
        self.registry = registry
        self._models = _BoundedLabel(max_models)
        self._routes = _BoundedLabel(max_routes)
        self.request_duration = Histogram(
            "driftcar_request_duration_seconds",
            "Time from receiving a request to finishing its response, by route template, status and model.",
            ["route", "status", "model"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.upstream_errors = Counter(
            "driftcar_upstream_errors_total",
            "Requests that got no upstream answer, by kind (unavailable, timeout, client_disconnected, cut_at_shutdown).",
            ["kind"],
            registry=registry,
        )
        self.upstream_retries = Counter(
            "driftcar_upstream_retries_total",
            "Requests re-sent once on a fresh connection because a reused keep-alive connection had just closed.",
            registry=registry,
        )
        self.exchanges_dropped = Counter(
            "driftcar_capture_exchanges_dropped_total",
            "Exchanges not captured because the capture queue was full (the requests themselves succeeded).",
            registry=registry,
        )
        self.exchanges_sampled_out = Counter(
            "driftcar_capture_exchanges_sampled_out_total",
            "Exchanges deliberately not recorded because of a route's sample_rate.",
            registry=registry,
        )
        self._children: dict[tuple[str, int, str | None], Histogram] = {}
        self.capture_failures = Counter(
            "driftcar_capture_failures_total",
            "Exchanges whose parsing raised unexpectedly (recorded with an error instead).",
            registry=registry,
        )

    def model_label(self, model: str | None) -> str:
        """The model name, or `other` once `max_models` distinct names have been seen (bounded cardinality)."""
        return self._models.label(model)

    def route_label(self, route: str) -> str:
        """The route template, or `other` once `max_routes` distinct routes have been seen."""
        return self._routes.label(route)

    def observe_request(self, route: str, status: int, model: str | None, seconds: float) -> None:
        """Record one proxied request."""
        key = (route, status, model)
        child = self._children.get(key)
        if child is None:
            # prometheus_client validates and locks on every labels() call, so children are cached; raw keys
            # past the label caps (any path a client invents) are not, so the cache stays bounded.
            labels = (self.route_label(route), str(status), self.model_label(model))
            child = self.request_duration.labels(*labels)
            if len(self._children) < _MAX_CACHED_CHILDREN:
                self._children[key] = child
        child.observe(seconds)


class _BoundedLabel:
    """Label values as seen, until `limit` distinct ones; later newcomers share the label `other`."""

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._seen: set[str] = set()

    def label(self, value: str | None) -> str:
        """The value itself while there is room (or it was seen before), else `other`; "" for none."""
        if not value:
            return ""
        if value in self._seen:
            return value
        if len(self._seen) < self._limit:
            self._seen.add(value)
            return value
        return OTHER


class QueueCollector(Collector):
    """Reads the capture queue and the writer's counters at scrape time."""

    def __init__(
        self, queue_depth: Callable[[], tuple[int, int]], writer_stats: Callable[[], WriterStats]
    ) -> None:
        self._queue_depth = queue_depth
        self._writer_stats = writer_stats

    def collect(self) -> Iterator[Metric]:
        """Yield the current values."""
        exchanges, nbytes = self._queue_depth()
        yield GaugeMetricFamily(
            "driftcar_capture_queue_exchanges", "Exchanges waiting to be parsed.", exchanges
        )
        yield GaugeMetricFamily("driftcar_capture_queue_bytes", "Body bytes waiting to be parsed.", nbytes)
        s = self._writer_stats()
        for name, doc, value in (
            ("driftcar_records_accepted_total", "Records accepted for storage.", s.accepted),
            ("driftcar_records_written_total", "Records committed to the store.", s.written),
            (
                "driftcar_records_spooled_total",
                "Records written to the on-disk spool while the store lagged or was down.",
                s.spooled,
            ),
            ("driftcar_records_replayed_total", "Spooled records replayed into the store.", s.replayed),
            (
                "driftcar_records_dropped_total",
                "Records lost because the writer queue and the spool were both full.",
                s.dropped,
            ),
            (
                "driftcar_records_rejected_total",
                "Records the database or the encoder refused (not retried).",
                s.rejected,
            ),
        ):
            # Named with `_total` as exposed (CounterMetricFamily strips the suffix and the exposition adds it).
            yield CounterMetricFamily(name, doc, value=value)
        yield GaugeMetricFamily(
            "driftcar_writer_queue_records", "Records waiting to be written.", s.queue_records
        )
        yield GaugeMetricFamily(
            "driftcar_writer_queue_bytes", "Approximate bytes waiting to be written.", s.queue_bytes
        )
        yield GaugeMetricFamily("driftcar_spool_bytes", "Bytes in the on-disk spool.", s.spool_bytes)
        yield GaugeMetricFamily(
            "driftcar_store_up", "1 when the last write to the store succeeded.", int(s.store_up)
        )
