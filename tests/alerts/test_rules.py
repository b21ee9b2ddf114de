"""Alert rules evaluated on real report summaries (tests/alerts/summaries.py) with known findings, and on
operational figures: which findings each rule kind and filter picks, bounds below and above, and the group a
parity bound names (the same as the report's own `disadvantaged`)."""

from __future__ import annotations

from dataclasses import asdict, replace
from typing import Any

import pytest
from pydantic import ValidationError

from alerts.config import AlertRule
from alerts.rules import Operational, evaluate
from sidecar.reports import ReportSummary
from sidecar.reports.flags import disadvantaged, error_flags
from sidecar.reports.summary import Flag, SectionError
from tests.alerts.summaries import shifted_summary, steady_summary

Key = tuple[str | None, str | None, str | None]
SEX_PARITY = {
    (None, "sex", "demographic_parity_difference"),
    (None, "sex", "demographic_parity_ratio"),
    (None, "sex", "equal_opportunity_difference"),
    (None, "sex", "equalized_odds_difference"),
}


@pytest.fixture(scope="module")
def shifted() -> ReportSummary:
    """The shifted window's summary (one real run)."""
    return shifted_summary()


@pytest.fixture(scope="module")
def steady() -> ReportSummary:
    """The steady window's summary (one real run)."""
    return steady_summary()


def rule(**fields: Any) -> AlertRule:
    """A rule named `r` (keywords as in YAML; `for` via `**{"for": n}`)."""
    return AlertRule.model_validate({"name": "r", **fields})


def _key(item: Flag | dict[str, Any]) -> Key:
    data = asdict(item) if isinstance(item, Flag) else item
    return data.get("column"), data.get("attribute"), data.get("metric")


def _side(detail: dict[str, Any]) -> str:
    """Which bound a fairness detail crossed, as its message says."""
    return "below" if " is below " in detail["message"] else "above"


def _as_detail(flag: Flag) -> dict[str, Any]:
    return {k: v for k, v in asdict(flag).items() if v is not None}


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        pytest.param(
            {"when": "column_drift"},
            {("income", None, "wasserstein"), ("region", None, "jensenshannon")},
            id="column_drift-any",
        ),
        pytest.param(
            {"when": "column_drift", "columns": ["income", "age"]},
            {("income", None, "wasserstein")},
            id="column_drift-columns",
        ),
        pytest.param({"when": "column_drift", "columns": ["age"]}, set(), id="column_drift-steady-column"),
        pytest.param(
            {"when": "prediction_drift"}, {("approved", None, "jensenshannon")}, id="prediction_drift"
        ),
        pytest.param(
            {"when": "data_quality"},
            {(None, None, "row_count_change"), ("debt", None, "missing_share_increase")},
            id="data_quality-any",
        ),
        pytest.param(
            {"when": "data_quality", "columns": ["debt"]},
            {("debt", None, "missing_share_increase")},
            id="data_quality-columns-exclude-dataset-checks",
        ),
        pytest.param(
            {"when": "data_quality", "metric": "row_count_change"},
            {(None, None, "row_count_change")},
            id="data_quality-metric",
        ),
        pytest.param(
            {"when": "data_quality", "columns": ["debt"], "metric": "row_count_change"},
            set(),
            id="data_quality-columns-and-metric",
        ),
        pytest.param({"when": "fairness"}, SEX_PARITY, id="fairness-any"),
        pytest.param(
            {"when": "fairness", "attribute": "sex", "metric": "demographic_parity_ratio"},
            {(None, "sex", "demographic_parity_ratio")},
            id="fairness-attribute-metric",
        ),
        pytest.param({"when": "fairness", "attribute": "segment"}, set(), id="fairness-fair-attribute"),
        pytest.param({"when": "bias_drift"}, SEX_PARITY, id="bias_drift-any"),
        pytest.param(
            {"when": "bias_drift", "metric": "equal_opportunity_difference"},
            {(None, "sex", "equal_opportunity_difference")},
            id="bias_drift-metric",
        ),
        pytest.param({"when": "bias_drift", "attribute": "segment"}, set(), id="bias_drift-fair-attribute"),
        pytest.param({"when": "report_error"}, set(), id="report_error-none"),
    ],
)
def test_flag_rules_pick_exactly_the_matching_flags(
    shifted: ReportSummary, fields: dict[str, Any], expected: set[Key]
) -> None:
    finding = evaluate(rule(**fields), shifted)
    kind = {"report_error": "section_error"}.get(fields["when"], fields["when"])
    matching = [f for f in shifted.flags if f.kind == kind and _key(f) in expected]
    assert {_key(d) for d in finding.details} == expected
    # The details are the summary's own flags, in the summary's order, without the fields that do not apply.
    assert finding.details == tuple(_as_detail(f) for f in matching)
    assert finding.met is bool(expected)
    if expected:
        assert finding.summary.startswith(matching[0].message)
    else:
        assert finding.summary == "r: condition not met"


def test_fairness_flags_name_the_group_the_report_finds_worse_off(shifted: ReportSummary) -> None:
    finding = evaluate(rule(when="fairness"), shifted)
    assert shifted.fairness is not None
    sex = shifted.fairness.attribute("sex")
    for detail in finding.details:
        assert detail["group"] == "female" == disadvantaged(sex.disparity(detail["metric"]), sex)


def test_dataset_drift_reports_the_share_and_the_drifted_columns(
    shifted: ReportSummary, steady: ReportSummary
) -> None:
    finding = evaluate(rule(when="dataset_drift"), shifted)
    assert shifted.drift is not None
    assert finding.met
    (detail,) = finding.details
    assert detail == {
        "kind": "dataset_drift",
        "value": pytest.approx(shifted.drift.share_of_drifted_columns),
        "threshold": 0.3,
        "columns": ["income", "region"],
        "message": "dataset drift: 2 of 6 columns (income, region)",
    }
    assert detail["value"] == pytest.approx(2 / 6)
    assert finding.summary == detail["message"]
    assert not evaluate(rule(when="dataset_drift"), steady).met


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        pytest.param(
            {"metric": "demographic_parity_ratio", "below": 0.8},
            [("sex", "female", "below")],
            id="ratio-below-four-fifths",
        ),
        pytest.param(
            {"metric": "demographic_parity_ratio", "below": 0.95},
            [("sex", "female", "below"), ("segment", "b", "below")],
            id="ratio-below-strict-bound",
        ),
        pytest.param(
            {"metric": "demographic_parity_ratio", "below": 0.95, "attribute": "segment"},
            [("segment", "b", "below")],
            id="ratio-below-one-attribute",
        ),
        pytest.param({"metric": "demographic_parity_ratio", "below": 0.4}, [], id="ratio-below-loose-bound"),
        pytest.param(
            {"metric": "demographic_parity_ratio", "below": 0.45, "above": 0.9},
            [("segment", "b", "above")],
            id="ratio-outside-a-band",
        ),
        # Equalized odds is the worse of the TPR and FPR gaps: for `sex` the TPR gap (the lowest group is
        # worse off), for `segment` the FPR gap (the highest group is).
        pytest.param(
            {"metric": "equalized_odds_difference", "above": 0.01},
            [("sex", "female", "above"), ("segment", "a", "above")],
            id="equalized-odds-above",
        ),
        pytest.param(
            {"metric": "predictive_parity_difference", "above": 0.005},
            [("sex", "male", "above"), ("segment", "a", "above")],
            id="a-metric-without-a-flag",
        ),
    ],
)
def test_fairness_bounds_read_the_metric_and_name_the_disadvantaged_group(
    shifted: ReportSummary, fields: dict[str, Any], expected: list[tuple[str, str, str]]
) -> None:
    finding = evaluate(rule(when="fairness", **fields), shifted)
    assert shifted.fairness is not None
    assert finding.met is bool(expected)
    assert [(d["attribute"], d["group"], _side(d)) for d in finding.details] == expected
    for detail in finding.details:
        attribute = shifted.fairness.attribute(detail["attribute"])
        disparity = attribute.disparity(fields["metric"])
        side = _side(detail)
        assert detail["message"] == (
            f"{attribute.name}: {disparity.name} {disparity.value:.4g} is {side} {detail['threshold']:g}"
        )
        assert detail["kind"] == "fairness" and detail["metric"] == fields["metric"]
        assert detail["value"] == disparity.value
        assert detail["group"] == disadvantaged(disparity, attribute)
        assert detail["threshold"] == fields["below" if side == "below" else "above"]
        assert disparity.value is not None
        if side == "below":
            assert disparity.value < fields["below"]
        else:
            assert disparity.value > fields["above"]


def test_report_error_fires_on_a_failed_section(shifted: ReportSummary) -> None:
    errors = (SectionError("fairness", "DetectorError", "the favourable value never occurs"),)
    failed = replace(shifted, errors=errors, flags=shifted.flags + tuple(error_flags(errors)))
    finding = evaluate(rule(when="report_error"), failed)
    assert finding.met
    assert finding.details == (
        {
            "kind": "section_error",
            "metric": "fairness",
            "message": "fairness: the favourable value never occurs",
        },
    )
    assert not evaluate(rule(when="report_error"), shifted).met


def test_the_summary_line_keeps_three_findings(shifted: ReportSummary) -> None:
    finding = evaluate(rule(when="fairness"), shifted)
    messages = [d["message"] for d in finding.details]
    assert len(messages) == 4
    assert finding.summary == "; ".join(messages[:3]) + " (+1 more)"


@pytest.mark.parametrize(
    ("fields", "operational", "value"),
    [
        pytest.param(
            {"when": "error_rate", "above": 0.05}, Operational(200, 10, 40.0), None, id="rate-at-bound"
        ),
        pytest.param(
            {"when": "error_rate", "above": 0.05}, Operational(200, 11, 40.0), 0.055, id="rate-above"
        ),
        pytest.param(
            {"when": "error_rate", "above": 0.0}, Operational(0, 0, None), None, id="rate-no-records"
        ),
        pytest.param(
            {"when": "latency_p99", "above": 250}, Operational(1000, 0, 250.0), None, id="p99-at-bound"
        ),
        pytest.param(
            {"when": "latency_p99", "above": 250}, Operational(1000, 0, 250.5), 250.5, id="p99-above"
        ),
        pytest.param({"when": "latency_p99", "above": 250}, Operational(0, 0, None), None, id="p99-none"),
    ],
)
def test_operational_rules_fire_strictly_above_their_bound(
    shifted: ReportSummary,
    steady: ReportSummary,
    fields: dict[str, Any],
    operational: Operational,
    value: float | None,
) -> None:
    finding = evaluate(rule(**fields), steady, operational)
    assert finding.met is (value is not None)
    # They read the figures only: the report's findings change nothing.
    assert evaluate(rule(**fields), shifted, operational) == finding
    if value is None:
        assert finding.details == ()
        return
    (detail,) = finding.details
    assert detail["kind"] == fields["when"] and detail["value"] == pytest.approx(value)
    assert detail["threshold"] == fields["above"]
    assert (detail["records"], detail["errors"]) == (operational.records, operational.errors)


def test_operational_messages() -> None:
    summary = steady_summary()
    rate = evaluate(rule(when="error_rate", above=0.05), summary, Operational(200, 11, 40.0))
    assert rate.summary == "error rate 5.50% of 200 requests is above 5.00%"
    p99 = evaluate(rule(when="latency_p99", above=250), summary, Operational(1500, 0, 312.25))
    assert p99.summary == "p99 latency 312.2 ms over 1,500 requests is above 250 ms"
    missing = evaluate(rule(when="error_rate", above=0.05), summary, None)
    assert not missing.met and missing.summary == "r: no operational figures"


ALL_KINDS: list[dict[str, Any]] = [
    {"when": "dataset_drift"},
    {"when": "column_drift"},
    {"when": "column_drift", "columns": ["income"]},
    {"when": "prediction_drift"},
    {"when": "data_quality"},
    {"when": "fairness"},
    {"when": "fairness", "metric": "demographic_parity_ratio", "below": 0.8},
    {"when": "fairness", "metric": "equal_opportunity_difference", "above": 0.1},
    {"when": "bias_drift"},
    {"when": "report_error"},
]


@pytest.mark.parametrize("fields", ALL_KINDS, ids=lambda f: "-".join(str(v) for v in f.values()))
def test_no_rule_fires_on_the_steady_window(steady: ReportSummary, fields: dict[str, Any]) -> None:
    assert steady.flags == ()
    finding = evaluate(rule(**fields), steady)
    assert not finding.met and finding.details == ()


def test_the_stored_summary_gives_the_same_verdicts(shifted: ReportSummary) -> None:
    """Summaries are stored as JSON; a rule reads the same findings from the stored form."""
    stored = ReportSummary.from_json(shifted.to_json())
    for fields in ALL_KINDS:
        assert evaluate(rule(**fields), stored) == evaluate(rule(**fields), shifted)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"when": "error_rate"}, "`error_rate` needs `above`"),
        ({"when": "latency_p99", "below": 10}, "`latency_p99` needs `above`"),
        ({"when": "dataset_drift", "above": 0.5}, "`dataset_drift` takes no bound"),
        ({"when": "fairness", "below": 0.8}, "a fairness bound needs the `metric`"),
        ({"when": "fairness", "columns": ["x"]}, "`columns` applies to column_drift and data_quality"),
        ({"when": "column_drift", "attribute": "sex"}, "`attribute` applies to fairness and bias_drift"),
        ({"when": "prediction_drift", "metric": "psi"}, "`metric` applies to fairness, bias_drift"),
        ({"when": "column_drift", "above": 0.2}, "fires on the report's own thresholds"),
        ({"when": "bias_drift", "below": 0.2}, "fires on the report's own thresholds"),
        ({"when": "dataset_drift", "labels": {"team-name": "x"}}, "label names must match"),
        ({"when": "dataset_drift", "name": "no spaces"}, "must start with a letter or digit"),
        ({"when": "dataset_drift", "for": 0}, "greater than or equal to 1"),
        ({"when": "dataset_drift", "repeat_interval": "soon"}, "expected a duration"),
    ],
)
def test_inconsistent_rules_are_refused(fields: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        rule(**fields)


def test_rule_options_as_written_in_yaml() -> None:
    parsed = rule(
        when="fairness", metric="demographic_parity_ratio", below=0.8, repeat_interval="30m", **{"for": 3}
    )
    assert parsed.for_windows == 3 and parsed.repeat_interval == 1800.0
    assert (parsed.severity, parsed.action, parsed.webhooks) == ("warning", "notify", None)
