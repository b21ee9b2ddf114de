"""`driftcar bias` end to end through `sidecar.cli.main`, on small CSV and Parquet files."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from fairlearn import metrics as fl

from sidecar.cli import main

PARITY = {
    "demographic_parity_difference": fl.demographic_parity_difference,
    "demographic_parity_ratio": fl.demographic_parity_ratio,
    "equal_opportunity_difference": fl.equal_opportunity_difference,
    "equalized_odds_difference": fl.equalized_odds_difference,
}


def _frame(n: int = 600) -> pd.DataFrame:
    rng = np.random.default_rng(11)
    sex = rng.choice(["F", "M"], n)
    label = rng.integers(0, 2, n)
    pred = np.where(rng.random(n) < 0.6 + 0.2 * (sex == "M"), label, 1 - label)
    return pd.DataFrame({"sex": sex, "race": rng.choice(["a", "b"], n), "label": label, "pred": pred})


def _write(frame: pd.DataFrame, path: Path) -> Path:
    if path.suffix == ".csv":
        frame.to_csv(path, index=False)
    else:
        frame.to_parquet(path, index=False)
    return path


@pytest.fixture(params=["scores.csv", "scores.parquet"])
def data(request: pytest.FixtureRequest, tmp_path: Path) -> Path:
    """The same scored rows as a CSV and as a Parquet file."""
    return _write(_frame(), tmp_path / request.param)


def _json(capsys: pytest.CaptureFixture[str], *argv: str) -> dict[str, Any]:
    """Run `driftcar bias ... --json` and parse what it printed."""
    assert main(["bias", *argv, "--json"]) == 0
    document: dict[str, Any] = json.loads(capsys.readouterr().out)
    return document


def test_json_matches_fairlearn(data: Path, capsys: pytest.CaptureFixture[str]) -> None:
    frame = _frame()
    document = _json(
        capsys,
        str(data),
        "--protected",
        "sex",
        "--protected",
        "race",
        "--prediction",
        "pred",
        "--label",
        "label",
        "--intersections",
    )
    attributes = document["attributes"]
    assert list(attributes) == ["sex", "race", "sex & race"]
    for name, columns in [("sex", "sex"), ("race", "race"), ("sex & race", ["sex", "race"])]:
        sensitive = frame[columns]
        for metric, oracle in PARITY.items():
            expected = oracle(frame["label"], frame["pred"], sensitive_features=sensitive)
            assert attributes[name][metric] == pytest.approx(expected, rel=1e-9), (name, metric)
        assert attributes[name]["four_fifths_rule_violated"] is (
            attributes[name]["demographic_parity_ratio"] < 0.8
        )
        assert "predictive_parity_difference" in attributes[name]
    by_group = fl.MetricFrame(
        metrics=fl.selection_rate,
        y_true=frame["label"],
        y_pred=frame["pred"],
        sensitive_features=frame["sex"],
    ).by_group
    groups = attributes["sex"]["groups"]
    assert {g: groups[g]["selection_rate"] for g in groups} == pytest.approx(by_group.to_dict(), rel=1e-9)
    assert {g: groups[g]["count"] for g in groups} == frame["sex"].value_counts().to_dict()


@pytest.mark.parametrize(("favorable", "mapping"), [("yes", {1: "yes", 0: "no"}), ("1", {1: 1, 0: 0})])
def test_favourable_value_given_as_text_matches_the_column(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], favorable: str, mapping: dict[int, object]
) -> None:
    frame = _frame()
    coded = frame.assign(pred=frame["pred"].map(mapping), label=frame["label"].map(mapping))
    path = _write(coded, tmp_path / "coded.csv")
    document = _json(
        capsys,
        str(path),
        "--protected",
        "sex",
        "--prediction",
        "pred",
        "--label",
        "label",
        "--favorable",
        favorable,
    )
    expected = fl.equalized_odds_difference(frame["label"], frame["pred"], sensitive_features=frame["sex"])
    assert document["favorable"] == favorable
    assert document["attributes"]["sex"]["equalized_odds_difference"] == pytest.approx(expected, rel=1e-9)


def test_small_groups_are_listed_as_excluded(data: Path, capsys: pytest.CaptureFixture[str]) -> None:
    document = _json(
        capsys, str(data), "--protected", "sex", "--prediction", "pred", "--min-group-size", "1000"
    )
    sex = document["attributes"]["sex"]
    assert sex["excluded_groups"] == ["F", "M"]
    assert sex["demographic_parity_difference"] is None
    assert sex["undefined"]["demographic_parity_difference"].endswith("two are needed")
    assert sex["groups"]["F"]["too_small"] is True


def test_table_output_is_readable(data: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bias", str(data), "--protected", "sex", "--prediction", "pred", "--label", "label"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("prediction 'pred' (favourable = 1), label 'label', 600 rows")
    assert "\nsex\n  group" in out
    assert "demographic_parity_ratio" in out
    assert "four-fifths rule: " in out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ["--protected", "gender", "--prediction", "pred"],
            "unknown column(s) gender; it has sex, race, label, pred",
        ),
        (["--protected", "sex", "--prediction", "pred", "--label", "truth"], "unknown column(s) truth"),
        (["--protected", "sex", "--prediction", "pred", "--favorable", "yes"], "'yes' is not a number"),
        (
            ["--protected", "sex", "--prediction", "pred", "--favorable", "7"],
            "favourable value '7' never occurs",
        ),
        (["--protected", "sex", "--protected", "sex", "--prediction", "pred"], "named more than once: sex"),
        (["--protected", "sex", "--prediction", "pred", "--min-group-size", "0"], "min-group-size: "),
    ],
)
def test_bad_arguments_are_one_line_errors(
    data: Path, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    assert main(["bias", str(data), *argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith("driftcar bias: error: ")
    assert message in err
    assert err.count("\n") == 1


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("missing.csv", None, "no such file"),
        ("broken.parquet", b"this is not parquet", "cannot read as parquet"),
        ("scores.xlsx", b"", "unsupported file type"),
    ],
)
def test_bad_files_are_one_line_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str, content: bytes | None, message: str
) -> None:
    path = tmp_path / name
    if content is not None:
        path.write_bytes(content)
    assert main(["bias", str(path), "--protected", "sex", "--prediction", "pred"]) == 2
    err = capsys.readouterr().err
    assert message in err
    assert err.count("\n") == 1
