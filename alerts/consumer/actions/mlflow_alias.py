"""MLflow registry: move a model's alias back one version (rollback) or to where it was (roll forward).

MLflow keeps no alias history, so the history lives in model version tags (`<alias>` is the alias's name):

- on the version rolled back to: `driftcar.rollback.<alias>.from` (the version it replaced), `.alert`, `.at`;
- on the version rolled back from: `driftcar.rolled_back.<alias>.to`, `.alert`, `.at` (kept as history);
- on the version rolled forward to: `driftcar.roll_forward.<alias>.from`, `.alert`, `.at`; the version rolled
  forward from loses its `driftcar.rollback.<alias>.*` tags, so rollbacks and roll-forwards nest like a stack.

Tags are written before the alias moves, and an alert whose id is already on the alias's version changes
nothing: a retried alert (the consumer died after moving the alias) never moves it twice. MLflow's client
blocks, so the work runs in a thread; runs on one alias never overlap.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from alerts.consumer.actions.base import ActionError, ActionResult, Alert
from alerts.consumer.config import MlflowAliasConfig

if TYPE_CHECKING:
    from mlflow import MlflowClient

logger = logging.getLogger(__name__)

READY = "READY"


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _keys(kind: str, alias: str, first: str) -> tuple[str, str, str]:
    """The three tags of one kind of move: the other version, the alert's id, the time."""
    return (
        f"driftcar.{kind}.{alias}.{first}",
        f"driftcar.{kind}.{alias}.alert",
        f"driftcar.{kind}.{alias}.at",
    )


def _filter_name(model: str) -> str:
    quote = '"' if "'" in model else "'"
    return f"name = {quote}{model}{quote}"


class MlflowAliasAction:
    """`rollback` or `roll_forward` of one registered model's alias."""

    kind = "mlflow_alias"

    def __init__(self, name: str, config: MlflowAliasConfig) -> None:
        from mlflow import MlflowClient

        self.name = name
        self.config = config
        self.target = f"mlflow:{config.registry_uri or config.tracking_uri}:{config.model}@{config.alias}"
        self._client: MlflowClient = MlflowClient(
            tracking_uri=config.tracking_uri, registry_uri=config.registry_uri or config.tracking_uri
        )
        # A timed-out call goes on in its thread; the next run waits for it before reading the alias.
        self._serial = threading.Lock()
        self._rollback = _keys("rollback", config.alias, "from")
        self._rolled_back = _keys("rolled_back", config.alias, "to")
        self._forward = _keys("roll_forward", config.alias, "from")

    async def close(self) -> None:
        """Nothing to release (MLflow's client keeps no open resources of its own)."""

    async def run(self, alert: Alert) -> ActionResult:
        """Move the alias in a worker thread."""
        from mlflow.exceptions import MlflowException

        work = self._roll_back if self.config.operation == "rollback" else self._roll_forward
        try:
            return await asyncio.wait_for(
                asyncio.to_thread(work, alert.event.id, alert.event.model_version), self.config.timeout
            )
        except TimeoutError:
            raise ActionError(f"MLflow did not answer within {self.config.timeout:g} s") from None
        except MlflowException as exc:
            raise ActionError(f"MLflow: {exc.message}") from None

    def _tag(self, version: str, keys: tuple[str, str, str], first: str, alert_id: str) -> None:
        model = self.config.model
        for key, value in zip(keys, (first, alert_id, _now()), strict=True):
            self._client.set_model_version_tag(model, version, key, value)

    def _versions(self) -> list[int]:
        """The model's versions that exist and are ready, oldest first."""
        found: list[int] = []
        token: str | None = None
        while True:
            page = self._client.search_model_versions(_filter_name(self.config.model), page_token=token)
            found.extend(int(v.version) for v in page if v.status == READY)
            token = page.token
            if not token:
                return sorted(found)

    def _roll_back(self, alert_id: str, alerted_version: str | None) -> ActionResult:
        model, alias = self.config.model, self.config.alias
        with self._serial:
            current = self._client.get_model_version_by_alias(model, alias)
            where = {"model": model, "alias": alias}
            if current.tags.get(self._rollback[1]) == alert_id:
                return ActionResult(
                    "unchanged",
                    {**where, "version": current.version, "reason": "already rolled back by this alert"},
                )
            if self.config.only_alerted_version and alerted_version and alerted_version != current.version:
                reason = (
                    f"the alert is about version {alerted_version}, the alias points at {current.version}"
                )
                return ActionResult("unchanged", {**where, "version": current.version, "reason": reason})
            earlier = [v for v in self._versions() if v < int(current.version)]
            if not earlier:
                raise ActionError(f"model {model}: no version before {current.version} to roll back to")
            target = str(earlier[-1])
            self._tag(target, self._rollback, current.version, alert_id)
            self._tag(current.version, self._rolled_back, target, alert_id)
            self._client.set_registered_model_alias(model, alias, target)
        logger.info("mlflow: %s@%s rolled back from version %s to %s", model, alias, current.version, target)
        return ActionResult("ok", {**where, "from": current.version, "to": target})

    def _roll_forward(self, alert_id: str, alerted_version: str | None) -> ActionResult:
        from mlflow.exceptions import MlflowException

        model, alias = self.config.model, self.config.alias
        with self._serial:
            current = self._client.get_model_version_by_alias(model, alias)
            where = {"model": model, "alias": alias}
            if current.tags.get(self._forward[1]) == alert_id:
                return ActionResult(
                    "unchanged",
                    {**where, "version": current.version, "reason": "already rolled forward by this alert"},
                )
            origin = current.tags.get(self._rollback[0])
            if origin is None:
                reason = f"version {current.version} was not put there by a driftcar rollback"
                return ActionResult("unchanged", {**where, "version": current.version, "reason": reason})
            try:
                target = self._client.get_model_version(model, origin)
            except MlflowException as exc:
                if exc.error_code != "RESOURCE_DOES_NOT_EXIST":
                    raise
                reason = f"version {origin}, which the alias was rolled back from, no longer exists"
                return ActionResult("unchanged", {**where, "version": current.version, "reason": reason})
            self._tag(target.version, self._forward, current.version, alert_id)
            self._client.set_registered_model_alias(model, alias, target.version)
            for key in self._rollback:
                self._client.delete_model_version_tag(model, current.version, key)
        logger.info(
            "mlflow: %s@%s rolled forward from version %s to %s", model, alias, current.version, origin
        )
        return ActionResult("ok", {**where, "from": current.version, "to": target.version})
