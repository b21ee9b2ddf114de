"""`driftcar drift` end to end through `sidecar.cli.main`, on CSV and Parquet files."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from sidecar.cli import main


def _write(frame: pd.DataFrame, path: Path) -> Path:
    if path.suffix == ".parquet":
        frame.to_parquet(path)
    else:
        frame.to_csv(path, index=False)
    return path


@pytest.fixture
def frames() -> tuple[pd.DataFrame, pd.DataFrame]:
    """A reference and a current frame where `amount` and `score` drift."""
    rng = np.random.default_rng(0)
    n = 400
    ref = pd.DataFrame(
        {
            "amount": rng.normal(100, 10, n),
            "age": rng.integers(18, 80, n),
            "city": rng.choice(["a", "b", "c"], n),
        }
    )
    ref["score"] = rng.uniform(size=n)
    cur = ref.assign(amount=ref["amount"] + 8, score=ref["score"] ** 2)
    return ref, cur


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_json_document(
    tmp_path: Path, frames: tuple[pd.DataFrame, pd.DataFrame], suffix: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """--json gives per-column method, score, threshold, drift and the dataset verdict."""
    ref = _write(frames[0], tmp_path / f"ref{suffix}")
    cur = _write(frames[1], tmp_path / f"cur{suffix}")
    argv = [
        "drift",
        str(ref),
        str(cur),
        "--json",
        "--prediction",
        "score",
        "--method",
        "age=psi",
        "--threshold",
        "amount=0.01",
        "--drift-share",
        "0.3",
    ]
    assert main(argv) == 0
    doc = json.loads(capsys.readouterr().out)
    assert set(doc["columns"]) == {"amount", "age", "city"}
    amount = doc["columns"]["amount"]
    assert (amount["method"], amount["threshold"], amount["drifted"], amount["type"]) == (
        "ks",
        0.01,
        True,
        "numeric",
    )
    assert amount["effect_size_name"] == "wasserstein_norm"
    assert amount["effect_size"] > 0.5
    assert doc["columns"]["age"]["method"] == "psi"
    assert doc["prediction"]["score"]["drifted"] is True
    assert (doc["number_of_drifted_columns"], doc["drift_share"], doc["dataset_drift"]) == (1, 0.3, True)


def test_table_output(
    tmp_path: Path, frames: tuple[pd.DataFrame, pd.DataFrame], capsys: pytest.CaptureFixture[str]
) -> None:
    """Without --json a readable table ends with the dataset verdict."""
    ref, cur = _write(frames[0], tmp_path / "r.csv"), _write(frames[1], tmp_path / "c.csv")
    assert main(["drift", str(ref), str(cur), "--columns", "amount,city"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0].split()[:4] == ["column", "type", "method", "score"]
    assert "amount" in out
    assert "DRIFT" in out
    assert "age" not in out
    assert "dataset: DRIFT (1 of 2 columns drifted" in out


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--columns", "amount,nope"], "unknown column(s) nope"),
        (["--method", "amount=nope"], "unknown method 'nope' for column 'amount'"),
        (["--method", "city=ks"], "does not apply to categorical column 'city'"),
        (["--threshold", "amount=high"], "not a number"),
        (["--method", "amount"], "expects COL=VALUE"),
        (["--drift-share", "0"], "drift_share"),
    ],
)
def test_bad_arguments(
    tmp_path: Path,
    frames: tuple[pd.DataFrame, pd.DataFrame],
    extra: list[str],
    message: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Unknown columns or methods and malformed values are one-line errors, exit status 2."""
    ref, cur = _write(frames[0], tmp_path / "r.csv"), _write(frames[1], tmp_path / "c.csv")
    assert main(["drift", str(ref), str(cur), *extra]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err
    assert len(err.splitlines()) == 1


def test_bad_files(
    tmp_path: Path, frames: tuple[pd.DataFrame, pd.DataFrame], capsys: pytest.CaptureFixture[str]
) -> None:
    """A missing file and an unreadable Parquet file are one-line errors naming the file."""
    ref = _write(frames[0], tmp_path / "r.csv")
    assert main(["drift", str(ref), str(tmp_path / "missing.csv")]) == 2
    assert "missing.csv: no such file" in capsys.readouterr().err
    broken = tmp_path / "broken.parquet"
    broken.write_bytes(b"not parquet at all")
    assert main(["drift", str(ref), str(broken)]) == 2
    assert "broken.parquet: cannot read as parquet" in capsys.readouterr().err
