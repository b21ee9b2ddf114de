"""`driftcar consume`: receive driftcar's signed alerts, drop repeats and run the configured actions."""

from __future__ import annotations

import argparse
import asyncio
import os
from typing import TYPE_CHECKING

from sidecar.cli import CliError
from sidecar.errors import DriftcarError

if TYPE_CHECKING:
    from alerts.consumer.config import ConsumerConfig

# MLflow's client otherwise retries a dead server for minutes and reports usage to its makers; an operator's
# own environment variables still win.
_MLFLOW_DEFAULTS = {
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "2",
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "30",
    "MLFLOW_DISABLE_TELEMETRY": "true",
}


def configure(parser: argparse.ArgumentParser) -> None:
    """Options: the YAML config (docs/consumer.md) and the listen address."""
    parser.add_argument("--config", help="YAML config file (DRIFTCAR_CONSUME_CONFIG)")
    parser.add_argument("--host", help="listen address (overrides listen.host)")
    parser.add_argument("--port", type=int, help="listen port (overrides listen.port)")
    parser.add_argument(
        "--check",
        action="store_true",
        help="validate the config, read the secrets and set up every action's client, then exit",
    )


def run(args: argparse.Namespace) -> int:
    """Serve until SIGTERM/SIGINT (or only check the configuration)."""
    from alerts.consumer.config import load_config

    path = args.config or os.environ.get("DRIFTCAR_CONSUME_CONFIG")
    if not path:
        raise CliError("a config file is required: --config FILE (or DRIFTCAR_CONSUME_CONFIG)")
    for name, value in _MLFLOW_DEFAULTS.items():
        os.environ.setdefault(name, value)
    listen = {k: v for k, v in (("host", args.host), ("port", args.port)) if v is not None}
    try:
        config = load_config(path, listen=listen)
        if args.check:
            asyncio.run(_check(config))
            print(f"{path}: ok ({len(config.actions)} action(s), {len(config.rules)} rule(s))")
            return 0
        from alerts.consumer.app import serve

        asyncio.run(serve(config))
    except DriftcarError as exc:  # configuration, secrets, an action's client, the dedupe file
        raise CliError(str(exc)) from None
    return 0


async def _check(config: ConsumerConfig) -> None:
    """Set the app up (store, session, every action's client) and tear it down again."""
    from aiohttp import web

    from alerts.consumer.app import create_app

    runner = web.AppRunner(create_app(config))
    try:
        await runner.setup()
    finally:
        await runner.cleanup()
