"""Webhook signatures: HMAC-SHA256 over the timestamp and the body, sent in headers with the timestamp.

    X-Driftcar-Timestamp: 1764065100
    X-Driftcar-Signature: sha256=<hex of HMAC-SHA256(secret, b"1764065100." + body)>

A receiver recomputes the HMAC over the timestamp header, a dot and the raw body bytes, compares it in
constant time, and refuses timestamps further than its tolerance from its own clock (a replayed request is
stale). Several signatures may be sent comma-separated while a secret is being rotated; any one matching is
enough.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import os
import time
from pathlib import Path

from sidecar.secretfiles import read_secret_file

TIMESTAMP_HEADER = "X-Driftcar-Timestamp"
SIGNATURE_HEADER = "X-Driftcar-Signature"
IDEMPOTENCY_HEADER = "Idempotency-Key"
SCHEME = "sha256="
DEFAULT_TOLERANCE_S = 300.0


class SignatureError(ValueError):
    """A request's signature or timestamp is missing, malformed, stale or wrong; the message says which."""


class SecretError(ValueError):
    """A webhook secret could not be read (the message names the variable or file, never the secret)."""


def signature(secret: bytes, timestamp: str, body: bytes) -> str:
    """The signature header value of `body` sent at `timestamp` (decimal Unix seconds)."""
    digest = hmac.new(secret, timestamp.encode("ascii") + b"." + body, hashlib.sha256).hexdigest()
    return SCHEME + digest


def sign(secret: bytes, body: bytes, now: float | None = None) -> dict[str, str]:
    """The timestamp and signature headers for `body`."""
    timestamp = str(int(time.time() if now is None else now))
    return {TIMESTAMP_HEADER: timestamp, SIGNATURE_HEADER: signature(secret, timestamp, body)}


def verify(
    secrets: list[bytes],
    timestamp: str | None,
    signatures: str | None,
    body: bytes,
    *,
    tolerance: float = DEFAULT_TOLERANCE_S,
    now: float | None = None,
) -> None:
    """Check a request's signature against any of `secrets`; raise SignatureError saying what is wrong."""
    if not timestamp:
        raise SignatureError(f"missing {TIMESTAMP_HEADER} header")
    if not signatures:
        raise SignatureError(f"missing {SIGNATURE_HEADER} header")
    if not timestamp.isascii() or not timestamp.isdigit() or len(timestamp) > 12:
        raise SignatureError(f"{TIMESTAMP_HEADER} must be Unix seconds")
    sent = int(timestamp)
    current = time.time() if now is None else now
    if not math.isfinite(current) or abs(current - sent) > tolerance:
        raise SignatureError(
            f"stale timestamp: {abs(current - sent):.0f} s from this receiver's clock (tolerance {tolerance:g} s)"
        )
    given = [s.strip() for s in signatures.split(",") if s.strip()]
    if not given or not all(s.startswith(SCHEME) for s in given):
        raise SignatureError(f"{SIGNATURE_HEADER} must be `{SCHEME}<hex>`")
    for secret in secrets:
        expected = signature(secret, timestamp, body)
        if any(hmac.compare_digest(expected.encode(), s.encode("ascii", "replace")) for s in given):
            return
    raise SignatureError("signature does not match")


def read_secret(env: str | None = None, file: str | Path | None = None) -> bytes:
    """A secret from an environment variable or a file (surrounding whitespace stripped); never from config."""
    if (env is None) == (file is None):
        raise SecretError("give exactly one of an environment variable or a file for the secret")
    if env is not None:
        value = os.environ.get(env)
        if value is None:
            raise SecretError(f"environment variable {env} is not set")
        text = value.strip()
        where = f"environment variable {env}"
    else:
        path = Path(str(file))
        try:
            text = read_secret_file(path).strip()
        except ValueError as exc:
            raise SecretError(f"secret file: {exc}") from None
        where = f"secret file {path}"
    if len(text) < 16:
        raise SecretError(f"{where}: the secret must be at least 16 characters")
    return text.encode()
