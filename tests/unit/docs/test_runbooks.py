"""Every alert has a runbook, every runbook link in the alert annotations resolves to a page of
the docs site, and every runbook says what the alert means, what to check and what to do."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).parents[3]
RUNBOOKS = ROOT / "docs" / "operations" / "runbooks"
SECTIONS = ("## What it means", "## What to check", "## What to do")


def alerts() -> list[dict[str, Any]]:
    groups = yaml.safe_load((ROOT / "deploy/prometheus/alerts.yml").read_text())["groups"]
    return [rule for group in groups for rule in group["rules"] if "alert" in rule]


def runbook_of(rule: dict[str, Any]) -> Path:
    return ROOT / str(rule["annotations"]["runbook_url"])


@pytest.mark.parametrize("rule", alerts(), ids=lambda r: r["alert"])
def test_every_alert_links_a_runbook_that_exists(rule: dict[str, Any]) -> None:
    path = runbook_of(rule)
    assert path.is_file(), f"{rule['alert']}: {rule['annotations']['runbook_url']} is missing"
    assert path.parent == RUNBOOKS
    text = path.read_text()
    assert f"`{rule['alert']}`" in text, "the runbook names its alert"
    for heading in SECTIONS:
        assert heading in text, f"{path.name} has no {heading!r}"


def test_every_runbook_belongs_to_an_alert_and_is_listed() -> None:
    linked = {runbook_of(rule).name for rule in alerts()}
    pages = {p.name for p in RUNBOOKS.glob("*.md")} - {"index.md"}
    assert pages == linked
    index = (RUNBOOKS / "index.md").read_text()
    nav = (ROOT / "mkdocs.yml").read_text()
    for name in linked:
        assert f"({name})" in index, f"runbooks/index.md does not link {name}"
        assert f"operations/runbooks/{name}" in nav, f"mkdocs.yml nav does not list {name}"
    for rule in alerts():
        assert f"`{rule['alert']}`" in index
