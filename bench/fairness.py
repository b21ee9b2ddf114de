"""Fairness benchmark: `compute_fairness` on a million rows with two protected attributes.

Times integer and string outcomes, with and without the sex & race intersection, best of a few repeats.
Run: `.venv/bin/python bench/fairness.py [--rows N] [--repeat K]`.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd

from detectors.fairness import FairnessOptions, compute_fairness


def make_frame(rows: int, seed: int = 0) -> pd.DataFrame:
    """Random rows: two string attributes, binary labels and predictions."""
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "sex": rng.choice(["F", "M", "X"], rows, p=[0.49, 0.49, 0.02]),
            "race": rng.choice(["a", "b", "c", "d", "e"], rows),
            "label": rng.integers(0, 2, rows),
            "pred": rng.integers(0, 2, rows),
        }
    )


def best_of(repeat: int, frame: pd.DataFrame, options: FairnessOptions) -> float:
    """Fastest wall time of `repeat` runs, in seconds."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        compute_fairness(frame, "pred", "label", options)
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> int:
    """Print one timing line per case."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    numeric = make_frame(args.rows)
    strings = numeric.assign(
        pred=np.where(numeric["pred"] == 1, "yes", "no"), label=np.where(numeric["label"] == 1, "yes", "no")
    )
    cases = [
        ("int outcomes", numeric, FairnessOptions(protected=["sex", "race"])),
        (
            "int outcomes + intersection",
            numeric,
            FairnessOptions(protected=["sex", "race"], intersections=True),
        ),
        (
            "str outcomes + intersection",
            strings,
            FairnessOptions(protected=["sex", "race"], intersections=True, favorable="yes"),
        ),
    ]
    for name, frame, options in cases:
        seconds = best_of(args.repeat, frame, options)
        print(f"{args.rows:>9,} rows x 2 protected, {name:<28} {seconds * 1000:8.1f} ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
