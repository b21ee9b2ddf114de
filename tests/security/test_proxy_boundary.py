"""The proxy port is the upstream's, not driftcar's: admin paths, secrets, traversal targets and request ids.

* driftcar's admin paths on the proxy port are forwarded to the upstream like any other path;
* nothing driftcar knows (admin token, webhook secret, database URL, redaction salt) is ever sent upstream;
* dot segments and encoded slashes are forwarded byte for byte: the upstream resolves its own paths (a proxy
  that "cleans" them would make it see a different resource than the client named);
* a client's X-Request-ID that is not a safe token (CR/LF, escapes, 10 KB) is replaced, and never logged.
"""

from __future__ import annotations

import asyncio
import io
import logging
import re
from typing import Any

import aiohttp
import pytest

from tests.security.conftest import RawRecorder
from tests.sidecar.conftest import SidecarFactory, admin_url, proxy_url, wait_records

ADMIN_TOKEN = "admin-t0ken-never-upstream"
WEBHOOK_SECRET = "webhook-s3cret-never-upstream"
SALT = "salt-never-upstream"
PASSWORD = "s3cr3t-pw-never-upstream"
TIMEOUT = 10.0


async def _raw(port: int, wire: bytes) -> bytes:
    """Send raw bytes to the proxy and read until it closes the connection."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(wire)
        async with asyncio.timeout(TIMEOUT):
            return await reader.read()
    finally:
        writer.close()


@pytest.mark.parametrize(
    "path", ["/metrics", "/api/records", "/reports", "/healthz", "/readyz", "/gate/m", "/api/monitors"]
)
async def test_admin_paths_on_the_proxy_port_go_to_the_upstream(
    path: str, make_sidecar: SidecarFactory, recorder: RawRecorder, http: aiohttp.ClientSession
) -> None:
    recorder.body = b'{"from": "upstream"}'
    sidecar = await make_sidecar(recorder.url, admin_token=ADMIN_TOKEN)
    async with http.get(proxy_url(sidecar, path)) as resp:
        assert (resp.status, await resp.read()) == (200, b'{"from": "upstream"}')
    assert recorder.targets == [path.encode()]


@pytest.mark.postgres
async def test_no_secret_is_ever_sent_upstream(
    postgres_url: str,
    make_sidecar: SidecarFactory,
    recorder: RawRecorder,
    http: aiohttp.ClientSession,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TEST_WEBHOOK_SECRET", WEBHOOK_SECRET)
    database_url = postgres_url.replace("postgres@", f"postgres:{PASSWORD}@", 1)
    assert PASSWORD in database_url
    hook = {"name": "ops", "url": "http://127.0.0.1:9/hook", "secret_env": "TEST_WEBHOOK_SECRET"}
    sidecar = await make_sidecar(
        recorder.url,
        database_url=database_url,
        admin_token=ADMIN_TOKEN,
        alerts={"webhooks": [hook]},
        capture={"redaction_salt": SALT},
        routes=[{"path": "/predict", "redact": ["ssn"]}],
    )
    requests: list[tuple[str, str, dict[str, Any]]] = [
        ("GET", "/", {}),
        ("POST", "/predict", {"json": {"ssn": "1", "x": 2}}),
        ("POST", "/predict", {"data": io.BytesIO(b"a" * 3_000_000)}),  # streamed (over capture.max_body_bytes)
        ("PUT", "/api/records", {"data": b"{}"}),
        ("GET", "/readyz", {"headers": {"Authorization": "Bearer client-own-credential"}}),
    ]
    for method, path, kw in requests:
        async with http.request(method, proxy_url(sidecar, path), **kw) as resp:
            assert resp.status == 200
    auth = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    async with asyncio.timeout(TIMEOUT):
        while True:
            async with http.get(admin_url(sidecar, "/api/records"), headers=auth) as resp:
                if len((await resp.json())["records"]) >= 2:
                    break
            await asyncio.sleep(0.05)
    assert len(recorder.requests) == len(requests)
    wire = b"\n".join(recorder.requests)
    for secret in (ADMIN_TOKEN, WEBHOOK_SECRET, SALT, PASSWORD, "postgresql", "driftcar_test_"):
        assert secret.encode() not in wire, secret
    # Transparent: the client's own credentials are the client's business, forwarded as sent.
    assert b"Authorization: Bearer client-own-credential\r\n" in recorder.requests[-1]


TRAVERSAL = [
    b"/../etc/passwd",
    b"/a/../../b",
    b"/v1/models/m/../../../admin",
    b"/%2e%2e/%2e%2e/etc/passwd",
    b"/%2E%2E%2Fsecret",
    b"/v1/models/a%2Fb:predict",
    b"/..%2f..%2f..%2fetc%2fpasswd",
    b"/./x/./y",
    b"//double//slash",
    b"/%252e%252e/double-encoded",
    b"/x?next=/../../admin&y=%2e%2e",
    b"/a%00b",
    b"/caf%C3%A9/%ff",
]


@pytest.mark.parametrize("target", TRAVERSAL, ids=[t.decode() for t in TRAVERSAL])
async def test_traversal_targets_are_forwarded_byte_for_byte(
    target: bytes, make_sidecar: SidecarFactory, recorder: RawRecorder
) -> None:
    sidecar = await make_sidecar(recorder.url)
    raw = await _raw(sidecar.port, b"GET %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n" % target)
    assert raw.startswith(b"HTTP/1.1 200 "), raw[:200]
    assert recorder.targets == [target]


@pytest.mark.parametrize(
    ("target", "status"),
    [(b"/a\\..\\b", 200), (b"/a b", 400), (b"/a\tb", 400), (b"/\x1b[31m", 400), (b"/a\x7fb", 400)],
    ids=["backslash", "space", "tab", "escape", "del"],
)
async def test_targets_with_raw_control_or_space_bytes_are_rejected_and_a_backslash_kept(
    target: bytes, status: int, make_sidecar: SidecarFactory, recorder: RawRecorder
) -> None:
    sidecar = await make_sidecar(recorder.url)
    raw = await _raw(sidecar.port, b"GET %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n" % target)
    assert int(raw.split(b" ", 2)[1]) == status, raw[:200]
    assert recorder.targets == ([target] if status == 200 else [])


# (A CRLF inside a value cannot exist on the wire: `abc\r\nX-B: 1` is the id `abc` and a header `X-B`.)
BAD_IDS = {
    "bare-lf": b"abc\nX-Injected: 1",
    "bare-cr": b"abc\rdef",
    "ansi-escape": b"\x1b[31mred\x1b[0m\x1b]0;title\x07",
    "ten-kb": b"r" * 10_240,
    "nul": b"a\x00b",
    "quotes-and-spaces": b'id" level=ERROR msg="forged',
    "non-ascii": "idé€".encode(),
}
_SAFE_ID = re.compile(r"[0-9a-f]{32}")


@pytest.mark.parametrize("value", list(BAD_IDS.values()), ids=list(BAD_IDS))
async def test_unsafe_request_ids_are_replaced_and_never_logged(
    value: bytes,
    make_sidecar: SidecarFactory,
    recorder: RawRecorder,
    http: aiohttp.ClientSession,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    recorder.status = 500  # an upstream error is logged with the request id
    sidecar = await make_sidecar(recorder.url)
    wire = b"POST /predict HTTP/1.1\r\nHost: x\r\nX-Request-ID: %s\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}"
    raw = await _raw(sidecar.port, wire % value)
    status = int(raw.split(b" ", 2)[1])
    head = raw.split(b"\r\n\r\n", 1)[0]
    assert status in (400, 500), raw[:300]
    assert value not in raw
    echoed = re.search(rb"\r\nX-Request-ID: ([^\r\n]*)", head)
    assert echoed is not None and _SAFE_ID.fullmatch(echoed[1].decode()), head
    if status == 500:
        (sent,) = recorder.requests
        assert value not in sent and b"X-Injected" not in sent
        assert b"\r\nX-Request-ID: %s\r\n" % echoed[1] in sent
        (record,) = await wait_records(http, sidecar, 1)
        assert record["request_id"] == echoed[1].decode()
    # Nothing the client sent as an id reaches a log line (its first 64 bytes, for the 10 KB one).
    needles = {value[:64], *(p for p in re.split(rb"[\r\n\x1b\x07]", value) if len(p) >= 6)}
    text = "\n".join(r.getMessage() for r in caplog.records).encode("utf-8", "surrogateescape")
    assert not [n for n in needles if n in text], needles
    assert b"\x1b" not in text
