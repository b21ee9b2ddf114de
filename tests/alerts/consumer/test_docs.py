"""docs/consumer.md's signature recipes agree with driftcar's signer."""

from __future__ import annotations

import re
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from alerts.payload import driftcar_body
from alerts.signing import SIGNATURE_HEADER, TIMESTAMP_HEADER, sign
from tests.alerts.consumer.helpers import SECRET, make_event

DOC = (Path(__file__).parents[3] / "docs" / "consumer.md").read_text(encoding="utf-8")


def block(language: str, containing: str) -> str:
    """The first fenced block of `language` in the doc that contains `containing`."""
    blocks: list[str] = re.findall(rf"```{language}\n(.*?)```", DOC, flags=re.S)
    found = [b for b in blocks if containing in b]
    assert found, f"docs/consumer.md has no {language} block with {containing!r}"
    return found[0]


def test_the_python_recipe_verifies_driftcar_signatures() -> None:
    namespace: dict[str, Any] = {}
    exec(block("python", "def verified"), namespace)
    verified = namespace["verified"]
    body = driftcar_body(make_event())
    headers = sign(SECRET.encode(), body)
    assert verified(SECRET.encode(), headers, body) is True
    assert verified(b"another-secret-0123456789", headers, body) is False
    assert verified(SECRET.encode(), headers, body + b" ") is False
    assert verified(SECRET.encode(), sign(SECRET.encode(), body, now=time.time() - 600), body) is False


@pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl is not installed")
def test_the_openssl_recipe_computes_the_same_signature(tmp_path: Path) -> None:
    body = driftcar_body(make_event())
    (tmp_path / "body.json").write_bytes(body)
    headers = sign(SECRET.encode(), body)
    env = {"TIMESTAMP": headers[TIMESTAMP_HEADER], "DRIFTCAR_WEBHOOK_SECRET": SECRET, "PATH": "/usr/bin:/bin"}
    out = subprocess.run(
        ["bash", "-c", block("sh", "openssl dgst")],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        check=True,
        text=True,
    )
    assert out.stdout.strip() == headers[SIGNATURE_HEADER]
