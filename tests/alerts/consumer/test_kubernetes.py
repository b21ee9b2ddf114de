"""The Kubernetes action through the official client against a stand-in API server (no cluster exists here):
each request's method, path, query, Content-Type and body compared with what kubectl sends."""

from __future__ import annotations

import copy
import time
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestServer

from alerts.consumer.actions.base import Alert
from alerts.consumer.actions.kubernetes import RESTARTED_AT, UNDO_MARK, KubernetesAction, selector_string
from alerts.consumer.config import KubernetesConfig
from sidecar.errors import ConfigError
from tests.alerts.consumer.conftest import ConsumerFactory
from tests.alerts.consumer.fake_kube import (
    DEPLOYMENT,
    LAST_APPLIED,
    NAMESPACE,
    TOKEN,
    Cluster,
    create_fake_api,
    deployment,
    kubeconfig,
    replica_set,
    template,
)
from tests.alerts.consumer.helpers import Consumer, make_event, one_rule

DEPLOYMENT_PATH = f"/apis/apps/v1/namespaces/{NAMESPACE}/deployments/{DEPLOYMENT}"
REPLICA_SETS_PATH = f"/apis/apps/v1/namespaces/{NAMESPACE}/replicasets"
TEMPLATES = {rev: template(f"registry.example/churn:{rev}", env=f"v{rev}") for rev in (1, 2, 3)}


@pytest.fixture
def cluster() -> Cluster:
    """churn-api at revision 3 with the ReplicaSets of revisions 1-3, and another owner's look-alike."""
    state = Cluster()
    state.deployments[(NAMESPACE, DEPLOYMENT)] = deployment(3, TEMPLATES[3])
    state.replica_sets = [replica_set(rev, TEMPLATES[rev]) for rev in (2, 3, 1)]
    # Same labels, higher revision, another controller (e.g. a copied Deployment): never a rollback target.
    state.replica_sets.append(
        replica_set(7, template("registry.example/other:7", env="x"), owner_uid="0ther-uid")
    )
    return state


@pytest.fixture
async def kube_config_file(cluster: Cluster, tmp_path: Path) -> AsyncIterator[Path]:
    """A kubeconfig for the stand-in API server (started here, stopped at teardown)."""
    server = TestServer(create_fake_api(cluster), host="127.0.0.1")
    await server.start_server()
    path = tmp_path / "kubeconfig"
    path.write_text(kubeconfig(str(server.make_url("")).rstrip("/")), encoding="utf-8")
    try:
        yield path
    finally:
        await server.close()


async def k8s_consumer(make_consumer: ConsumerFactory, config: Path, **action: Any) -> Consumer:
    """A consumer whose only action is a Kubernetes one on churn-api."""
    spec = {"kind": "kubernetes", "namespace": NAMESPACE, "deployment": DEPLOYMENT, "kubeconfig": str(config)}
    return await make_consumer(actions={"k8s": {**spec, **action}}, rules=one_rule("k8s"))


def k8s_action(config: Path, **values: Any) -> KubernetesAction:
    """The action alone, for calling it twice with one alert."""
    spec = {"kind": "kubernetes", "namespace": NAMESPACE, "deployment": DEPLOYMENT, "kubeconfig": config}
    return KubernetesAction("k8s", KubernetesConfig.model_validate({**spec, **values}))


def calls(cluster: Cluster) -> list[tuple[str, str]]:
    """(method, path) of each request the API server saw."""
    return [(s.method, s.path) for s in cluster.seen]


@pytest.mark.parametrize("dry_run", [False, True], ids=["applied", "server-dry-run"])
async def test_restart_sends_kubectls_strategic_merge_patch(
    make_consumer: ConsumerFactory, cluster: Cluster, kube_config_file: Path, dry_run: bool
) -> None:
    before = copy.deepcopy(cluster.deployment())
    consumer = await k8s_consumer(make_consumer, kube_config_file, operation="restart", dry_run=dry_run)
    event = make_event()
    status, body = await consumer.post(event)
    assert status == 200
    result = body["actions"][0]
    assert result["outcome"] == ("dry_run" if dry_run else "ok")

    assert calls(cluster) == [("GET", DEPLOYMENT_PATH), ("PATCH", DEPLOYMENT_PATH)]
    get, patch = cluster.seen
    for request in (get, patch):
        assert request.headers["Authorization"] == f"Bearer {TOKEN}"
        assert request.headers["Accept"].startswith("application/json")
    assert dict(get.query) == {}
    # `kubectl rollout restart`: PATCH ?fieldManager=kubectl-rollout, a strategic merge patch of one annotation
    # (ours names driftcar as the field manager and adds the alert marker on the Deployment itself).
    assert patch.headers["Content-Type"] == "application/strategic-merge-patch+json"
    expected_query = {"fieldManager": "driftcar", **({"dryRun": "All"} if dry_run else {})}
    assert dict(patch.query) == expected_query
    restarted_at = result["restarted_at"]
    kubectl_body = {"spec": {"template": {"metadata": {"annotations": {RESTARTED_AT: restarted_at}}}}}
    assert patch.body == {
        **kubectl_body,
        "metadata": {"annotations": {"driftcar.io/restart-alert": event.id}},
    }
    assert abs(datetime.fromisoformat(restarted_at).timestamp() - time.time()) < 60
    assert restarted_at.endswith("Z")  # RFC 3339 in UTC, as Go's time.RFC3339 prints it

    stored = cluster.deployment()
    if dry_run:
        assert stored == before
    else:
        assert stored["spec"]["template"]["metadata"]["annotations"] == {RESTARTED_AT: restarted_at}
        assert stored["spec"]["template"]["spec"] == before["spec"]["template"]["spec"]


@pytest.mark.parametrize("dry_run", [False, True], ids=["applied", "server-dry-run"])
async def test_undo_sends_kubectls_json_patch_from_the_previous_replica_set(
    make_consumer: ConsumerFactory, cluster: Cluster, kube_config_file: Path, dry_run: bool
) -> None:
    before = copy.deepcopy(cluster.deployment())
    consumer = await k8s_consumer(make_consumer, kube_config_file, operation="undo", dry_run=dry_run)
    event = make_event()
    status, body = await consumer.post(event)
    assert status == 200, body
    assert body["actions"][0] | {"outcome": "?"} == {
        "action": "k8s",
        "kind": "kubernetes",
        "outcome": "?",
        "namespace": NAMESPACE,
        "deployment": DEPLOYMENT,
        "from_revision": 3,
        "to_revision": 2,
    }
    assert body["actions"][0]["outcome"] == ("dry_run" if dry_run else "ok")

    assert calls(cluster) == [
        ("GET", DEPLOYMENT_PATH),
        ("GET", REPLICA_SETS_PATH),
        ("PATCH", DEPLOYMENT_PATH),
    ]
    _, listing, patch = cluster.seen
    # client-go lists with the Deployment's selector, then keeps the ReplicaSets it controls (by UID).
    assert dict(listing.query) == {"labelSelector": "app=churn-api"}
    # `kubectl rollout undo`: a JSON patch replacing the template (minus pod-template-hash) and the annotations
    # (the ReplicaSet's, but the Deployment's own revision and last-applied-configuration kept).
    assert patch.headers["Content-Type"] == "application/json-patch+json"
    assert dict(patch.query) == {"fieldManager": "driftcar", **({"dryRun": "All"} if dry_run else {})}
    assert patch.body == [
        {"op": "replace", "path": "/spec/template", "value": TEMPLATES[2]},
        {
            "op": "replace",
            "path": "/metadata/annotations",
            "value": {
                "deployment.kubernetes.io/revision": "3",
                "kubectl.kubernetes.io/last-applied-configuration": LAST_APPLIED,
                "kubernetes.io/change-cause": "deploy churn v2",
                UNDO_MARK: event.id,
            },
        },
    ]
    assert "pod-template-hash" not in patch.body[0]["value"]["metadata"]["labels"]
    stored = cluster.deployment()
    assert stored == before if dry_run else stored["spec"]["template"] == TEMPLATES[2]


async def test_a_retried_alert_does_not_undo_the_undo(cluster: Cluster, kube_config_file: Path) -> None:
    action = k8s_action(kube_config_file, operation="undo")
    event = make_event()
    alert = Alert(event, event.to_json())
    try:
        assert (await action.run(alert)).outcome == "ok"
        again = await action.run(alert)
    finally:
        await action.close()
    assert (again.outcome, again.detail["reason"]) == ("unchanged", "already undone by this alert")
    assert [m for m, _ in calls(cluster)].count("PATCH") == 1
    assert cluster.deployment()["spec"]["template"] == TEMPLATES[2]


async def test_a_retried_alert_restarts_once(cluster: Cluster, kube_config_file: Path) -> None:
    action = k8s_action(kube_config_file, operation="restart")
    event = make_event()
    try:
        assert (await action.run(Alert(event, event.to_json()))).outcome == "ok"
        assert (await action.run(Alert(event, event.to_json()))).outcome == "unchanged"
        other = make_event()
        assert (await action.run(Alert(other, other.to_json()))).outcome == "ok"
    finally:
        await action.close()
    assert [m for m, _ in calls(cluster)].count("PATCH") == 2


async def test_undo_leaves_a_deployment_already_at_the_previous_template(
    cluster: Cluster, kube_config_file: Path
) -> None:
    # Contrived (two revisions with one template), but it is kubectl's "skipped rollback" case.
    cluster.replica_sets = [replica_set(2, TEMPLATES[3]), replica_set(3, TEMPLATES[3])]
    action = k8s_action(kube_config_file, operation="undo")
    event = make_event()
    try:
        result = await action.run(Alert(event, event.to_json()))
    finally:
        await action.close()
    assert (result.outcome, result.detail["reason"]) == (
        "unchanged",
        "current template already matches revision 2",
    )
    assert "PATCH" not in [m for m, _ in calls(cluster)]


@pytest.mark.parametrize(
    ("setup", "operation", "message"),
    [
        pytest.param(
            "paused",
            "restart",
            "can't restart paused deployment (run rollout resume first)",
            id="restart-paused",
        ),
        pytest.param(
            "paused",
            "undo",
            "you cannot rollback a paused deployment; resume it first with "
            "'kubectl rollout resume deployment/churn-api' and try again",
            id="undo-paused",
        ),
        pytest.param(
            "no-history", "undo", "no rollout history found for deployment 'churn-api'", id="no-history"
        ),
        pytest.param(
            "missing", "restart", 'HTTP 404 Not Found: deployments.apps "churn-api" not found', id="404"
        ),
        pytest.param(
            "rbac",
            "undo",
            'HTTP 403 Forbidden: replicasets.apps is forbidden: User "system:serviceaccount:ml:driftcar-consumer" '
            'cannot list resource "replicasets" in API group "apps" in the namespace "ml"',
            id="rbac",
        ),
    ],
)
async def test_failures_are_502_with_the_reason_and_a_retry_succeeds_once_fixed(
    make_consumer: ConsumerFactory,
    cluster: Cluster,
    kube_config_file: Path,
    setup: str,
    operation: str,
    message: str,
) -> None:
    good = copy.deepcopy(cluster.deployment())
    if setup == "paused":
        cluster.deployments[(NAMESPACE, DEPLOYMENT)] = deployment(3, TEMPLATES[3], paused=True)
    elif setup == "no-history":
        cluster.replica_sets = [
            rs for rs in cluster.replica_sets if rs["metadata"]["name"].endswith("0003abcd")
        ]
    elif setup == "missing":
        del cluster.deployments[(NAMESPACE, DEPLOYMENT)]
    else:
        cluster.forbidden.add("list")
    consumer = await k8s_consumer(make_consumer, kube_config_file, operation=operation)
    event = make_event()
    status, body = await consumer.post(event)
    assert status == 502
    assert message in body["error"]
    assert "PATCH" not in [m for m, _ in calls(cluster)]

    cluster.deployments[(NAMESPACE, DEPLOYMENT)] = good  # the operator fixes it; the sender retries
    cluster.forbidden.clear()
    cluster.replica_sets = [replica_set(rev, TEMPLATES[rev]) for rev in (1, 2, 3)]
    status, body = await consumer.post(event)
    assert (status, body["actions"][0]["outcome"]) == (200, "ok")
    assert [m for m, _ in calls(cluster)].count("PATCH") == 1


async def test_an_unusable_kubeconfig_stops_the_consumer_at_startup(
    make_consumer: ConsumerFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    missing = tmp_path / "no-such-kubeconfig"
    with pytest.raises(ConfigError, match="action k8s: Kubernetes configuration"):
        await k8s_consumer(make_consumer, missing, operation="restart")
    # Outside a pod there is no service account: in_cluster is refused as plainly.
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    action = {"kind": "kubernetes", "deployment": DEPLOYMENT, "operation": "restart", "in_cluster": True}
    with pytest.raises(
        ConfigError, match="action k8s: Kubernetes configuration: Service host/port is not set"
    ):
        await make_consumer(actions={"k8s": action})


@pytest.mark.parametrize(
    ("selector", "expected"),
    [
        pytest.param({"matchLabels": {"b": "2", "a": "1"}}, "a=1,b=2", id="labels-sorted"),
        pytest.param(
            {
                "matchLabels": {"app": "x"},
                "matchExpressions": [
                    {"key": "tier", "operator": "In", "values": ["web", "api"]},
                    {"key": "canary", "operator": "DoesNotExist"},
                    {"key": "env", "operator": "NotIn", "values": ["dev"]},
                    {"key": "team", "operator": "Exists"},
                ],
            },
            "app=x,!canary,env notin (dev),team,tier in (api,web)",
            id="expressions",
        ),
    ],
)
def test_label_selectors_are_written_as_client_go_writes_them(
    selector: dict[str, Any], expected: str
) -> None:
    assert selector_string(selector) == expected
