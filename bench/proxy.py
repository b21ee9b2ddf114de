"""Proxy benchmark: the same upstream direct, through nginx, and through driftcar (capture on and off).

Closed loop with wrk (requests/s, p50/p99, proxy CPU µs per request from /proc) and an open loop at a fixed
rate from this process (latency measured from each request's scheduled send time, so queueing is not hidden).
Everything runs on 127.0.0.1 and every loop is bounded in time. Run: `.venv/bin/python bench/proxy.py`.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import aiohttp

ROOT = Path(__file__).resolve().parent.parent
BODY = (
    b'{"feature1": 5.1, "feature2": 3.5, "feature3": 1.4, "feature4": 0.2, "feature5": 12.25, '
    b'"feature6": 7.75, "feature7": 0.001, "feature8": 1234.5, "region": "north", "segment": "retail", '
    b'"channel": "web", "age_band": "35-44", "tenure_months": 27, "score": 0.8731, "flag": true, "n": 3}'
)
CLK_TCK = os.sysconf("SC_CLK_TCK")

UPSTREAM_CODE = textwrap.dedent(
    """
    import sys, uvloop
    from aiohttp import web
    async def predict(request):
        await request.read()
        return web.Response(body=b'{"prediction": 0, "probability": 0.8731, "model_version": "3"}',
                            content_type="application/json")
    app = web.Application()
    app.router.add_post("/predict", predict)
    web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), access_log=None, print=None,
                loop=uvloop.new_event_loop())
    """
)

NGINX_CONF = """
worker_processes {workers};
pid {dir}/nginx.pid;
error_log {dir}/error.log warn;
daemon off;
events {{ worker_connections 1024; }}
http {{
  access_log off;
  client_body_temp_path {dir}/body; proxy_temp_path {dir}/proxy;
  fastcgi_temp_path {dir}/fcgi; uwsgi_temp_path {dir}/uwsgi; scgi_temp_path {dir}/scgi;
  upstream model {{ server 127.0.0.1:{upstream}; keepalive 64; }}
  server {{
    listen 127.0.0.1:{port};
    location / {{ proxy_pass http://model; proxy_http_version 1.1; proxy_set_header Connection ""; }}
  }}
}}
"""


def serve_args(up_port: int, port: int, admin_port: int, db: Path) -> list[str]:
    """`driftcar` arguments for a quiet `serve` on 127.0.0.1 in front of `up_port`, storing in SQLite at `db`."""
    return [
        "--log-level",
        "WARNING",
        "serve",
        "--upstream",
        f"http://127.0.0.1:{up_port}",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--admin-port",
        str(admin_port),
        "--database-url",
        f"sqlite:///{db}",
    ]


def free_port() -> int:
    """A free TCP port on 127.0.0.1."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU time of the given processes (from /proc), in seconds."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except FileNotFoundError:
            continue
        total += int(fields[11]) + int(fields[12])
    return total / CLK_TCK


def children(pid: int) -> list[int]:
    """A process and all its descendants."""
    out = [pid]
    for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split():
        out.extend(children(int(child)))
    return out


def wait_port(port: int, timeout: float = 60.0) -> None:
    """Block until something accepts connections on the port."""
    import socket

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listening on {port}")


@contextmanager
def process(
    args: list[str], port: int, env: dict[str, str] | None = None
) -> Iterator[subprocess.Popen[bytes]]:
    """Run a server process for the duration of the block."""
    proc = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        wait_port(port)
        yield proc
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()


@dataclass
class Closed:
    """A wrk run."""

    rps: float
    p50_ms: float
    p99_ms: float
    requests: int
    errors: int
    cpu_us: float | None


def _percentile_ms(out: str, pct: str) -> float:
    """A latency percentile from wrk's --latency table, in milliseconds."""
    match = re.search(rf"^\s+{pct}%\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
    if match is None:
        raise RuntimeError(f"no {pct}% line in wrk output:\n{out}")
    return float(match.group(1)) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[match.group(2)]


def run_wrk(url: str, seconds: int, connections: int, pids: list[int] | None, lua: Path) -> Closed:
    """Closed loop: wrk with `connections` keep-alive connections for `seconds`."""
    before = cpu_seconds(pids) if pids else 0.0
    out = subprocess.run(
        ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency", "-s", str(lua), url],
        capture_output=True,
        text=True,
        check=True,
        timeout=seconds + 30,
    ).stdout
    cpu = cpu_seconds(pids) - before if pids else None
    requests = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    errors = sum(int(n) for n in re.findall(r"(?:connect|read|write|timeout) (\d+)", out))
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors += int(non2xx.group(1)) if non2xx else 0
    return Closed(
        rps=float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),  # type: ignore[union-attr]
        p50_ms=_percentile_ms(out, "50"),
        p99_ms=_percentile_ms(out, "99"),
        requests=requests,
        errors=errors,
        cpu_us=cpu / requests * 1e6 if cpu is not None and requests else None,
    )


async def open_loop(url: str, rate: int, seconds: float) -> tuple[float, float, int]:
    """Fixed-rate load; latency from each request's scheduled time. Returns p50 ms, p99 ms, errors."""
    latencies: list[float] = []
    errors = 0
    total = int(rate * seconds)
    connector = aiohttp.TCPConnector(limit=256)
    async with aiohttp.ClientSession(connector=connector) as http:
        start = time.perf_counter() + 0.1

        async def one(i: int) -> None:
            nonlocal errors
            due = start + i / rate
            delay = due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            try:
                async with http.post(url, data=BODY, headers={"Content-Type": "application/json"}) as resp:
                    await resp.read()
                    if resp.status != 200:
                        errors += 1
            except aiohttp.ClientError:
                errors += 1
            latencies.append(time.perf_counter() - due)

        await asyncio.wait_for(asyncio.gather(*(one(i) for i in range(total))), timeout=seconds + 60)
    latencies.sort()
    return latencies[len(latencies) // 2] * 1000, latencies[int(len(latencies) * 0.99)] * 1000, errors


def main() -> int:
    """Run every target and print a table of figures and ratios."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=int, default=10, help="closed-loop duration per target")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--rate", type=int, default=1000, help="open-loop requests per second")
    parser.add_argument("--open-seconds", type=float, default=10.0)
    args = parser.parse_args()
    if not shutil.which("wrk") or not shutil.which("nginx"):
        print("needs wrk and nginx (apt-get install wrk nginx)", file=sys.stderr)
        return 2
    work = Path(tempfile.mkdtemp(prefix="driftcar-bench-"))
    lua = work / "post.lua"
    lua.write_text(
        'wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\n'
        f"wrk.body = [[{BODY.decode()}]]\n"
    )
    up_port, ngx_port = free_port(), free_port()
    upstream = [sys.executable, "-c", UPSTREAM_CODE, str(up_port)]
    (work / "nginx").mkdir()
    conf = work / "nginx.conf"
    conf.write_text(NGINX_CONF.format(workers=1, dir=work / "nginx", upstream=up_port, port=ngx_port))
    results: dict[str, tuple[Closed, tuple[float, float, int]]] = {}
    with process(upstream, up_port):
        targets: list[tuple[str, list[str] | None, int, dict[str, str]]] = [
            ("direct", None, up_port, {}),
            ("nginx", ["nginx", "-c", str(conf)], ngx_port, {}),
            ("driftcar (capture off)", None, 0, {"DRIFTCAR_CAPTURE__ENABLED": "false"}),
            ("driftcar (capture on)", None, 0, {}),
        ]
        for name, cmd, port, extra_env in targets:
            if name.startswith("driftcar"):
                port, admin = free_port(), free_port()
                db = work / f"{port}.db"
                cmd = [str(ROOT / ".venv/bin/driftcar"), *serve_args(up_port, port, admin, db)]
                extra_env = {**extra_env, "DRIFTCAR_CAPTURE__SPOOL_DIR": str(work / f"spool-{port}")}
            url = f"http://127.0.0.1:{port}/predict"
            if cmd is None:
                closed = run_wrk(url, args.seconds, args.connections, None, lua)
                opened = asyncio.run(open_loop(url, args.rate, args.open_seconds))
            else:
                with process(cmd, port, env={**os.environ, **extra_env}) as proc:
                    run_wrk(url, 2, args.connections, None, lua)  # warm-up
                    closed = run_wrk(url, args.seconds, args.connections, children(proc.pid), lua)
                    opened = asyncio.run(open_loop(url, args.rate, args.open_seconds))
            results[name] = (closed, opened)
            print(f"  measured {name}: {closed.rps:,.0f} req/s", file=sys.stderr)
    print(
        f"\nclosed loop: wrk -c{args.connections} {args.seconds}s; open loop: {args.rate} req/s for "
        f"{args.open_seconds:g}s; ~{len(BODY)} B JSON body; {os.cpu_count()} cores"
    )
    print(
        f"{'target':26} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'CPU µs/req':>11} {'errors':>7}"
        f" | {'open p50':>9} {'open p99':>9} {'errors':>6}"
    )
    for name, (c, (p50, p99, oerr)) in results.items():
        cpu = f"{c.cpu_us:.0f}" if c.cpu_us is not None else "-"
        print(
            f"{name:26} {c.rps:9,.0f} {c.p50_ms:8.2f} {c.p99_ms:8.2f} {cpu:>11} {c.errors:7d}"
            f" | {p50:9.3f} {p99:9.3f} {oerr:6d}"
        )
    on, nginx, direct = results["driftcar (capture on)"], results["nginx"], results["direct"]
    print(f"\ndriftcar (capture on) throughput / nginx: {on[0].rps / nginx[0].rps:.2f}x (target >= 0.5)")
    if on[0].cpu_us and nginx[0].cpu_us:
        print(
            f"driftcar CPU per request: {on[0].cpu_us:.0f} µs (target <= 120); nginx {nginx[0].cpu_us:.0f} µs"
        )
    print(
        f"added latency at {args.rate} req/s vs direct: p50 {on[1][0] - direct[1][0]:+.3f} ms (target <= 0.3), "
        f"p99 {on[1][1] - direct[1][1]:+.3f} ms (target <= 1.5)"
    )
    shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
