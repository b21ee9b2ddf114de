"""Adapters by name, automatic selection, and the capture boundary `to_records` that never raises.

Selection (`adapter: auto`): `inputs`/`outputs` paths mean `generic`; else the first adapter whose path
matches, in registration order: kserve_v2 (also any request with `Inference-Header-Content-Length`), tfserving
(which therefore wins `/v1/models/{model}:predict` over kserve_v1), kserve_v1, mlflow, cog, seldon; else the
request body's top-level keys (`dataframe_split`/`dataframe_records` -> mlflow, V2 tensors -> kserve_v2,
`instances` -> tfserving, Seldon `data` -> seldon, Cog `input` -> cog); else generic.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from typing import Any, Final

import orjson

from sidecar.capture.base import Adapter, Exchange, Extraction, Row
from sidecar.capture.cog import CogAdapter
from sidecar.capture.generic import GenericAdapter
from sidecar.capture.kserve_v1 import KServeV1Adapter
from sidecar.capture.kserve_v2 import KServeV2Adapter
from sidecar.capture.mlflow import MLflowAdapter
from sidecar.capture.options import CaptureOptions
from sidecar.capture.seldon import SeldonAdapter
from sidecar.capture.tfserving import TFServingAdapter
from storage.records import Record

logger = logging.getLogger(__name__)

FALLBACK: Final = "generic"
_DEFAULT_OPTIONS: Final = CaptureOptions()
# A body must contain one of these keys (or `Data"`) before it is parsed for sniffing (most bodies contain none).
# Every alternative starts with `"`, a literal prefix `re` scans for quickly; with `Data"` (no common first byte)
# in the same alternation, `re` tried every alternative at every offset: ~44k instructions for a 283-byte body
# against ~12k for the two checks (callgrind).
_NEEDLES: Final = re.compile(rb'"(?:dataframe_|datatype"|instances"|ndarray"|tensor"|input")')
_SELDON_NEEDLE: Final = b'Data"'


class AdapterRegistry:
    """Adapters keyed by name, in selection order."""

    def __init__(self, adapters: Iterable[Adapter] = ()) -> None:
        self._adapters: dict[str, Adapter] = {}
        for adapter in adapters:
            self.register(adapter)

    def register(self, adapter: Adapter) -> None:
        """Add an adapter; ValueError if its name is taken."""
        if adapter.name in self._adapters:
            raise ValueError(f"an adapter named {adapter.name!r} is already registered")
        self._adapters[adapter.name] = adapter

    def get(self, name: str) -> Adapter:
        """The adapter with this name; ValueError listing the known names otherwise."""
        try:
            return self._adapters[name]
        except KeyError:
            raise ValueError(f"unknown adapter {name!r}; known: {', '.join(self._adapters)}") from None

    def names(self) -> list[str]:
        """Registered names in selection order."""
        return list(self._adapters)

    def by_path(self, exchange: Exchange) -> Adapter | None:
        """The first adapter, in selection order, that recognises the exchange's path (or headers), if any."""
        for adapter in self._adapters.values():
            if adapter.matches(exchange):
                return adapter
        return None

    def select(self, exchange: Exchange, options: CaptureOptions) -> Adapter:
        """The adapter for this exchange: configured, else by path, else by body shape, else generic."""
        if options.adapter != "auto":
            return self.get(options.adapter)
        if options.inputs is not None or options.outputs is not None:
            return self.get(FALLBACK)
        adapter = self.by_path(exchange)
        if adapter is not None:
            return adapter
        request = _top_level(exchange.request_body)
        if request is not None:
            for adapter in self._adapters.values():
                if adapter.sniff(exchange, request):
                    return adapter
        return self.get(FALLBACK)


def _top_level(body: bytes | None) -> dict[str, Any] | None:
    """The request body as a JSON object, only when it may have a known shape (a cheap byte scan first)."""
    if not body or (_NEEDLES.search(body) is None and _SELDON_NEEDLE not in body):
        return None
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    return document if isinstance(document, dict) else None


def default_registry() -> AdapterRegistry:
    """A registry of every built-in adapter, in selection order."""
    return AdapterRegistry(
        [
            KServeV2Adapter(),
            TFServingAdapter(),
            KServeV1Adapter(),
            MLflowAdapter(),
            CogAdapter(),
            SeldonAdapter(),
            GenericAdapter(),
        ]
    )


REGISTRY: Final = default_registry()


def select_adapter(
    exchange: Exchange, options: CaptureOptions | None = None, registry: AdapterRegistry = REGISTRY
) -> Adapter:
    """The adapter that reads this exchange (see the module docstring for the order)."""
    return registry.select(exchange, options or _DEFAULT_OPTIONS)


def extract(
    exchange: Exchange, options: CaptureOptions | None = None, registry: AdapterRegistry = REGISTRY
) -> Extraction:
    """What the selected adapter understood of the exchange (raises only on a bug; see `to_records`)."""
    options = options or _DEFAULT_OPTIONS
    return registry.select(exchange, options).extract(exchange, options)


def to_records(
    exchange: Exchange, options: CaptureOptions | None = None, registry: AdapterRegistry = REGISTRY
) -> list[Record]:
    """One record per instance (at least one, with the reason when nothing was understood); never raises."""
    protocol = "unknown"
    try:
        options = options or _DEFAULT_OPTIONS
        adapter = registry.select(exchange, options)
        protocol = adapter.name
        extraction = adapter.extract(exchange, options)
        return _records(exchange, extraction, protocol)
    except Exception as exc:  # the capture boundary: a parsing bug must never reach the proxy
        logger.debug("capture: %s adapter failed on request %s", protocol, _safe_id(exchange), exc_info=True)
        return [_failure(exchange, protocol, f"capture failed: {type(exc).__name__}")]


def _records(exchange: Exchange, extraction: Extraction, protocol: str) -> list[Record]:
    rows = extraction.rows or [Row(None)]
    error = extraction.error or (None if extraction.rows else "no instances in request")
    return [
        Record(
            ts=exchange.ts,
            request_id=exchange.request_id,
            row=index,
            route=extraction.route,
            protocol=protocol,
            status=exchange.status,
            latency_ms=exchange.latency_ms,
            model=extraction.model,
            model_version=extraction.model_version,
            features=row.features,
            prediction=row.prediction,
            error=error,
            extra=extraction.extra,
        )
        for index, row in enumerate(rows)
    ]


def _safe_id(exchange: Any) -> str:
    return str(getattr(exchange, "request_id", "?"))[:100]


def _failure(exchange: Any, protocol: str, error: str) -> Record:
    """A record for an exchange that could not be parsed at all (tolerates a malformed Exchange)."""
    try:
        return Record(
            ts=float(exchange.ts),
            request_id=str(exchange.request_id),
            row=0,
            route="unknown",
            protocol=protocol,
            status=int(exchange.status),
            latency_ms=float(exchange.latency_ms),
            error=error,
        )
    except Exception:  # the boundary again: even a malformed Exchange yields a record
        return Record(
            ts=0.0,
            request_id="",
            row=0,
            route="unknown",
            protocol=protocol,
            status=0,
            latency_ms=0.0,
            error=error,
        )
