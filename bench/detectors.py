"""Benchmark: driftcar's auto-method drift against Evidently 0.7's DataDriftPreset on the same frames.

Run from the repository root: `python -m bench.detectors [--rows 1000000]`. Each tool runs in its own
subprocess on identical seeded frames (10 numeric columns, 1 categorical, 1 prediction); a child reports its
wall time, its peak RSS (VmHWM, reset through /proc/self/clear_refs once the frames are built and the
libraries loaded) and its per-column scores. The parent prints both, the speed and memory ratios (total peak
RSS, and the peak above the frames), and checks that the methods and scores agree to 1e-9 relative.
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
NUMERIC = [f"x{i}" for i in range(10)]
CATEGORICAL = "segment"
PREDICTION = "prediction"
SPEED_TARGET = 20.0
MEMORY_TARGET = 0.25


def make_frames(rows: int, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Seeded reference and current frames; the current one drifts in some columns and in the prediction."""
    rng = np.random.default_rng(seed)
    segments = np.array(["north", "south", "east", "west", "online", "partner"], dtype=object)

    def frame(shift: float) -> pd.DataFrame:
        data: dict[str, Any] = {}
        for i, name in enumerate(NUMERIC):
            moved = shift if i < 4 else 0.0
            if i % 3 == 0:
                data[name] = rng.normal(moved, 1.0 + moved, rows)
            elif i % 3 == 1:
                data[name] = rng.lognormal(moved, 0.5, rows)
            else:
                data[name] = rng.uniform(moved, 10.0 + moved, rows)
        p = np.array([0.3, 0.25, 0.2, 0.1, 0.1 + shift / 4, 0.05])
        data[CATEGORICAL] = rng.choice(segments, rows, p=p / p.sum())
        logit = 0.8 * data["x0"] - 0.3 * data["x3"] + rng.normal(0, 1, rows)
        data[PREDICTION] = 1.0 / (1.0 + np.exp(-logit))
        return pd.DataFrame(data)

    return frame(0.0), frame(0.3)


def _status_kb(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/self/status")


def _run_driftcar(reference: pd.DataFrame, current: pd.DataFrame, workers: int) -> dict[str, Any]:
    from detectors.drift import DriftOptions, detect_drift

    result = detect_drift(reference, current, DriftOptions(prediction=PREDICTION, workers=workers))
    columns = result.all_columns()
    return {
        "scores": {r.column: [r.method, r.score, r.drifted] for r in columns},
        "drifted": sum(r.drifted for r in columns),
    }


def _run_evidently(reference: pd.DataFrame, current: pd.DataFrame) -> dict[str, Any]:
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from evidently import DataDefinition, Dataset, Report
        from evidently.legacy.calculations.stattests.registry import _registered_stat_tests
        from evidently.presets import DataDriftPreset

        definition = DataDefinition(
            numerical_columns=[*NUMERIC, PREDICTION], categorical_columns=[CATEGORICAL]
        )
        snapshot = Report([DataDriftPreset()]).run(
            Dataset.from_pandas(current, data_definition=definition),
            Dataset.from_pandas(reference, data_definition=definition),
        )
        names = {
            t.display_name: t.name for by_type in _registered_stat_tests.values() for t in by_type.values()
        }
    scores: dict[str, list[Any]] = {}
    drifted = 0
    for metric in snapshot.dict()["metrics"]:
        config = metric["config"]
        if config["type"].endswith("ValueDrift"):
            scores[config["column"]] = [names.get(config["method"], config["method"]), metric["value"], None]
        elif config["type"].endswith("DriftedColumnsCount"):
            drifted = int(metric["value"]["count"])
    return {"scores": scores, "drifted": drifted}


def child(tool: str, rows: int, seed: int, workers: int) -> dict[str, Any]:
    """Build the frames, then time one tool and measure its peak RSS above the frames."""
    reference, current = make_frames(rows, seed)
    if tool == "evidently":  # import cost is not the comparison: load the libraries before measuring
        _run_evidently(reference.head(50), current.head(50))
    else:
        _run_driftcar(reference.head(50), current.head(50), workers)
    gc.collect()
    Path("/proc/self/clear_refs").write_text("5")  # reset the peak RSS (VmHWM) to the current RSS
    baseline = _status_kb("VmRSS")
    start = time.perf_counter()
    out = (
        _run_evidently(reference, current)
        if tool == "evidently"
        else _run_driftcar(reference, current, workers)
    )
    out["seconds"] = time.perf_counter() - start
    out["peak_mb"] = _status_kb("VmHWM") / 1024
    out["baseline_mb"] = baseline / 1024
    return out


def _spawn(tool: str, args: argparse.Namespace) -> dict[str, Any]:
    command = [sys.executable, "-m", "bench.detectors", "--child", tool, "--rows", str(args.rows)]
    command += ["--seed", str(args.seed), "--workers", str(args.workers)]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False, timeout=3600)
    if done.returncode != 0:
        raise SystemExit(f"{tool} child failed:\n{done.stderr}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def compare(ours: dict[str, Any], theirs: dict[str, Any]) -> tuple[float, list[str]]:
    """Largest relative score difference and the columns whose method or score disagree."""
    worst, bad = 0.0, []
    for column, (method, score, _) in theirs["scores"].items():
        our_method, our_score, _ = ours["scores"][column]
        rel = abs(our_score - score) / max(abs(score), 1e-300)
        worst = max(worst, rel)
        if our_method != method or not math.isclose(our_score, score, rel_tol=1e-9):
            bad.append(f"{column}: driftcar {our_method}={our_score!r} evidently {method}={score!r}")
    return worst, bad


def _ok(met: bool) -> str:
    return "ok" if met else "MISSED"


def main(argv: list[str] | None = None) -> int:
    """Run both children and print the comparison."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows per frame (default 1,000,000)")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--workers", type=int, default=1, help="driftcar column threads (default 1)")
    parser.add_argument("--child", choices=["driftcar", "evidently"], help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(child(args.child, args.rows, args.seed, args.workers)))
        return 0
    print(f"frames: 2 x {args.rows:,} rows x 12 columns (10 numeric, 1 categorical, 1 prediction)")
    ours, theirs = _spawn("driftcar", args), _spawn("evidently", args)
    for name, r in (("driftcar", ours), ("evidently", theirs)):
        extra = r["peak_mb"] - r["baseline_mb"]
        print(
            f"{name:9}  {r['seconds']:8.3f} s  peak RSS {r['peak_mb']:7.1f} MB"
            f" (+{extra:6.1f} MB above the frames)"
        )
    speed = theirs["seconds"] / ours["seconds"]
    memory = ours["peak_mb"] / theirs["peak_mb"]
    extra = (ours["peak_mb"] - ours["baseline_mb"]) / max(theirs["peak_mb"] - theirs["baseline_mb"], 1e-9)
    print(f"speed ratio  {speed:6.1f}x   (target >= {SPEED_TARGET:g}x: {_ok(speed >= SPEED_TARGET)})")
    print(
        f"memory ratio {extra:6.3f}   peak RSS above the frames and libraries"
        f" (target <= {MEMORY_TARGET:g}: {_ok(extra <= MEMORY_TARGET)})"
    )
    print(
        f"             {memory:6.3f}   whole-process peak RSS, frames and libraries included (both hold them)"
    )
    worst, bad = compare(ours, theirs)
    print(f"scores: {len(theirs['scores'])} columns, max relative difference {worst:.2e}")
    print(f"drifted columns (prediction included): driftcar {ours['drifted']}, evidently {theirs['drifted']}")
    for line in bad:
        print("  MISMATCH " + line)
    return 1 if bad or ours["drifted"] != theirs["drifted"] else 0


if __name__ == "__main__":
    raise SystemExit(main())
