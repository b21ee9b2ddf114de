"""Every drift method against Evidently's own implementation on seeded data of several types and sizes."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pytest

from detectors.columns import ColumnType
from detectors.drift import ColumnDrift, DriftOptions, check_column, default_registry, detect_drift
from tests.detectors import evidently_oracle as oracle

NUMERIC_METHODS = ["ks", "wasserstein", "anderson", "cramer_von_mises", "mannw", "ed", "es", "t_test"]
BINNED_METHODS = ["jensenshannon", "psi", "kl_div", "hellinger"]
CATEGORICAL_METHODS = ["chisquare", "z", "g_test"]
# (reference rows, current rows): tiny (exact p-values), medium, and above Evidently's 1,000-row boundary.
SIZES = [(15, 12), (200, 150), (2000, 1500)]


@dataclass(frozen=True)
class Data:
    """A named seeded generator of one column pair."""

    name: str
    column_type: ColumnType

    def make(self, n_ref: int, n_cur: int, seed: int = 7) -> tuple[pd.Series, pd.Series]:
        """Reference and current series."""
        if self.name.endswith("_codes"):  # the same labels as small integers
            ref, cur = Data(self.name.removesuffix("_codes"), self.column_type).make(n_ref, n_cur, seed)
            codes = {label: i for i, label in enumerate(sorted(set(ref) | set(cur)))}
            return ref.map(codes), cur.map(codes)
        rng = np.random.default_rng(seed)
        if self.name == "normal_shift":
            return pd.Series(rng.normal(0, 1, n_ref)), pd.Series(rng.normal(0.3, 1.2, n_cur))
        if self.name == "normal_same":
            return pd.Series(rng.normal(5, 2, n_ref)), pd.Series(rng.normal(5, 2, n_cur))
        if self.name == "discrete":  # integers with ties, <= 20 distinct: binned as categories
            return pd.Series(rng.poisson(4, n_ref)), pd.Series(rng.poisson(4.5, n_cur))
        if self.name == "low_cardinality":
            return pd.Series(rng.integers(0, 3, n_ref).astype(float)), pd.Series(
                rng.integers(0, 4, n_cur) * 1.0
            )
        cats = np.array(["red", "green", "blue", "cyan", "grey"], dtype=object)
        if self.name == "categorical":
            p_cur = [0.3, 0.25, 0.2, 0.15, 0.1] if n_cur > 20 else None
            return pd.Series(rng.choice(cats, n_ref)), pd.Series(rng.choice(cats, n_cur, p=p_cur))
        yes_no = np.array(["no", "yes"], dtype=object)
        return pd.Series(rng.choice(yes_no, n_ref, p=[0.6, 0.4])), pd.Series(
            rng.choice(yes_no, n_cur, p=[0.5, 0.5])
        )


NUMERIC_DATA = [Data("normal_shift", "numeric"), Data("normal_same", "numeric"), Data("discrete", "numeric")]
CATEGORICAL_DATA = [Data("categorical", "categorical"), Data("binary", "binary")]


def _cases() -> list[tuple[str, Data, int, int]]:
    cases = [(m, d, r, c) for m in NUMERIC_METHODS + BINNED_METHODS for d in NUMERIC_DATA for r, c in SIZES]
    cases += [
        (m, d, r, c) for m in CATEGORICAL_METHODS + BINNED_METHODS for d in CATEGORICAL_DATA for r, c in SIZES
    ]
    cases += [
        ("fisher_exact", Data("binary", "binary"), n, n) for n in (12, 300)
    ]  # Evidently: equal sizes only
    # Evidently sums TVD over categories in `set` order, which for strings follows the hash seed and can move its
    # p-value by a permutation or two between runs; integer categories iterate in sorted order, as driftcar does.
    codes = [Data("categorical_codes", "categorical"), Data("binary_codes", "binary")]
    cases += [("TVD", d, r, c) for d in codes for r, c in SIZES[:2]]
    cases += [("empirical_mmd", d, r, c) for d in NUMERIC_DATA[:2] for r, c in SIZES[:2]]
    # Evidently's g_test only runs on equal sizes (it does not rescale the expected counts).
    return [(m, d, r, r if m == "g_test" else c) for m, d, r, c in cases]


def _ours(method: str, data: Data, ref: pd.Series, cur: pd.Series) -> ColumnDrift:
    registry = default_registry()
    return check_column("x", data.column_type, ref, cur, registry, registry.get(method))


@pytest.mark.parametrize(
    ("method", "data", "n_ref", "n_cur"), _cases(), ids=lambda v: getattr(v, "name", str(v))
)
def test_method_matches_evidently(method: str, data: Data, n_ref: int, n_cur: int) -> None:
    """Score within 1e-9 relative, the same verdict and threshold as Evidently's stat test."""
    ref, cur = data.make(n_ref, n_cur)
    kind = "numeric" if data.column_type == "numeric" else "categorical"
    score, drifted, threshold = oracle.stattest(method, ref, cur, kind)
    result = _ours(method, data, ref, cur)
    assert result.score == pytest.approx(score, rel=1e-9)
    assert result.drifted is drifted
    assert result.threshold == threshold
    assert not result.skipped
    if result.score_kind == "p_value":
        assert result.effect_size is not None
        assert np.isfinite(result.effect_size)


AUTO_SIZES = [(30, 40), (1000, 700), (1001, 700), (3000, 2000)]


@pytest.mark.parametrize(
    "data", NUMERIC_DATA + CATEGORICAL_DATA + [Data("low_cardinality", "numeric")], ids=str
)
@pytest.mark.parametrize(("n_ref", "n_cur"), AUTO_SIZES)
def test_auto_choice_matches_evidently(data: Data, n_ref: int, n_cur: int) -> None:
    """The automatic method and score equal Evidently's `get_stattest` choice, across the 1,000-row edge."""
    ref, cur = data.make(n_ref, n_cur, seed=3)
    kind = "numeric" if data.column_type == "numeric" else "categorical"
    expected = oracle.auto_method(ref, cur, kind)
    result = check_column("x", data.column_type, ref, cur, default_registry())
    assert result.method == expected
    score, drifted, _ = oracle.stattest(expected, ref, cur, kind)
    assert result.score == pytest.approx(score, rel=1e-9)
    assert result.drifted is drifted


def _frame(n: int, shift: float, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "num": rng.normal(shift, 1, n),
            "skewed": rng.lognormal(0, 1 + shift, n),
            "few": rng.integers(0, 3, n).astype(float),
            "city": rng.choice(
                np.array(["a", "b", "c", "d"], dtype=object),
                n,
                p=[0.4, 0.3, 0.2 - shift / 4, 0.1 + shift / 4],
            ),
            "flag": rng.choice(np.array(["y", "n"], dtype=object), n),
            "score": rng.uniform(0, 1 + shift, n),
        }
    )
    frame.loc[frame.sample(frac=0.05, random_state=seed).index, "num"] = np.nan
    # Evidently's dataset-level count leaves inf in columns without NaN (score NaN); ValueDrift drops it.
    frame.loc[0, "num"] = np.inf
    return frame


@pytest.mark.parametrize(("n_ref", "n_cur"), [(400, 300), (1500, 1200)])
def test_dataset_matches_data_drift_preset(n_ref: int, n_cur: int) -> None:
    """Per-column methods and scores and the drifted count equal Evidently 0.7's DataDriftPreset."""
    reference, current = _frame(n_ref, 0.0, 1), _frame(n_cur, 0.2, 2)
    types: dict[str, ColumnType] = {
        "num": "numeric",
        "skewed": "numeric",
        "few": "numeric",
        "score": "numeric",
    }
    scores, drifted_count = oracle.preset(reference, current, list(types), ["city", "flag"])
    options = DriftOptions(column_types=types, prediction="score", count_prediction_in_share=True)
    ours = detect_drift(reference, current, options)
    for column, (method, score) in scores.items():
        result = ours.column(column)
        assert result.method == method, column
        assert result.score == pytest.approx(score, rel=1e-9), column
    assert ours.number_of_drifted_columns == drifted_count
    assert ours.number_of_columns == len(scores)
