"""A webhook receiver as a separate process, for the webhook-outage fault test:
`python -m tests.faults.webhook_receiver PORT SECRET_FILE OUT_FILE`.

`POST /hook` appends one JSON line per delivery to OUT_FILE (`key`: the Idempotency-Key header, `signature_ok`,
`error`, `body`: the raw body as text) before it answers: 200 when the signature holds, 401 otherwise. Nothing is
deduplicated, so the file shows every delivery that reached it. `GET /ready` answers 200 once it listens.
"""

from __future__ import annotations

import sys
from pathlib import Path

import orjson
from aiohttp import web

from alerts.signing import IDEMPOTENCY_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER, SignatureError, verify

SECRET = web.AppKey("secret", bytes)
OUT = web.AppKey("out", Path)


async def hook(request: web.Request) -> web.Response:
    """Check the signature, record the delivery (flushed before the answer), answer."""
    body = await request.read()
    error: str | None = None
    try:
        verify(
            [request.app[SECRET]],
            request.headers.get(TIMESTAMP_HEADER),
            request.headers.get(SIGNATURE_HEADER),
            body,
        )
    except SignatureError as exc:
        error = str(exc)
    line = {
        "key": request.headers.get(IDEMPOTENCY_HEADER),
        "signature_ok": error is None,
        "error": error,
        "body": body.decode("utf-8", errors="replace"),
    }
    with request.app[OUT].open("ab") as out:
        out.write(orjson.dumps(line) + b"\n")
    if error is not None:
        return web.json_response({"error": error}, status=401)
    return web.json_response({"ok": True})


async def ready(request: web.Request) -> web.Response:
    """Listening."""
    return web.json_response({"ok": True})


def create_app(secret: bytes, out: Path) -> web.Application:
    """The receiver app."""
    app = web.Application()
    app[SECRET] = secret
    app[OUT] = out
    app.router.add_post("/hook", hook)
    app.router.add_get("/ready", ready)
    return app


if __name__ == "__main__":
    port, secret_file, out_file = sys.argv[1:4]
    app = create_app(Path(secret_file).read_text(encoding="utf-8").strip().encode(), Path(out_file))
    web.run_app(app, host="127.0.0.1", port=int(port), access_log=None, print=None)
