"""Fixtures for the report-job tests: the known-answer frames and one real report run shared by readers."""

from __future__ import annotations

import pandas as pd
import pytest

from sidecar.reports import ReportContext, ReportResult, run_report
from tests.sidecar.reports.known import ROWS, make_frame, make_spec


@pytest.fixture(scope="session")
def frames() -> tuple[pd.DataFrame, pd.DataFrame]:
    """(reference, window), seeded."""
    return make_frame(ROWS, 1, window=False), make_frame(ROWS, 2, window=True)


@pytest.fixture(scope="session")
def context() -> ReportContext:
    """A run whose reference is the default first-N records."""
    return ReportContext(
        window_start=1.7e9, window_end=1.7e9 + 3600, reference_version=1, reference_source="first_n"
    )


@pytest.fixture(scope="session")
def report(frames: tuple[pd.DataFrame, pd.DataFrame], context: ReportContext) -> ReportResult:
    """One real run (Evidently included) shared by the tests that only read it."""
    reference, current = frames
    return run_report(reference, current, make_spec(), context)
