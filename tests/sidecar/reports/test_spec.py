"""ReportSpec validation: unknown keys, contradicting options and the fairness task are refused up front."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from detectors.fairness import FairnessOptions
from sidecar.reports import ReportSpec

BASE: dict[str, Any] = {"monitor": "m", "prediction": "p"}


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"html_rows": 10}, "Extra inputs are not permitted"),
        ({"drift": {"columns": ["a"]}}, "not in `drift`"),
        ({"drift": {"prediction": "p"}}, "not in `drift`"),
        ({"label": "p"}, "must be different columns"),
        ({"features": ["a", "p"]}, "must not include the prediction"),
        ({"task": "regression", "fairness": {"protected": ["s"], "task": "classification"}}, "fairness.task"),
        ({"bias": {"max_difference": {"demographic_parity_ratio": 0.1}}}, "unknown difference metric"),
        ({"html_max_rows": 10}, "greater than or equal to 100"),
        ({"fairness": {"protected": []}}, "at least 1 item"),
        ({"monitor": ""}, "at least 1 character"),
    ],
)
def test_refused(extra: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        ReportSpec(**(BASE | extra))


@pytest.mark.parametrize(
    "fairness", [{"protected": ["s"]}, FairnessOptions(protected=["s"])], ids=["dict", "model"]
)
def test_fairness_inherits_the_report_task(fairness: Any) -> None:
    spec = ReportSpec(**BASE, task="regression", fairness=fairness)
    assert spec.fairness is not None and spec.fairness.task == "regression"


def test_frozen_with_documented_fields() -> None:
    spec = ReportSpec(**BASE)
    with pytest.raises(ValidationError):
        spec.monitor = "other"
    undocumented = [name for name, f in ReportSpec.model_fields.items() if not f.description]
    assert undocumented == []
    assert spec.html_max_rows == 50_000


def test_default_features_leave_out_outcomes_and_meta() -> None:
    spec = ReportSpec(**BASE, label="y", meta_columns=["ts"])
    assert spec.feature_columns(["ts", "a", "p", "y", "b", "gone"], ["b", "a", "p", "y", "ts", "new"]) == [
        "a",
        "b",
    ]
    assert ReportSpec(**BASE, features=["b"]).feature_columns(["a", "b"], ["a"]) == ["b"]


def test_round_trips_through_json() -> None:
    spec = ReportSpec.model_validate(
        BASE
        | {"label": "y", "fairness": {"protected": ["s"], "favorable": "yes"}, "drift": {"method": "psi"}}
    )
    assert ReportSpec.model_validate_json(spec.model_dump_json()) == spec
