"""The `driftcar` command: one module per subcommand, each exposing `register(subparsers)`."""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
from collections.abc import Callable, Sequence
from typing import Protocol

logger = logging.getLogger(__name__)

# Subcommand modules, imported lazily so that `driftcar serve` never pays for pandas/evidently imports.
SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "serve": ("sidecar.cli.serve", "run the capture proxy and the admin server"),
    "demo": ("sidecar.cli.demo", "run a self-contained demo: model server, driftcar on SQLite, traffic"),
    "db": ("sidecar.cli.db", "database schema migrations"),
    "drift": ("sidecar.cli.drift", "compare two CSV/Parquet files column by column for drift"),
    "bias": ("sidecar.cli.bias", "fairness metrics per protected attribute from a CSV/Parquet file"),
    "reference": ("sidecar.cli.reference", "store or list a monitor's versioned reference data"),
    "report": ("sidecar.cli.report", "run one monitor's report now against the database (no server needed)"),
    "consume": ("sidecar.cli.consume", "receive signed alerts, drop repeats, run their actions"),
    "check": ("sidecar.cli.check", "validate a configuration as serve would and summarise it; starts nothing"),
}


class Subcommand(Protocol):
    """What a subcommand module provides."""

    def configure(self, parser: argparse.ArgumentParser) -> None: ...

    def run(self, args: argparse.Namespace) -> int: ...


class CliError(Exception):
    """A usage or input error reported to the user as one line, exit status 2."""


def _load(name: str) -> Subcommand:
    module_name, _ = SUBCOMMANDS[name]
    module: Subcommand = importlib.import_module(module_name)
    return module


def build_parser(argv: Sequence[str]) -> argparse.ArgumentParser:
    """Build the parser; only the chosen subcommand's module is imported."""
    parser = argparse.ArgumentParser(
        prog="driftcar", description="Model-monitoring and drift-detection sidecar."
    )
    parser.add_argument("--log-level", default="INFO", help="logging level (default INFO)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    chosen = next((a for a in argv if a in SUBCOMMANDS), None)
    for name, (_, help_text) in SUBCOMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        if name == chosen:
            _load(name).configure(p)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `driftcar` console script."""
    args_list = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser(args_list)
    args = parser.parse_args(args_list)
    from sidecar.logs import LogFormat, setup_logging

    # `serve` switches to its settings' log_format once they are read; until then the environment decides.
    wanted = os.environ.get("DRIFTCAR_LOG_FORMAT", "").strip().lower()
    early_format: LogFormat = "json" if wanted == "json" else "text"
    setup_logging(args.log_level, early_format)
    # aiosqlite logs every statement with its parameters (captured features) at DEBUG: never payloads in logs.
    logging.getLogger("aiosqlite").setLevel(max(logging.INFO, logging.getLogger().level))
    runner: Callable[[argparse.Namespace], int] = _load(args.command).run
    try:
        return runner(args)
    except CliError as exc:
        print(f"driftcar {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
