"""The Dockerfile and .dockerignore as data: stages with their instructions, parsed by BuildKit's own parser
(the `dockerfile` package wraps it), and Docker's rules for which context paths a build sees."""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from pathlib import Path

import dockerfile  # type: ignore[import-not-found]  # a C extension without type information

REPO = Path(__file__).resolve().parents[2]
DOCKERFILE = REPO / "Dockerfile"
DOCKERIGNORE = REPO / ".dockerignore"


@dataclass(frozen=True)
class Instruction:
    """One instruction: its keyword, its arguments, its `--flags` and whether it was written in exec (JSON) form."""

    cmd: str
    args: tuple[str, ...]
    flags: tuple[str, ...]
    exec_form: bool
    line: int


@dataclass(frozen=True)
class Stage:
    """One `FROM` and what follows it up to the next."""

    base: str
    name: str | None
    instructions: tuple[Instruction, ...]

    def all(self, cmd: str) -> list[Instruction]:
        """Every instruction with that keyword, in order."""
        return [i for i in self.instructions if i.cmd == cmd]

    def last(self, cmd: str) -> Instruction:
        """The one that counts (for USER, ENTRYPOINT, HEALTHCHECK, ... the last wins)."""
        found = self.all(cmd)
        assert found, f"stage {self.name or self.base}: no {cmd}"
        return found[-1]

    def env(self) -> dict[str, str]:
        """The stage's ENV, later values winning (no `$VAR` substitution: the Dockerfile uses none)."""
        return _pairs(self.all("ENV"))

    def labels(self) -> dict[str, str]:
        """The stage's LABELs."""
        return _pairs(self.all("LABEL"))


def _unquote(value: str) -> str:
    return shlex.split(value)[0] if value[:1] in ("'", '"') else value


def _pairs(instructions: list[Instruction]) -> dict[str, str]:
    out: dict[str, str] = {}
    for ins in instructions:
        for key, value in zip(ins.args[::2], ins.args[1::2], strict=True):
            assert "$" not in value, f"line {ins.line}: variable substitution is not modelled here"
            out[key] = _unquote(value)
    return out


def parse(path: Path = DOCKERFILE) -> list[Stage]:
    """The Dockerfile's stages, in order."""
    stages: list[Stage] = []
    base: str | None = None
    name: str | None = None
    body: list[Instruction] = []
    for cmd in dockerfile.parse_file(str(path)):
        ins = Instruction(cmd.cmd.upper(), tuple(cmd.value), tuple(cmd.flags), bool(cmd.json), cmd.start_line)
        if ins.cmd == "FROM":
            if base is not None:
                stages.append(Stage(base, name, tuple(body)))
            base = ins.args[0]
            name = ins.args[2] if len(ins.args) == 3 and ins.args[1].upper() == "AS" else None
            body = []
        else:
            assert base is not None, f"line {ins.line}: {ins.cmd} before any FROM"
            body.append(ins)
    assert base is not None, "no FROM"
    stages.append(Stage(base, name, tuple(body)))
    return stages


def _regex(pattern: str) -> re.Pattern[str]:
    """Docker's pattern syntax (Go's filepath.Match plus `**`) as a regular expression on /-separated paths."""
    out, i = "", 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out, i = out + "(?:.*/)?", i + 3
        elif pattern.startswith("**", i):
            out, i = out + ".*", i + 2
        elif pattern[i] == "*":
            out, i = out + "[^/]*", i + 1
        elif pattern[i] == "?":
            out, i = out + "[^/]", i + 1
        elif pattern[i] == "[":
            end = pattern.index("]", i)
            out, i = out + pattern[i : end + 1], end + 1
        else:
            out, i = out + re.escape(pattern[i]), i + 1
    return re.compile(out + r"\Z")


def read_dockerignore(path: Path = DOCKERIGNORE) -> list[str]:
    """The patterns, without comments and blank lines."""
    lines = (line.strip() for line in path.read_text().splitlines())
    return [line for line in lines if line and not line.startswith("#")]


def excluded(patterns: list[str], relpath: str) -> bool:
    """Whether Docker leaves `relpath` out of the build context: the last pattern matching the path or one of
    its parent directories decides (`!` re-includes)."""
    parts = relpath.strip("/").split("/")
    candidates = ["/".join(parts[: n + 1]) for n in range(len(parts))]
    verdict = False
    for pattern in patterns:
        negated = pattern.startswith("!")
        regex = _regex(pattern.lstrip("!").strip("/"))
        if any(regex.match(c) for c in candidates):
            verdict = not negated
    return verdict
