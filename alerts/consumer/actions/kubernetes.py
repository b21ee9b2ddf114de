"""Kubernetes: `kubectl rollout restart` and `kubectl rollout undo` of a Deployment, through the official client.

restart: GET the Deployment (refused while paused, as kubectl does), then a strategic merge patch setting the
pod template annotation `kubectl.kubernetes.io/restartedAt`, exactly kubectl's body.

undo: GET the Deployment, list the ReplicaSets matching its selector and controlled by it (its UID), take the
one with the second-highest `deployment.kubernetes.io/revision`, and send kubectl's JSON patch: replace
`/spec/template` with that ReplicaSet's template minus its `pod-template-hash` label, and `/metadata/annotations`
with the ReplicaSet's annotations (keeping the Deployment's own revision and last-applied annotations). A
template already equal to the previous one is left alone, as kubectl does.

Both add one Deployment annotation naming the alert (`driftcar.io/restart-alert`, `driftcar.io/undo-alert`):
a retried alert finds it and changes nothing (a second undo would undo the undo). `dry_run` sends the writes
with `dryRun=All`, a server-side dry run: admission and validation run, nothing is persisted. Objects are read
and written as raw JSON (`_preload_content=False`), so fields newer than the client's models survive an undo.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import json
import logging
import threading
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, cast

from alerts.consumer.actions.base import ActionError, ActionResult, Alert, Outcome
from alerts.consumer.config import KubernetesConfig
from sidecar.errors import ConfigError

if TYPE_CHECKING:
    from kubernetes.client import ApiClient, AppsV1Api

logger = logging.getLogger(__name__)

RESTARTED_AT = "kubectl.kubernetes.io/restartedAt"
REVISION = "deployment.kubernetes.io/revision"
HASH_LABEL = "pod-template-hash"
RESTART_MARK = "driftcar.io/restart-alert"
UNDO_MARK = "driftcar.io/undo-alert"
# The Deployment's own annotations an undo keeps instead of taking the ReplicaSet's (kubectl's list).
KEEP_ANNOTATIONS = frozenset(
    {
        "kubectl.kubernetes.io/last-applied-configuration",
        REVISION,
        "deployment.kubernetes.io/revision-history",
        "deployment.kubernetes.io/desired-replicas",
        "deployment.kubernetes.io/max-replicas",
        "deprecated.deployment.rollback.to",
    }
)


def selector_string(selector: dict[str, Any]) -> str:
    """A LabelSelector as a `labelSelector` query value, requirements sorted by key as client-go writes them."""
    parts: list[tuple[str, str]] = [(k, f"{k}={v}") for k, v in (selector.get("matchLabels") or {}).items()]
    for expr in selector.get("matchExpressions") or []:
        key, op, values = expr["key"], expr["operator"], sorted(expr.get("values") or [])
        if op == "In":
            parts.append((key, f"{key} in ({','.join(values)})"))
        elif op == "NotIn":
            parts.append((key, f"{key} notin ({','.join(values)})"))
        elif op == "Exists":
            parts.append((key, key))
        elif op == "DoesNotExist":
            parts.append((key, f"!{key}"))
        else:
            raise ActionError(f"unknown label selector operator {op!r}")
    return ",".join(text for _, text in sorted(parts, key=lambda p: p[0]))


def revision(obj: dict[str, Any]) -> int | None:
    """An object's `deployment.kubernetes.io/revision`, or None when absent or not a number."""
    value = (obj.get("metadata", {}).get("annotations") or {}).get(REVISION)
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def _without_hash(template: dict[str, Any]) -> dict[str, Any]:
    clean = copy.deepcopy(template)
    labels = clean.get("metadata", {}).get("labels")
    if labels:
        labels.pop(HASH_LABEL, None)
    return clean


def _controlled_by(obj: dict[str, Any], uid: str) -> bool:
    refs = obj.get("metadata", {}).get("ownerReferences") or []
    return any(ref.get("controller") and ref.get("uid") == uid for ref in refs)


def previous_replica_set(deployment: dict[str, Any], replica_sets: list[dict[str, Any]]) -> dict[str, Any]:
    """The Deployment's ReplicaSet with the second-highest revision (what `rollout undo` goes back to)."""
    uid = deployment["metadata"]["uid"]
    owned = [
        (rev, rs) for rs in replica_sets if _controlled_by(rs, uid) and (rev := revision(rs)) is not None
    ]
    owned.sort(key=lambda pair: pair[0])
    if len(owned) < 2:
        raise ActionError(f"no rollout history found for deployment {deployment['metadata']['name']!r}")
    return owned[-2][1]


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _read(response: object) -> dict[str, Any]:
    raw = cast(Any, response)
    try:
        data: dict[str, Any] = json.loads(raw.data)
    finally:
        raw.release_conn()
    return data


class KubernetesAction:
    """Restart or undo one Deployment."""

    kind = "kubernetes"

    def __init__(self, name: str, config: KubernetesConfig) -> None:
        from kubernetes import client
        from kubernetes import config as kube_config

        self.name = name
        self.config = config
        self.target = f"kubernetes:{config.namespace}/{config.deployment}"
        configuration = client.Configuration()
        try:
            if config.in_cluster:
                kube_config.load_incluster_config(client_configuration=configuration)  # type: ignore[no-untyped-call]
            else:
                kube_config.load_kube_config(  # type: ignore[no-untyped-call]
                    config_file=str(config.kubeconfig) if config.kubeconfig else None,
                    context=config.context,
                    client_configuration=configuration,
                    persist_config=False,
                )
        except (kube_config.ConfigException, OSError) as exc:
            raise ConfigError(f"action {name}: Kubernetes configuration: {exc}") from None
        self._client: ApiClient = client.ApiClient(configuration)
        self._apps: AppsV1Api = client.AppsV1Api(self._client)
        self._serial = threading.Lock()
        self._timeout = (config.request_timeout, config.request_timeout)

    async def close(self) -> None:
        """Release the client's connections."""
        await asyncio.to_thread(self._client.close)

    async def run(self, alert: Alert) -> ActionResult:
        """Restart or undo in a worker thread (the client blocks)."""
        from kubernetes.client.exceptions import ApiException
        from urllib3.exceptions import HTTPError

        work = self._restart if self.config.operation == "restart" else self._undo
        try:
            return await asyncio.wait_for(asyncio.to_thread(work, alert.event.id), self.config.timeout)
        except TimeoutError:
            raise ActionError(f"the Kubernetes API did not answer within {self.config.timeout:g} s") from None
        except ApiException as exc:
            raise ActionError(f"Kubernetes API: {self._describe(exc)}") from None
        except (HTTPError, OSError) as exc:
            raise ActionError(f"Kubernetes API unreachable: {type(exc).__name__}: {exc}") from None

    @staticmethod
    def _describe(exc: Any) -> str:
        message = ""
        with contextlib.suppress(ValueError, AttributeError):
            message = json.loads(exc.body or "{}").get("message", "")
        return f"HTTP {exc.status} {exc.reason}" + (f": {message}" if message else "")

    def _get(self) -> dict[str, Any]:
        cfg = self.config
        return _read(
            self._apps.read_namespaced_deployment(
                cfg.deployment, cfg.namespace, _preload_content=False, _request_timeout=self._timeout
            )
        )

    def _patch(self, body: dict[str, Any] | list[dict[str, Any]]) -> None:
        # A dict body goes as a strategic merge patch, a list as a JSON patch: the client picks the
        # Content-Type from the body's shape (and the tests check what reaches the server).
        cfg = self.config
        _read(
            self._apps.patch_namespaced_deployment(
                cfg.deployment,
                cfg.namespace,
                body,
                dry_run="All" if cfg.dry_run else None,
                field_manager=cfg.field_manager,
                _preload_content=False,
                _request_timeout=self._timeout,
            )
        )

    def _where(self) -> dict[str, Any]:
        return {"namespace": self.config.namespace, "deployment": self.config.deployment}

    def _restart(self, alert_id: str) -> ActionResult:
        with self._serial:
            deployment = self._get()
            if deployment.get("spec", {}).get("paused"):
                raise ActionError("can't restart paused deployment (run rollout resume first)")
            annotations = deployment["metadata"].get("annotations") or {}
            if annotations.get(RESTART_MARK) == alert_id:
                return ActionResult(
                    "unchanged", {**self._where(), "reason": "already restarted by this alert"}
                )
            at = _now()
            self._patch(
                {
                    "metadata": {"annotations": {RESTART_MARK: alert_id}},
                    "spec": {"template": {"metadata": {"annotations": {RESTARTED_AT: at}}}},
                }
            )
        outcome: Outcome = "dry_run" if self.config.dry_run else "ok"
        logger.info("kubernetes: %s/%s restart (%s)", self.config.namespace, self.config.deployment, outcome)
        return ActionResult(outcome, {**self._where(), "restarted_at": at})

    def _undo(self, alert_id: str) -> ActionResult:
        cfg = self.config
        with self._serial:
            deployment = self._get()
            if deployment.get("spec", {}).get("paused"):
                raise ActionError(
                    "you cannot rollback a paused deployment; resume it first with "
                    f"'kubectl rollout resume deployment/{cfg.deployment}' and try again"
                )
            annotations = deployment["metadata"].get("annotations") or {}
            if annotations.get(UNDO_MARK) == alert_id:
                return ActionResult("unchanged", {**self._where(), "reason": "already undone by this alert"})
            listed = _read(
                self._apps.list_namespaced_replica_set(
                    cfg.namespace,
                    label_selector=selector_string(deployment["spec"]["selector"]),
                    _preload_content=False,
                    _request_timeout=self._timeout,
                )
            )
            previous = previous_replica_set(deployment, listed.get("items") or [])
            to_revision = revision(previous)
            template = _without_hash(previous["spec"]["template"])
            if template == _without_hash(deployment["spec"]["template"]):
                reason = f"current template already matches revision {to_revision}"
                return ActionResult(
                    "unchanged", {**self._where(), "to_revision": to_revision, "reason": reason}
                )
            restored = {k: v for k, v in annotations.items() if k in KEEP_ANNOTATIONS}
            for key, value in (previous["metadata"].get("annotations") or {}).items():
                if key not in KEEP_ANNOTATIONS:
                    restored[key] = value
            restored[UNDO_MARK] = alert_id
            self._patch(
                [
                    {"op": "replace", "path": "/spec/template", "value": template},
                    {"op": "replace", "path": "/metadata/annotations", "value": restored},
                ]
            )
        outcome: Outcome = "dry_run" if cfg.dry_run else "ok"
        logger.info(
            "kubernetes: %s/%s undo to revision %s (%s)", cfg.namespace, cfg.deployment, to_revision, outcome
        )
        detail = {**self._where(), "from_revision": revision(deployment), "to_revision": to_revision}
        return ActionResult(outcome, detail)
