"""Shared data of the alerts tests that drive a real sidecar: three windows of N records each — A with `x0`
shifted, B steady, C shifted again — a reference, and monitor `m` with one rule on `x0` drift."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from storage.records import Record
from tests.storage.helpers import fill_sqlite, predict_records

T0 = 1_790_000_000.0
N = 200


def records(start: float, shift: float) -> list[Record]:
    """N records of model m v7 from `start`, one a second, with `x0` moved by `shift` (seeded by `start`)."""
    rng = np.random.default_rng(int(start) % 997)
    rows = [
        ({"x0": float(rng.normal(shift)), "x1": float(rng.normal())}, int(rng.integers(0, 2)))
        for _ in range(N)
    ]
    return predict_records(start, rows, id_prefix=f"q{int(start)}-", model_version="7")


async def fill_three_windows(tmp_path: Path) -> str:
    """A SQLite database with windows A (shifted), B (steady), C (shifted) and a reference; its URL."""
    windows = records(T0, 2.0) + records(T0 + N, 0.0) + records(T0 + 2 * N, 2.0)
    rng = np.random.default_rng(1)
    reference = pd.DataFrame(
        {"x0": rng.normal(size=N), "x1": rng.normal(size=N), "prediction": rng.integers(0, 2, N)}
    )
    return await fill_sqlite(tmp_path / "alerts.db", windows, {"m": reference})


def sidecar_config(database_url: str, webhook: dict[str, Any], max_backoff: float) -> dict[str, Any]:
    """Settings overrides: monitor m (on demand) with a critical rollback rule on x0 drift, one webhook."""
    return {
        "database_url": database_url,
        "monitors": [
            {
                "name": "m",
                "model": "m",
                "model_version": "7",
                "window": {"minutes": N / 60},
                "schedule": {"every": 3600, "enabled": False},
                "min_rows": 50,
                "alerts": [
                    {
                        "name": "x0-drift",
                        "when": "column_drift",
                        "columns": ["x0"],
                        "severity": "critical",
                        "action": "rollback",
                        "labels": {"team": "risk"},
                    }
                ],
            }
        ],
        "alerts": {
            "webhooks": [webhook],
            "delivery": {"initial_backoff": 0.05, "max_backoff": max_backoff, "poll": 0.1},
        },
    }
