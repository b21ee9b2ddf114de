"""The report summary: what a report run found, as frozen dataclasses with a JSON round trip (never NaN).

Stored with each run and read by the alert rules, which key on `flags`: one flat entry per finding, e.g.
`{"kind": "column_drift", "column": "income", ...}` or `{"kind": "fairness", "attribute": "sex",
"metric": "demographic_parity_ratio", "value": 0.62, "group": "female", ...}`.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Literal

from detectors.fairness import Favorable, Task
from sidecar.reports.codec import decode
from sidecar.reports.spec import ReferenceSource

ReportStatus = Literal["ok", "skipped"]
FlagKind = Literal[
    "dataset_drift",
    "column_drift",
    "prediction_drift",
    "data_quality",
    "fairness",
    "bias_drift",
    "section_error",
]
Section = Literal["drift", "quality", "fairness", "performance", "html"]


@dataclass(frozen=True, slots=True)
class Flag:
    """One finding an alert rule can key on; fields that do not apply to the kind are None.

    `metric` is the drift method, the data-quality check, the parity metric or the failed section; `value` and
    `threshold` are what was compared (a bias-drift `value` is the metric's change since the reference);
    `group` is the group a parity metric finds worse off.
    """

    kind: FlagKind
    column: str | None = None
    attribute: str | None = None
    metric: str | None = None
    group: str | None = None
    value: float | None = None
    threshold: float | None = None
    message: str = ""


@dataclass(frozen=True, slots=True)
class SectionError:
    """A section that could not be computed; the rest of the report stands."""

    section: Section
    error: str
    message: str


@dataclass(frozen=True, slots=True)
class ReferenceSummary:
    """The reference the window was compared with."""

    rows: int
    version: int | None
    source: ReferenceSource | None


@dataclass(frozen=True, slots=True)
class HtmlSample:
    """Rows the Evidently HTML was rendered on (all statistics in the summary use every row)."""

    current_rows: int
    reference_rows: int
    sampled: bool


@dataclass(frozen=True, slots=True)
class ColumnDriftSummary:
    """One column's drift test; `score` is a p-value or a distance (see `score_kind`)."""

    column: str
    column_type: str
    method: str | None
    score: float | None
    score_kind: str | None
    threshold: float | None
    drifted: bool
    effect_size: float | None
    effect_size_name: str | None
    skip_reason: str | None


@dataclass(frozen=True, slots=True)
class DriftSummary:
    """The dataset verdict, every column's test and the prediction's."""

    dataset_drift: bool
    drift_share: float
    share_of_drifted_columns: float
    number_of_columns: int
    number_of_drifted_columns: int
    columns: tuple[ColumnDriftSummary, ...]
    prediction: ColumnDriftSummary | None

    def column(self, name: str) -> ColumnDriftSummary:
        """One column's result by name (the prediction included)."""
        found = [c for c in (*self.columns, self.prediction) if c is not None and c.column == name]
        if not found:
            raise KeyError(name)
        return found[0]


@dataclass(frozen=True, slots=True)
class BreachSummary:
    """A data-quality threshold breached; `column` is None for dataset-level checks."""

    check: str
    column: str | None
    value: float
    threshold: float
    message: str


@dataclass(frozen=True, slots=True)
class QualitySummary:
    """Data-quality breaches and the columns that appeared or vanished."""

    ok: bool
    breaches: tuple[BreachSummary, ...]
    missing_columns: tuple[str, ...]
    new_columns: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class MetricChangeSummary:
    """One metric in the reference and the window; `change` is current minus reference."""

    name: str
    reference: float | None
    current: float | None
    change: float | None
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class GroupSummary:
    """One group's counts and rates in the window; None where undefined (or the group is too small)."""

    label: str
    count: int
    n_labelled: int
    too_small: bool
    selection_rate: float | None
    true_positive_rate: float | None
    false_positive_rate: float | None
    precision: float | None
    accuracy: float | None
    mean_prediction: float | None
    mean_absolute_error: float | None
    reference_count: int
    changes: tuple[MetricChangeSummary, ...]


@dataclass(frozen=True, slots=True)
class DisparitySummary:
    """A parity metric between the groups, its reference value and its change (bias drift)."""

    name: str
    value: float | None
    reason: str | None
    lowest: str | None
    highest: str | None
    reference: float | None
    change: float | None


@dataclass(frozen=True, slots=True)
class AttributeSummary:
    """One protected attribute (or intersection): groups, parity metrics, four-fifths rule, small groups."""

    name: str
    columns: tuple[str, ...]
    groups: tuple[GroupSummary, ...]
    small_groups: tuple[str, ...]
    disparities: tuple[DisparitySummary, ...]
    four_fifths_violated: bool | None
    four_fifths_violated_reference: bool | None

    def group(self, label: str) -> GroupSummary:
        """One group by label."""
        return next(g for g in self.groups if g.label == label)

    def disparity(self, name: str) -> DisparitySummary:
        """One parity metric by name."""
        return next(d for d in self.disparities if d.name == name)


@dataclass(frozen=True, slots=True)
class FairnessSummary:
    """Fairness per protected attribute, computed by driftcar's detector on every row."""

    favorable: Favorable
    min_group_size: int
    n_rows: int
    n_labelled: int
    attributes: tuple[AttributeSummary, ...]

    def attribute(self, name: str) -> AttributeSummary:
        """One attribute by name."""
        return next(a for a in self.attributes if a.name == name)


@dataclass(frozen=True, slots=True)
class PerformanceSummary:
    """Model performance on the labelled rows of the window, next to the reference's when it has labels."""

    task: Task
    n_rows: int
    n_reference_rows: int
    metrics: tuple[MetricChangeSummary, ...]

    def metric(self, name: str) -> MetricChangeSummary:
        """One metric by name."""
        return next(m for m in self.metrics if m.name == name)


@dataclass(frozen=True, slots=True)
class ReportSummary:
    """Everything a report run found; `status == "skipped"` carries only counts and `skip_reason`."""

    monitor: str
    status: ReportStatus
    skip_reason: str | None
    created_at: float
    task: Task
    prediction: str
    label: str | None
    window_start: float | None
    window_end: float | None
    window_rows: int
    reference: ReferenceSummary
    html_sample: HtmlSample | None
    drift: DriftSummary | None
    quality: QualitySummary | None
    fairness: FairnessSummary | None
    performance: PerformanceSummary | None
    flags: tuple[Flag, ...]
    errors: tuple[SectionError, ...]
    notes: tuple[str, ...]

    def to_json(self) -> str:
        """The summary as JSON; undefined numbers are null, never NaN."""
        return json.dumps(asdict(self), allow_nan=False, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str | bytes) -> ReportSummary:
        """Read back what `to_json` wrote."""
        return decode(cls, json.loads(text))

    def flags_of(self, kind: FlagKind) -> tuple[Flag, ...]:
        """The flags of one kind."""
        return tuple(f for f in self.flags if f.kind == kind)
