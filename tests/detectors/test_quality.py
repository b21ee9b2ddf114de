"""Data-quality findings checked against hand-computed pandas answers, and thresholds turned into breaches."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError

from detectors.errors import ColumnError, InsufficientDataError
from detectors.quality import QualityThresholds, check_quality


def _frames(seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    ref = pd.DataFrame(
        {
            "amount": rng.normal(100, 10, 500),
            "city": rng.choice(["ams", "ber", "cph", "dub"], 500, p=[0.4, 0.3, 0.2, 0.1]),
            "flag": rng.choice([0, 1], 500),
        }
    )
    ref.loc[rng.random(500) < 0.05, ["amount", "city"]] = np.nan
    cur = pd.DataFrame(
        {
            "amount": rng.normal(100, 30, 300).astype(object),
            "city": rng.choice(["ams", "ber", "cph", "eze"], 300, p=[0.4, 0.3, 0.2, 0.1]),
            "flag": rng.choice([0, 1], 300),
        }
    )
    cur.loc[rng.random(300) < 0.2, ["amount", "city"]] = np.nan
    cur.loc[rng.random(300) < 0.03, "amount"] = "n/a"
    return ref, cur


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_findings_match_pandas(seed: int) -> None:
    ref, cur = _frames(seed)
    result = check_quality(ref, cur)
    amount, city = result.column("amount"), result.column("city")
    for column in ("amount", "city", "flag"):
        found = result.column(column)
        assert found.missing_share_reference == pytest.approx(ref[column].isna().mean(), rel=1e-12)
        assert found.missing_share_current == pytest.approx(cur[column].isna().mean(), rel=1e-12)
        assert found.missing_share_change == pytest.approx(
            cur[column].isna().mean() - ref[column].isna().mean()
        )
    numbers = pd.to_numeric(cur["amount"], errors="coerce")
    outside = (numbers < ref["amount"].min()) | (numbers > ref["amount"].max())
    assert (amount.reference_min, amount.reference_max) == (ref["amount"].min(), ref["amount"].max())
    assert amount.out_of_range_share == pytest.approx(outside.sum() / numbers.notna().sum(), rel=1e-12)
    strings = numbers.isna() & cur["amount"].notna()
    assert amount.type_mismatch_share == pytest.approx(strings.sum() / cur["amount"].notna().sum(), rel=1e-12)
    assert amount.type_mismatch_examples == ("n/a",)
    new = sorted(set(cur["city"].dropna()) - set(ref["city"].dropna()))
    vanished = sorted(set(ref["city"].dropna()) - set(cur["city"].dropna()))
    assert (
        (city.new_categories, city.vanished_categories)
        == (("eze",), ("dub",))
        == (tuple(new), tuple(vanished))
    )
    assert city.new_category_share == pytest.approx(cur["city"].isin(new).sum() / cur["city"].notna().sum())
    assert city.vanished_category_share == pytest.approx(
        ref["city"].isin(vanished).sum() / ref["city"].notna().sum()
    )
    assert {b.check for b in result.breaches} >= {
        "missing_share_increase",
        "out_of_range_share",
        "type_mismatch_share",
        "new_category_share",
        "vanished_category_share",
    }
    assert result.breached_columns == ("amount", "city")
    assert (result.n_rows_reference, result.n_rows_current, result.row_count_change) == (500, 300, -0.4)


def test_integer_categories_survive_a_trip_through_floats() -> None:
    ref = pd.DataFrame({"code": [1, 2, 3, 1]})
    cur = pd.DataFrame({"code": [1.0, 2.0, np.nan, 4.0]})
    found = check_quality(ref, cur).column("code")
    assert (found.new_categories, found.vanished_categories) == (("4",), ("3",))
    assert found.new_category_share == pytest.approx(1 / 3)


Mutation = Callable[[pd.DataFrame], pd.DataFrame]
BASE = pd.DataFrame({"x": np.arange(100.0), "c": ["a", "b"] * 50})


@pytest.mark.parametrize(
    ("thresholds", "mutate", "expected"),
    [
        ({}, lambda f: f, set()),
        ({}, lambda f: f.assign(x=np.where(f.index < 10, np.nan, f["x"])), {"missing_share_increase"}),
        (
            {"max_missing_share_increase": 0.2},
            lambda f: f.assign(x=np.where(f.index < 10, np.nan, f["x"])),
            set(),
        ),
        (
            {"max_missing_share": 0.05, "max_missing_share_increase": None},
            lambda f: f.assign(x=np.where(f.index < 10, np.nan, f["x"])),
            {"missing_share"},
        ),
        ({}, lambda f: f.assign(x=f["x"] + 10), {"out_of_range_share"}),
        ({"max_out_of_range_share": None}, lambda f: f.assign(x=f["x"] + 10), set()),
        ({}, lambda f: f.assign(c="a"), {"constant", "vanished_category_share"}),
        ({"constant": "never"}, lambda f: f.assign(c="a"), {"vanished_category_share"}),
        ({}, lambda f: f.assign(c=["a", "b", "z", "a"] * 25), {"new_category_share"}),
        ({}, lambda f: f.assign(x=f["x"].astype(object).where(f.index > 0, "oops")), {"type_mismatch_share"}),
        ({}, lambda f: f.drop(columns="c"), {"missing_column"}),
        ({"allow_missing_columns": True}, lambda f: f.drop(columns="c"), set()),
        ({"allow_new_columns": False}, lambda f: f.assign(extra=1), {"new_column"}),
        ({}, lambda f: f.iloc[:0], {"row_count"}),
        ({"min_rows": 60}, lambda f: f.iloc[:50], {"row_count"}),
        ({"max_row_count_change": 0.4}, lambda f: f.iloc[:50], {"row_count_change"}),
    ],
)
def test_thresholds_decide_which_findings_are_breaches(
    thresholds: dict[str, object], mutate: Mutation, expected: set[str]
) -> None:
    result = check_quality(BASE, mutate(BASE.copy()), QualityThresholds.model_validate(thresholds))
    assert {b.check for b in result.breaches} == expected
    assert result.ok is (not expected)


def test_a_column_constant_in_both_batches_breaches_only_under_always() -> None:
    ref = pd.DataFrame({"k": ["same"] * 5})
    assert check_quality(ref, ref).ok
    breach = check_quality(ref, ref, QualityThresholds(constant="always")).breaches[0]
    assert (breach.check, breach.column, breach.message) == (
        "constant",
        "k",
        "column 'k': current values are constant",
    )


def test_breach_messages_name_the_column_value_and_threshold() -> None:
    result = check_quality(BASE, BASE.assign(x=BASE["x"] + 50))
    breach = result.breaches[0]
    assert (breach.check, breach.column, breach.value, breach.threshold) == (
        "out_of_range_share",
        "x",
        0.5,
        0.05,
    )
    assert breach.message == "column 'x': out-of-range share 0.5 exceeds 0.05"


def test_empty_current_batch_is_a_finding_with_undefined_shares() -> None:
    result = check_quality(BASE, BASE.iloc[:0])
    found = result.column("x")
    assert (found.missing_share_current, found.out_of_range_share, found.constant_current) == (
        None,
        None,
        None,
    )
    assert found.undefined["missing_share_current"] == "the current data has no rows"
    assert [b.check for b in result.breaches] == ["row_count"]


@pytest.mark.parametrize(
    ("reference", "overrides", "error"),
    [
        (BASE.iloc[:0], None, InsufficientDataError),
        (BASE, {"nope": "numeric"}, ColumnError),
    ],
)
def test_unusable_reference_raises_a_detector_error(
    reference: pd.DataFrame, overrides: dict[str, str] | None, error: type[Exception]
) -> None:
    with pytest.raises(error):
        check_quality(reference, BASE, overrides=overrides)  # type: ignore[arg-type]


@pytest.mark.parametrize("fields", [{"unknown": 1}, {"max_missing_share": 1.5}, {"constant": "sometimes"}])
def test_thresholds_reject_bad_fields(fields: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        QualityThresholds.model_validate(fields)
