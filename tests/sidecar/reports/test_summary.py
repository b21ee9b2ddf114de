"""ReportSummary's JSON: a lossless round trip, never NaN, and a checked decode."""

from __future__ import annotations

import dataclasses
import json
import math

import pytest

from sidecar.reports import ReportResult, ReportSummary
from sidecar.reports.build import finite
from sidecar.reports.codec import DecodeError


def test_round_trip_keeps_types(report: ReportResult) -> None:
    back = ReportSummary.from_json(report.summary.to_json().encode())
    assert back == report.summary
    assert isinstance(back.flags, tuple) and isinstance(back.reference.rows, int)
    assert back.fairness is not None and back.fairness.favorable == 1 and type(back.fairness.favorable) is int


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_non_finite_numbers_become_none(value: float) -> None:
    assert finite(value) is None
    assert finite(2) == 2.0


def test_a_nan_that_slipped_through_is_refused(report: ReportResult) -> None:
    broken = dataclasses.replace(report.summary, created_at=math.nan)
    with pytest.raises(ValueError, match="not JSON compliant"):
        broken.to_json()


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        (("status",), "done", r"ReportSummary.status: 'done' is not one of"),
        (("window_rows",), "12", r"ReportSummary.window_rows: expected int"),
        (("reference", "rows"), 1.5, r"ReportSummary.reference.rows: expected int"),
        (("flags",), {}, r"ReportSummary.flags: expected a JSON array"),
        (("surprise",), 1, r"unknown key\(s\): surprise"),
    ],
)
def test_decode_names_the_bad_value(
    report: ReportResult, path: tuple[str, ...], value: object, message: str
) -> None:
    doc = json.loads(report.summary.to_json())
    target = doc
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    with pytest.raises(DecodeError, match=message):
        ReportSummary.from_json(json.dumps(doc))
