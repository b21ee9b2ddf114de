"""A model server as a separate process, for fault tests that kill it: `python -m tests.faults.upstream_app PORT`.

`POST /predict` answers `{"prediction": 0|1}` after `X-Delay` seconds (default 0) and remembers the request id;
`POST /hang` never answers; `GET /seen` lists the request ids `/predict` received, in order.
"""

from __future__ import annotations

import asyncio
import sys

import orjson
from aiohttp import web

SEEN = web.AppKey("seen", list[str])


async def predict(request: web.Request) -> web.Response:
    """The FastAPI shape: features in, a prediction out."""
    body = await request.read()
    request.app[SEEN].append(request.headers.get("X-Request-ID", ""))
    delay = float(request.headers.get("X-Delay", "0"))
    if delay > 0:
        await asyncio.sleep(delay)
    doc = orjson.loads(body)
    return web.json_response({"prediction": 1 if float(doc.get("feature1", 0)) > 5 else 0})


async def hang(request: web.Request) -> web.Response:
    """Read the request, then never answer (until the client goes away)."""
    await request.read()
    await asyncio.Event().wait()
    raise AssertionError("unreachable")


async def seen(request: web.Request) -> web.Response:
    """The request ids `/predict` received."""
    return web.json_response(request.app[SEEN])


def create_app() -> web.Application:
    """The upstream app."""
    app = web.Application()
    app[SEEN] = []
    app.router.add_post("/predict", predict)
    app.router.add_post("/hang", hang)
    app.router.add_get("/seen", seen)
    return app


if __name__ == "__main__":
    web.run_app(create_app(), host="127.0.0.1", port=int(sys.argv[1]), access_log=None, print=None)
