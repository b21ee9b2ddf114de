"""Helpers for the security tests: a real sidecar on its own event loop thread, and raw HTTP/1.1 requests.

A module-scoped sidecar lets one parametrized test per admin route share a single start-up; requests are sent
as raw bytes (a client library would normalise the very paths and headers under test).
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from sidecar.server import Sidecar
from sidecar.settings import Settings

TIMEOUT = 20.0
DRIFTCAR = Path(sys.executable).with_name("driftcar")


@dataclass(frozen=True)
class Reply:
    """One response as read off the wire: status, headers (names lower-cased, in order) and body."""

    status: int
    headers: tuple[tuple[str, str], ...]
    body: bytes

    def header(self, name: str) -> str | None:
        """The first value of a header, or None."""
        return next((v for k, v in self.headers if k == name.lower()), None)


@contextmanager
def running_sidecar(settings: Settings) -> Iterator[Sidecar]:
    """Start a sidecar on a thread of its own (its own loop); stop it and join the thread on exit."""
    loop = asyncio.new_event_loop()
    sidecar = Sidecar(settings)
    started = threading.Event()
    failure: list[BaseException] = []
    stop = asyncio.Event()

    async def main() -> None:
        try:
            await sidecar.start()
        except BaseException as exc:
            failure.append(exc)
            started.set()
            return
        started.set()
        try:
            await stop.wait()
        finally:
            await sidecar.stop()

    thread = threading.Thread(target=loop.run_until_complete, args=(main(),), name="sidecar", daemon=True)
    thread.start()
    try:
        assert started.wait(TIMEOUT), "the sidecar did not start in time"
        if failure:
            raise failure[0]
        yield sidecar
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(TIMEOUT)
        assert not thread.is_alive(), "the sidecar did not stop in time"
        loop.close()


def request(port: int, wire: bytes) -> Reply:
    """Send one raw request (it must ask for `Connection: close`) and read the whole response."""
    with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as sock:
        sock.sendall(wire)
        chunks = []
        while data := sock.recv(65536):
            chunks.append(data)
    raw = b"".join(chunks)
    head, _, body = raw.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = tuple((k.strip().lower(), v.strip()) for k, _, v in (line.partition(":") for line in lines))
    if any(k == "transfer-encoding" and "chunked" in v.lower() for k, v in headers):
        body = _dechunk(body)
    return Reply(int(status_line.split(" ", 2)[1]), headers, body)


def get(port: int, target: str, headers: dict[str, str] | None = None, method: str = "GET") -> Reply:
    """A request with no body (`target` sent exactly as given)."""
    lines = [f"{method} {target} HTTP/1.1", "Host: 127.0.0.1", "Connection: close"]
    lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
    if method in ("POST", "PUT", "PATCH"):
        lines.append("Content-Length: 0")
    return request(port, ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))


def _dechunk(body: bytes) -> bytes:
    out = bytearray()
    while body:
        size_line, _, rest = body.partition(b"\r\n")
        size = int(size_line.split(b";", 1)[0], 16)
        if size == 0:
            break
        out += rest[:size]
        body = rest[size + 2 :]
    return bytes(out)


def serve_env(**values: str) -> dict[str, str]:
    """The environment for a `driftcar serve` process: this one's without any DRIFTCAR_* variable, plus `values`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DRIFTCAR_")}
    return {**env, **values}


def start_serve(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    """`driftcar --log-level DEBUG serve ARGS` with its stdout and stderr going to `log`."""
    with log.open("wb") as out:
        return subprocess.Popen(
            [str(DRIFTCAR), "--log-level", "DEBUG", "serve", *args],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )


def stop_serve(process: subprocess.Popen[bytes]) -> int:
    """SIGTERM and wait (killed when it does not stop in time); its exit status."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
    try:
        return process.wait(TIMEOUT * 3)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(TIMEOUT)
        raise


def wait_ready(process: subprocess.Popen[bytes], admin_port: int, log: Path, deadline: float = 90.0) -> None:
    """Wait until the process answers /healthz on its admin port (fails with its log if it exits first)."""
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        if process.poll() is not None:
            raise AssertionError(f"driftcar serve exited with {process.returncode}:\n{log.read_text()[-3000:]}")
        try:
            if get(admin_port, "/healthz").status == 200:
                return
        except OSError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"driftcar serve did not answer within {deadline} s:\n{log.read_text()[-3000:]}")
