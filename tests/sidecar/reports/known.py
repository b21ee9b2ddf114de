"""Seeded frames with a known answer: drift in exactly `income` and `region`, a missing-value breach in `debt`,
and approvals halved for `female` in the window; `other` is a group too small to compare."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from sidecar.reports import ReportSpec

ROWS = 4_000
HTML_MAX_ROWS = 1_500
FEATURES = ["age", "income", "tenure", "debt", "region", "sex"]
DRIFTED = {"income", "region"}
BIASED_GROUP = "female"
SMALL_GROUP = "other"


def make_frame(rows: int, seed: int, window: bool) -> pd.DataFrame:
    """Six features, a binary prediction and a label; `window` shifts two columns, blanks `debt`, adds the bias."""
    rng = np.random.default_rng(seed)
    data: dict[str, Any] = {
        "request_id": [f"r{seed}-{i}" for i in range(rows)],
        "age": rng.normal(40, 10, rows),
        "income": rng.lognormal(10.0 + (0.4 if window else 0.0), 0.5, rows),
        "tenure": rng.uniform(0, 20, rows),
        "debt": rng.gamma(2.0, 1_000.0, rows),
        "region": rng.choice(
            np.array(["north", "south", "east", "west"], dtype=object),
            rows,
            p=[0.55, 0.15, 0.15, 0.15] if window else [0.25, 0.25, 0.25, 0.25],
        ),
        "sex": rng.choice(np.array(["female", "male", "other"], dtype=object), rows, p=[0.497, 0.497, 0.006]),
    }
    if window:
        data["debt"][rng.random(rows) < 0.15] = np.nan
    score = (data["age"] - 40) / 10 + (data["tenure"] - 10) / 6 + rng.normal(0, 0.7, rows)
    label = (score + rng.normal(0, 0.5, rows) > 0).astype(np.int64)
    approved = (score > 0).astype(np.int64)
    if window:
        denied = (data["sex"] == BIASED_GROUP) & (approved == 1) & (rng.random(rows) < 0.5)
        approved[denied] = 0
    data["approved"] = approved
    data["label"] = label
    return pd.DataFrame(data)


def make_spec(**overrides: Any) -> ReportSpec:
    """The spec the known-answer tests use; keyword arguments override its fields."""
    fields: dict[str, Any] = {
        "monitor": "loans",
        "prediction": "approved",
        "label": "label",
        "fairness": {"protected": ["sex"], "favorable": 1, "min_group_size": 30},
        "html_max_rows": HTML_MAX_ROWS,
        "meta_columns": ["request_id"],
    }
    return ReportSpec(**(fields | overrides))
