"""Who may ingest: the admin bearer token, or the ingest token (bearer or `?token=`).

KServe's payload logger cannot add headers, so its URL carries the ingest token as a query parameter. That
secret is then visible to whoever can read the InferenceService and in the access logs of anything between
KServe and driftcar (driftcar's own admin server keeps no access log). It therefore grants ingestion only: it
cannot read records, run monitors or change references. A path secret (`/ingest/kserve/<token>`) was not
chosen: it is exposed in exactly the same places, and it would put the secret into the route itself.
"""

from __future__ import annotations

from aiohttp import web

from sidecar.admin import bearer_token, token_matches
from sidecar.app import SETTINGS
from sidecar.errors import Unauthorized


def check_ingest_auth(request: web.Request) -> None:
    """Raise Unauthorized unless the request carries a token that allows ingestion (none configured: open)."""
    settings = request.app[SETTINGS]
    admin = settings.admin_token.get_secret_value() if settings.admin_token else None
    ingest = settings.ingest.token.get_secret_value() if settings.ingest.token else None
    if admin is None and ingest is None:
        return
    bearer = bearer_token(request)
    if token_matches(bearer, admin) or token_matches(bearer, ingest):
        return
    if token_matches(request.query.get("token"), ingest):
        return
    raise Unauthorized("a valid token is required (Authorization: Bearer ..., or ?token= with ingest.token)")
