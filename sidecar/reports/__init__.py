"""The report job of monitors: drift, data quality, fairness and performance on a window against a reference.

`run_report(reference, current, spec)` computes the summary on every row with driftcar's detectors and renders
Evidently's HTML on a seeded sample, with driftcar's fairness tables spliced in; `create_report_pool` and
`render_in_pool` run it off the event loop. Importing this package does not import Evidently, and the names
below are imported on first use (`detectors.lazy`): the spec and the summary (configuration, the stored JSON)
stay importable without pandas, scipy and scikit-learn, which only the job needs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from detectors.lazy import lazy_exports

__all__ = [
    "BiasThresholds",
    "Flag",
    "ReportContext",
    "ReportError",
    "ReportInputError",
    "ReportResult",
    "ReportSpec",
    "ReportSummary",
    "ReportTimings",
    "create_report_pool",
    "render_in_pool",
    "run_report",
]

EXPORTS = {
    "ReportError": "errors",
    "ReportInputError": "errors",
    "ReportResult": "job",
    "ReportTimings": "job",
    "render_in_pool": "job",
    "run_report": "job",
    "create_report_pool": "pool",
    "BiasThresholds": "spec",
    "ReportContext": "spec",
    "ReportSpec": "spec",
    "Flag": "summary",
    "ReportSummary": "summary",
}

if TYPE_CHECKING:
    from sidecar.reports.errors import ReportError, ReportInputError
    from sidecar.reports.job import ReportResult, ReportTimings, render_in_pool, run_report
    from sidecar.reports.pool import create_report_pool
    from sidecar.reports.spec import BiasThresholds, ReportContext, ReportSpec
    from sidecar.reports.summary import Flag, ReportSummary
else:
    __getattr__, __dir__ = lazy_exports(__name__, EXPORTS)
