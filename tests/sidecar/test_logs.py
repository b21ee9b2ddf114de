"""JSON logs: the formatter's fields, an admin failure's log line carrying the id its response carries, and a
real `driftcar serve --log-format json` whose every stderr line is a JSON object, a failed proxied request's
log line carrying that request's id."""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import logging
import os
import signal
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from sidecar.admin import error_middleware, request_id_middleware
from sidecar.logs import REQUEST_ID, ClientErrorFilter, JsonFormatter
from sidecar.server import free_port
from tests.processes import DRIFTCAR, wait_http
from tests.security.running import get, request


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


@dataclass
class Served:
    """A `driftcar serve` process whose stderr is collected; `code` and `stderr` are set once it stopped."""

    code: int | None = None
    stderr: str = ""


@contextlib.asynccontextmanager
async def serving(
    tmp_path: Path, level: str, port: int, admin_port: int, *extra: str, env: dict[str, str] | None = None
) -> AsyncIterator[Served]:
    """`driftcar --log-level LEVEL serve` on 127.0.0.1 (its upstream: a port nothing listens on, so every proxied
    request fails with 502) until the block ends, then SIGTERM."""
    args = [
        "--log-level",
        level,
        "serve",
        "--upstream",
        f"http://127.0.0.1:{free_port()}",
        "--host",
        "127.0.0.1",
    ]
    args += ["--port", str(port), "--admin-port", str(admin_port)]
    args += ["--database-url", f"sqlite:///{tmp_path / 'driftcar.db'}", *extra]
    base = {k: v for k, v in os.environ.items() if not k.startswith("DRIFTCAR_")}
    proc = await asyncio.create_subprocess_exec(
        *DRIFTCAR,
        *args,
        cwd=tmp_path,
        env={**base, **(env or {})},
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    assert proc.stderr is not None
    stderr = asyncio.create_task(proc.stderr.read())
    served = Served()
    try:
        await wait_http(f"http://127.0.0.1:{admin_port}/healthz", proc)
        yield served
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGTERM)
        served.code = await asyncio.wait_for(proc.wait(), 60)
        served.stderr = (await stderr).decode()


@pytest.mark.parametrize("how", ["option", "environment"])
async def test_serve_logs_json_lines_with_the_failed_requests_id(how: str, tmp_path: Path) -> None:
    port, admin_port = free_port(), free_port()
    option = ["--log-format", "json"] if how == "option" else []
    env = {"DRIFTCAR_LOG_FORMAT": "json"} if how == "environment" else {}
    async with (
        serving(tmp_path, "DEBUG", port, admin_port, *option, env=env) as served,
        aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=15)) as http,
    ):
        headers = {"X-Request-ID": "json-log-1"}
        async with http.post(f"http://127.0.0.1:{port}/predict", json={"x": 1}, headers=headers) as resp:
            assert resp.status == 502
            assert resp.headers["X-Request-ID"] == "json-log-1"
        # The admin app answers with the id it logs under.
        async with http.get(
            f"http://127.0.0.1:{admin_port}/healthz", headers={"X-Request-ID": "adm-1"}
        ) as resp:
            assert resp.headers["X-Request-ID"] == "adm-1"
    text = served.stderr
    assert served.code == 0, text
    lines = text.splitlines()
    docs = [json.loads(line) for line in lines]  # every line, or this fails naming the one that is not JSON
    assert all({"ts", "level", "logger", "message"} <= set(doc) for doc in docs)
    failed = [doc for doc in docs if doc.get("request_id") == "json-log-1"]
    assert [(d["level"], d["logger"]) for d in failed] == [("DEBUG", "sidecar.proxy.core")]
    assert "upstream unavailable" in failed[0]["message"]
    assert any(d["message"].startswith("driftcar proxying") for d in docs)
    assert any(d["message"] == "driftcar stopped" for d in docs)


# What clients send that aiohttp's parser refuses, on the admin port: each is answered 400.
MALFORMED = {
    "header without a colon": b"GET /healthz HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n",
    "non-numeric Content-Length": b"POST /api/labels HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n",
    "header line too long": b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 70_000 + b"\r\n\r\n",
    "bad chunk size": (
        b"POST /api/labels HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhi\r\n0\r\n\r\n"
    ),
    "TLS on a plain port": b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03garbage\r\n\r\n",
}


@pytest.mark.parametrize("level", ["INFO", "DEBUG"])
async def test_malformed_admin_requests_are_400_without_an_error_or_traceback_in_the_log(
    level: str, tmp_path: Path
) -> None:
    # aiohttp logs each at ERROR with a traceback: anyone reaching the admin port could fill the log.
    admin_port = free_port()
    async with serving(tmp_path, level, free_port(), admin_port) as served:
        for name, wire in MALFORMED.items():
            reply = await asyncio.to_thread(request, admin_port, wire)
            assert reply.status == 400, name
        assert (await asyncio.to_thread(get, admin_port, "/healthz")).status == 200
    text = served.stderr
    assert served.code == 0, text
    assert "Traceback" not in text and " ERROR " not in text, text[-3000:]
    refused = [line for line in text.splitlines() if "Error handling request" in line]
    if level == "DEBUG":  # one line each, at DEBUG, with the status and aiohttp's reason
        assert len(refused) == len(MALFORMED), refused
        assert all(" DEBUG aiohttp.server: " in line and ": 400 " in line for line in refused), refused
        assert any("Invalid header token" in line for line in refused)
    else:
        assert refused == []


def test_server_errors_that_are_not_a_clients_bad_request_keep_their_level_and_traceback() -> None:
    try:
        raise RuntimeError("handler bug")
    except RuntimeError as exc:
        record = logging.LogRecord(
            "aiohttp.server",
            logging.ERROR,
            __file__,
            1,
            "Error handling request",
            (),
            (RuntimeError, exc, None),
        )
    assert ClientErrorFilter().filter(record) is True
    assert (record.levelno, record.msg) == (logging.ERROR, "Error handling request")
    assert record.exc_info is not None
