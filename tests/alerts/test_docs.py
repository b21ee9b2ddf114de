"""docs/alerts.md says what driftcar does: its configuration loads, its rules validate, its sample payload
matches the schema, and its standalone signature check accepts driftcar's signatures and nothing else."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml
from jsonschema import Draft202012Validator

from alerts.config import AlertRule
from alerts.payload import AlertEvent
from alerts.signing import SIGNATURE_HEADER, TIMESTAMP_HEADER, sign, signature
from sidecar.settings import load_settings

DOCS = Path(__file__).resolve().parents[2] / "docs"
SECRET = b"a-secret-of-at-least-16-characters"


def blocks(language: str) -> list[str]:
    """The fenced code blocks of docs/alerts.md in `language`, in order."""
    text = (DOCS / "alerts.md").read_text(encoding="utf-8")
    return re.findall(rf"```{language}\n(.*?)```", text, flags=re.DOTALL)


def test_the_documented_configuration_loads(tmp_path: Path) -> None:
    config = tmp_path / "driftcar.yaml"
    config.write_text("upstream: http://127.0.0.1:1\n" + blocks("yaml")[0], encoding="utf-8")
    settings = load_settings(config)
    assert [w.name for w in settings.alerts.webhooks] == ["ops", "pager", "alertmanager"]
    assert settings.alerts.delivery.max_backoff == 300.0 and settings.alerts.webhooks[0].max_age == 86400.0
    (loans,) = settings.monitors
    impact = next(r for r in loans.alerts if r.name == "disparate-impact")
    assert (impact.for_windows, impact.repeat_interval, impact.severity) == (2, 14400.0, "critical")


def test_the_documented_rules_are_valid() -> None:
    rules = [AlertRule.model_validate(r) for r in yaml.safe_load(blocks("yaml")[1])]
    assert len(rules) == 9 and len({r.when for r in rules}) == 6


def test_the_sample_payload_matches_the_schema_and_the_code() -> None:
    (sample,) = [json.loads(b) for b in blocks("json")]
    schema = json.loads((DOCS / "alert-payload.schema.json").read_text(encoding="utf-8"))
    assert list(Draft202012Validator(schema).iter_errors(sample)) == []
    assert AlertEvent.from_json(sample).to_json() == sample


def test_the_rollout_examples_point_at_the_gate() -> None:
    flagger, argo = (yaml.safe_load(b) for b in blocks("yaml")[2:4])
    hooks = flagger["spec"]["analysis"]["webhooks"]
    assert [h["type"] for h in hooks] == ["pre-rollout", "rollout"]
    assert all("/gate/loans?severity=critical" in h["url"] for h in hooks)
    (metric,) = argo["spec"]["metrics"]
    assert (
        metric["provider"]["web"]["jsonPath"] == "{$.status}"
        and metric["successCondition"] == 'result == "pass"'
    )


@pytest.fixture(scope="module")
def verify_driftcar() -> Callable[..., bool]:
    """The standard-library verifier from the docs, run as written."""
    (code,) = [b for b in blocks("python") if "def verify_driftcar" in b]
    namespace: dict[str, Any] = {}
    exec(compile(code, "docs/alerts.md", "exec"), namespace)
    found: Callable[..., bool] = namespace["verify_driftcar"]
    return found


def test_the_standalone_check_accepts_driftcar_signatures_only(verify_driftcar: Callable[..., bool]) -> None:
    body = orjson.dumps({"id": "x"})
    headers = sign(SECRET, body)
    assert verify_driftcar(SECRET, headers, body)
    assert not verify_driftcar(SECRET, headers, body + b" ")
    assert not verify_driftcar(b"another-secret-of-16-chars", headers, body)
    assert not verify_driftcar(SECRET, sign(SECRET, body, now=1_000_000_000), body)
    assert not verify_driftcar(SECRET, {}, body)
    rotating = {**headers, SIGNATURE_HEADER: f"sha256={'0' * 64}, {headers[SIGNATURE_HEADER]}"}
    assert verify_driftcar(SECRET, rotating, body)
    assert headers[SIGNATURE_HEADER] == signature(SECRET, headers[TIMESTAMP_HEADER], body)
