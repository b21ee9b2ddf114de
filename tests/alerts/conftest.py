"""Alerts tests use real sidecars in front of the stand-in upstream, as the sidecar tests do."""

from __future__ import annotations

from tests.sidecar.conftest import http, make_sidecar, sqlite_url, upstream

__all__ = ["http", "make_sidecar", "sqlite_url", "upstream"]
