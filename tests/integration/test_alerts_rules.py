"""The alert rules pass `promtool check rules`, and every rule has a `promtool test rules` test."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

PROMETHEUS_DIR = Path(__file__).resolve().parents[2] / "deploy" / "prometheus"
RULES = PROMETHEUS_DIR / "alerts.yml"
RULE_TESTS = sorted((PROMETHEUS_DIR / "tests").glob("*.yml"))

pytestmark = pytest.mark.skipif(
    shutil.which("promtool") is None,
    reason="promtool not installed (Debian package `prometheus`)",
)


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    binary = shutil.which("promtool") or "promtool"
    return subprocess.run(
        [binary, *args],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=PROMETHEUS_DIR,
        check=False,
    )


def test_rules_are_valid() -> None:
    result = promtool("check", "rules", str(RULES))
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("config", ["prometheus.yml", "prometheus.compose.yml"])
def test_prometheus_config_is_valid(config: str) -> None:
    result = promtool("check", "config", str(PROMETHEUS_DIR / config))
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.skipif(
    shutil.which("amtool") is None,
    reason="amtool not installed (Debian package `prometheus-alertmanager`)",
)
def test_alertmanager_config_is_valid() -> None:
    config = PROMETHEUS_DIR.parent / "alertmanager" / "alertmanager.yml"
    result = subprocess.run(
        [shutil.which("amtool") or "amtool", "check-config", str(config)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("rule_test", RULE_TESTS, ids=lambda p: p.name)
def test_rule_unit_tests_pass(rule_test: Path) -> None:
    result = promtool("test", "rules", str(rule_test))
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_alert_has_a_unit_test() -> None:
    alerts = {
        rule["alert"]
        for group in yaml.safe_load(RULES.read_text())["groups"]
        for rule in group["rules"]
        if "alert" in rule
    }
    tested = {
        case["alertname"]
        for path in RULE_TESTS
        for test in yaml.safe_load(path.read_text())["tests"]
        for case in test.get("alert_rule_test", [])
        if case.get("exp_alerts")
    }
    assert alerts - tested == set()
    assert len(alerts) >= 8
