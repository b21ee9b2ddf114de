"""The report's statistics, on every row, through driftcar's detectors; a section that fails is recorded."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import pandas as pd

from detectors.drift import DatasetDrift, detect_drift
from detectors.errors import DetectorError, InsufficientDataError
from detectors.fairness import FairnessDrift, compute_fairness, fairness_drift
from detectors.performance import classification_performance, regression_performance
from detectors.quality import check_quality
from sidecar.reports.build import (
    Performance,
    drift_summary,
    fairness_summary,
    performance_summary,
    quality_summary,
)
from sidecar.reports.errors import ReportInputError
from sidecar.reports.spec import ReportSpec
from sidecar.reports.summary import (
    DriftSummary,
    FairnessSummary,
    PerformanceSummary,
    QualitySummary,
    Section,
    SectionError,
)


@dataclass(frozen=True, slots=True)
class Columns:
    """Which columns each detector sees, resolved against both frames."""

    features: list[str]
    drift_features: list[str]
    quality_reference: list[str]
    quality_current: list[str]
    label_reference: str | None
    label_current: str | None


@dataclass(slots=True)
class Sections:
    """The summary sections, plus what went wrong and the drift result (its column types feed the HTML)."""

    drift_result: DatasetDrift | None = None
    drift: DriftSummary | None = None
    quality: QualitySummary | None = None
    fairness: FairnessSummary | None = None
    performance: PerformanceSummary | None = None
    errors: list[SectionError] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def fail(self, section: Section, exc: Exception) -> None:
        """Record a section that could not be computed."""
        self.errors.append(SectionError(section, type(exc).__name__, str(exc)))


def resolve_columns(reference: pd.DataFrame, current: pd.DataFrame, spec: ReportSpec) -> Columns:
    """Resolve the spec's columns; raise ReportInputError when the data cannot be judged at all."""
    ref_cols, cur_cols = [str(c) for c in reference.columns], [str(c) for c in current.columns]
    needed = [spec.prediction, *(spec.features or ()), *(spec.fairness.protected if spec.fairness else ())]
    missing = [c for c in dict.fromkeys(needed) if c not in ref_cols]
    if missing:
        raise ReportInputError(f"column(s) not in the reference: {', '.join(missing)}")
    if spec.prediction not in cur_cols:
        raise ReportInputError(f"the prediction column {spec.prediction!r} is not in the window")
    features = spec.feature_columns(ref_cols, cur_cols)
    # A configured feature missing from the window is a data-quality finding, not a reason to fail.
    drift_features = [c for c in features if c in cur_cols]
    if spec.features is None:
        excluded = {spec.label, *spec.meta_columns}
        quality_ref = [c for c in ref_cols if c not in excluded]
        quality_cur = [c for c in cur_cols if c not in excluded]
    else:
        quality_ref = [*features, spec.prediction]
        quality_cur = [c for c in cur_cols if c in set(quality_ref)]
    return Columns(
        features=features,
        drift_features=drift_features,
        quality_reference=quality_ref,
        quality_current=quality_cur,
        label_reference=spec.label if spec.label in ref_cols else None,
        label_current=spec.label if spec.label in cur_cols else None,
    )


def _performance(frame: pd.DataFrame, label: str, spec: ReportSpec) -> Performance:
    if spec.task == "regression":
        return regression_performance(frame[label], frame[spec.prediction])
    return classification_performance(frame[label], frame[spec.prediction], options=spec.performance)


def _fairness(
    reference: pd.DataFrame, current: pd.DataFrame, spec: ReportSpec, cols: Columns, out: Sections
) -> None:
    assert spec.fairness is not None
    try:
        judged = compute_fairness(current, spec.prediction, cols.label_current, spec.fairness)
    except DetectorError as exc:
        out.fail("fairness", exc)
        return
    moved: FairnessDrift | None = None
    try:
        # The reference is judged without labels when it has none, so the label-free metrics still compare.
        ref_label = cols.label_reference if cols.label_current is not None else None
        moved = fairness_drift(compute_fairness(reference, spec.prediction, ref_label, spec.fairness), judged)
    except DetectorError as exc:
        out.notes.append(f"bias drift not computed: the reference could not be judged ({exc})")
    out.fairness = fairness_summary(judged, moved)


def compute_sections(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    spec: ReportSpec,
    cols: Columns,
    after_drift: Callable[[Sections], None] | None = None,
) -> Sections:
    """Drift, data quality, fairness and performance on every row; `after_drift` is called once drift is done."""
    out = Sections()
    options = spec.drift.model_copy(update={"columns": cols.drift_features, "prediction": spec.prediction})
    try:
        out.drift_result = detect_drift(reference, current, options)
        out.drift = drift_summary(out.drift_result)
    except DetectorError as exc:
        out.fail("drift", exc)
    if after_drift is not None:
        after_drift(out)
    try:
        quality = check_quality(
            reference[cols.quality_reference],
            current[cols.quality_current],
            spec.quality,
            {c: t for c, t in spec.drift.column_types.items() if c in cols.quality_reference},
        )
        out.quality = quality_summary(quality)
    except DetectorError as exc:
        out.fail("quality", exc)
    if spec.fairness is not None:
        _fairness(reference, current, spec, cols, out)
    if cols.label_current is None:
        if spec.label is not None:
            out.notes.append(f"performance not computed: the window has no {spec.label!r} column")
        return out
    try:
        judged = _performance(current, cols.label_current, spec)
    except InsufficientDataError as exc:
        # Labels arrive late; a window without any yet is normal, not an error.
        out.notes.append(f"performance not computed: {exc}")
        return out
    except DetectorError as exc:
        out.fail("performance", exc)
        return out
    baseline: Performance | None = None
    if cols.label_reference is not None:
        try:
            baseline = _performance(reference, cols.label_reference, spec)
        except DetectorError as exc:
            out.notes.append(f"reference performance not computed: {exc}")
    out.performance = performance_summary(judged, baseline)
    return out
