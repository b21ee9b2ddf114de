"""CPU per proxied request in the driftcar process, for a fixed number of requests (not a fixed duration).

Wall-clock throughput is unreliable on a shared machine; the work one request costs the proxy process is not.
This runs the trivial upstream of `bench.proxy`, then driftcar with capture on and off, sends a warm-up and then
`--requests` POSTs over `--connections` keep-alive connections from a small raw-socket client, waits until the
driftcar process is idle again (capture parsed, records written) and reports, per request, either

- CPU µs from /proc (`--mode proc`, the default; median of `--repeat` batches), or
- instructions from valgrind's callgrind (`--mode callgrind`: instrumentation is switched on after the warm-up,
  so start-up is not counted; the process runs ~50x slower, the count does not depend on the machine's load).

`--root` runs driftcar from another checkout (e.g. `git worktree add /tmp/before <commit>`) with this venv, to
compare before and after on the same inputs. `--profile FILE` writes a cProfile of the whole run (FILE.on, FILE.off).
Everything runs on 127.0.0.1 and every loop is bounded. Run: `.venv/bin/python -m bench.proxy_cpu`.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.proxy import BODY, UPSTREAM_CODE, cpu_seconds, free_port, serve_args, wait_port

ROOT = Path(__file__).resolve().parent.parent
IDLE_POLL = 0.25
# The profile covers the whole process (uvloop runs no Python signal handlers, so it can't be switched on after
# the warm-up): start-up shows as import and migration functions apart from the request path.
PROFILE_CODE = """
import cProfile, sys, time
profiler, out = cProfile.Profile(time.thread_time), sys.argv[1]  # CPU time of the event loop's thread
sys.argv = ["driftcar", *sys.argv[2:]]
from sidecar.cli import main
profiler.enable()
try:
    code = main()
finally:
    profiler.disable()
    profiler.dump_stats(out)
raise SystemExit(code)
"""


def request_bytes(port: int) -> bytes:
    """The request every connection sends (what wrk sends in `bench.proxy`)."""
    return (
        b"POST /predict HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nContent-Type: application/json\r\n"
        b"Content-Length: %d\r\n\r\n%s" % (port, len(BODY), BODY)
    )


async def _one_connection(port: int, request: bytes, remaining: list[int], failures: list[bytes]) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        while remaining[0] > 0:
            remaining[0] -= 1
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            match = re.search(rb"(?im)^content-length:\s*(\d+)", head)
            if match is None:
                raise RuntimeError(f"response without Content-Length: {head!r}")
            await reader.readexactly(int(match.group(1)))
            if not head.startswith(b"HTTP/1.1 200 "):
                failures.append(head.split(b"\r\n", 1)[0])
    finally:
        writer.close()


def send(port: int, count: int, connections: int, timeout: float) -> None:
    """Send exactly `count` requests over `connections` keep-alive connections; raise on any non-200."""
    request = request_bytes(port)
    remaining = [count]
    failures: list[bytes] = []

    async def run() -> None:
        tasks = [_one_connection(port, request, remaining, failures) for _ in range(connections)]
        await asyncio.wait_for(asyncio.gather(*tasks), timeout=timeout)

    asyncio.run(run())
    if failures:
        raise RuntimeError(f"{len(failures)} failed requests, e.g. {failures[0]!r}")


def wait_serving(proc: subprocess.Popen[bytes], port: int, timeout: float) -> None:
    """Block until driftcar accepts connections on `port`; fail at once if it exits first."""
    deadline = time.monotonic() + timeout
    while proc.poll() is None:
        try:
            wait_port(port, timeout=0.5)
            return
        except RuntimeError:
            if time.monotonic() > deadline:
                raise
    raise RuntimeError("driftcar exited during start-up")


def wait_idle(pid: int, timeout: float) -> None:
    """Block until the process has used no CPU for three polls (its capture queue and writer have drained)."""
    deadline = time.monotonic() + timeout
    last, still = cpu_seconds([pid]), 0
    while still < 3:
        if time.monotonic() > deadline:
            raise RuntimeError(f"driftcar still busy after {timeout:g}s")
        time.sleep(IDLE_POLL)
        now = cpu_seconds([pid])
        still = still + 1 if now == last else 0
        last = now


def callgrind_total(pid: int, work: Path, keep: Path | None) -> int:
    """Dump callgrind's counters for `pid` and return the instructions since they were last zeroed."""
    subprocess.run(["callgrind_control", "-d", str(pid)], check=True, capture_output=True, timeout=120)
    dumps = sorted(work.glob(f"callgrind.out.{pid}.*"), key=lambda p: p.stat().st_mtime)
    if not dumps:
        raise RuntimeError("callgrind wrote no dump")
    if keep is not None:
        keep.mkdir(parents=True, exist_ok=True)
        shutil.copy(dumps[-1], keep / dumps[-1].name)
    text = dumps[-1].read_text(errors="replace")
    match = re.search(r"^(?:summary|totals):\s*(\d+)", text, re.M)
    if match is None:
        raise RuntimeError(f"no totals in {dumps[-1]}")
    return int(match.group(1))


def measure(args: argparse.Namespace, up_port: int, capture: bool, work: Path) -> list[float]:
    """Start driftcar, warm it up, measure the batches; per-request figures (µs or instructions)."""
    port, admin = free_port(), free_port()
    db = work / f"{port}.db"
    serve = serve_args(up_port, port, admin, db)
    if args.profile:
        cmd = [sys.executable, "-c", PROFILE_CODE, f"{args.profile}.{'on' if capture else 'off'}", *serve]
    else:
        cmd = [sys.executable, "-m", "sidecar.cli", *serve]
    if args.mode == "callgrind":
        cmd = [
            "valgrind",
            "--tool=callgrind",
            "--instr-atstart=no",
            f"--callgrind-out-file={work}/callgrind.out.%p",
            *cmd,
        ]
    env = {
        **os.environ,
        "PYTHONPATH": str(args.root),
        "DRIFTCAR_CAPTURE__ENABLED": "true" if capture else "false",
        "DRIFTCAR_CAPTURE__SPOOL_DIR": str(work / f"spool-{port}"),
        # Pollers that read the database on a clock: under callgrind a batch takes ~50x as long, so they would
        # add instructions in proportion to wall time, not to requests. The request path is what is measured.
        "DRIFTCAR_ALERTS__DELIVERY__POLL": "3600",
        "DRIFTCAR_METRICS__REFRESH": "3600",
    }
    slow = args.mode == "callgrind"
    proc = subprocess.Popen(cmd, env=env, cwd=work, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    figures: list[float] = []
    failure: Exception | None = None
    try:
        wait_serving(proc, port, timeout=600 if slow else 60)
        send(port, args.warmup, args.connections, timeout=600)
        wait_idle(proc.pid, timeout=300)
        if slow:
            subprocess.run(
                ["callgrind_control", "-i", "on", str(proc.pid)], check=True, capture_output=True, timeout=120
            )
        for _ in range(args.repeat):
            if slow:
                subprocess.run(
                    ["callgrind_control", "-z", str(proc.pid)], check=True, capture_output=True, timeout=120
                )
            before = cpu_seconds([proc.pid])
            send(port, args.requests, args.connections, timeout=3600 if slow else 300)
            wait_idle(proc.pid, timeout=3600 if slow else 300)
            if slow:
                figures.append(callgrind_total(proc.pid, work, args.keep) / args.requests)
            else:
                figures.append((cpu_seconds([proc.pid]) - before) / args.requests * 1e6)
    except Exception as exc:  # reported below with what driftcar printed
        failure = exc
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            _, err = proc.communicate(timeout=600)
        except subprocess.TimeoutExpired:
            proc.kill()
            _, err = proc.communicate()
    if failure is not None or proc.returncode not in (0, -signal.SIGTERM):
        raise RuntimeError(
            f"{failure or 'driftcar failed'} (exit {proc.returncode}): {err.decode(errors='replace')[-2000:]}"
        ) from failure
    sent = args.warmup + args.requests * args.repeat
    if capture:
        with sqlite3.connect(db) as conn:
            captured = conn.execute("SELECT count(*) FROM records").fetchone()[0]
        if captured != sent:
            raise RuntimeError(f"captured {captured} records of {sent} requests")
    return figures


def main() -> int:
    """Measure capture on and off for the tree at `--root`; print one line each."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--mode", choices=["proc", "callgrind"], default="proc")
    parser.add_argument("--requests", type=int, default=2000, help="requests per measured batch")
    parser.add_argument("--warmup", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=5, help="measured batches, each after the last")
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--capture", choices=["on", "off", "both"], default="both")
    parser.add_argument("--root", type=Path, default=ROOT, help="checkout to run driftcar from")
    parser.add_argument("--keep", type=Path, help="copy callgrind's dumps into this directory")
    parser.add_argument("--profile", help="cProfile each driftcar run into FILE.on / FILE.off")
    args = parser.parse_args()
    args.root = args.root.resolve()
    unit = "instructions/request" if args.mode == "callgrind" else "CPU µs/request"
    print(
        f"driftcar from {args.root}; {args.requests} requests x {args.repeat} after {args.warmup} warm-up, "
        f"{args.connections} connections, {len(BODY)} B JSON body; {unit}"
    )
    with tempfile.TemporaryDirectory(prefix="driftcar-cpu-") as tmp:
        work = Path(tmp)
        up_port = free_port()
        upstream = subprocess.Popen(
            [sys.executable, "-c", UPSTREAM_CODE, str(up_port)], stdout=subprocess.DEVNULL
        )
        try:
            wait_port(up_port)
            for capture in [True, False] if args.capture == "both" else [args.capture == "on"]:
                figures = measure(args, up_port, capture, work)
                shown = " ".join(f"{f:,.0f}" if f > 1000 else f"{f:.1f}" for f in figures)
                median = statistics.median(figures)
                print(f"capture {'on ' if capture else 'off'}: median {median:,.1f}  [{shown}]", flush=True)
        finally:
            upstream.send_signal(signal.SIGTERM)
            try:
                upstream.wait(timeout=30)
            except subprocess.TimeoutExpired:
                upstream.kill()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
