"""What a monitor's report job computes: the report spec (configuration) and the run's context (facts)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from detectors.drift.options import DriftOptions
from detectors.fairness.names import DISPARITIES
from detectors.fairness.options import FairnessOptions, Task
from detectors.performance_options import ClassificationOptions
from detectors.quality.thresholds import QualityThresholds

ReferenceSource = Literal["upload", "traffic", "first_n"]
# Columns of a captured record that describe the exchange, not the model's inputs.
RECORD_META_COLUMNS = (
    "id",
    "ts",
    "request_id",
    "row",
    "model",
    "model_version",
    "route",
    "protocol",
    "status",
    "latency_ms",
    "error",
    "extra",
)
DEFAULT_MAX_DIFFERENCE = {
    "demographic_parity_difference": 0.1,
    "equal_opportunity_difference": 0.1,
    "equalized_odds_difference": 0.1,
}


class BiasThresholds(BaseModel):
    """When a parity metric, or its move since the reference, becomes a fairness flag."""

    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)

    min_ratio: float | None = Field(default=0.8, ge=0.0, le=1.0)
    """Flag a demographic parity ratio below this (0.8 is the four-fifths rule); None switches it off."""

    max_difference: dict[str, float] = Field(default_factory=lambda: dict(DEFAULT_MAX_DIFFERENCE))
    """Flag a between-group difference above its cap, by metric name (e.g. `mean_absolute_error_difference`
    for regression, in the label's units)."""

    max_change: float | None = Field(default=0.1, ge=0.0)
    """Flag a parity metric that moved this much towards unfairness since the reference (a difference up, the
    ratio down); None switches bias-drift flags off."""

    @model_validator(mode="after")
    def _known_metrics(self) -> BiasThresholds:
        """Reject a cap on a metric the fairness detector does not compute."""
        unknown = sorted(set(self.max_difference) - (set(DISPARITIES) - {"demographic_parity_ratio"}))
        if unknown:
            raise ValueError(f"max_difference: unknown difference metric(s): {', '.join(unknown)}")
        return self


class ReportSpec(BaseModel):
    """A monitor's report: which columns mean what, and the options of every detector it runs."""

    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)

    monitor: str = Field(min_length=1)
    """The monitor's name, shown in the report and stored with its runs."""

    features: list[str] | None = None
    """Columns to test for drift and data quality; None means every column both frames share except the
    prediction, the label and the meta columns."""

    prediction: str = Field(min_length=1)
    """The model-output column (a class label or a number)."""

    label: str | None = None
    """The ground-truth column; performance and the label-based parity metrics need it."""

    task: Task = "classification"
    """`classification` or `regression`; picks Evidently's performance preset and the fairness metrics."""

    meta_columns: list[str] = Field(default_factory=lambda: list(RECORD_META_COLUMNS))
    """Columns never treated as features (request ids, timestamps, ...); absent ones are ignored."""

    fairness: FairnessOptions | None = None
    """Protected attributes, favourable value, minimum group size and intersections; None skips fairness.
    Its `task` follows the report's."""

    bias: BiasThresholds = Field(default_factory=BiasThresholds)
    """When parity metrics become flags."""

    drift: DriftOptions = Field(default_factory=DriftOptions)
    """Drift methods, thresholds and the dataset drift share; columns and prediction come from this spec."""

    quality: QualityThresholds = Field(default_factory=QualityThresholds)
    """Data-quality thresholds."""

    performance: ClassificationOptions = Field(default_factory=ClassificationOptions)
    """Positive class and multiclass average for classification performance (unused for regression)."""

    html_max_rows: int = Field(default=50_000, ge=100)
    """The Evidently HTML is rendered on a seeded sample of at most this many rows per side."""

    min_rows: int = Field(default=100, ge=1)
    """Fewer rows than this in the window or the reference skips the report."""

    seed: int = 0
    """Seed of the HTML sample."""

    @model_validator(mode="before")
    @classmethod
    def _fairness_task(cls, data: Any) -> Any:
        """Let the fairness options inherit the report's task unless they set one themselves."""
        if not isinstance(data, dict) or data.get("fairness") is None:
            return data
        task = data.get("task", "classification")
        fairness = data["fairness"]
        if isinstance(fairness, dict) and "task" not in fairness:
            return {**data, "fairness": {**fairness, "task": task}}
        if isinstance(fairness, FairnessOptions) and "task" not in fairness.model_fields_set:
            return {**data, "fairness": fairness.model_copy(update={"task": task})}
        return data

    @model_validator(mode="after")
    def _consistent(self) -> ReportSpec:
        """Reject options that contradict each other before any data is read."""
        if self.drift.columns is not None or self.drift.prediction is not None:
            raise ValueError("set the columns with `features` and `prediction`, not in `drift`")
        if self.fairness is not None and self.fairness.task != self.task:
            raise ValueError(
                f"fairness.task is {self.fairness.task!r} but the report's task is {self.task!r}"
            )
        if self.label is not None and self.label == self.prediction:
            raise ValueError("label and prediction must be different columns")
        overlap = sorted(set(self.features or ()) & {self.prediction, self.label} - {None})
        if overlap:
            raise ValueError(f"features must not include the prediction or the label: {', '.join(overlap)}")
        return self

    def feature_columns(self, reference_columns: list[str], current_columns: list[str]) -> list[str]:
        """The features to test: the configured ones, or every shared non-outcome, non-meta column."""
        if self.features is not None:
            return list(self.features)
        excluded = {self.prediction, self.label, *self.meta_columns}
        shared = set(current_columns)
        return [c for c in reference_columns if c in shared and c not in excluded]


class ReportContext(BaseModel):
    """Facts about one run that the caller knows and the data does not: the window and the reference set."""

    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)

    window_start: float | None = None
    """Start of the window, seconds since the epoch (UTC)."""

    window_end: float | None = None
    """End of the window, seconds since the epoch (UTC)."""

    reference_version: int | None = None
    """The reference set's version (1, 2, ... per monitor)."""

    reference_source: ReferenceSource | None = None
    """How the reference was made: uploaded, chosen from traffic, or the default first N captured records."""
