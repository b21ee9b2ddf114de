"""Kubernetes manifests into the official client's models, strictly.

The client's own `ApiClient.deserialize` keeps only the fields a model knows and silently drops the rest, so a
misspelt `restartPolcy` or a field at the wrong level would pass. This loader walks the models'
`openapi_types` / `attribute_map` itself and fails on any unknown field, on a value of the wrong JSON type, and
(through the models' own constructors) on a missing required field.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import kubernetes.client as k8s
import yaml

from tests.deploy.images import REPO

DEPLOY = REPO / "deploy"
KUBERNETES = DEPLOY / "kubernetes"
VARIANTS = ("native-sidecar", "two-containers")
KINDS = {
    ("v1", "ConfigMap"): "V1ConfigMap",
    ("v1", "Secret"): "V1Secret",
    ("v1", "Service"): "V1Service",
    ("apps/v1", "Deployment"): "V1Deployment",
    ("policy/v1", "PodDisruptionBudget"): "V1PodDisruptionBudget",
    ("networking.k8s.io/v1", "NetworkPolicy"): "V1NetworkPolicy",
}
KUSTOMIZE = "kustomize.config.k8s.io/v1beta1"
# The generated type names: `List[V1Container]`, `Dict[str, str]` (older clients: `list[...]`, `dict(str, ...)`).
_LIST = re.compile(r"[Ll]ist\[(.+)\]\Z")
_DICT = re.compile(r"(?:Dict\[str, (.+)\]|dict\(str, (.+)\))\Z")
# JSON types the client's primitive type names accept; `object` is IntOrString (ports) or free-form JSON.
_PRIMITIVES: dict[str, tuple[type, ...]] = {
    "str": (str,),
    "int": (int,),
    "float": (int, float),
    "bool": (bool,),
    "object": (str, int, float, bool, dict, list),
    "datetime": (str,),
    "bytes": (str,),  # base64 in a manifest
}


class ManifestError(ValueError):
    """A manifest the API server would refuse: the path of the offending field and why."""


def documents(root: Path = DEPLOY) -> list[tuple[Path, int, dict[str, Any]]]:
    """Every YAML document under `root`: (file, index in the file, content)."""
    found = []
    for path in sorted(root.rglob("*.yaml")):
        for index, doc in enumerate(yaml.safe_load_all(path.read_text())):
            if doc is not None:
                found.append((path, index, doc))
    return found


def resolve(directory: Path) -> list[Path]:
    """The manifest files a kustomization directory assembles (its resources, bases recursively)."""
    kustomization = yaml.safe_load((directory / "kustomization.yaml").read_text())
    assert set(kustomization) <= {"apiVersion", "kind", "resources"}, kustomization
    assert (kustomization["apiVersion"], kustomization["kind"]) == (KUSTOMIZE, "Kustomization")
    files: list[Path] = []
    for resource in kustomization["resources"]:
        target = (directory / resource).resolve()
        assert target.exists(), f"{directory}: {resource} does not exist"
        files += resolve(target) if target.is_dir() else [target]
    return files


def objects_of(directory: Path) -> list[dict[str, Any]]:
    """The documents a kustomization assembles."""
    return [d for f in resolve(directory) for d in yaml.safe_load_all(f.read_text()) if d is not None]


def load(doc: dict[str, Any]) -> Any:
    """The client model for one manifest; ManifestError names the first field the API server would refuse."""
    key = (doc.get("apiVersion"), doc.get("kind"))
    if key not in KINDS:
        raise ManifestError(f"$: no model for apiVersion/kind {key}")
    return _build(doc, KINDS[key], "$")


def _build(value: Any, type_name: str, path: str) -> Any:
    if match := _LIST.match(type_name):
        if not isinstance(value, list):
            raise ManifestError(f"{path}: expected a list, got {type(value).__name__}")
        return [_build(v, match.group(1), f"{path}[{i}]") for i, v in enumerate(value)]
    if match := _DICT.match(type_name):
        if not isinstance(value, dict) or not all(isinstance(k, str) for k in value):
            raise ManifestError(f"{path}: expected a map with string keys")
        inner = match.group(1) or match.group(2)
        return {k: _build(v, inner, f"{path}.{k}") for k, v in value.items()}
    if type_name in _PRIMITIVES:
        allowed = _PRIMITIVES[type_name]
        if not isinstance(value, allowed) or (isinstance(value, bool) and bool not in allowed):
            raise ManifestError(f"{path}: expected {type_name}, got {type(value).__name__} {value!r}")
        return value
    cls = getattr(k8s, type_name)
    if not isinstance(value, dict):
        raise ManifestError(f"{path}: expected a {type_name} object, got {type(value).__name__}")
    attributes = {json_key: attr for attr, json_key in cls.attribute_map.items()}
    unknown = sorted(set(value) - set(attributes))
    if unknown:
        raise ManifestError(f"{path}: unknown field(s) {', '.join(unknown)} in {type_name}")
    kwargs = {
        attributes[key]: _build(v, cls.openapi_types[attributes[key]], f"{path}.{key}")
        for key, v in value.items()
    }
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as exc:  # the models check required fields and enumerations
        raise ManifestError(f"{path}: {exc}") from None


def quantity_bytes(quantity: str) -> int:
    """A Kubernetes memory quantity (`2Gi`, `512Mi`, `1G`, `1000`) in bytes."""
    units = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "k": 10**3, "M": 10**6, "G": 10**9, "T": 10**12}
    for suffix, factor in units.items():
        if quantity.endswith(suffix):
            return int(float(quantity[: -len(suffix)]) * factor)
    return int(quantity)
