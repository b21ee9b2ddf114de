"""Errors of the report job: the data does not fit the spec (a failed run, not a skipped one)."""

from __future__ import annotations

from sidecar.errors import DriftcarError


class ReportError(DriftcarError):
    """Base of the report job's errors."""


class ReportInputError(ReportError):
    """A column the spec needs is absent from the reference or the window."""
