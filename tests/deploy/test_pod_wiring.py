"""The Kubernetes variants hold together: references resolve, probes and Services hit the right ports, the drain
fits in the grace period, the pod is locked down, and driftcar.yaml from the ConfigMap loads through driftcar's
own `load_settings` with the Secrets' values, as the container would see them."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from alerts.dispatcher import load_secrets
from sidecar.settings import Settings, load_settings
from tests.deploy.images import parse
from tests.deploy.kube import KUBERNETES, VARIANTS, load, objects_of, quantity_bytes

# The client's models make every field Optional; these checks read objects the strict loader has already
# validated, so they go through Any instead of a None check per attribute (a missing one fails the test anyway).
Model = Any


@dataclass(frozen=True)
class Variant:
    """One variant's objects, as client models."""

    name: str
    deployment: Model
    config_maps: dict[str, Model]
    secrets: dict[str, Model]
    services: dict[str, Model]
    others: list[Model]

    @property
    def pod(self) -> Model:
        """The pod template's spec."""
        return self.deployment.spec.template.spec

    def container(self, name: str) -> Model:
        """A container or init container by name."""
        [found] = [c for c in (self.pod.init_containers or []) + self.pod.containers if c.name == name]
        return found

    def volume(self, name: str) -> Model:
        """A pod volume by name."""
        [found] = [v for v in self.pod.volumes or [] if v.name == name]
        return found

    def mounted_file(self, container: Model, path: str) -> str:
        """The content a container sees at `path`, from the ConfigMap or Secret volume mounted there."""
        for mount in container.volume_mounts or []:
            if Path(path).is_relative_to(mount.mount_path):
                key = Path(path).relative_to(mount.mount_path).as_posix()
                volume = self.volume(mount.name)
                if volume.config_map is not None:
                    return str(self.config_maps[volume.config_map.name].data[key])
                if volume.secret is not None:
                    return str(self.secrets[volume.secret.secret_name].string_data[key])
                raise AssertionError(f"{path}: volume {mount.name} holds neither a ConfigMap nor a Secret")
        raise AssertionError(f"{path}: not mounted in {container.name}")


def variant(name: str) -> Variant:
    """Load a variant's objects strictly."""
    models: list[Model] = [load(d) for d in objects_of(KUBERNETES / name)]

    def named(kind: str) -> dict[str, Model]:
        return {m.metadata.name: m for m in models if m.kind == kind}

    [deployment] = named("Deployment").values()
    others = [m for m in models if m.kind in ("PodDisruptionBudget", "NetworkPolicy")]
    return Variant(name, deployment, named("ConfigMap"), named("Secret"), named("Service"), others)


@pytest.fixture(params=VARIANTS)
def v(request: pytest.FixtureRequest) -> Variant:
    """Each variant in turn."""
    return variant(request.param)


def container_env(v: Variant, container: Model) -> dict[str, str]:
    """What the container's process sees: the image's ENV, overridden by the pod's env (references resolved)."""
    env = parse()[-1].env() if container.name == "driftcar" else {}
    for var in container.env or []:
        if var.value is not None:
            env[var.name] = var.value
        elif var.value_from.secret_key_ref is not None:
            ref = var.value_from.secret_key_ref
            env[var.name] = v.secrets[ref.name].string_data[ref.key]
        elif var.value_from.config_map_key_ref is not None:
            ref = var.value_from.config_map_key_ref
            env[var.name] = v.config_maps[ref.name].data[ref.key]
        elif var.value_from.field_ref is not None:
            assert var.value_from.field_ref.field_path == "metadata.name"
            env[var.name] = "loan-model-6f9c7d-x2x4q"
    return env


@pytest.fixture
def settings(v: Variant, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """driftcar's Settings as `driftcar serve` builds them in the variant's pod."""
    driftcar = v.container("driftcar")
    env = container_env(v, driftcar)
    config = tmp_path / "driftcar.yaml"
    config.write_text(v.mounted_file(driftcar, env["DRIFTCAR_CONFIG"]))
    for name in [n for n in os.environ if n.startswith("DRIFTCAR_")]:
        monkeypatch.delenv(name)
    for name, value in env.items():
        if name.startswith("DRIFTCAR_"):
            monkeypatch.setenv(name, value)
    return load_settings(config)


def ports(container: Model) -> dict[str, int]:
    """A container's ports by name (and by number, as strings)."""
    out = {p.name: p.container_port for p in container.ports or [] if p.name}
    out.update({str(p.container_port): p.container_port for p in container.ports or []})
    return out


def probes(container: Model) -> list[Model]:
    """The container's probes that are set."""
    return [p for p in (container.startup_probe, container.readiness_probe, container.liveness_probe) if p]


def pre_stop_sleep(container: Model) -> int:
    """Seconds the container's preStop hook waits (`sleep` action or `exec: sleep N`), 0 without one."""
    hook = container.lifecycle.pre_stop if container.lifecycle else None
    if hook is None:
        return 0
    if hook.sleep is not None:
        return int(hook.sleep.seconds)
    command = hook.var_exec.command
    assert command[0] == "sleep" and len(command) == 2, command
    return int(command[1])


def test_references_resolve(v: Variant) -> None:
    for container in (v.pod.init_containers or []) + v.pod.containers:
        container_env(v, container)  # every secretKeyRef / configMapKeyRef names an existing key
        for mount in container.volume_mounts or []:
            v.volume(mount.name)
    for volume in v.pod.volumes or []:
        if volume.config_map is not None:
            assert volume.config_map.name in v.config_maps
        if volume.secret is not None:
            assert volume.secret.secret_name in v.secrets
    mounted = {m.name for c in (v.pod.init_containers or []) + v.pod.containers for m in c.volume_mounts or []}
    assert mounted == {vol.name for vol in v.pod.volumes or []}  # no volume left unused


def test_probes_use_the_containers_own_ports(v: Variant) -> None:
    for container in (v.pod.init_containers or []) + v.pod.containers:
        assert len(probes(container)) == 3, container.name
        for probe in probes(container):
            assert str(probe.http_get.port) in ports(container), (container.name, probe.http_get.port)


def test_driftcar_probes_never_wait_on_shared_dependencies(v: Variant) -> None:
    # /readyz also needs the model server (started after driftcar in the native variant) and the shared
    # database (down for every replica at once): liveness, readiness and startup all ask /healthz.
    assert {p.http_get.path for p in probes(v.container("driftcar"))} == {"/healthz"}


def test_services_reach_driftcar_not_the_model(v: Variant, settings: Settings) -> None:
    labels = v.deployment.spec.template.metadata.labels
    driftcar, model = ports(v.container("driftcar")), ports(v.container("model"))
    assert driftcar["proxy"] == settings.port and driftcar["admin"] == settings.admin_port
    targets = {}
    for name, service in v.services.items():
        assert service.spec.type == "ClusterIP"  # nothing exposed outside the cluster
        assert service.spec.selector.items() <= labels.items()
        for port in service.spec.ports:
            # A number: before Kubernetes 1.32 a native sidecar's named port is not resolved for a Service.
            assert isinstance(port.target_port, int), port.target_port
            assert str(port.target_port) in driftcar and str(port.target_port) not in model
            targets[name] = driftcar[str(port.target_port)]
    assert targets == {"loan-model": settings.port, "driftcar-admin": settings.admin_port}
    [policy] = [o for o in v.others if o.kind == "NetworkPolicy"]
    policy_ports = [p.port for rule in policy.spec.ingress for p in rule.ports]
    assert all(isinstance(p, int) for p in policy_ports), policy_ports
    assert {driftcar[str(p)] for p in policy_ports} == set(targets.values())
    [budget] = [o for o in v.others if o.kind == "PodDisruptionBudget"]
    assert budget.spec.selector.match_labels.items() <= labels.items()
    assert v.deployment.spec.replicas > budget.spec.min_available


def test_driftcar_proxies_the_model_container(v: Variant, settings: Settings) -> None:
    model_port = ports(v.container("model"))["model-http"]
    assert settings.upstream == f"http://127.0.0.1:{model_port}"
    assert settings.admin_host == "0.0.0.0"  # the kubelet's probes and Prometheus come from outside the pod


def test_start_and_stop_order(v: Variant) -> None:
    init = {c.name: c for c in v.pod.init_containers or []}
    regular = {c.name: c for c in v.pod.containers}
    if v.name == "native-sidecar":
        # Started before the model server, stopped after it: a restartable init container.
        assert init["driftcar"].restart_policy == "Always" and "driftcar" not in regular
        assert pre_stop_sleep(init["driftcar"]) == 0 < pre_stop_sleep(regular["model"])
    else:
        assert not init and regular["driftcar"].restart_policy is None
        # Both get SIGTERM at once after their preStop: the model server outlives driftcar's drain start.
        assert 0 < pre_stop_sleep(regular["driftcar"]) < pre_stop_sleep(regular["model"])
    assert "model" in regular


def test_grace_period_covers_the_drain(v: Variant, settings: Settings) -> None:
    grace = v.pod.termination_grace_period_seconds
    # Native: driftcar gets SIGTERM when the model server has exited; classic: after its own preStop.
    before_sigterm = pre_stop_sleep(v.container("model" if v.name == "native-sidecar" else "driftcar"))
    assert grace > before_sigterm + settings.shutdown_timeout
    assert grace > max(pre_stop_sleep(c) for c in v.pod.containers)


def test_pod_is_locked_down(v: Variant) -> None:
    assert v.pod.security_context.run_as_non_root is True
    assert v.pod.automount_service_account_token is False
    uid = int(parse()[-1].last("USER").args[0].split(":")[0])
    assert v.container("driftcar").security_context.run_as_user == uid == v.pod.security_context.fs_group
    for container in (v.pod.init_containers or []) + v.pod.containers:
        sc = container.security_context
        assert sc.allow_privilege_escalation is False and sc.read_only_root_filesystem is True
        assert sc.capabilities.drop == ["ALL"] and not sc.capabilities.add
        assert set(container.resources.requests) == set(container.resources.limits) == {"cpu", "memory"}
        assert any(m.mount_path == "/tmp" for m in container.volume_mounts)


def test_writable_paths_are_volumes(v: Variant, settings: Settings) -> None:
    driftcar = v.container("driftcar")
    writable = {m.mount_path: v.volume(m.name) for m in driftcar.volume_mounts if not m.read_only}
    image_volumes = [p for i in parse()[-1].all("VOLUME") for p in i.args]
    assert set(image_volumes) <= set(writable)
    spool_volume = next(vol for path, vol in writable.items() if settings.capture.spool_dir.is_relative_to(path))
    assert spool_volume.empty_dir is not None or spool_volume.persistent_volume_claim is not None
    if spool_volume.empty_dir is not None:
        assert quantity_bytes(spool_volume.empty_dir.size_limit) > settings.capture.spool_max_bytes


def test_config_loads_with_the_secrets(v: Variant, settings: Settings, tmp_path: Path) -> None:
    env = container_env(v, v.container("driftcar"))
    assert settings.admin_token is not None
    assert settings.admin_token.get_secret_value() == v.secrets["driftcar-admin"].string_data["token"]
    assert settings.database_url.get_secret_value() == v.secrets["driftcar-database"].string_data["url"]
    assert settings.replica == env["DRIFTCAR_REPLICA"]
    assert settings.monitors and settings.alerts.webhooks
    # Each webhook secret file is a mounted Secret key; driftcar reads it at start (>= 16 characters).
    files = {}
    for hook in settings.alerts.webhooks:
        assert hook.secret_file is not None and hook.secret_env is None
        content = v.mounted_file(v.container("driftcar"), str(hook.secret_file))
        files[hook.name] = tmp_path / hook.name
        files[hook.name].write_text(content)
    local = settings.alerts.model_copy(
        update={"webhooks": [h.model_copy(update={"secret_file": files[h.name]}) for h in settings.alerts.webhooks]}
    )
    secrets = load_secrets(local)
    assert secrets == {"ops": v.secrets["driftcar-webhook"].string_data["secret"].encode()}


def test_config_file_is_not_silently_overridden(v: Variant) -> None:
    # Environment variables (the image's ENV, the pod's env) beat driftcar.yaml: a key set in both must agree,
    # or the file's value would be ignored without a word.
    driftcar = v.container("driftcar")
    env = container_env(v, driftcar)
    config = yaml.safe_load(v.mounted_file(driftcar, env["DRIFTCAR_CONFIG"]))
    for name, value in env.items():
        node: Any = config
        for part in name.removeprefix("DRIFTCAR_").lower().split("__"):
            node = node.get(part) if isinstance(node, dict) else None
        assert node is None or str(node) == value, f"{name}={value} overrides {node!r} in driftcar.yaml"


def test_the_variants_differ_only_in_the_drain() -> None:
    native, classic = (yaml.safe_load((KUBERNETES / n / "deployment.yaml").read_text()) for n in VARIANTS)
    native_spec, classic_spec = native["spec"]["template"]["spec"], classic["spec"]["template"]["spec"]
    [driftcar] = native_spec.pop("initContainers")
    driftcar.pop("restartPolicy")
    native_spec["containers"].insert(0, driftcar)
    for spec in (native_spec, classic_spec):
        for container in spec["containers"]:
            container.pop("lifecycle", None)
    assert native == classic
