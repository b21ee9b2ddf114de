"""The Dockerfile's build step replayed for real (no Docker engine here): its COPY'd context, filtered by
.dockerignore, installed by the same `pip install --prefix` into a fresh venv; then the image's ENV, its
ENTRYPOINT and HEALTHCHECK run against the result, with driftcar as PID 1 of its own PID namespace.

What the replay cannot show: the base image itself, downloading the dependencies (`--no-deps`: they come from
the test venv, since the install is offline), and the build's isolated environment (`--no-build-isolation`:
the test venv's setuptools, which satisfies [build-system] requires, is handed to the build instead).
"""

from __future__ import annotations

import asyncio
import importlib.metadata
import json
import os
import shlex
import shutil
import signal
import sqlite3
import subprocess
import sys
import sysconfig
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from sidecar.server import free_port
from tests.deploy.images import REPO, Stage, excluded, parse, read_dockerignore
from tests.sidecar.upstream import create_upstream

pytestmark = pytest.mark.slow
DEADLINE = 120.0  # seconds; generous for a loaded two-core machine, never part of an assertion


@dataclass(frozen=True)
class Replayed:
    """The replayed install: the fresh venv, the --prefix tree and the image's environment for it."""

    venv: Path
    prefix: Path
    runtime: Stage

    def env(self, **overrides: str) -> dict[str, str]:
        """The image's ENV, the venv and prefix on PATH (as /usr/local/bin is), dependencies from the test venv."""
        site = self.prefix / "lib" / "python3.11" / "site-packages"
        env = {
            "PATH": f"{self.prefix / 'bin'}:{self.venv / 'bin'}:/usr/bin:/bin",
            "PYTHONPATH": f"{site}:{sysconfig.get_paths()['purelib']}",
            "HOME": str(self.prefix),
        }
        env.update(self.runtime.env())
        env.update(overrides)
        return env


def _copy_context(build: Stage, dest: Path) -> None:
    """The build stage's COPY instructions, from the repository filtered by .dockerignore."""
    patterns = read_dockerignore()
    for copy in build.all("COPY"):
        *sources, target = copy.args
        for source in sources:
            root = REPO / source
            files = [root] if root.is_file() else [p for p in root.rglob("*") if p.is_file()]
            for file in files:
                rel = file.relative_to(REPO).as_posix()
                if excluded(patterns, rel):
                    continue
                out = dest / target / (file.relative_to(root) if root.is_dir() else file.name)
                out.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(file, out)


def _build_backend(dest: Path) -> Path:
    """A directory holding only the test venv's setuptools (what `--no-build-isolation` builds with)."""
    dist = importlib.metadata.distribution("setuptools")
    tops = {Path(str(f)).parts[0] for f in dist.files or ()}
    for top in tops - {"..", "bin"}:
        (dest / top).symlink_to(Path(str(dist.locate_file(top))))
    return dest


@pytest.fixture(scope="module")
def replayed(tmp_path_factory: pytest.TempPathFactory) -> Replayed:
    """Replay the build stage: copy the context, create a fresh venv, run its `pip install`."""
    stages = parse()
    build, runtime = stages[0], stages[-1]
    root = tmp_path_factory.mktemp("image")
    workdir = root / build.last("WORKDIR").args[0].lstrip("/")
    _copy_context(build, workdir)
    assert not list(workdir.rglob("__pycache__"))
    venv = root / "venv"
    subprocess.run([shutil.which("python3.11") or sys.executable, "-m", "venv", str(venv)], check=True)
    assert "include-system-site-packages = false" in (venv / "pyvenv.cfg").read_text()
    [run] = [shlex.split(r.args[0]) for r in build.all("RUN") if "pip install" in r.args[0]]
    assert run[:2] == ["pip", "install"]
    # The same command by the fresh venv's pip; only the --prefix moves, and nothing is fetched.
    prefix = root / "install"
    argv = [str(venv / "bin" / "python"), "-m", "pip", "install", "--no-index", "--no-deps", "--no-build-isolation"]
    argv += [f"--prefix={prefix}" if a.startswith("--prefix=") else a for a in run[2:]]
    backend = root / "backend"
    backend.mkdir()
    env = {
        "PATH": f"{venv / 'bin'}:/usr/bin:/bin",
        "PYTHONPATH": str(_build_backend(backend)),
        "PIP_CONFIG_FILE": os.devnull,  # this machine's pip.conf (extra indexes, find-links) plays no part
        "HOME": str(root),
        **build.env(),
    }
    done = subprocess.run(argv, cwd=workdir, env=env, capture_output=True, text=True, timeout=DEADLINE)
    assert done.returncode == 0, done.stdout + done.stderr
    return Replayed(venv, prefix, runtime)


def _run(replayed: Replayed, *argv: str, **env: str) -> subprocess.CompletedProcess[str]:
    cwd = replayed.prefix.parent
    run_env = replayed.env(**env)
    return subprocess.run(list(argv), cwd=cwd, env=run_env, capture_output=True, text=True, timeout=DEADLINE)


def test_install_provides_the_console_script(replayed: Replayed, tmp_path: Path) -> None:
    script = replayed.prefix / "bin" / "driftcar"
    assert script.is_file()
    entrypoint = replayed.runtime.last("ENTRYPOINT").args
    assert shutil.which(entrypoint[0], path=replayed.env()["PATH"]) == str(script)
    # pip compiled the bytecode in the build stage (PYTHONDONTWRITEBYTECODE only stops writes at import time),
    # so the read-only runtime never needs to write any.
    package = replayed.prefix / "lib" / "python3.11" / "site-packages" / "sidecar"
    sources, compiled = list(package.rglob("*.py")), list(package.rglob("*.cpython-311.pyc"))
    assert sources and len(compiled) == len(sources)
    assert "Model-monitoring" in _run(replayed, "driftcar", "--help").stdout
    served = _run(replayed, *entrypoint, "--help", DRIFTCAR_UPSTREAM="http://127.0.0.1:8000")
    assert served.returncode == 0 and "--upstream" in served.stdout, served.stderr
    # The migrations are package data: the schema can be created from the installed package alone.
    url = f"sqlite+aiosqlite:///{tmp_path / 'x.db'}"
    upgraded = _run(replayed, "driftcar", "db", "upgrade", "--database-url", url)
    assert upgraded.returncode == 0, upgraded.stderr
    with sqlite3.connect(tmp_path / "x.db") as db:
        tables = {r[0] for r in db.execute("select name from sqlite_master where type = 'table'")}
    assert {"records", "report_runs", "alert_outbox"} <= tables


def test_image_environment_configures_serve(replayed: Replayed) -> None:
    code = (
        "import json, sidecar; from sidecar.settings import load_settings; s = load_settings(); "
        "print(json.dumps({'module': sidecar.__file__, 'db': s.database_url.get_secret_value(), "
        "'spool': str(s.capture.spool_dir), 'host': s.host, 'admin_host': s.admin_host, "
        "'ports': [s.port, s.admin_port]}))"
    )
    done = _run(replayed, "python", "-c", code, DRIFTCAR_UPSTREAM="http://model:8000")
    assert done.returncode == 0, done.stderr
    got = json.loads(done.stdout)
    assert got["module"].startswith(str(replayed.prefix))  # the replayed install, not the checkout
    assert got["db"] == "sqlite+aiosqlite:////data/driftcar.db"
    assert got["spool"] == "/data/spool"
    assert got["host"] == got["admin_host"] == "0.0.0.0"
    assert got["ports"] == [8080, 9090]


async def _healthcheck(replayed: Replayed, env: dict[str, str]) -> int:
    argv = replayed.runtime.last("HEALTHCHECK").args[1:]
    proc = await asyncio.create_subprocess_exec(*argv, env=env, stderr=asyncio.subprocess.DEVNULL)
    return await asyncio.wait_for(proc.wait(), DEADLINE)


def _namespace_pid1(outer: int) -> int:
    """The child `unshare --fork` started: PID 1 of the new namespace."""
    children = Path(f"/proc/{outer}/task/{outer}/children").read_text().split()
    assert len(children) == 1, children
    pid = int(children[0])
    nspid = next(x for x in Path(f"/proc/{pid}/status").read_text().splitlines() if x.startswith("NSpid:"))
    assert nspid.split()[-1] == "1", nspid
    return pid


@pytest.fixture
def pid_namespace() -> None:
    """Skip unless `unshare` can start a process as PID 1 of a new PID namespace (root, or user namespaces)."""
    if shutil.which("unshare") is None or subprocess.run(["unshare", "--pid", "--fork", "true"]).returncode:
        pytest.skip("cannot create a PID namespace here (unshare --pid needs root or user namespaces)")


@pytest.mark.usefixtures("pid_namespace")
async def test_sigterm_to_pid_1_drains_and_exits(replayed: Replayed, tmp_path: Path) -> None:
    upstream = TestServer(create_upstream(), host="127.0.0.1")
    await upstream.start_server()
    data = tmp_path / "data"
    (data / "spool").mkdir(parents=True)
    image_env = replayed.runtime.env()
    env = replayed.env(
        DRIFTCAR_UPSTREAM=str(upstream.make_url("")).rstrip("/"),
        DRIFTCAR_PORT=str(free_port()),
        DRIFTCAR_ADMIN_PORT=str(free_port()),
        # The image's /data paths, moved under tmp_path.
        DRIFTCAR_DATABASE_URL=image_env["DRIFTCAR_DATABASE_URL"].replace("/data/", f"{data}/"),
        DRIFTCAR_CAPTURE__SPOOL_DIR=image_env["DRIFTCAR_CAPTURE__SPOOL_DIR"].replace("/data", str(data)),
    )
    log = (tmp_path / "driftcar.log").open("wb")
    entrypoint = replayed.runtime.last("ENTRYPOINT").args
    outer = await asyncio.create_subprocess_exec(
        "unshare", "--pid", "--fork", "--kill-child", *entrypoint, env=env, stdout=log, stderr=log, cwd=data
    )
    try:
        for _ in range(int(DEADLINE * 4)):
            if await _healthcheck(replayed, env) == 0:
                break
            assert outer.returncode is None, (tmp_path / "driftcar.log").read_text()
            await asyncio.sleep(0.25)
        else:
            pytest.fail("HEALTHCHECK never passed: " + (tmp_path / "driftcar.log").read_text())
        url = f"http://127.0.0.1:{env['DRIFTCAR_PORT']}/predict"
        async with aiohttp.ClientSession() as session, session.post(url, json={"feature1": 7.5}) as resp:
            assert resp.status == 200 and await resp.json() == {"prediction": 1}
        os.kill(_namespace_pid1(outer.pid), signal.SIGTERM)
        assert await asyncio.wait_for(outer.wait(), DEADLINE) == 0
    finally:
        if outer.returncode is None:
            outer.kill()  # --kill-child takes driftcar with it
            await outer.wait()
        log.close()
        await upstream.close()
    output = (tmp_path / "driftcar.log").read_text()
    assert "driftcar stopped" in output, output
    assert await _healthcheck(replayed, env) != 0  # and the HEALTHCHECK notices it is gone
    with sqlite3.connect(data / "driftcar.db") as db:
        assert db.execute("select count(*) from records").fetchone() == (1,)
