"""The Dockerfile, checked without a Docker engine: its structure (parsed by BuildKit's parser) and its
.dockerignore. tests/deploy/test_image_replay.py replays its install step and runs the result as PID 1."""

from __future__ import annotations

import json
import shlex
import subprocess
import sys
import tomllib
from pathlib import Path
from urllib.parse import urlparse

import pytest
from sqlalchemy.engine import make_url

from sidecar.settings import Settings
from tests.deploy.images import DOCKERFILE, REPO, Stage, excluded, parse, read_dockerignore

BUILD_TOOLS = ("gcc", "g++", "build-essential", "make", "-dev", "git", "curl", "wget")


@pytest.fixture(scope="module")
def stages() -> list[Stage]:
    """The Dockerfile's stages."""
    return parse()


@pytest.fixture(scope="module")
def runtime(stages: list[Stage]) -> Stage:
    """The final stage: what the image is."""
    return stages[-1]


def pip_install(stage: Stage) -> list[str]:
    """The stage's one `pip install` command, split as the shell would."""
    commands = [shlex.split(i.args[0]) for i in stage.all("RUN") if "pip install" in i.args[0]]
    assert len(commands) == 1, commands
    return commands[0]


def test_multi_stage_on_one_pinned_slim_base(stages: list[Stage]) -> None:
    assert len(stages) >= 2
    bases = {s.base for s in stages}
    # One base: wheels built against the build stage's Python are what the runtime stage runs.
    assert bases == {"python:3.11-slim-bookworm"}
    assert all(":" in b and not b.endswith(":latest") for b in bases)
    assert stages[0].name == "build"


def test_install_is_runtime_dependencies_only(stages: list[Stage], runtime: Stage) -> None:
    build = stages[0]
    command = pip_install(build)
    assert command[:2] == ["pip", "install"]
    # `.`, not `.[test]` nor an editable install: only [project] dependencies reach the image.
    assert command[-1] == "."
    assert not any(arg.startswith("-e") or "[" in arg for arg in command)
    prefix = next(a.split("=", 1)[1] for a in command if a.startswith("--prefix="))
    copies = [c for c in runtime.all("COPY") if f"--from={build.name}" in c.flags]
    assert [c.args for c in copies] == [(prefix, "/usr/local")]
    assert build.env()["PIP_NO_CACHE_DIR"] == "1"


def test_runtime_stage_has_no_build_tools(runtime: Stage) -> None:
    for run in runtime.all("RUN"):
        words = shlex.split(run.args[0].replace("&&", " "))
        assert "pip" not in words, f"line {run.line}: installs in the runtime stage"
        assert not [w for w in words if any(tool in w for tool in BUILD_TOOLS)], run.args[0]


def test_apt_steps_skip_recommends_and_clean_up(stages: list[Stage]) -> None:
    for run in (r for s in stages for r in s.all("RUN")):
        if "apt-get install" in run.args[0]:
            assert "--no-install-recommends" in run.args[0], f"line {run.line}"
            assert "rm -rf /var/lib/apt/lists" in run.args[0], f"line {run.line}"


def test_python_does_not_write_at_runtime(runtime: Stage) -> None:
    env = runtime.env()
    assert env["PYTHONDONTWRITEBYTECODE"] == "1"  # the root filesystem may be read-only
    assert env["PYTHONUNBUFFERED"] == "1"  # logs reach `docker logs` / kubectl logs at once
    assert env["PIP_NO_CACHE_DIR"] == "1"


def test_runs_as_a_numeric_non_root_user(runtime: Stage) -> None:
    user = runtime.last("USER").args[0]
    uid, _, gid = user.partition(":")
    assert uid.isdigit() and gid.isdigit() and int(uid) != 0 and int(gid) != 0, user
    setup = runtime.all("RUN")[0].args[0]
    assert f"--uid {uid}" in setup and f"--gid {gid}" in setup
    assert f"chown -R {uid}:{gid} /data" in setup
    assert runtime.instructions.index(runtime.last("USER")) > runtime.instructions.index(runtime.all("RUN")[-1])


def test_healthcheck_asks_healthz_without_curl(runtime: Stage) -> None:
    check = runtime.last("HEALTHCHECK")
    assert check.exec_form and check.args[0] == "CMD"
    argv = list(check.args[1:])
    assert argv[:2] == ["python", "-c"]
    assert "/healthz" in argv[2] and "DRIFTCAR_ADMIN_PORT" in argv[2]
    assert {f.split("=")[0] for f in check.flags} >= {"--interval", "--timeout", "--start-period"}
    # The admin port from the environment, else driftcar's default.
    assert f"'DRIFTCAR_ADMIN_PORT', '{Settings.model_fields['admin_port'].default}'" in argv[2]
    assert runtime.env()["DRIFTCAR_ADMIN_HOST"] == "0.0.0.0"  # reachable at 127.0.0.1 and from outside


def test_entrypoint_is_driftcar_serve_in_exec_form(runtime: Stage) -> None:
    entrypoint = runtime.last("ENTRYPOINT")
    assert entrypoint.exec_form and entrypoint.args == ("driftcar", "serve")
    assert not runtime.all("CMD")  # arguments given to `docker run` go straight to `driftcar serve`
    assert runtime.last("STOPSIGNAL").args == ("SIGTERM",)


def test_volume_holds_the_database_and_the_spool(runtime: Stage) -> None:
    env = runtime.env()
    volumes = [Path(v) for i in runtime.all("VOLUME") for v in i.args]
    database = make_url(env["DRIFTCAR_DATABASE_URL"])
    assert database.drivername == "sqlite+aiosqlite" and database.database
    paths = [Path(database.database).parent, Path(env["DRIFTCAR_CAPTURE__SPOOL_DIR"])]
    for path in paths:
        assert path.is_absolute() and any(path.is_relative_to(v) for v in volumes), (path, volumes)
    assert runtime.last("WORKDIR").args == ("/data",)


def test_exposed_ports_are_driftcars_defaults(runtime: Stage) -> None:
    # No DRIFTCAR_PORT / DRIFTCAR_ADMIN_PORT in ENV: they would beat `port:` in a mounted driftcar.yaml.
    assert not {"DRIFTCAR_PORT", "DRIFTCAR_ADMIN_PORT"} & set(runtime.env())
    exposed = {int(p.split("/")[0]) for i in runtime.all("EXPOSE") for p in i.args}
    defaults = {Settings.model_fields["port"].default, Settings.model_fields["admin_port"].default}
    assert exposed == defaults == {8080, 9090}


def test_oci_labels_match_the_project(runtime: Stage) -> None:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    labels = runtime.labels()
    assert labels["org.opencontainers.image.title"] == project["name"]
    assert labels["org.opencontainers.image.version"] == project["version"]
    assert labels["org.opencontainers.image.licenses"] == project["license"]
    assert labels["org.opencontainers.image.description"] == project["description"]
    base = urlparse("//" + labels["org.opencontainers.image.base.name"])
    assert base.path.rsplit("/", 1)[-1] == runtime.base


def test_dockerignore_sends_only_what_the_build_copies(stages: list[Stage]) -> None:
    patterns = read_dockerignore()
    sources = [a for c in stages[0].all("COPY") if not c.flags for a in c.args[:-1]]
    assert set(sources) == {"pyproject.toml", "README.md", "sidecar", "detectors", "storage", "alerts"}
    for source in sources:
        files = [REPO / source] if (REPO / source).is_file() else list((REPO / source).rglob("*.py"))
        assert files
        for file in files:
            rel = file.relative_to(REPO).as_posix()
            assert not excluded(patterns, rel), rel
    for rel in (".venv/bin/python", ".git/HEAD", "tests/conftest.py", "bench/proxy.py", "docs/alerts.md",
                "deploy/kubernetes/kustomization.yaml", "Makefile", "driftcar.db", "driftcar-spool/0001",
                "sidecar/__pycache__/app.cpython-311.pyc", "storage/x.db", "driftcar.egg-info/PKG-INFO"):
        assert excluded(patterns, rel), rel


@pytest.mark.parametrize(
    ("patterns", "path", "expected"),
    [
        (["*"], "a/b/c.py", True),  # a parent directory matches
        (["*", "!a"], "a/b/c.py", False),
        (["*", "!a", "**/b"], "a/b/c.py", True),
        (["*.pyc"], "a/x.pyc", False),  # `*` stops at `/`
        (["**/*.py[cod]"], "a/x.pyc", True),
    ],
)
def test_dockerignore_matching_follows_docker(patterns: list[str], path: str, expected: bool) -> None:
    assert excluded(patterns, path) is expected


def lint(dockerfile: Path, cwd: Path) -> list[str]:
    """The rule ids dockerfile-doctor (a pure-Python linter; hadolint is in neither PyPI nor Debian) reports."""
    argv = [sys.executable, "-m", "dockerfile_doctor", "--format", "json", "--no-color", str(dockerfile)]
    done = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=120)
    [found] = json.loads(done.stdout)["files"]
    return [issue["ruleId"] for issue in found["issues"]]


def test_linter_finds_nothing(tmp_path: Path) -> None:
    assert lint(DOCKERFILE, tmp_path) == []


def test_linter_does_find_the_usual_mistakes(tmp_path: Path) -> None:
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python:latest\nRUN apt-get update\nRUN apt-get install -y curl\nRUN pip install flask\n")
    assert {"DD001", "DD002", "DD003", "DD008", "DD009", "DD012"} <= set(lint(bad, tmp_path))
