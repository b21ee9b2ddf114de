"""Every manifest under deploy/ loads strictly into the official Kubernetes client's models, the strict loader
really refuses what the API server would, and the kustomizations assemble each variant."""

from __future__ import annotations

import copy
import json
import re
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import kubernetes.client as k8s
import pydantic
import pytest
import yaml

from tests.deploy.kube import (
    KINDS,
    KUBERNETES,
    KUSTOMIZE,
    VARIANTS,
    ManifestError,
    documents,
    load,
    objects_of,
    resolve,
)

OBJECTS = [(p, i, d) for p, i, d in documents() if d.get("apiVersion") != KUSTOMIZE]


def manifest_id(path: Path, index: int) -> str:
    """`base/secret.yaml#1` style ids."""
    return f"{path.relative_to(KUBERNETES).as_posix()}#{index}"


@pytest.mark.parametrize(("path", "index", "doc"), OBJECTS, ids=[manifest_id(p, i) for p, i, _ in OBJECTS])
def test_manifest_loads_strictly(path: Path, index: int, doc: dict[str, Any]) -> None:
    model = load(doc)
    assert type(model).__name__ == KINDS[(doc["apiVersion"], doc["kind"])]
    assert model.metadata.name
    # kubernetes >= 37 generates pydantic models with extra="forbid": they agree with the loader.
    type(model).model_validate(doc)


def test_every_kind_is_covered() -> None:
    kinds = sorted({d["kind"] for _, _, d in OBJECTS})
    assert kinds == ["ConfigMap", "Deployment", "NetworkPolicy", "PodDisruptionBudget", "Secret", "Service"]


def _deployment() -> dict[str, Any]:
    [doc] = [d for p, _, d in OBJECTS if d["kind"] == "Deployment" and p.parent.name == "native-sidecar"]
    return copy.deepcopy(doc)


def _spec(doc: dict[str, Any]) -> dict[str, Any]:
    spec: dict[str, Any] = doc["spec"]["template"]["spec"]
    return spec


# Each case breaks the (valid) native-sidecar Deployment in one way, and names where the error must point.
BROKEN: dict[str, tuple[Callable[[dict[str, Any]], object], str]] = {
    "misspelt field": (lambda d: _spec(d)["initContainers"][0].update(restartPolcy="Always"), "restartPolcy"),
    "field at the wrong level": (lambda d: _spec(d).update(preStop={"sleep": {"seconds": 5}}), "preStop"),
    "unknown top-level field": (lambda d: d.update(status2={}), "status2"),
    "string for an integer": (lambda d: d["spec"].update(replicas="2"), "$.spec.replicas"),
    "number for a string": (
        lambda d: _spec(d)["initContainers"][0]["env"][0].update(value=8000), ".env[0].value"
    ),
    "missing required field": (lambda d: _spec(d)["containers"][0].pop("name"), "name"),
    "object for a list": (lambda d: _spec(d).update(volumes={"name": "x"}), "expected a list"),
}


@pytest.mark.parametrize("case", list(BROKEN))
def test_loader_rejects_what_the_api_server_would(case: str) -> None:
    break_it, where = BROKEN[case]
    doc = _deployment()
    load(doc)  # intact, it loads
    break_it(doc)
    with pytest.raises(ManifestError, match=re.escape(where)):
        load(doc)
    with pytest.raises(pydantic.ValidationError):  # and the client's pydantic models agree
        k8s.V1Deployment.model_validate(doc)


def test_unknown_kind_is_rejected() -> None:
    with pytest.raises(ManifestError, match="no model"):
        load({"apiVersion": "monitoring.coreos.com/v1", "kind": "ServiceMonitor", "metadata": {"name": "x"}})


def test_client_deserialize_silently_drops_unknown_fields() -> None:
    # Why the loader exists: the client's own deserializer accepts a misspelt field and forgets it.
    doc = _deployment()
    _spec(doc)["initContainers"][0].pop("restartPolicy")
    _spec(doc)["initContainers"][0]["restartPolcy"] = "Always"
    with k8s.ApiClient() as client:
        model = client.deserialize(json.dumps(doc), "V1Deployment", "application/json")
    assert model.spec.template.spec.init_containers[0].restart_policy is None
    with pytest.raises(ManifestError, match="restartPolcy"):
        load(doc)


@pytest.mark.parametrize("variant", VARIANTS)
def test_kustomization_assembles_the_variant(variant: str) -> None:
    objects = objects_of(KUBERNETES / variant)
    kinds = sorted(d["kind"] for d in objects)
    assert kinds == sorted(
        ["ConfigMap", "Secret", "Secret", "Secret", "Service", "Service", "Deployment", "PodDisruptionBudget",
         "NetworkPolicy"]
    )
    names = [(d["kind"], d["metadata"]["name"]) for d in objects]
    assert len(names) == len(set(names))


def test_every_manifest_belongs_to_a_variant() -> None:
    used = {f for v in VARIANTS for f in resolve(KUBERNETES / v)}
    assert {p.resolve() for p, _, _ in OBJECTS} == used
    assert resolve(KUBERNETES) == resolve(KUBERNETES / "native-sidecar")  # the default


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl (with its built-in kustomize) not installed")
@pytest.mark.parametrize("variant", VARIANTS)
def test_kubectl_kustomize_renders_the_same_objects(variant: str) -> None:
    done = subprocess.run(
        ["kubectl", "kustomize", str(KUBERNETES / variant)], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    rendered = [d for d in yaml.safe_load_all(done.stdout) if d is not None]
    for doc in rendered:
        load(doc)
    expected = objects_of(KUBERNETES / variant)
    key = lambda d: (d["kind"], d["metadata"]["name"])  # noqa: E731
    assert sorted(map(key, rendered)) == sorted(map(key, expected))
