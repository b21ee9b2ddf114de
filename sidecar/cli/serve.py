"""`driftcar serve`: the capture proxy and the admin server."""

from __future__ import annotations

import argparse
import asyncio

from sidecar.cli import CliError
from sidecar.errors import ConfigError
from sidecar.settings import Settings, load_settings


def configure(parser: argparse.ArgumentParser) -> None:
    """Options; each also settable as DRIFTCAR_<NAME> or in the YAML config file."""
    parser.add_argument("--upstream", help="model server base URL (DRIFTCAR_UPSTREAM)")
    parser.add_argument("--host", help="proxy bind address (default 0.0.0.0)")
    parser.add_argument("--port", type=int, help="proxy port (default 8080)")
    parser.add_argument("--admin-host", dest="admin_host", help="admin bind address (default 127.0.0.1)")
    parser.add_argument("--admin-port", dest="admin_port", type=int, help="admin port (default 9090)")
    parser.add_argument(
        "--database-url", dest="database_url", help="SQLAlchemy URL (default sqlite ./driftcar.db)"
    )
    parser.add_argument("--config", help="YAML config file (DRIFTCAR_CONFIG)")
    parser.add_argument(
        "--log-format",
        dest="log_format",
        choices=["text", "json"],
        help="text (default) or json: one JSON object per line (DRIFTCAR_LOG_FORMAT)",
    )


def settings_from_args(args: argparse.Namespace) -> Settings:
    """Settings from the YAML file, the environment and the command line."""
    import os

    config = args.config or os.environ.get("DRIFTCAR_CONFIG")
    try:
        return load_settings(
            config,
            upstream=args.upstream,
            host=args.host,
            port=args.port,
            admin_host=args.admin_host,
            admin_port=args.admin_port,
            database_url=args.database_url,
            log_format=args.log_format,
        )
    except ConfigError as exc:
        raise CliError(str(exc)) from None


def run(args: argparse.Namespace) -> int:
    """Serve until SIGTERM/SIGINT."""
    settings = settings_from_args(args)
    from sidecar.logs import setup_logging

    setup_logging(getattr(args, "log_level", "INFO"), settings.log_format)
    from alerts.dispatcher import DispatchConfigError, load_secrets
    from sidecar.server import serve

    try:
        load_secrets(settings.alerts)  # before anything starts: no half-configured process
    except DispatchConfigError as exc:
        raise CliError(str(exc)) from None

    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency on Linux
        asyncio.run(serve(settings))
    else:
        uvloop.run(serve(settings))
    return 0
