"""Run `driftcar serve --config FILE` once per file, each in a forked child of one process that imported
driftcar once (a fresh interpreter per file costs seconds of imports on a shared 2-core machine).

Each child runs the real entry point (`sidecar.cli.main`) with its stderr in `FILE.err`; an audit hook
installed before the fork appends every `socket.bind` and `sqlite3.connect` the child attempts to
`FILE.audit`, one JSON string per line, as it happens. Prints the exit codes as a JSON list. A child still running after `--timeout` is killed
(exit code -9): a config that wrongly passed would otherwise serve forever.

    python tests/sidecar/cli/forkserve.py [--timeout 60] FILE...
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import signal
import sys
import time
from typing import IO, Any

AUDITED = frozenset({"socket.bind", "sqlite3.connect", "sqlite3.connect/handle"})
_trail: list[IO[str]] = []
"""The child's audit file (empty in the parent)."""


def _audit(event: str, details: tuple[Any, ...]) -> None:
    if event in AUDITED and _trail:
        _trail[0].write(json.dumps(f"{event} {details!r}"[:200]) + "\n")
        _trail[0].flush()


def _child(config: str) -> int:
    """Serve with this config in the forked child; its exit code."""
    from sidecar.cli import main

    _trail.append(open(config + ".audit", "w", encoding="utf-8"))  # noqa: SIM115 - closed by os._exit
    fd = os.open(config + ".err", os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
    os.dup2(fd, 2)
    code = 1
    try:
        code = main(["serve", "--config", config])
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    finally:
        sys.stderr.flush()
    return code


def _wait(pid: int, timeout: float) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status)
        time.sleep(0.01)
    os.kill(pid, signal.SIGKILL)
    return os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])


def main() -> None:
    """Serve each file in a child; print the exit codes."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--timeout", type=float, default=60.0)
    parser.add_argument("configs", nargs="+")
    args = parser.parse_args()
    for module in ("sidecar.cli", "sidecar.cli.serve", "sidecar.settings", "alerts.dispatcher"):
        importlib.import_module(module)  # once, before the forks

    sys.addaudithook(_audit)
    codes = []
    for config in args.configs:
        sys.stdout.flush()
        pid = os.fork()
        if pid == 0:  # pragma: no cover - the child leaves through os._exit
            os._exit(_child(config))
        codes.append(_wait(pid, args.timeout))
    print(json.dumps(codes))


if __name__ == "__main__":
    main()
