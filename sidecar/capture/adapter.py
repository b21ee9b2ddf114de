"""The flow every adapter shares: route match, request rows, response predictions, pairing and error reasons.

An adapter subclasses `BaseAdapter` and implements three hooks: `route` (path -> template, model, version),
`read_request` (features per instance) and `read_response` (one prediction per instance). The hooks raise
`CaptureError` for anything they cannot read; `extract` turns that into `Extraction.error` and keeps whatever
the other side yielded. Reasons, in order: the proxy's error (`Exchange.error`), else the upstream's HTTP
error (>= 400); then, only when neither is set, request problems, response problems and a count mismatch.
Several are joined with "; ". After an HTTP error the response is not read for predictions; after a proxy
error it is read when a body was captured (e.g. the client went away after the upstream answered).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar

from sidecar.capture.base import AdapterOptions, CaptureError, Exchange, Extraction
from sidecar.capture.decode import error_message
from sidecar.capture.rows import Features, pair


@dataclass(frozen=True, slots=True)
class RouteMatch:
    """What the path says: a bounded-cardinality template, and the model and version it names."""

    template: str
    model: str | None = None
    version: str | None = None
    extra: dict[str, Any] | None = None


@dataclass(slots=True)
class Parsed:
    """What an adapter read from one side of the exchange."""

    rows: list[Any] | None = None
    """Feature dicts (request side) or one prediction per instance (response side)."""
    model: str | None = None
    version: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    """A failure the body reports despite a 2xx status (e.g. Cog `"status": "failed"`)."""


class BaseAdapter(ABC):
    """Template for protocol adapters: subclasses implement `route`, `read_request` and `read_response`."""

    name: ClassVar[str]

    def matches(self, exchange: Exchange) -> bool:
        """True when the exchange's path belongs to this protocol."""
        return self.route(exchange.path) is not None

    def sniff(self, exchange: Exchange, request: dict[str, Any]) -> bool:
        """True when a request on an unknown path has this protocol's body shape."""
        return False

    @abstractmethod
    def route(self, path: str) -> RouteMatch | None:
        """The route this path matches, or None when it is not one of the protocol's paths."""

    @abstractmethod
    def read_request(self, exchange: Exchange, route: RouteMatch, options: AdapterOptions) -> Parsed:
        """Feature dicts, one per instance; raises CaptureError when the request cannot be read."""

    @abstractmethod
    def read_response(
        self, exchange: Exchange, route: RouteMatch, options: AdapterOptions, rows: int | None
    ) -> Parsed:
        """One prediction per instance (`rows` instances, None if unknown); raises CaptureError."""

    def extract(self, exchange: Exchange, options: AdapterOptions) -> Extraction:
        """Parse the exchange into rows; bad input becomes `Extraction.error`, never an exception."""
        route = self.route(exchange.path) or RouteMatch(exchange.path)
        http_failed = exchange.status >= 400
        # After a failure the request may well be unreadable; that is no further reason worth recording.
        quiet = http_failed or exchange.error is not None
        errors: list[str] = []
        if exchange.error is not None:
            errors.append(exchange.error)
        elif http_failed:
            errors.append(error_message(exchange.status, exchange.response_body))
        request = _attempt(lambda: self.read_request(exchange, route, options), errors, quiet)
        features: list[Features] | None = request.rows if request is not None else None
        response = None
        if not http_failed and (exchange.error is None or exchange.response_body is not None):
            count = len(features) if features is not None else None
            response = _attempt(lambda: self.read_response(exchange, route, options, count), errors, quiet)
        if response is not None and response.error:
            errors.append(response.error)
        rows = pair(features, response.rows if response is not None else None, errors)
        if not rows and not errors:
            errors.append("no instances in request")
        extra: dict[str, Any] = dict(route.extra) if route.extra else {}
        for parsed in (request, response):
            if parsed is not None and parsed.extra:
                extra.update(parsed.extra)
        return Extraction(
            route=route.template,
            model=options.model or route.model or (response.model if response is not None else None),
            model_version=route.version or (response.version if response is not None else None),
            rows=rows,
            error="; ".join(errors) if errors else None,
            extra=extra,
        )


def _attempt(read: Callable[[], Parsed], errors: list[str], quiet: bool) -> Parsed | None:
    """Run one side's reader; a CaptureError becomes a reason (unless `quiet`) and None."""
    try:
        return read()
    except CaptureError as exc:
        if not quiet:
            errors.append(str(exc))
        return None
