"""A stand-in Kubernetes API server on 127.0.0.1: the apps/v1 endpoints `rollout restart` and `rollout undo` use.

No cluster exists here. This server answers like the real one for those calls (objects shaped as `kubectl get
-o json` prints them, `Status` errors, bearer-token auth, server-side dry run, the patch types it accepts) and
records every request, so tests compare the consumer's requests with what kubectl sends.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiohttp import web
from multidict import CIMultiDictProxy, MultiMapping

TOKEN = "fake-service-account-token"
NAMESPACE = "ml"
DEPLOYMENT = "churn-api"
DEPLOYMENT_UID = "7a0c5b3e-1f0d-4c1e-9a57-2a0f0c7c9b11"
LABELS = {"app": "churn-api"}
LAST_APPLIED = '{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"churn-api"}}'
PATCH_TYPES = {
    "application/json-patch+json",
    "application/merge-patch+json",
    "application/strategic-merge-patch+json",
    "application/apply-patch+yaml",
}


def template(image: str, *, env: str) -> dict[str, Any]:
    """A pod template as the API server returns it (defaults filled in)."""
    return {
        "metadata": {"creationTimestamp": None, "labels": dict(LABELS)},
        "spec": {
            "containers": [
                {
                    "name": "model",
                    "image": image,
                    "ports": [{"containerPort": 8080, "protocol": "TCP"}],
                    "env": [{"name": "MODEL_STAGE", "value": env}],
                    "resources": {"limits": {"memory": "1Gi"}, "requests": {"cpu": "250m"}},
                    "terminationMessagePath": "/dev/termination-log",
                    "terminationMessagePolicy": "File",
                    "imagePullPolicy": "IfNotPresent",
                }
            ],
            "restartPolicy": "Always",
            "terminationGracePeriodSeconds": 30,
            "dnsPolicy": "ClusterFirst",
            "securityContext": {},
            "schedulerName": "default-scheduler",
        },
    }


def deployment(revision: int, tmpl: dict[str, Any], *, paused: bool = False) -> dict[str, Any]:
    """The Deployment at `revision`, running `tmpl`."""
    spec: dict[str, Any] = {
        "replicas": 2,
        "selector": {"matchLabels": dict(LABELS)},
        "template": copy.deepcopy(tmpl),
        "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"}},
        "revisionHistoryLimit": 10,
        "progressDeadlineSeconds": 600,
    }
    if paused:
        spec["paused"] = True
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": DEPLOYMENT,
            "namespace": NAMESPACE,
            "uid": DEPLOYMENT_UID,
            "resourceVersion": "48213",
            "generation": revision,
            "creationTimestamp": "2026-10-01T08:00:00Z",
            "labels": dict(LABELS),
            "annotations": {
                "deployment.kubernetes.io/revision": str(revision),
                "kubectl.kubernetes.io/last-applied-configuration": LAST_APPLIED,
                "kubernetes.io/change-cause": f"deploy churn v{revision}",
            },
        },
        "spec": spec,
        "status": {"observedGeneration": revision, "replicas": 2, "updatedReplicas": 2, "readyReplicas": 2},
    }


def replica_set(revision: int, tmpl: dict[str, Any], *, owner_uid: str = DEPLOYMENT_UID) -> dict[str, Any]:
    """The ReplicaSet the deployment controller made for `revision` (hash label added, annotations copied)."""
    pod_hash = f"{revision:04d}abcd"
    rs_template = copy.deepcopy(tmpl)
    rs_template["metadata"]["labels"]["pod-template-hash"] = pod_hash
    return {
        "apiVersion": "apps/v1",
        "kind": "ReplicaSet",
        "metadata": {
            "name": f"{DEPLOYMENT}-{pod_hash}",
            "namespace": NAMESPACE,
            "uid": f"rs-{revision}-{owner_uid[:8]}",
            "labels": {**LABELS, "pod-template-hash": pod_hash},
            "annotations": {
                "deployment.kubernetes.io/desired-replicas": "2",
                "deployment.kubernetes.io/max-replicas": "3",
                "deployment.kubernetes.io/revision": str(revision),
                "kubernetes.io/change-cause": f"deploy churn v{revision}",
            },
            "ownerReferences": [
                {
                    "apiVersion": "apps/v1",
                    "kind": "Deployment",
                    "name": DEPLOYMENT,
                    "uid": owner_uid,
                    "controller": True,
                    "blockOwnerDeletion": True,
                }
            ],
        },
        "spec": {
            "replicas": 0,
            "selector": {"matchLabels": {**LABELS, "pod-template-hash": pod_hash}},
            "template": rs_template,
        },
        "status": {"replicas": 0, "observedGeneration": 1},
    }


@dataclass
class Seen:
    """One request as the API server received it."""

    method: str
    path: str
    query: MultiMapping[str]
    headers: CIMultiDictProxy[str]
    body: Any


@dataclass
class Cluster:
    """The API server's objects, what it saw, and the verbs its RBAC refuses."""

    deployments: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    replica_sets: list[dict[str, Any]] = field(default_factory=list)
    seen: list[Seen] = field(default_factory=list)
    forbidden: set[str] = field(default_factory=set)

    def deployment(self) -> dict[str, Any]:
        """The stored churn-api Deployment."""
        return self.deployments[(NAMESPACE, DEPLOYMENT)]


CLUSTER = web.AppKey("cluster", Cluster)


def status(code: int, reason: str, message: str, details: dict[str, Any] | None = None) -> web.Response:
    """A metav1.Status error, as the API server sends it."""
    body = {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "details": details or {},
        "code": code,
    }
    return web.Response(body=orjson.dumps(body), status=code, content_type="application/json")


def _forbidden(verb: str, resource: str, name: str, namespace: str) -> web.Response:
    subject = f'User "system:serviceaccount:{namespace}:driftcar-consumer"'
    where = f'in API group "apps" in the namespace "{namespace}"'
    target = f'{resource}.apps "{name}"' if name else f"{resource}.apps"
    message = f'{target} is forbidden: {subject} cannot {verb} resource "{resource}" {where}'
    return status(403, "Forbidden", message, {"name": name, "group": "apps", "kind": resource})


def _merge(base: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    # Enough of strategic merge for maps; lists are not merged by these tests' patches.
    out = dict(base)
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        elif isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def _json_patch(obj: dict[str, Any], ops: list[dict[str, Any]]) -> dict[str, Any]:
    out = copy.deepcopy(obj)
    for op in ops:
        if op.get("op") != "replace":
            raise ValueError(f"unsupported op {op.get('op')}")
        *parents, last = op["path"].lstrip("/").split("/")
        target = out
        for part in parents:
            target = target[part]
        if last not in target:
            raise ValueError(f"replace operation does not apply: doc is missing key: {op['path']}")
        target[last] = op["value"]
    return out


def _selected(obj: dict[str, Any], selector: str) -> bool:
    labels = obj["metadata"].get("labels") or {}
    for requirement in filter(None, selector.split(",")):
        key, _, value = requirement.partition("=")
        if labels.get(key) != value:
            return False
    return True


@web.middleware
async def _record_and_auth(request: web.Request, handler: Any) -> web.StreamResponse:
    raw = await request.read()
    body = orjson.loads(raw) if raw else None
    request.app[CLUSTER].seen.append(Seen(request.method, request.path, request.query, request.headers, body))
    if request.headers.get("Authorization") != f"Bearer {TOKEN}":
        return status(401, "Unauthorized", "Unauthorized")
    response: web.StreamResponse = await handler(request)
    return response


async def get_deployment(request: web.Request) -> web.Response:
    cluster = request.app[CLUSTER]
    ns, name = request.match_info["namespace"], request.match_info["name"]
    if "get" in cluster.forbidden:
        return _forbidden("get", "deployments", name, ns)
    found = cluster.deployments.get((ns, name))
    if found is None:
        return status(
            404, "NotFound", f'deployments.apps "{name}" not found', {"name": name, "kind": "deployments"}
        )
    return web.json_response(found)


async def patch_deployment(request: web.Request) -> web.Response:
    cluster = request.app[CLUSTER]
    ns, name = request.match_info["namespace"], request.match_info["name"]
    if "patch" in cluster.forbidden:
        return _forbidden("patch", "deployments", name, ns)
    ctype = request.headers.get("Content-Type", "")
    if ctype not in PATCH_TYPES:
        return status(
            415,
            "UnsupportedMediaType",
            f"the body of the request was in an unknown format - accepted media types include: {', '.join(sorted(PATCH_TYPES))}",
        )
    dry_run = request.query.getall("dryRun", [])
    if dry_run and dry_run != ["All"]:
        return status(400, "BadRequest", f"Invalid dry run value: {dry_run}")
    found = cluster.deployments.get((ns, name))
    if found is None:
        return status(404, "NotFound", f'deployments.apps "{name}" not found')
    body = orjson.loads(await request.read())
    try:
        if ctype == "application/json-patch+json":
            if not isinstance(body, list):
                raise ValueError("json: cannot unmarshal object into Go value of type jsonpatch.Patch")
            patched = _json_patch(found, body)
        else:
            if not isinstance(body, dict):
                raise ValueError("json: cannot unmarshal array into Go value of type map[string]interface {}")
            patched = _merge(found, body)
    except (ValueError, KeyError, TypeError) as exc:
        return status(422, "Invalid", str(exc))
    if not dry_run:
        cluster.deployments[(ns, name)] = patched
    return web.json_response(patched)


async def list_replica_sets(request: web.Request) -> web.Response:
    cluster = request.app[CLUSTER]
    ns = request.match_info["namespace"]
    if "list" in cluster.forbidden:
        return _forbidden("list", "replicasets", "", ns)
    selector = request.query.get("labelSelector", "")
    items = [
        rs for rs in cluster.replica_sets if rs["metadata"]["namespace"] == ns and _selected(rs, selector)
    ]
    return web.json_response(
        {
            "apiVersion": "apps/v1",
            "kind": "ReplicaSetList",
            "metadata": {"resourceVersion": "48213"},
            "items": items,
        }
    )


def create_fake_api(cluster: Cluster) -> web.Application:
    """The stand-in API server over `cluster`."""
    app = web.Application(middlewares=[_record_and_auth])
    app[CLUSTER] = cluster
    base = "/apis/apps/v1/namespaces/{namespace}"
    app.router.add_get(base + "/deployments/{name}", get_deployment)
    app.router.add_patch(base + "/deployments/{name}", patch_deployment)
    app.router.add_get(base + "/replicasets", list_replica_sets)
    return app


def kubeconfig(server: str) -> str:
    """A kubeconfig pointing at the stand-in server with a bearer token, as a cluster admin would write it."""
    return f"""apiVersion: v1
kind: Config
clusters:
  - name: fake
    cluster: {{server: "{server}"}}
users:
  - name: driftcar-consumer
    user: {{token: {TOKEN}}}
contexts:
  - name: fake
    context: {{cluster: fake, user: driftcar-consumer, namespace: {NAMESPACE}}}
current-context: fake
"""
