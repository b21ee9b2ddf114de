"""Per-route capture options: which adapter reads the exchange, and where its inputs and outputs are."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, field_validator

from sidecar.capture.jsonpath import compile_path

AdapterName = Literal["auto", "generic", "tfserving", "mlflow", "kserve_v1", "kserve_v2", "cog", "seldon"]


class CaptureOptions(BaseModel):
    """How to turn a route's exchanges into records (embedded in each route of the configuration)."""

    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)

    adapter: AdapterName = "auto"
    """Protocol adapter; `auto` picks one by path (e.g. `/v2/models/*/infer`), then by request body shape,
    falling back to `generic`. With `auto`, setting `inputs` or `outputs` selects `generic`."""
    inputs: str | None = None
    """JSON path to the inputs in the request body, e.g. `input_series`, `data.ndarray`, `$`, `items[*].x`
    (see `sidecar.capture.jsonpath`); read by the `generic` adapter only. None: its default reading rules."""
    outputs: str | None = None
    """JSON path to the predictions in the response body, e.g. `prediction`, `$`, `results[*].label`;
    read by the `generic` adapter only. None: its default reading rules."""
    feature_names: list[str] | None = None
    """Names for positional features (column i of a list row), instead of the protocol's names or `f0..fk`."""
    model: str | None = None
    """Model name to record, instead of the one found in the path or the response."""

    @field_validator("inputs", "outputs")
    @classmethod
    def _valid_path(cls, value: str | None) -> str | None:
        if value is not None:
            compile_path(value)  # raises ValueError with the position of the syntax error
        return value

    @field_validator("feature_names")
    @classmethod
    def _unique_names(cls, value: list[str] | None) -> list[str] | None:
        if value is not None:
            if any(not name for name in value):
                raise ValueError("feature_names must not contain empty names")
            if len(set(value)) != len(value):
                raise ValueError("feature_names must be unique")
        return value
