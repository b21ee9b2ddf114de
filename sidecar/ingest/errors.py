"""Ingestion's errors, each with its HTTP status, answered as `{"error": ...}` by the admin middleware."""

from __future__ import annotations

from sidecar.errors import BadRequest, DriftcarError


class IngestError(DriftcarError):
    """Base of ingestion errors."""


class InvalidEvent(IngestError, BadRequest):
    """A CloudEvent missing a required attribute or carrying an invalid one (the message names it)."""


class InvalidRecords(IngestError, BadRequest):
    """A batch with an invalid record (the message names the line or item, and the field)."""


class PayloadTooLarge(IngestError):
    """The body is larger than the configured limit."""

    status = 413


class IngestBusy(IngestError):
    """The pairing buffer is full; the event was dropped (counted)."""

    status = 503
