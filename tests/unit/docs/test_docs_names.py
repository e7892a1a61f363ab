"""Hand-written pages name only variables, commands and metrics that exist: a renamed setting or
command fails here instead of leaving the docs wrong."""

from __future__ import annotations

import argparse
import functools
import re
from pathlib import Path

import pytest

from hookstream.cli import build_parser
from hookstream.runtime.settings import RETIRED, reference

ROOT = Path(__file__).parents[3]
DOCS = ROOT / "docs"
# Pages other parts of the project write are theirs to keep; generated ones cannot drift.
GENERATED = ("reference/configuration.md", "reference/services.md")
HAND_WRITTEN = [
    *sorted(
        p
        for p in DOCS.rglob("*.md")
        if "meta" not in p.relative_to(DOCS).parts
        and p.name != "brokers.md"
        and p.relative_to(DOCS).as_posix() not in GENERATED
        # benchmark studies and reports record a run as it was; the overview is ours
        and (p.parent.name != "benchmarks" or p.name == "index.md")
        and "reports" not in p.relative_to(DOCS).parts
    ),
    ROOT / "README.md",
]
VARIABLE = re.compile(
    r"\b(?:HOOKSTREAM|KAFKA|CLICKHOUSE|GRAPH_API|INSTAGRAM_GRAPH)_[A-Z0-9_]*[A-Z0-9]\b"
)
# Named in the docs, read by something other than Settings: each says what reads it.
NOT_SETTINGS = {
    "HOOKSTREAM_TEST_BROKER": "the test suite's broker fixture",
    "CLICKHOUSE_PASSWORD": "docker-compose and Grafana's datasource",
    "CLICKHOUSE_HOST": "Grafana's datasource",
    "CLICKHOUSE_PORT": "Grafana's datasource",
    "CLICKHOUSE_USER": "Grafana's datasource",
    "KAFKA_LOG_RETENTION_HOURS": "the Kafka container in docker-compose",
}


@functools.cache
def settings_variables() -> set[str]:
    found = set()
    for v in reference.variables():
        found |= {v.name, *v.aliases}
    return found


@pytest.mark.parametrize("page", HAND_WRITTEN, ids=lambda p: str(p.relative_to(ROOT)))
def test_pages_name_only_real_variables(page: Path) -> None:
    known = settings_variables() | set(RETIRED) | set(NOT_SETTINGS)  # a retired one: "no effect"
    named = set(VARIABLE.findall(page.read_text()))
    # `HOOKSTREAM_*` and `KAFKA_SASL_*`-style wildcards are prose, not names.
    unknown = {n for n in named - known if not n.endswith("_")}
    assert not unknown, f"{page.name} names {sorted(unknown)}, which nothing reads"


def subcommands(parser: argparse.ArgumentParser) -> set[str]:
    actions = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return set(actions[0].choices) if actions else set()


@functools.cache
def cli_commands() -> frozenset[str]:
    return frozenset(subcommands(build_parser()))


def test_the_cli_page_lists_every_command() -> None:
    page = (DOCS / "reference" / "cli.md").read_text()
    table = page.split("## Every command's help")[0]
    for command in subcommands(build_parser()):
        assert re.search(rf"`hookstream {re.escape(command)}\b|/ `{re.escape(command)}`", table), (
            command
        )


@pytest.mark.parametrize("page", HAND_WRITTEN, ids=lambda p: str(p.relative_to(ROOT)))
def test_pages_name_only_real_commands(page: Path) -> None:
    commands = cli_commands()
    for command in re.findall(r"`(?:\.venv/bin/)?hookstream ([a-z][a-z-]*)", page.read_text()):
        assert command in commands, f"{page.name}: `hookstream {command}` does not exist"


METRIC = re.compile(r"\b(?:hookstream|kafka)_[a-z0-9_]*[a-z0-9]\b")


@functools.cache
def exported_metrics() -> set[str]:
    import importlib.util
    import sys

    path = DOCS / "_tools" / "metrics_reference.py"
    spec = importlib.util.spec_from_file_location("metrics_reference", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules["metrics_reference"] = module
    spec.loader.exec_module(module)
    return set(module.exported_names())


@pytest.mark.parametrize("page", HAND_WRITTEN, ids=lambda p: str(p.relative_to(ROOT)))
def test_pages_name_only_real_metrics(page: Path) -> None:
    exported = exported_metrics()
    unknown = set(METRIC.findall(page.read_text())) - exported
    assert not unknown, f"{page.name} names metrics no service exports: {sorted(unknown)}"
