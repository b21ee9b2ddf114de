"""The consumer's actions, one module per kind; a kind's client library is imported only when configured."""

from __future__ import annotations

from typing import assert_never

from alerts.consumer.actions.base import Action, ActionContext
from alerts.consumer.config import (
    ActionConfig,
    CommandConfig,
    HttpConfig,
    KubernetesConfig,
    MlflowAliasConfig,
)
from sidecar.errors import ConfigError


def build_action(name: str, config: ActionConfig, context: ActionContext) -> Action:
    """The action for one `actions:` entry; ConfigError when its client is missing or cannot be set up."""
    try:
        if isinstance(config, MlflowAliasConfig):
            from alerts.consumer.actions.mlflow_alias import MlflowAliasAction

            return MlflowAliasAction(name, config)
        if isinstance(config, KubernetesConfig):
            from alerts.consumer.actions.kubernetes import KubernetesAction

            return KubernetesAction(name, config)
    except ImportError as exc:
        raise ConfigError(
            f"action {name} ({config.kind}) needs {exc.name}: pip install 'driftcar[consume]'"
        ) from None
    if isinstance(config, HttpConfig):
        from alerts.consumer.actions.http import HttpAction

        return HttpAction(name, config, context.session)
    if isinstance(config, CommandConfig):
        from alerts.consumer.actions.command import CommandAction

        return CommandAction(name, config)
    assert_never(config)
