"""The report worker pool: processes that import Evidently and the report job before their first report.

Kept apart from the job (`sidecar.reports.job`: pandas, scipy, scikit-learn) so that the sidecar starts its
workers without importing any of that itself: only the workers need it.
"""

from __future__ import annotations

import multiprocessing
import os
import sys
import warnings
from concurrent.futures import ProcessPoolExecutor


def preload_evidently(nice: int = 0) -> None:
    """Worker initializer: lower the worker's CPU priority by `nice`, and import Evidently and the report job
    once, so that no report pays the ~3 s."""
    if nice > 0:
        os.nice(nice)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import evidently.presets  # noqa: F401
    import sidecar.monitors.job
    import sidecar.reports.job  # noqa: F401


def evidently_loaded() -> bool:
    """Whether this process has imported Evidently and the report job (true in a report pool's workers)."""
    return "evidently.presets" in sys.modules and "sidecar.reports.job" in sys.modules


def create_report_pool(
    max_workers: int = 1, max_tasks_per_child: int | None = None, nice: int = 0
) -> ProcessPoolExecutor:
    """A process pool for reports whose workers start now and import Evidently before the first report.

    Workers are started with `forkserver` (or `spawn`), never `fork`: the parent runs an event loop and
    threads. `max_tasks_per_child` recycles workers to hand a large report's memory back to the system.
    """
    methods = multiprocessing.get_all_start_methods()
    context = multiprocessing.get_context("forkserver" if "forkserver" in methods else "spawn")
    pool = ProcessPoolExecutor(
        max_workers=max_workers,
        mp_context=context,
        initializer=preload_evidently,
        initargs=(nice,),
        max_tasks_per_child=max_tasks_per_child,
    )
    for _ in range(max_workers):
        # A submission starts a worker; its initializer runs now instead of before the first report.
        pool.submit(evidently_loaded)
    return pool
