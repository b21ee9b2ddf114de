"""Every admin route needs the bearer token except the declared open set; no CORS; no path trick gets around it.

The routes are enumerated from the real app's router at collection time, so a route added later (by any
package) is covered without editing this file: if it answers without the token, this test fails until it is
either guarded or added to `OPEN` on purpose.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
from aiohttp import web

from sidecar.app import create_app
from sidecar.server import Sidecar
from sidecar.settings import Settings
from tests.security.running import Reply, get, running_sidecar

TOKEN = "adm1n-t0ken-for-the-route-audit"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
OPEN = frozenset({"/healthz", "/readyz", "/metrics"})
"""Paths that answer without the token: probes and Prometheus scrapes carry no credentials."""
ROUTER_ERRORS = ({"error": "Not Found"}, {"error": "Method Not Allowed"})
ORIGIN = {"Origin": "https://attacker.example", "Access-Control-Request-Method": "POST"}


def _settings(tmp: Path, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "upstream": "http://127.0.0.1:9",
        "host": "127.0.0.1",
        "port": 0,
        "admin_port": 0,
        "admin_token": TOKEN,
        "database_url": f"sqlite+aiosqlite:///{tmp / 'driftcar.db'}",
        "capture": {"spool_dir": str(tmp / "spool")},
        **overrides,
    }
    return Settings.model_validate(values)


def _concrete(resource: web.AbstractResource) -> str:
    """A path the resource matches, with every variable filled by a value no store holds."""
    info = resource.get_info()
    if "path" in info:
        return str(info["path"])
    formatter, pattern = str(info["formatter"]), info["pattern"]
    for filler in ("no-such-thing", "987654321"):
        path = re.sub(r"\{[^}]+\}", filler, formatter)
        if pattern.fullmatch(path):
            return path
    raise AssertionError(f"cannot fill {formatter!r}: add a filler value for its pattern")


def admin_routes() -> list[tuple[str, str]]:
    """(method, concrete path) of every route the sidecar's admin app serves."""
    app = create_app(_settings(Path("/nonexistent")))
    routes = {(route.method, _concrete(route.resource)) for route in app.router.routes() if route.resource}
    return sorted(routes)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "route" in metafunc.fixturenames:
        routes = admin_routes()
        metafunc.parametrize("route", routes, ids=[f"{m} {p}" for m, p in routes])


@pytest.fixture(scope="module")
def guarded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sidecar]:
    """One sidecar with an admin token, shared by the module's tests."""
    with running_sidecar(_settings(tmp_path_factory.mktemp("guarded"))) as sidecar:
        yield sidecar


def _no_cors(reply: Reply) -> None:
    assert not [k for k, _ in reply.headers if k.startswith("access-control-")], reply.headers


def test_the_enumeration_sees_the_known_routes() -> None:
    paths = {p for _, p in admin_routes()}
    assert paths >= OPEN
    assert {"/api/records", "/api/monitors", "/api/feedback", "/reports", "/api/alerts"} <= paths


def test_each_route_needs_the_token_unless_declared_open(route: tuple[str, str], guarded: Sidecar) -> None:
    method, path = route
    anonymous = get(guarded.admin_port, path, ORIGIN, method=method)
    _no_cors(anonymous)
    if path in OPEN:
        assert anonymous.status != 401, (method, path)
        return
    assert anonymous.status == 401, (method, path, anonymous.status, anonymous.body[:200])
    assert (anonymous.header("www-authenticate") or "").startswith("Bearer")
    if method != "HEAD":
        assert TOKEN.encode() not in anonymous.body
        assert set(orjson.loads(anonymous.body)) == {"error"}
    authorised = get(guarded.admin_port, path, {**AUTH, **ORIGIN}, method=method)
    _no_cors(authorised)
    assert authorised.status != 401, (method, path)
    if method != "HEAD":
        # The route's own handler answered (a 404 for the unknown name at most), not the router's 404/405.
        is_json = (authorised.header("content-type") or "").startswith("application/json")
        assert not (is_json and orjson.loads(authorised.body) in ROUTER_ERRORS), (method, path, authorised.body)


@pytest.mark.parametrize("path", ["/api/records", "/healthz", "/reports", "/nope"])
def test_preflight_gets_no_cors_headers(path: str, guarded: Sidecar) -> None:
    for headers in ({**ORIGIN, "Access-Control-Request-Headers": "authorization"}, {**ORIGIN, **AUTH}):
        reply = get(guarded.admin_port, path, headers, method="OPTIONS")
        _no_cors(reply)
        assert reply.status in (401, 404, 405), (path, reply.status)


TRICKS = [
    "/healthz/../api/records",
    "/metrics/%2e%2e/api/records",
    "/readyz/%2E%2E%2Fapi%2Frecords",
    "/healthz%2F..%2Fapi%2Frecords",
    "/healthz/..%2Fapi/records",
    "//api/records",
    "/./api/records",
    "/api/./records",
    "/api//records",
    "/api/records/",
    "/API/records",
    "/api/records%00/healthz",
    "/api%2Frecords",
    "/gate/../api/records",
    "/gate/%2e%2e/api/records",
    "/gate/..%2Fapi%2Frecords",
    "/gate/x/../../api/records",
    "/healthz;/api/records",
    "/healthz#/api/records",
    "/api/records?/healthz",
    "/api/records%3F/healthz",
    "/metrics/../reports",
]


@pytest.fixture(scope="module")
def open_gate(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sidecar]:
    """A sidecar whose gate answers without the token (`alerts.open_gate`), the widest open set there is."""
    settings = _settings(tmp_path_factory.mktemp("open-gate"), alerts={"open_gate": True})
    with running_sidecar(settings) as sidecar:
        yield sidecar


@pytest.mark.parametrize("target", TRICKS)
def test_no_path_trick_reaches_a_guarded_route_without_the_token(target: str, open_gate: Sidecar) -> None:
    reply = get(open_gate.admin_port, target)
    # Either refused (401), or answered by an open route / the router's 404 / a 400 - never guarded data.
    assert reply.status in (400, 401, 404) or (reply.status == 200 and reply.body == b'{"status":"ok"}'), (
        target,
        reply.status,
        reply.body[:200],
    )
    assert b'"records"' not in reply.body and b"<html" not in reply.body.lower()


def test_the_open_gate_opens_only_the_gate(open_gate: Sidecar) -> None:
    assert get(open_gate.admin_port, "/gate/no-such-monitor").status == 404
    assert get(open_gate.admin_port, "/gate/no-such-monitor", method="POST").status == 404
    assert get(open_gate.admin_port, "/api/alerts").status == 401
    assert get(open_gate.admin_port, "/gatex").status == 401


@pytest.mark.parametrize(
    "value",
    ["\x1b[31mred\x1b[0m", "r" * 10_240, 'id" level=ERROR msg="forged', "idé", "a\x00b"],
    ids=["ansi-escape", "ten-kb", "quotes", "non-ascii", "nul"],
)
def test_unsafe_request_ids_on_the_admin_port_are_replaced(value: str, guarded: Sidecar) -> None:
    reply = get(guarded.admin_port, "/api/records", {"X-Request-ID": value})
    raw = value.encode("latin-1")
    assert raw not in reply.body and b"\x1b" not in reply.body and b"\x00" not in reply.body
    if reply.status == 400:
        return  # refused by aiohttp's HTTP parser (control bytes, a line over 8 KiB) before any handler
    echoed = reply.header("x-request-id") or ""
    assert re.fullmatch(r"[0-9a-f]{32}", echoed), (reply.status, echoed[:80])


@pytest.mark.parametrize(
    ("admin_host", "token", "warned"),
    [("0.0.0.0", None, True), ("::", None, True), ("10.1.2.3", None, True), ("0.0.0.0", TOKEN, False),
     ("127.0.0.1", None, False), ("::1", None, False), ("localhost", None, False)],
)
def test_an_open_admin_api_off_loopback_is_warned_about(
    admin_host: str, token: str | None, warned: bool, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="sidecar.admin")
    create_app(_settings(tmp_path, admin_host=admin_host, admin_token=token))
    warnings = [r.getMessage() for r in caplog.records if "without admin_token" in r.getMessage()]
    assert len(warnings) == (1 if warned else 0), warnings
