"""The report job on seeded data with a known answer: what it flags, and that its numbers are the detectors'."""

from __future__ import annotations

import pandas as pd
import pytest

from detectors.drift import DriftOptions, detect_drift
from detectors.fairness import FairnessOptions, compute_fairness_drift
from detectors.performance import classification_performance
from detectors.quality import check_quality
from sidecar.reports import ReportResult
from sidecar.reports.section import fmt
from tests.sidecar.reports.known import (
    BIASED_GROUP,
    DRIFTED,
    FEATURES,
    HTML_MAX_ROWS,
    ROWS,
    SMALL_GROUP,
)
from tests.sidecar.reports.tables import row, split_section, tables

Frames = tuple[pd.DataFrame, pd.DataFrame]
LABEL_FREE_AND_LABELLED = {
    "demographic_parity_difference",
    "demographic_parity_ratio",
    "equal_opportunity_difference",
    "equalized_odds_difference",
}


def test_flags_exactly_the_shifted_columns_the_breach_and_the_biased_group(report: ReportResult) -> None:
    summary = report.summary
    assert summary.status == "ok" and not summary.errors
    assert {f.kind for f in summary.flags} == {"column_drift", "data_quality", "fairness", "bias_drift"}
    assert {f.column for f in summary.flags_of("column_drift")} == DRIFTED
    assert {(f.metric, f.column) for f in summary.flags_of("data_quality")} == {
        ("missing_share_increase", "debt")
    }
    for kind in ("fairness", "bias_drift"):
        flagged = summary.flags_of(kind)
        assert {(f.attribute, f.group) for f in flagged} == {("sex", BIASED_GROUP)}
        assert {f.metric for f in flagged} == LABEL_FREE_AND_LABELLED
    ratio = next(f for f in summary.flags_of("fairness") if f.metric == "demographic_parity_ratio")
    assert ratio.threshold == 0.8 and ratio.value is not None and ratio.value < 0.8
    assert summary.drift is not None and not summary.drift.dataset_drift  # 2 of 6 < drift_share 0.5
    assert summary.fairness is not None
    sex = summary.fairness.attribute("sex")
    assert sex.small_groups == (SMALL_GROUP,)
    assert sex.four_fifths_violated is True and sex.four_fifths_violated_reference is False


def test_summary_numbers_are_the_detectors_on_every_row(frames: Frames, report: ReportResult) -> None:
    reference, current = frames
    summary = report.summary
    assert summary.window_rows == ROWS and summary.reference.rows == ROWS
    assert summary.reference.version == 1 and summary.reference.source == "first_n"

    direct = detect_drift(reference, current, DriftOptions(columns=FEATURES, prediction="approved"))
    assert summary.drift is not None and summary.drift.prediction is not None
    assert [c.column for c in summary.drift.columns] == FEATURES
    for ours in (*summary.drift.columns, summary.drift.prediction):
        theirs = direct.column(ours.column)
        # Every row, not the HTML sample (missing values aside).
        assert (theirs.n_reference, theirs.n_current) == (ROWS, current[ours.column].notna().sum())
        assert (ours.method, ours.score, ours.threshold, ours.drifted) == (
            theirs.method,
            theirs.score,
            theirs.threshold,
            theirs.drifted,
        )
        assert ours.effect_size == theirs.effect_size
    assert summary.drift.share_of_drifted_columns == direct.share_of_drifted_columns

    quality = check_quality(reference[[*FEATURES, "approved"]], current[[*FEATURES, "approved"]])
    assert summary.quality is not None
    assert [(b.check, b.column, b.value) for b in summary.quality.breaches] == [
        (b.check, b.column, b.value) for b in quality.breaches
    ]

    options = FairnessOptions(protected=["sex"], favorable=1, min_group_size=30)
    moved = compute_fairness_drift(reference, current, "approved", "label", options)
    assert summary.fairness is not None
    ours_sex, theirs_sex = summary.fairness.attribute("sex"), moved.current.attribute("sex")
    for group in theirs_sex.groups:
        mine = ours_sex.group(group.label)
        assert (mine.count, mine.n_labelled, mine.too_small) == (
            group.count,
            group.n_labelled,
            group.too_small,
        )
        for metric in (
            "selection_rate",
            "true_positive_rate",
            "false_positive_rate",
            "precision",
            "accuracy",
        ):
            assert getattr(mine, metric) == getattr(group, metric)
    for d in ours_sex.disparities:
        assert d.value == getattr(theirs_sex, d.name).value
        assert d.change == moved.attribute("sex").disparity(d.name).change

    performance = classification_performance(current["label"], current["approved"])
    assert summary.performance is not None
    assert summary.performance.metric("accuracy").current == performance.accuracy
    assert summary.performance.metric("f1").current == performance.f1


def test_html_is_evidentlys_report_with_driftcars_fairness_section(report: ReportResult) -> None:
    assert report.html is not None
    page = report.html.decode()
    section, rest = split_section(page)
    assert "window.drawDashboard(" in rest and "Data Drift Summary" in rest
    assert page.index(section) > page.lower().index("<body")  # spliced into the body, ahead of Evidently
    assert f"sample of {HTML_MAX_ROWS:,} of {ROWS:,} window rows" in section
    assert "driftcar&#x27;s detectors on every row" in section
    assert "the first 4,000 captured records" in section

    summary = report.summary
    assert summary.html_sample is not None and summary.html_sample.sampled
    assert summary.fairness is not None
    sex = summary.fairness.attribute("sex")
    groups, disparities = tables(section)[:2]
    for g in sex.groups:
        shown = row(groups, g.label)
        assert shown[1] == f"{g.count:,}"
        expected = "too small" if g.too_small else fmt(g.selection_rate)
        assert shown[3] == expected
    biased = row(groups, BIASED_GROUP)
    assert biased[3:8] == [
        fmt(getattr(sex.group(BIASED_GROUP), m))
        for m in ("selection_rate", "true_positive_rate", "false_positive_rate", "precision", "accuracy")
    ]
    ratio = row(disparities, "demographic_parity_ratio")
    assert ratio[1] == fmt(sex.disparity("demographic_parity_ratio").value) and ratio[4] == BIASED_GROUP


def test_json_round_trip(report: ReportResult) -> None:
    text = report.summary.to_json()
    assert "NaN" not in text and "Infinity" not in text
    assert type(report.summary).from_json(text) == report.summary


@pytest.mark.parametrize("max_rows", [ROWS, ROWS * 2])
def test_no_sampling_at_or_under_html_max_rows(frames: Frames, max_rows: int) -> None:
    from sidecar.reports import run_report
    from tests.sidecar.reports.known import make_spec

    reference, current = frames
    small = reference.head(300), current.head(300)
    result = run_report(*small, make_spec(html_max_rows=max_rows, label=None))
    assert result.summary.html_sample is not None and not result.summary.html_sample.sampled
    assert result.html is not None
    section, _ = split_section(result.html.decode())
    assert "The Evidently report below is computed on all rows." in section
    assert result.summary.performance is None
