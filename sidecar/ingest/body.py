"""Reading a request body with a size limit of its own (the admin app's limit is for reference files)."""

from __future__ import annotations

from aiohttp import web

from sidecar.ingest.errors import PayloadTooLarge

_CHUNK = 1 << 16


async def read_limited(request: web.Request, limit: int) -> bytes:
    """The whole body, or PayloadTooLarge as soon as it is known to exceed `limit` bytes."""
    message = f"body larger than {limit} bytes"
    if request.content_length is not None:
        if request.content_length > limit:
            raise PayloadTooLarge(message)
        return await request.read()  # the framing bounds it (the app's client_max_size is larger)
    chunks: list[bytes] = []
    size = 0
    while chunk := await request.content.read(_CHUNK):
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(message)
        chunks.append(chunk)
    return b"".join(chunks)
