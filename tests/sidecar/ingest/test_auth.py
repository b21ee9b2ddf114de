"""Who may ingest: the admin bearer token everywhere; the ingest token (bearer or `?token=`) on /ingest/ only."""

from __future__ import annotations

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from sidecar.server import Sidecar
from tests.sidecar.conftest import SidecarFactory, admin_url
from tests.sidecar.ingest.events import V1_PAIR

ADMIN, INGEST = "admin-s3cret", "ingest-s3cret"
RECORD = b'{"model":"m","features":{"x":1}}'


async def status_of(
    http: aiohttp.ClientSession, sidecar: Sidecar, path: str, query: str = "", bearer: str | None = None
) -> int:
    """The status of a POST of a valid event (or record, for /ingest/records), or a GET elsewhere."""
    headers = {"Authorization": f"Bearer {bearer}"} if bearer else {}
    url = admin_url(sidecar, path) + query
    if path == "/ingest/kserve":
        request, _ = V1_PAIR
        async with http.post(url, data=request.body, headers={**request.headers, **headers}) as resp:
            return resp.status
    if path == "/ingest/records":
        async with http.post(url, data=RECORD, headers=headers) as resp:
            return resp.status
    async with http.get(url, headers=headers) as resp:
        return resp.status


@pytest.mark.parametrize(
    ("path", "query", "bearer", "expected"),
    [
        ("/ingest/kserve", "", None, 401),
        ("/ingest/kserve", "?token=wrong", None, 401),
        ("/ingest/kserve", f"?token={ADMIN}", None, 401),  # the admin token never travels in a URL
        ("/ingest/kserve", f"?token={INGEST}", None, 202),
        ("/ingest/kserve", "", ADMIN, 202),
        ("/ingest/kserve", "", INGEST, 202),
        ("/ingest/records", "", None, 401),
        ("/ingest/records", f"?token={INGEST}", None, 200),
        ("/ingest/records", "", ADMIN, 200),
        ("/api/records", f"?token={INGEST}", None, 401),  # the ingest token grants ingestion only
        ("/api/records", "", INGEST, 401),
        ("/api/records", "", ADMIN, 200),
    ],
)
async def test_tokens(
    make_sidecar: SidecarFactory,
    upstream: TestServer,
    http: aiohttp.ClientSession,
    path: str,
    query: str,
    bearer: str | None,
    expected: int,
) -> None:
    sidecar = await make_sidecar(str(upstream.make_url("")), admin_token=ADMIN, ingest={"token": INGEST})
    assert await status_of(http, sidecar, path, query, bearer) == expected


@pytest.mark.parametrize(("bearer", "expected"), [(None, 401), (ADMIN, 202)])
async def test_without_an_ingest_token_the_admin_token_guards_ingestion(
    make_sidecar: SidecarFactory,
    upstream: TestServer,
    http: aiohttp.ClientSession,
    bearer: str | None,
    expected: int,
) -> None:
    sidecar = await make_sidecar(str(upstream.make_url("")), admin_token=ADMIN)
    assert await status_of(http, sidecar, "/ingest/kserve", "", bearer) == expected


def test_an_empty_ingest_token_is_refused() -> None:
    from sidecar.settings import Settings

    with pytest.raises(ValueError, match="must not be empty"):
        Settings.model_validate({"upstream": "http://127.0.0.1:1", "ingest": {"token": " "}})
