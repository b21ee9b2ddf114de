"""Evidently as the oracle: its legacy stat tests, its automatic choice and its 0.7 `DataDriftPreset`.

Evidently imports deprecated numpy names and warns at run time; the suite turns warnings into errors, so every
call into it is fenced here. Tests import this module only; detectors/ never imports Evidently.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pandas as pd


def stattest(name: str, reference: pd.Series, current: pd.Series, kind: str) -> tuple[float, bool, float]:
    """Evidently's (score, drifted, threshold) for a registered method on cleaned series."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from evidently.legacy.calculations.stattests.registry import _registered_stat_tests
        from evidently.legacy.core import ColumnType

        feature_type = ColumnType.Numerical if kind == "numeric" else ColumnType.Categorical
        # By name whatever the type: the automatic choice applies chisquare/z to low-cardinality numeric data.
        test = next(iter(_registered_stat_tests[name].values()))
        if name == "empirical_mmd":
            np.random.seed(0)  # Evidently permutes with the global state; driftcar's default seed is 0
        result = test(reference.copy(), current.copy(), feature_type, None)
    return float(result.drift_score), bool(result.drifted), float(result.actual_threshold)


def auto_method(reference: pd.Series, current: pd.Series, kind: str) -> str:
    """The method Evidently's legacy `get_stattest` picks for cleaned series."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from evidently.legacy.calculations.stattests.registry import get_stattest

        return str(get_stattest(reference, current, "num" if kind == "numeric" else "cat", None).name)


def preset(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    numeric: list[str],
    categorical: list[str],
    drift_share: float = 0.5,
) -> tuple[dict[str, tuple[str, float]], float]:
    """Per-column (method, score) and the drifted-columns count from Evidently 0.7's DataDriftPreset."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from evidently import DataDefinition, Dataset, Report
        from evidently.presets import DataDriftPreset

        definition = DataDefinition(numerical_columns=numeric, categorical_columns=categorical)
        ref = Dataset.from_pandas(reference, data_definition=definition)
        cur = Dataset.from_pandas(current, data_definition=definition)
        snapshot = Report([DataDriftPreset(drift_share=drift_share)]).run(cur, ref)
        return parse_snapshot(snapshot.dict(), method_names())


def method_names() -> dict[str, str]:
    """Evidently's display names (what a snapshot records) to method names."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from evidently.legacy.calculations.stattests.registry import _registered_stat_tests

        return {
            t.display_name: t.name for by_type in _registered_stat_tests.values() for t in by_type.values()
        }


def parse_snapshot(doc: dict[str, Any], names: dict[str, str]) -> tuple[dict[str, tuple[str, float]], float]:
    """Pull ValueDrift scores and the DriftedColumnsCount count out of a snapshot dict."""
    scores: dict[str, tuple[str, float]] = {}
    drifted = float("nan")
    for metric in doc["metrics"]:
        config = metric["config"]
        if config["type"].endswith("ValueDrift"):
            method = str(config["method"])
            scores[config["column"]] = (names.get(method, method), float(metric["value"]))
        elif config["type"].endswith("DriftedColumnsCount"):
            drifted = float(metric["value"]["count"])
    return scores, drifted
