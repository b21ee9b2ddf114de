"""The report job of monitors: drift, data quality, fairness and performance on a window against a reference.

`run_report(reference, current, spec)` computes the summary on every row with driftcar's detectors and renders
Evidently's HTML on a seeded sample, with driftcar's fairness tables spliced in; `create_report_pool` and
`render_in_pool` run it off the event loop. Importing this package does not import Evidently.
"""

from __future__ import annotations

from sidecar.reports.errors import ReportError, ReportInputError
from sidecar.reports.job import (
    ReportResult,
    ReportTimings,
    create_report_pool,
    render_in_pool,
    run_report,
)
from sidecar.reports.spec import BiasThresholds, ReportContext, ReportSpec
from sidecar.reports.summary import Flag, ReportSummary

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
