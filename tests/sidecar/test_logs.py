"""JSON logs: the formatter's fields, an admin failure's log line carrying the id its response carries, and a
real `driftcar serve --log-format json` whose every stderr line is a JSON object, a failed proxied request's
log line carrying that request's id."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import os
import signal
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from sidecar.admin import error_middleware, request_id_middleware
from sidecar.logs import REQUEST_ID, JsonFormatter
from sidecar.server import free_port
from tests.processes import DRIFTCAR, wait_http


def _record(message: str, *args: object, exc: BaseException | None = None) -> logging.LogRecord:
    exc_info = (type(exc), exc, exc.__traceback__) if exc is not None else None
    return logging.LogRecord("sidecar.test", logging.WARNING, __file__, 1, message, args, exc_info)


def test_a_record_is_one_json_line_with_the_request_id_in_context() -> None:
    formatter = JsonFormatter()
    token = REQUEST_ID.set("req-7")
    try:
        line = formatter.format(_record("upstream %s said %d\nthen quit", "m", 502))
    finally:
        REQUEST_ID.reset(token)
    assert "\n" not in line
    doc = json.loads(line)
    assert set(doc) == {"ts", "level", "logger", "message", "request_id"}
    assert (doc["level"], doc["logger"], doc["request_id"]) == ("WARNING", "sidecar.test", "req-7")
    assert doc["message"] == "upstream m said 502\nthen quit"
    assert doc["ts"].endswith("+00:00") and "T" in doc["ts"]
    # Outside a request there is no request_id key at all, unless the call passes one (`extra=`).
    assert "request_id" not in json.loads(formatter.format(_record("idle")))
    record = _record("capture failed")
    record.request_id = "req-8"
    assert json.loads(formatter.format(record))["request_id"] == "req-8"


def test_an_exception_is_one_string_field() -> None:
    try:
        raise ValueError("bad value")
    except ValueError as exc:
        doc = json.loads(JsonFormatter().format(_record("failed", exc=exc)))
    assert doc["exc_info"].startswith("Traceback (most recent call last):")
    assert doc["exc_info"].endswith("ValueError: bad value")


@pytest.mark.parametrize("given", ["adm-err-1", None])
async def test_an_admin_failure_logs_the_request_id_the_response_carries(given: str | None) -> None:
    async def broken(request: web.Request) -> web.Response:
        raise RuntimeError("bug")

    app = web.Application(middlewares=[request_id_middleware, error_middleware])
    app.router.add_get("/broken", broken)
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(JsonFormatter())
    admin_logger = logging.getLogger("sidecar.admin")
    admin_logger.addHandler(handler)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        headers = {"X-Request-ID": given} if given else {}
        async with (
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as http,
            http.get(server.make_url("/broken"), headers=headers) as resp,
        ):
            assert resp.status == 500
            answered = resp.headers["X-Request-ID"]
    finally:
        admin_logger.removeHandler(handler)
        await server.close()
    assert answered == (given or answered) and answered
    (doc,) = [json.loads(line) for line in out.getvalue().splitlines()]
    assert (doc["level"], doc["request_id"]) == ("ERROR", answered)
    assert doc["exc_info"].endswith("RuntimeError: bug")


@pytest.mark.parametrize("how", ["option", "environment"])
async def test_serve_logs_json_lines_with_the_failed_requests_id(how: str, tmp_path: Path) -> None:
    port, admin_port = free_port(), free_port()
    args = [
        "--log-level",
        "DEBUG",
        "serve",
        "--upstream",
        f"http://127.0.0.1:{free_port()}",  # nothing listens: every proxied request fails with 502
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--admin-port",
        str(admin_port),
        "--database-url",
        f"sqlite:///{tmp_path / 'driftcar.db'}",
    ]
    env = {k: v for k, v in os.environ.items() if not k.startswith("DRIFTCAR_")}
    if how == "option":
        args += ["--log-format", "json"]
    else:
        env["DRIFTCAR_LOG_FORMAT"] = "json"
    proc = await asyncio.create_subprocess_exec(
        *DRIFTCAR,
        *args,
        cwd=tmp_path,
        env=env,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    assert proc.stderr is not None
    stderr = asyncio.create_task(proc.stderr.read())
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=15)) as http:
            await wait_http(f"http://127.0.0.1:{admin_port}/healthz", proc)
            headers = {"X-Request-ID": "json-log-1"}
            async with http.post(f"http://127.0.0.1:{port}/predict", json={"x": 1}, headers=headers) as resp:
                assert resp.status == 502
                assert resp.headers["X-Request-ID"] == "json-log-1"
            # The admin app answers with the id it logs under.
            async with http.get(
                f"http://127.0.0.1:{admin_port}/healthz", headers={"X-Request-ID": "adm-1"}
            ) as resp:
                assert resp.headers["X-Request-ID"] == "adm-1"
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGTERM)
        code = await asyncio.wait_for(proc.wait(), 60)
        text = (await stderr).decode()
    assert code == 0, text
    lines = text.splitlines()
    docs = [json.loads(line) for line in lines]  # every line, or this fails naming the one that is not JSON
    assert all({"ts", "level", "logger", "message"} <= set(doc) for doc in docs)
    failed = [doc for doc in docs if doc.get("request_id") == "json-log-1"]
    assert [(d["level"], d["logger"]) for d in failed] == [("DEBUG", "sidecar.proxy.core")]
    assert "upstream unavailable" in failed[0]["message"]
    assert any(d["message"].startswith("driftcar proxying") for d in docs)
    assert any(d["message"] == "driftcar stopped" for d in docs)
