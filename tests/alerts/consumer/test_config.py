"""The consumer's YAML: the documented example loads, mistakes are named by key path, rules match as described."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from alerts.consumer.config import MatchConfig, load_config, parse_config
from alerts.consumer.template import render
from sidecar.errors import ConfigError
from tests.alerts.consumer.helpers import make_event

DOC = Path(__file__).parents[3] / "docs" / "consumer.md"
BASE: dict[str, Any] = {"secrets": [{"secret_env": "S"}]}


def doc_yaml_blocks() -> list[str]:
    """The ```yaml blocks of docs/consumer.md."""
    return re.findall(r"```yaml\n(.*?)```", DOC.read_text(encoding="utf-8"), flags=re.S)


def test_the_documented_config_is_valid(tmp_path: Path) -> None:
    blocks = [b for b in doc_yaml_blocks() if b.lstrip().startswith("listen:")]
    assert blocks, "docs/consumer.md holds the full example config"
    path = tmp_path / "consume.yaml"
    path.write_text(blocks[0], encoding="utf-8")
    config = load_config(path)
    assert set(config.actions) == {
        "churn-rollback",
        "churn-roll-forward",
        "churn-restart",
        "fraud-undo",
        "retrain",
        "page-oncall",
    }
    assert config.actions_for(make_event()) == ["churn-rollback", "churn-restart", "page-oncall"]
    assert config.actions_for(make_event(status="resolved")) == [
        "churn-roll-forward",
        "churn-restart",
        "page-oncall",
    ]
    assert config.actions_for(make_event(model="fraud", severity="warning")) == ["fraud-undo"]
    assert config.actions_for(make_event(action="retrain", severity="warning")) == ["retrain"]


@pytest.mark.parametrize(
    ("values", "message"),
    [
        pytest.param({"secrets": []}, "secrets: List should have at least 1 item", id="no-secret"),
        pytest.param(
            {"secrets": [{"secret": "inline"}]}, "secrets.0.secret: unknown key", id="inline-secret"
        ),
        pytest.param(
            {"secrets": [{"secret_env": "A", "secret_file": "/x"}]},
            "exactly one of secret_env",
            id="both-sources",
        ),
        pytest.param({"listen": {"port": 70000}}, "listen.port", id="port"),
        pytest.param({"timestamp_tolerance": "soon"}, "expected a duration", id="duration"),
        pytest.param(
            {"rules": [{"match": {"action": "rollback"}, "run": ["nope"]}]},
            "unknown action(s) nope",
            id="ref",
        ),
        pytest.param(
            {"rules": [{"match": {"action": "reboot"}, "run": []}]},
            "rules.0.match.action.0",
            id="unknown-action",
        ),
        pytest.param({"actions": {"x": {"kind": "ftp"}}}, "actions.x", id="unknown-kind"),
        pytest.param(
            {"actions": {"x": {"kind": "kubernetes", "deployment": "d", "operation": "scale"}}},
            "actions.x.kubernetes.operation",
            id="k8s-operation",
        ),
        pytest.param(
            {
                "actions": {
                    "x": {
                        "kind": "kubernetes",
                        "deployment": "d",
                        "operation": "undo",
                        "in_cluster": True,
                        "context": "prod",
                    }
                }
            },
            "in_cluster excludes kubeconfig and context",
            id="k8s-in-cluster-and-context",
        ),
        pytest.param(
            {"actions": {"x": {"kind": "http", "url": "ftp://host/x"}}},
            "must be an http:// or https:// URL",
            id="url",
        ),
        pytest.param(
            {"actions": {"x": {"kind": "http", "url": "http://h/", "body": {"m": "{{ monitr }}"}}}},
            "unknown placeholder(s) monitr",
            id="placeholder",
        ),
        pytest.param(
            {"actions": {"x": {"kind": "command", "argv": []}}}, "actions.x.command.argv", id="argv"
        ),
        pytest.param(
            {
                "actions": {
                    "x": {"kind": "mlflow_alias", "tracking_uri": "http://m", "model": "m", "aliass": "p"}
                }
            },
            "actions.x.mlflow_alias.aliass: unknown key",
            id="typo",
        ),
        pytest.param(
            {"actions": {"bad name": {"kind": "command", "argv": ["true"]}}}, "action name", id="name"
        ),
    ],
)
def test_mistakes_are_named_by_key_path(values: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config({**BASE, **values})
    assert message in str(info.value)


def test_durations_and_defaults() -> None:
    config = parse_config({**BASE, "timestamp_tolerance": "2m", "dedupe": {"retention": "30d"}})
    assert config.timestamp_tolerance == 120.0
    assert config.dedupe.retention == 30 * 86400.0
    assert config.listen.host == "127.0.0.1"
    assert config.rules == [] and config.actions == {}


def test_load_config_names_the_file(tmp_path: Path) -> None:
    missing = tmp_path / "missing.yaml"
    with pytest.raises(ConfigError, match=r"missing\.yaml"):
        load_config(missing)
    broken = tmp_path / "broken.yaml"
    broken.write_text("listen: [", encoding="utf-8")
    with pytest.raises(ConfigError, match="invalid YAML"):
        load_config(broken)
    wrong = tmp_path / "wrong.yaml"
    wrong.write_text(yaml.safe_dump({**BASE, "listen": {"prot": 1}}), encoding="utf-8")
    with pytest.raises(ConfigError, match=r"wrong.yaml.*\n  listen.prot: unknown key"):
        load_config(wrong)


@pytest.mark.parametrize(
    ("match", "changes", "expected"),
    [
        pytest.param({}, {}, True, id="default-takes-firing"),
        pytest.param({}, {"status": "resolved"}, False, id="default-skips-resolved"),
        pytest.param({"status": "any"}, {"status": "resolved"}, True, id="any-status"),
        pytest.param({"monitor": "churn"}, {}, True, id="monitor"),
        pytest.param({"monitor": ["a", "b"]}, {}, False, id="monitor-list"),
        pytest.param({"rule": "disparate-impact"}, {}, True, id="rule"),
        pytest.param({"severity": ["info", "warning"]}, {}, False, id="severity"),
        pytest.param({"min_severity": "warning"}, {"severity": "info"}, False, id="min-severity-below"),
        pytest.param({"min_severity": "warning"}, {"severity": "critical"}, True, id="min-severity-above"),
        pytest.param({"model": "churn"}, {"model": None}, False, id="model-missing"),
        pytest.param({"labels": {"team": "ml"}}, {}, True, id="labels"),
        pytest.param({"labels": {"team": "ml", "tier": "1"}}, {}, False, id="labels-all"),
    ],
)
def test_matching(match: dict[str, Any], changes: dict[str, Any], expected: bool) -> None:
    assert MatchConfig.model_validate(match).matches(make_event(**changes)) is expected


def test_actions_of_every_matching_rule_run_in_order_each_once() -> None:
    config = parse_config(
        {
            **BASE,
            "actions": {n: {"kind": "command", "argv": ["true"]} for n in ("a", "b", "c")},
            "rules": [
                {"match": {"action": "rollback"}, "run": ["b", "a"]},
                {"match": {"status": "any"}, "run": ["a", "c"]},
            ],
        }
    )
    assert config.actions_for(make_event()) == ["b", "a", "c"]
    assert config.actions_for(make_event(status="resolved")) == ["a", "c"]


def test_body_templates_keep_types_and_fill_text() -> None:
    payload = make_event(model_version=None).to_json()
    template = {
        "parameters": {
            "alert": "{{ alert }}",
            "model": "{{ model.name }}",
            "version": "{{ model.version }}",
            "run": "{{ run.id }}",
            "note": "{{ monitor }}/{{ rule }} ({{ severity }}) v{{ model.version }} {{ labels }}",
            "missing": "{{ labels.nope }}",
        },
        "tags": ["driftcar", "{{ action }}"],
        "n": 3,
    }
    assert render(template, payload) == {
        "parameters": {
            "alert": payload,
            "model": "churn",
            "version": None,
            "run": 7,
            "note": 'churn/disparate-impact (critical) v {"team":"ml"}',
            "missing": None,
        },
        "tags": ["driftcar", "rollback"],
        "n": 3,
    }
