"""Report-job benchmark: `run_report` on a 1M-row window against a 1M-row reference.

Frames: 10 numeric columns, 1 categorical, a binary prediction, a protected attribute (`sex`) and, unless
`--no-label`, a label. Evidently is imported before the clock starts (a report pool's workers pre-import it).
Prints the statistics time (every row), the HTML time (on the sample), the total, the peak RSS above the
frames and the whole process's, and whether the total meets the target.
Run from the repository root: `python -m bench.report [--rows 1000000] [--html-max-rows 50000] [--pool]`.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from detectors.fairness import FairnessOptions
from sidecar.reports import ReportContext, ReportSpec, create_report_pool, render_in_pool, run_report
from sidecar.reports.job import evidently_loaded, preload_evidently

NUMERIC = [f"x{i}" for i in range(10)]
TARGET_SECONDS = 30.0


def make_frame(rows: int, seed: int, shift: float) -> pd.DataFrame:
    """Seeded rows; `shift` moves four numeric columns and the segment mix and lowers one group's approvals."""
    rng = np.random.default_rng(seed)
    data: dict[str, Any] = {}
    for i, name in enumerate(NUMERIC):
        moved = shift if i < 4 else 0.0
        data[name] = rng.normal(moved, 1.0, rows) if i % 2 == 0 else rng.lognormal(moved, 0.5, rows)
    p = np.array([0.3, 0.25, 0.2, 0.1, 0.1 + shift / 4, 0.05])
    segments = np.array(["north", "south", "east", "west", "online", "partner"], dtype=object)
    data["segment"] = rng.choice(segments, rows, p=p / p.sum())
    sex = rng.choice(np.array(["female", "male"], dtype=object), rows)
    logit = 0.8 * data["x0"] - 0.3 * data["x5"] + rng.normal(0, 1, rows)
    label = (logit + rng.normal(0, 0.5, rows) > 0).astype(np.int64)
    approve = logit > (shift * (sex == "female"))
    data["sex"] = sex
    data["prediction"] = approve.astype(np.int64)
    data["label"] = label
    return pd.DataFrame(data)


def _status_mb(field: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"{field} not in /proc/self/status")


def main(argv: list[str] | None = None) -> int:
    """Build the frames, run one report, print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows per frame (default 1,000,000)")
    parser.add_argument("--html-max-rows", type=int, default=50_000)
    parser.add_argument("--no-label", action="store_true", help="leave the label out (no performance)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--pool", action="store_true", help="also time it through a warm report pool (frames pickled over)"
    )
    args = parser.parse_args(argv)
    reference = make_frame(args.rows, args.seed, 0.0)
    current = make_frame(args.rows, args.seed + 1, 0.3)
    if args.no_label:
        reference, current = reference.drop(columns="label"), current.drop(columns="label")
    spec = ReportSpec(
        monitor="bench",
        prediction="prediction",
        label=None if args.no_label else "label",
        fairness=FairnessOptions(protected=["sex"]),
        html_max_rows=args.html_max_rows,
    )
    preload_evidently()
    gc.collect()
    Path("/proc/self/clear_refs").write_text("5")  # reset the peak RSS (VmHWM) to the current RSS
    baseline = _status_mb("VmRSS")
    started = time.perf_counter()
    result = run_report(
        reference, current, spec, ReportContext(reference_version=1, reference_source="upload")
    )
    wall = time.perf_counter() - started
    peak = _status_mb("VmHWM")
    t, s = result.timings, result.summary
    columns = len(reference.columns)
    print(
        f"frames: 2 x {args.rows:,} rows x {columns} columns (10 numeric, segment, sex, prediction"
        f"{'' if args.no_label else ', label'}); HTML sample {args.html_max_rows:,} rows per side"
    )
    print(f"statistics (every row)   {t.statistics_s:7.2f} s")
    print(f"HTML (sample + Evidently) {t.html_s:6.2f} s   {len(result.html or b'') / 1e6:.1f} MB")
    print(
        f"total                    {t.total_s:7.2f} s   (wall {wall:.2f} s; target <= {TARGET_SECONDS:g} s:"
        f" {'ok' if wall <= TARGET_SECONDS else 'MISSED'})"
    )
    print(
        f"peak RSS                 {peak:7.0f} MB   (+{peak - baseline:.0f} MB above the frames, {baseline:.0f} MB)"
    )
    drifted = sorted(f.column or "" for f in s.flags_of("column_drift"))
    print(f"findings: {len(s.flags)} flags; drifted columns {', '.join(drifted)}; errors {len(s.errors)}")
    if args.pool:
        pool = create_report_pool(1)
        try:
            pool.submit(evidently_loaded).result(timeout=120)  # warm: Evidently imported in the worker
            started = time.perf_counter()
            asyncio.run(asyncio.wait_for(render_in_pool(pool, reference, current, spec), timeout=600))
            print(
                f"through the pool           {time.perf_counter() - started:6.2f} s   (wall, frames pickled over)"
            )
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
    return 0 if wall <= TARGET_SECONDS and not s.errors else 1


if __name__ == "__main__":
    raise SystemExit(main())
