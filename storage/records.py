"""The unit of capture: one record per predicted instance."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class Record:
    """One predicted instance (one row of a batch) with its request's metadata.

    `features` maps input names to JSON-compatible values; `prediction` is the model's output for this row
    (a scalar, a list such as class probabilities, or an object). `error` is set when the exchange could not
    be fully understood or the prediction failed; the record is stored anyway.
    """

    ts: float
    """Time the request arrived, seconds since the epoch (UTC)."""
    request_id: str
    row: int
    """Index of this instance within its request's batch (0 for single-instance requests)."""
    route: str
    """The route template the adapter matched, e.g. `/v2/models/{model}/infer` (bounded cardinality)."""
    protocol: str
    """The adapter that parsed the exchange, e.g. `kserve_v2`, `mlflow`, `generic`."""
    status: int
    latency_ms: float
    model: str | None = None
    model_version: str | None = None
    features: dict[str, Any] | None = None
    prediction: Any = None
    error: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    """Protocol details worth keeping (e.g. `signature_name`, TF Serving `method`); small."""
