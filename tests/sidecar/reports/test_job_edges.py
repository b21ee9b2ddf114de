"""The report job's edges: too few rows, columns the spec needs, failing sections, a regression monitor."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from detectors.drift import DriftOptions
from sidecar.reports import ReportInputError, ReportSpec, ReportSummary, job, run_report
from sidecar.reports.evidently_html import EvidentlyPlan
from tests.sidecar.reports.known import FEATURES, make_spec
from tests.sidecar.reports.tables import split_section, tables

Frames = tuple[pd.DataFrame, pd.DataFrame]


@pytest.fixture
def no_evidently(monkeypatch: pytest.MonkeyPatch) -> list[EvidentlyPlan]:
    """Replace Evidently with a one-line page (for tests about the summary); records the plans it got."""
    plans: list[EvidentlyPlan] = []

    def fake(reference: pd.DataFrame, current: pd.DataFrame, plan: EvidentlyPlan) -> str:
        plans.append(plan)
        return "<html><head></head><body><p>evidently</p></body></html>"

    monkeypatch.setattr(job, "render_evidently", fake)
    return plans


@pytest.mark.parametrize(
    ("reference_rows", "current_rows", "who"),
    [(4_000, 99, "the window has 99 rows"), (99, 4_000, "the reference has 99 rows"), (4_000, 0, "0 rows")],
)
def test_too_few_rows_skip_without_html(
    frames: Frames, reference_rows: int, current_rows: int, who: str
) -> None:
    reference, current = frames
    result = run_report(reference.head(reference_rows), current.head(current_rows), make_spec(min_rows=100))
    summary = result.summary
    assert summary.status == "skipped" and result.html is None
    assert (
        summary.skip_reason is not None
        and who in summary.skip_reason
        and "min_rows=100" in summary.skip_reason
    )
    assert summary.flags == () and summary.drift is None and summary.fairness is None
    assert summary.window_rows == current_rows and summary.reference.rows == reference_rows
    assert ReportSummary.from_json(summary.to_json()) == summary


def test_an_empty_window_without_columns_is_skipped(frames: Frames) -> None:
    result = run_report(frames[0], pd.DataFrame(), make_spec())
    assert result.summary.status == "skipped" and result.html is None


@pytest.mark.parametrize(
    ("drop_from", "column", "message"),
    [
        ("current", "approved", "prediction column 'approved' is not in the window"),
        ("reference", "approved", "not in the reference: approved"),
        ("reference", "sex", "not in the reference: sex"),
    ],
)
def test_columns_the_spec_needs(frames: Frames, drop_from: str, column: str, message: str) -> None:
    reference, current = frames
    if drop_from == "current":
        current = current.drop(columns=column)
    else:
        reference = reference.drop(columns=column)
    with pytest.raises(ReportInputError, match=message):
        run_report(reference, current, make_spec())


def test_a_feature_missing_from_the_window_is_a_quality_finding(
    frames: Frames, no_evidently: list[EvidentlyPlan]
) -> None:
    reference, current = frames
    summary = run_report(reference, current.drop(columns="tenure"), make_spec(features=FEATURES)).summary
    assert summary.status == "ok" and not summary.errors
    assert summary.drift is not None and "tenure" not in {c.column for c in summary.drift.columns}
    assert summary.quality is not None and summary.quality.missing_columns == ("tenure",)
    assert ("missing_column", None) in {(f.metric, f.column) for f in summary.flags_of("data_quality")}


def test_a_failing_section_is_recorded_and_the_rest_stands(
    frames: Frames, no_evidently: list[EvidentlyPlan]
) -> None:
    reference, current = frames
    summary = run_report(reference, current.drop(columns="sex"), make_spec()).summary
    assert summary.status == "ok" and summary.fairness is None
    assert [(e.section, e.error) for e in summary.errors] == [("fairness", "ColumnError")]
    assert {(f.kind, f.metric) for f in summary.flags_of("section_error")} == {("section_error", "fairness")}
    assert {f.column for f in summary.flags_of("column_drift")} == {"income", "region"}


def test_the_window_without_labels_yet_notes_it(frames: Frames, no_evidently: list[EvidentlyPlan]) -> None:
    reference, current = frames
    summary = run_report(reference, current.assign(label=np.nan), make_spec()).summary
    assert summary.performance is None and not summary.errors
    assert any("performance not computed" in note for note in summary.notes)
    assert no_evidently[0].label == "label"  # Evidently skips its performance preset on an all-missing label


def test_evidently_failing_still_gives_driftcars_page(
    frames: Frames, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(reference: pd.DataFrame, current: pd.DataFrame, plan: EvidentlyPlan) -> str:
        raise RuntimeError("widget <boom>")

    monkeypatch.setattr(job, "render_evidently", broken)
    reference, current = frames
    result = run_report(reference, current, make_spec())
    summary = result.summary
    assert [(e.section, e.error) for e in summary.errors] == [("html", "RuntimeError")]
    assert summary.html_sample is None and "section_error" in {f.kind for f in summary.flags}
    assert result.html is not None
    page = result.html.decode()
    section, rest = split_section(page)
    assert "widget &lt;boom&gt;" in rest and "<boom>" not in page
    assert tables(section)  # the fairness tables are still there
    assert "the Evidently report failed" in caplog.text


def test_the_plan_uses_driftcars_methods_and_types(frames: Frames, no_evidently: list[EvidentlyPlan]) -> None:
    reference, current = frames
    summary = run_report(reference, current, make_spec(html_max_rows=100)).summary
    (plan,) = no_evidently
    assert summary.drift is not None
    assert plan.methods == {
        c.column: (c.method, c.threshold)
        for c in (*summary.drift.columns, summary.drift.prediction)
        if c is not None and c.method is not None and c.threshold is not None
    }
    assert plan.drift_columns == tuple(FEATURES) and "request_id" not in plan.columns
    assert plan.columns["region"] == "categorical" and plan.columns["income"] == "numeric"
    assert plan.columns["approved"] == plan.columns["label"] == "categorical"


def test_regression_monitor_end_to_end() -> None:
    rng = np.random.default_rng(5)

    def frame(n: int, bias: float) -> pd.DataFrame:
        group = rng.choice(np.array(["a", "b"], dtype=object), n)
        x = rng.normal(0, 1, n)
        truth = 3 * x + rng.normal(0, 0.3, n)
        return pd.DataFrame({"x": x, "group": group, "y": truth, "yhat": truth + bias * (group == "b")})

    spec = make_spec(
        prediction="yhat",
        label="y",
        task="regression",
        fairness={"protected": ["group"]},
        bias={"max_difference": {"mean_absolute_error_difference": 0.5}},
        meta_columns=[],
    )
    result = run_report(frame(600, 0.0), frame(600, 2.0), spec)
    summary = result.summary
    assert summary.status == "ok" and not summary.errors
    assert summary.fairness is not None and summary.performance is not None
    assert {(f.kind, f.attribute, f.metric, f.group) for f in summary.flags if f.attribute} == {
        ("fairness", "group", "mean_absolute_error_difference", "b"),
        ("bias_drift", "group", "mean_absolute_error_difference", "b"),
    }
    assert summary.performance.metric("mae").current is not None
    assert result.html is not None and b"mean absolute error" in result.html


def test_multiclass_with_string_labels_and_no_features() -> None:
    rng = np.random.default_rng(9)

    def frame(n: int) -> pd.DataFrame:
        classes = np.array(["low", "mid", "high"], dtype=object)
        truth = rng.choice(classes, n)
        guess = np.where(rng.random(n) < 0.7, truth, rng.choice(classes, n))
        return pd.DataFrame({"g": rng.choice(np.array(["u", "v"], dtype=object), n), "y": truth, "p": guess})

    spec = make_spec(
        prediction="p",
        label="y",
        features=[],
        fairness={"protected": ["g"], "favorable": "high"},
        meta_columns=[],
    )
    result = run_report(frame(500), frame(500), spec)
    summary = result.summary
    assert summary.status == "ok" and not summary.errors
    assert summary.drift is not None and summary.drift.columns == () and summary.drift.prediction is not None
    assert summary.performance is not None and summary.performance.metric("accuracy").current is not None
    assert result.html is not None and b"window.drawDashboard(" in result.html


def test_prediction_counted_in_the_share_goes_to_evidentlys_preset(
    frames: Frames, no_evidently: list[EvidentlyPlan]
) -> None:
    reference, current = frames
    run_report(reference, current, make_spec(drift={"count_prediction_in_share": True}))
    assert no_evidently[0].drift_columns == (*FEATURES, "approved")


def test_float_categories_are_drawn_by_evidently() -> None:
    """Evidently 0.7.23 rejects float category labels; whole floats and other floats are drawn as labels."""
    rng = np.random.default_rng(0)

    def frame(n: int, shift: float) -> pd.DataFrame:
        return pd.DataFrame(
            {
                "late": rng.integers(0, 4, n).astype(float),
                "ratio": rng.choice([0.5, 1.5, 2.5], n),
                "x": rng.normal(shift, 1, n),
                "prediction": rng.integers(0, 2, n).astype(float),
                "label": rng.integers(0, 2, n).astype(float),
            }
        )

    spec = ReportSpec(
        monitor="m",
        prediction="prediction",
        label="label",
        drift=DriftOptions(column_types={"late": "categorical", "ratio": "categorical"}),
    )
    result = run_report(frame(500, 0.0), frame(500, 1.0), spec)
    assert result.summary.errors == ()
    assert result.html is not None and b"Data Drift" in result.html
    assert {f.column for f in result.summary.flags_of("column_drift")} >= {"x"}


def test_partly_labelled_windows_keep_the_evidently_report() -> None:
    """Labels arrive late: Evidently's quality metrics fail on a partly missing target, so Evidently draws the
    window without it while driftcar's performance section uses the labelled rows."""
    rng = np.random.default_rng(0)

    def frame(n: int, shift: float, labelled: float) -> pd.DataFrame:
        label = rng.integers(0, 2, n).astype(float)
        label[rng.random(n) > labelled] = np.nan
        return pd.DataFrame(
            {"x": rng.normal(shift, 1, n), "prediction": rng.integers(0, 2, n), "label": label}
        )

    spec = ReportSpec(monitor="m", prediction="prediction", label="label")
    result = run_report(frame(2000, 0.0, 1.0), frame(2000, 1.0, 0.2), spec)
    assert result.summary.errors == ()
    assert result.summary.performance is not None and result.summary.performance.n_rows < 2000
    assert result.html is not None and b"Data Drift" in result.html
