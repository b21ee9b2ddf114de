"""driftcar's error tree: every HTTP-facing error knows its status and becomes `{"error": ...}`."""

from __future__ import annotations


class DriftcarError(Exception):
    """Base of all driftcar errors."""

    status = 500


class ConfigError(DriftcarError):
    """The configuration is invalid; the message names the offending key or file."""


class BadRequest(DriftcarError):
    """The client's request to driftcar's own API is invalid."""

    status = 400


class Unauthorized(DriftcarError):
    """A bearer token is required and missing or wrong."""

    status = 401


class NotFound(DriftcarError):
    """The requested driftcar resource does not exist."""

    status = 404


class UpstreamUnavailable(DriftcarError):
    """The model server could not be reached (connection refused, reset, DNS)."""

    status = 502


class UpstreamTimeout(DriftcarError):
    """The model server did not answer within the configured timeout."""

    status = 504
