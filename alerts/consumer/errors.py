"""The consumer's errors: each knows its HTTP status and becomes `{"error": ...}`."""

from __future__ import annotations

from sidecar.errors import DriftcarError


class ConsumerError(DriftcarError):
    """Base of the consumer's errors."""

    status = 500


class Unauthenticated(ConsumerError):
    """The signature or timestamp is missing, malformed, stale or wrong (the message says which)."""

    status = 401


class BadPayload(ConsumerError):
    """The body is not a driftcar alert, or its id contradicts the Idempotency-Key."""

    status = 400


class InProgress(ConsumerError):
    """Another delivery with the same Idempotency-Key is being processed now; the sender retries later."""

    status = 409


class ActionFailed(ConsumerError):
    """An action failed; the key is not marked done, so the sender's retry runs the remaining actions."""

    status = 502


class StoreUnavailable(ConsumerError):
    """The dedupe store could not be read or written; nothing was run."""

    status = 503
