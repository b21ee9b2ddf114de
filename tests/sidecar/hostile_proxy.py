"""A real proxy (`proxy_harness.py`) in front of an upstream that answers each request with the hostile response
drawn for it (looked up by request id): the harness for `test_proxy_hostile.py` and `bench.fuzz --proxy`.
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Iterator
from pathlib import Path

from aiohttp import web

from tests.sidecar.capture.hostile import CAPTURE_LIMIT, Hostile
from tests.sidecar.proxy_harness import ProxyHarness, running_proxy
from tests.sidecar.scrape import scrape

ANSWERS = web.AppKey("answers", dict[str, Hostile])
_NOT_FORWARDED = frozenset({"content-length", "transfer-encoding", "connection"})


async def _answer(request: web.Request) -> web.Response:
    """The hostile response drawn for this request id, byte for byte (aiohttp adds only its framing)."""
    await request.read()
    case = request.app[ANSWERS][request.headers["X-Request-ID"]]
    headers = [(k, v) for k, v in case.response_headers if k.lower() not in _NOT_FORWARDED]
    resp = web.Response(status=case.status, body=case.response_body)
    for name, value in headers:
        resp.headers.add(name, value)
    return resp


def _upstream() -> web.Application:
    app = web.Application(client_max_size=64 << 20, handler_args={"auto_decompress": False})
    app[ANSWERS] = {}
    app.router.add_route("*", "/{tail:.*}", _answer)
    return app


async def _send(harness: ProxyHarness, case: Hostile, request_id: str) -> tuple[int, bytes]:
    """Send the hostile request through the proxy; (status, response bytes as received)."""
    harness.upstream.app[ANSWERS][request_id] = case
    headers = [(k, v) for k, v in case.request_headers if k.lower() not in _NOT_FORWARDED]
    async with harness.client.request(
        case.method,
        harness.url(case.path),
        data=io.BytesIO(case.request_body),  # raw bytes over 1 MiB make aiohttp warn
        headers=[*headers, ("X-Request-ID", request_id)],
        skip_auto_headers=["Content-Type"],
    ) as resp:
        return resp.status, await resp.read()


@contextlib.contextmanager
def running_harness(tmp_path: Path) -> Iterator[ProxyHarness]:
    """The hostile upstream and a sidecar in front of it until the block ends; SQLite and spool under
    `tmp_path`."""
    # Redaction runs on whatever the adapters made of the hostile bodies, too.
    routes = [{"path": "*", "redact": ["feature1", "f0", "x_0", "sepal_length"]}]
    with running_proxy(tmp_path, _upstream(), capture_limit=CAPTURE_LIMIT, overrides={"routes": routes}) as h:
        yield h


def send_and_compare(harness: ProxyHarness, case: Hostile, request_id: str) -> None:
    """Send one hostile exchange; assert the client got the upstream's exact status and bytes."""
    status, body = harness.run(_send(harness, case, request_id))
    assert (status, body) == (case.status, case.response_body), case.mutation
    harness.sent.append(request_id)


def assert_all_recorded(harness: ProxyHarness, timeout: float = 60.0) -> None:
    """Every request sent has records, none says `capture failed`, and the failure and drop counters are 0."""
    ids, failed = harness.run(harness.stored(timeout), timeout + 120.0)
    missing = set(harness.sent) - ids
    assert not missing, (
        f"{len(missing)} of {len(harness.sent)} requests left no record: {sorted(missing)[:5]}"
    )
    assert ids == set(harness.sent)  # nothing recorded that was not sent
    assert failed == 0
    metrics = harness.run(scrape(harness.client, harness.sidecar))
    assert {"driftcar_capture_failures", "driftcar_capture_exchanges_dropped"} <= metrics.families
    assert metrics.value("driftcar_capture_failures_total") == 0
    assert metrics.value("driftcar_capture_exchanges_dropped_total") == 0
