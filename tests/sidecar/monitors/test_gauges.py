"""Which numbers of a real report summary become per-monitor gauges, and how the label caps pick them."""

from __future__ import annotations

import pytest

from sidecar.monitors.gauges import GROUP_RATES, summary_gauges
from tests.alerts.summaries import DRIFTED, shifted_summary


def test_every_tested_column_the_prediction_and_every_fairness_number_become_gauges() -> None:
    summary = shifted_summary()
    assert summary.drift is not None and summary.fairness is not None and summary.drift.prediction is not None
    g = summary_gauges("loans", summary, max_columns=100, max_groups=100)
    assert (g.monitor, g.rows, g.reference_rows) == ("loans", summary.window_rows, summary.reference.rows)
    assert g.drift_share == summary.drift.share_of_drifted_columns
    assert g.dataset_drift is summary.drift.dataset_drift is True
    expected = {
        c.column: (c.method, c.score, c.drifted)
        for c in (summary.drift.prediction, *summary.drift.columns)
        if c.score is not None
    }
    assert {c.column: (c.method, c.score, c.drifted) for c in g.columns} == expected
    assert g.columns[0].column == summary.drift.prediction.column
    assert {c.column for c in g.columns if c.drifted} >= set(DRIFTED)
    fairness = {(f.attribute, f.group, f.metric): f.value for f in g.fairness}
    for attribute in summary.fairness.attributes:
        for d in attribute.disparities:
            if d.value is not None:
                assert fairness.pop((attribute.name, "", d.name)) == d.value
        for group in attribute.groups:
            for rate in GROUP_RATES:
                if getattr(group, rate) is not None:
                    assert fairness.pop((attribute.name, group.label, rate)) == getattr(group, rate)
    assert fairness == {}
    assert (g.omitted.columns, g.omitted.groups) == (0, 0)


def test_caps_keep_the_prediction_and_drifted_columns_first_and_count_the_rest() -> None:
    summary = shifted_summary()
    assert summary.drift is not None and summary.fairness is not None
    tested = [c for c in summary.drift.columns if c.score is not None]
    drifted = [c.column for c in tested if c.drifted]
    g = summary_gauges("loans", summary, max_columns=len(drifted), max_groups=1)
    assert [c.column for c in g.columns[1:]] == drifted
    assert g.omitted.columns == len(tested) - len(drifted)
    groups = {(f.attribute, f.group) for f in g.fairness if f.group}
    assert groups == {(a.name, a.groups[0].label) for a in summary.fairness.attributes}
    assert g.omitted.groups == sum(len(a.groups) - 1 for a in summary.fairness.attributes)
    # Parity metrics are between groups: a group cap never drops them.
    assert {f.metric for f in g.fairness if not f.group} >= {"demographic_parity_ratio"}


@pytest.mark.parametrize("max_columns", [1, 2])
def test_a_cap_below_the_drifted_count_still_shows_only_drifted_columns(max_columns: int) -> None:
    summary = shifted_summary()
    g = summary_gauges("loans", summary, max_columns=max_columns, max_groups=1)
    assert len(g.columns) == max_columns + 1  # and the prediction
    assert all(c.drifted for c in g.columns[1:])
