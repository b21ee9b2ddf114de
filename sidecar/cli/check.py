"""`driftcar check`: load and validate a configuration as `serve` would, print what it means, start nothing.

Settings come from the same layers as `serve` (YAML file, `DRIFTCAR_*` environment, options), then what
`serve` checks before it starts: the webhook secrets are read and the database URL is parsed. No port is bound
and the database is not opened, so it is safe in CI and in an init container. Exit status 0 with a summary on
stdout, 2 with the offending key or source on stderr.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterator

from sidecar.cli import CliError
from sidecar.cli.serve import configure as configure_serve
from sidecar.cli.serve import settings_from_args
from sidecar.settings import RouteConfig, Settings


def configure(parser: argparse.ArgumentParser) -> None:
    """The options of `driftcar serve`: the same layers give the same settings."""
    configure_serve(parser)


def run(args: argparse.Namespace) -> int:
    """Validate the configuration and print its summary; CliError (exit 2) names what is wrong."""
    settings = settings_from_args(args)
    from alerts.dispatcher import DispatchConfigError, load_secrets

    try:
        load_secrets(settings.alerts)
    except DispatchConfigError as exc:
        raise CliError(str(exc)) from None
    store = _check_database_url(settings.database_url.get_secret_value())
    print("\n".join(summary(settings, store)))
    return 0


def _check_database_url(url: str) -> str:
    """The URL with its async driver and the password masked; CliError if serve could not open it."""
    from sqlalchemy.exc import ArgumentError

    from storage.engine import normalize_url, redacted_url

    try:
        return redacted_url(normalize_url(url))
    except ArgumentError:
        # The parser's message repeats the URL, password included.
        raise CliError(
            "database_url: cannot parse the URL; expected sqlite:///PATH or postgresql://..."
        ) from None
    except ValueError as exc:
        raise CliError(f"database_url: {exc}") from None


def summary(settings: Settings, store: str) -> list[str]:
    """Lines describing the settings: where traffic goes, where records go, what is captured and watched."""
    s = settings
    token = "bearer token required" if s.admin_token is not None else "no token"
    lines = [
        "configuration OK",
        f"upstream: {s.upstream}",
        f"proxy:    {s.host}:{s.port}",
        f"admin:    {s.admin_host}:{s.admin_port} ({token})",
        f"store:    {store}",
    ]
    cap = s.capture
    lines.append(
        f"capture:  {'on' if cap.enabled else 'OFF'}, bodies up to {cap.max_body_bytes} bytes, "
        f"spool {cap.spool_dir}"
    )
    lines.append("routes:")
    lines.extend(f"  {_route(route)}" for route in s.routes)
    lines.append("  * (any other path): adapter auto, sample 1")
    lines.append("monitors:" if s.monitors else "monitors: none")
    lines.extend(_monitors(s))
    if s.alerts.webhooks:
        lines.append("webhooks:")
        for hook in s.alerts.webhooks:
            secret = (
                f"secret from ${hook.secret_env}"
                if hook.secret_env
                else f"secret from {hook.secret_file}"
                if hook.secret_file
                else "unsigned"
            )
            lines.append(f"  {hook.name}: {hook.format} -> {hook.url} ({secret}, min {hook.min_severity})")
    return lines


def _route(route: RouteConfig) -> str:
    """One route: path, methods, adapter and its options, sampling and redaction."""
    if not route.capture:
        return f"{route.path} {','.join(route.methods)}: proxied, not captured"
    options = route.adapter
    parts = [f"adapter {options.adapter}"]
    for name in ("inputs", "outputs", "model"):
        value = getattr(options, name)
        if value is not None:
            parts.append(f"{name} {value}")
    if options.feature_names:
        parts.append(f"feature_names {','.join(options.feature_names)}")
    parts.append(f"sample {route.sample_rate:g}")
    if route.redact:
        parts.append(f"redact ({route.redact_mode}) {','.join(route.redact)}")
    return f"{route.path} {','.join(route.methods)}: {', '.join(parts)}"


def _monitors(settings: Settings) -> Iterator[str]:
    for m in settings.monitors:
        selection = [f"{k}={v}" for k, v in m.record_filter().items() if v is not None]
        window = (
            f"{m.window.minutes:g} min" if m.window.minutes is not None else f"{m.window.records} records"
        )
        if not m.schedule.enabled:
            schedule = "on demand only"
        elif m.schedule.cron is not None:
            schedule = f"cron {m.schedule.cron!r} UTC"
        else:
            schedule = f"every {m.schedule.every:g} s"
        features = ", ".join(m.features) if m.features else "every captured feature"
        yield f"  {m.name}: {' '.join(selection) or 'all records'}; window {window}; {schedule}"
        yield f"    features: {features}; prediction: {m.prediction}; task: {m.task}"
        if m.fairness is not None:
            yield f"    fairness: protected {', '.join(m.fairness.protected)}, favorable {m.fairness.favorable!r}"
        for rule in m.alerts:
            hooks = ", ".join(rule.webhooks) if rule.webhooks is not None else "every webhook"
            yield f"    alert {rule.name}: {rule.when} -> {rule.severity}, {rule.action} (to {hooks})"
