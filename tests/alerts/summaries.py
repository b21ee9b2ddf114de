"""Real report summaries with a known answer for the alert tests, computed once per test process.

The shifted window drifts in exactly `income` and `region` (two of six features: dataset drift at a 0.3 drift
share), lowers the approval rate (prediction drift), blanks 15% of `debt` (a missing-share breach), is a
quarter smaller than the reference (a dataset-level row-count breach) and halves approvals for `female`
(fairness and bias drift on `sex`; `segment`, drawn independently, stays fair). The steady window is another
sample of the reference's distribution: no flag at all.
"""

from __future__ import annotations

from functools import cache
from typing import Any

import numpy as np
import pandas as pd

from sidecar.reports import ReportContext, ReportSpec, ReportSummary, run_report

ROWS = 4_000
SHIFTED_ROWS = 3_000
T0 = 1_790_000_000.0
DRIFTED = ("income", "region")
BIASED = "female"


def make_frame(rows: int, seed: int, *, shifted: bool) -> pd.DataFrame:
    """Six features, a binary prediction and a label; `shifted` adds every finding listed above."""
    rng = np.random.default_rng(seed)
    data: dict[str, Any] = {
        "age": rng.normal(40, 10, rows),
        "income": rng.lognormal(10.0 + (0.5 if shifted else 0.0), 0.5, rows),
        "debt": rng.gamma(2.0, 1_000.0, rows),
        "region": rng.choice(
            np.array(["north", "south", "east", "west"], dtype=object),
            rows,
            p=[0.6, 0.1, 0.15, 0.15] if shifted else [0.25, 0.25, 0.25, 0.25],
        ),
        "sex": rng.choice(np.array(["female", "male"], dtype=object), rows),
        "segment": rng.choice(np.array(["a", "b"], dtype=object), rows),
    }
    if shifted:
        data["debt"][rng.random(rows) < 0.15] = np.nan
    score = (data["age"] - 40) / 10 + rng.normal(0, 0.7, rows)
    label = (score + rng.normal(0, 0.5, rows) > 0).astype(np.int64)
    approved = (score > (0.3 if shifted else 0.0)).astype(np.int64)
    if shifted:
        approved[(data["sex"] == BIASED) & (approved == 1) & (rng.random(rows) < 0.5)] = 0
    data["approved"] = approved
    data["label"] = label
    return pd.DataFrame(data)


def make_spec() -> ReportSpec:
    """The spec both runs use."""
    return ReportSpec.model_validate(
        {
            "monitor": "loans",
            "prediction": "approved",
            "label": "label",
            "fairness": {"protected": ["sex", "segment"], "favorable": 1, "min_group_size": 30},
            "drift": {"drift_share": 0.3},
            "quality": {"max_row_count_change": 0.2},
            "html_max_rows": 100,
        }
    )


def _run(current: pd.DataFrame, start: float) -> ReportSummary:
    context = ReportContext(window_start=start, window_end=start + 3600, reference_version=1)
    return run_report(make_frame(ROWS, 1, shifted=False), current, make_spec(), context).summary


@cache
def shifted_summary() -> ReportSummary:
    """The summary of the shifted window (one real run, Evidently included, per process)."""
    return _run(make_frame(SHIFTED_ROWS, 2, shifted=True), T0)


@cache
def steady_summary() -> ReportSummary:
    """The summary of the steady window."""
    return _run(make_frame(ROWS, 3, shifted=False), T0 + 3600)
