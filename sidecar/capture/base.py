"""Protocol adapters: turn one HTTP exchange (request + response) into rows of features and predictions."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol

from multidict import CIMultiDictProxy

from sidecar.errors import DriftcarError

# The proxy's errors for an exchange cancelled with its client connection: by the client, or by driftcar
# itself when in-flight requests outlast `shutdown_timeout`.
CLIENT_DISCONNECTED = "client disconnected"
CUT_AT_SHUTDOWN = "cut at shutdown: still running after shutdown_timeout"


@dataclass(frozen=True, slots=True)
class Exchange:
    """One proxied request and its response, as raw bytes.

    Bodies are already decompressed copies when the original had a Content-Encoding the pipeline understands
    (the client always receives the original bytes). A body larger than the capture limit is `None` and
    `truncated` says which side.
    """

    method: str
    path: str
    query: str
    request_headers: CIMultiDictProxy[str]
    request_body: bytes | None
    status: int
    response_headers: CIMultiDictProxy[str]
    response_body: bytes | None
    request_id: str
    ts: float
    latency_ms: float
    error: str | None = None
    """Set by the proxy when there was no upstream response (502/504) or the client went away."""
    truncated: frozenset[str] = frozenset()
    """`{"request"}`, `{"response"}` or both when a body exceeded the capture limit and was not kept."""
    request_size: int | None = None
    """Size of the request body on the wire when known (named in "not captured: ... too large" reasons)."""
    response_size: int | None = None
    """Size of the response body on the wire when known."""


@dataclass(frozen=True, slots=True)
class Row:
    """One instance: its input features and its prediction (either may be None when not understood)."""

    features: dict[str, Any] | None
    prediction: Any = None


@dataclass(frozen=True, slots=True)
class Extraction:
    """What an adapter understood of an exchange."""

    route: str
    model: str | None = None
    model_version: str | None = None
    rows: list[Row] = field(default_factory=list)
    error: str | None = None
    """Why the exchange was not (fully) understood, or why the prediction failed."""
    extra: dict[str, Any] = field(default_factory=dict)


class AdapterOptions(Protocol):
    """Per-route options an adapter may read (a subset of the route config, see `CaptureOptions`)."""

    @property
    def inputs(self) -> str | None: ...

    @property
    def outputs(self) -> str | None: ...

    @property
    def feature_names(self) -> list[str] | None: ...

    @property
    def model(self) -> str | None: ...


class Adapter(Protocol):
    """Turns exchanges of one serving protocol into rows."""

    name: ClassVar[str]

    def matches(self, exchange: Exchange) -> bool:
        """True when the exchange's path (or a protocol-only header) belongs to this protocol."""
        ...

    def sniff(self, exchange: Exchange, request: dict[str, Any]) -> bool:
        """True when a request on an unknown path has this protocol's body shape (top-level keys)."""
        ...

    def extract(self, exchange: Exchange, options: AdapterOptions) -> Extraction:
        """Parse the exchange; must not raise for any input (bad input becomes `Extraction.error`)."""
        ...


class CaptureError(DriftcarError):
    """An exchange an adapter cannot read; it becomes `Extraction.error` and never leaves capture."""

