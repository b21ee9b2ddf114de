"""The automatic choice, override precedence, dataset verdict, prediction drift and configuration errors."""

from __future__ import annotations

from typing import get_args

import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError

from detectors import DetectorError
from detectors.drift import (
    DriftOptions,
    DuplicateColumnError,
    MethodName,
    MethodNotApplicableError,
    MissingColumnError,
    UnknownMethodError,
    check_column,
    default_registry,
    detect_drift,
)
from detectors.drift.auto import auto_method
from detectors.drift.sample import Sample


@pytest.mark.parametrize(
    ("kind", "n_ref", "distinct", "expected"),
    [
        ("numeric", 1000, 6, "ks"),
        ("numeric", 1000, 5, "chisquare"),
        ("numeric", 1000, 2, "z"),
        ("numeric", 1001, 6, "wasserstein"),
        ("numeric", 1001, 5, "jensenshannon"),
        ("categorical", 1000, 3, "chisquare"),
        ("categorical", 1000, 2, "z"),
        ("categorical", 1001, 2, "jensenshannon"),
        ("categorical", 1001, 40, "jensenshannon"),
    ],
)
def test_auto_rule(kind: str, n_ref: int, distinct: int, expected: str) -> None:
    """Evidently's table: reference size <= 1000 and the number of distinct values decide."""
    values = np.arange(n_ref) % distinct
    ref = values.astype(float) if kind == "numeric" else values.astype(str).astype(object)
    sample = Sample("numeric" if kind == "numeric" else "categorical", ref, ref[:50])
    assert auto_method(sample) == expected


def test_distinct_values_count_both_samples() -> None:
    """A numeric reference with 5 values but a current with new ones has k > 5: ks, not chisquare."""
    sample = Sample("numeric", np.arange(100) % 5 * 1.0, np.arange(100) % 7 * 1.0)
    assert auto_method(sample) == "ks"


def test_registry_matches_the_config_literal() -> None:
    """Every configurable name is registered and vice versa."""
    assert sorted(default_registry().names()) == sorted(get_args(MethodName))
    with pytest.raises(UnknownMethodError, match="unknown drift method 'nope'"):
        default_registry().get("nope")


def _frames(n: int = 300) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(5)
    ref = pd.DataFrame(
        {"a": rng.normal(size=n), "b": rng.normal(size=n), "c": rng.choice(["x", "y", "z"], n)}
    )
    ref["flag"] = rng.choice(["on", "off"], n)
    ref["p"] = rng.uniform(size=n)
    cur = ref.copy()
    cur["a"] = cur["a"] + 1.0
    cur["p"] = cur["p"] ** 3
    return ref, cur


def test_override_precedence() -> None:
    """Per column beats per type beats global (methods and thresholds); binary falls back to categorical."""
    ref, cur = _frames()
    options = DriftOptions(
        method="psi",
        method_by_type={"numeric": "anderson", "categorical": "g_test"},
        method_by_column={"a": "t_test"},
        threshold=0.3,
        threshold_by_type={"numeric": 0.2},
        threshold_by_column={"a": 0.01},
    )
    result = detect_drift(ref, cur, options)
    got = {r.column: (r.method, r.threshold) for r in result.columns}
    assert got == {
        "a": ("t_test", 0.01),
        "b": ("anderson", 0.2),
        "c": ("g_test", 0.3),
        "flag": ("g_test", 0.3),
        "p": ("anderson", 0.2),
    }


def test_dataset_verdict_and_prediction() -> None:
    """Share >= drift_share flags the dataset; the prediction is reported apart, counted only on request."""
    ref, cur = _frames()
    alone = detect_drift(ref, cur, DriftOptions(prediction="p", drift_share=0.25))
    assert alone.prediction is not None
    assert alone.prediction.drifted
    assert [r.column for r in alone.columns] == ["a", "b", "c", "flag"]
    assert (alone.number_of_columns, alone.number_of_drifted_columns) == (4, 1)
    assert alone.share_of_drifted_columns == 0.25
    assert alone.dataset_drift
    counted = detect_drift(
        ref, cur, DriftOptions(prediction="p", drift_share=0.5, count_prediction_in_share=True)
    )
    assert (counted.number_of_columns, counted.number_of_drifted_columns, counted.dataset_drift) == (
        5,
        2,
        False,
    )
    assert counted.column("p") == counted.prediction


def test_threads_give_the_serial_result(monkeypatch: pytest.MonkeyPatch) -> None:
    """Columns run in a thread pool produce exactly the serial results."""
    import detectors.drift.dataset as dataset

    ref, cur = _frames(2000)
    serial = detect_drift(ref, cur, DriftOptions(workers=1))
    monkeypatch.setattr(dataset, "PARALLEL_MIN_ROWS", 0)
    assert detect_drift(ref, cur, DriftOptions(workers=3)) == serial


def test_text_and_id_columns_are_skipped_with_a_reason() -> None:
    """Free text and identifiers are reported as skipped and not counted."""
    n = 60
    ref = pd.DataFrame({"id": [f"u{i}" for i in range(n)], "x": np.arange(n) * 1.0})
    result = detect_drift(ref, ref.assign(id=[f"v{i}" for i in range(n)]))
    skipped = result.column("id")
    assert skipped.skipped
    assert not skipped.drifted
    assert "id column" in (skipped.skip_reason or "")
    assert result.number_of_columns == 1


@pytest.mark.parametrize(
    ("options", "error"),
    [
        (DriftOptions(method_by_column={"c": "ks"}), MethodNotApplicableError),
        (DriftOptions(columns=["a", "nope"]), MissingColumnError),
        (DriftOptions(threshold_by_column={"nope": 0.1}), MissingColumnError),
        (DriftOptions(prediction="nope"), MissingColumnError),
    ],
)
def test_configuration_errors_are_typed(options: DriftOptions, error: type[DetectorError]) -> None:
    """Bad configuration raises a DetectorError subclass naming the problem."""
    ref, cur = _frames(50)
    with pytest.raises(error):
        detect_drift(ref, cur, options)


def test_duplicate_column_names() -> None:
    """Two columns with one name are refused with a typed error."""
    ref, _ = _frames(50)
    doubled = pd.concat([ref, ref[["a"]]], axis=1)
    with pytest.raises(DuplicateColumnError, match="reference data: a"):
        detect_drift(doubled, ref)


def test_missing_current_column() -> None:
    """A column absent from the current data is a MissingColumnError."""
    ref, cur = _frames(50)
    with pytest.raises(MissingColumnError, match="current data: b"):
        detect_drift(ref, cur.drop(columns="b"))


@pytest.mark.parametrize(
    "bad",
    [{"method": "nope"}, {"drift_share": 0.0}, {"drift_share": 1.5}, {"unknown_field": 1}, {"threshold": -1}],
)
def test_options_validation(bad: dict[str, object]) -> None:
    """Options refuse unknown methods, out-of-range shares and unknown fields."""
    with pytest.raises(ValidationError):
        DriftOptions.model_validate(bad)


def test_non_numeric_values_in_a_numeric_column_are_noted() -> None:
    """Unparseable current values are dropped and reported, not fatal."""
    ref = pd.Series(np.linspace(0, 1, 50))
    cur = pd.Series([*np.linspace(0, 1, 45), "n/a", "bad", None, "x", "0.5"], dtype=object)
    result = check_column("x", "numeric", ref, cur, default_registry())
    assert result.n_current == 46
    assert not result.skipped
    assert result.notes == ("current: 3 non-numeric value(s) ignored",)
