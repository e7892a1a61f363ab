"""Every environment variable's name follows the one rule of settings/rule.py, the public
contract's names are the only exceptions, and every former name still works with one line."""

from __future__ import annotations

import dataclasses
import functools
import logging
import re
from pathlib import Path
from typing import Any

import pytest

from hookstream.runtime.errors import ConfigError
from hookstream.runtime.settings import RETIRED, Settings, current_names, overlay, reference
from hookstream.runtime.settings.rule import env_name, sections, spec_of

# Field -> the name it has instead of the rule's: the public contract's (CONTRACT.md) and
# OpenTelemetry's standard ones. Nothing else may be an exception.
EXCEPTIONS = {
    "ingress.app_secrets": "HOOKSTREAM_APP_SECRETS",
    "ingress.verify_token": "HOOKSTREAM_VERIFY_TOKEN",
    "ingress.api_key": "HOOKSTREAM_API_KEY",
    "kafka.topic_prefix": "HOOKSTREAM_TOPIC_PREFIX",
    "sink.clickhouse_url": "CLICKHOUSE_URL",
    "sender.graph_api_base_url": "GRAPH_API_BASE_URL",
    "sender.graph_api_version": "GRAPH_API_VERSION",
    "tracing.otlp_endpoint": "OTEL_EXPORTER_OTLP_ENDPOINT",
    "tracing.service_name": "OTEL_SERVICE_NAME",
}
# The contract's names that the rule gives by itself.
CONTRACT_BY_RULE = {
    "pages_file": "HOOKSTREAM_PAGES_FILE",
    "log_format": "HOOKSTREAM_LOG_FORMAT",
    "kafka.bootstrap_servers": "KAFKA_BOOTSTRAP_SERVERS",
}
LOGGER = "hookstream.runtime.settings.env"


def fields() -> list[tuple[str, str, dataclasses.Field[Any]]]:
    """(section, dotted path, field) of every setting, nested sections included."""
    nested = sections(Settings)
    found = [("", f.name, f) for f in dataclasses.fields(Settings) if f.name not in nested]
    for section, cls in nested.items():
        found += [(section, f"{section}.{f.name}", f) for f in dataclasses.fields(cls)]
    return found


FORMER = [(path, old) for _, path, f in fields() for old in spec_of(f).old]


@functools.cache
def variables() -> dict[str, reference.Variable]:
    return {v.field: v for v in reference.variables()}


def probe_value(variable: reference.Variable) -> str:
    if variable.kind == "choice":
        return variable.allowed[-1]
    return "true" if variable.kind == "flag" else "987654"


def test_every_setting_is_named_by_the_rule_or_is_a_declared_exception() -> None:
    expected = {
        path: EXCEPTIONS.get(path, env_name(section, f.name)) for section, path, f in fields()
    }
    # reference.variables() sets each name alone and sees which field it changes
    assert {path: v.name for path, v in variables().items()} == expected
    for path, name in CONTRACT_BY_RULE.items():
        assert expected[path] == name


def test_the_rule_reads_as_documented() -> None:
    assert env_name("sender", "concurrency") == "HOOKSTREAM_SENDER_CONCURRENCY"
    assert env_name("processors", "batch_size") == "HOOKSTREAM_PROCESSORS_BATCH_SIZE"
    assert env_name("", "log_level") == "HOOKSTREAM_LOG_LEVEL"
    assert env_name("kafka", "security_protocol") == "KAFKA_SECURITY_PROTOCOL"


def test_no_two_settings_share_a_name_and_no_former_name_is_a_current_one() -> None:
    current = [v.name for v in variables().values()]
    former = [old for _, old in FORMER]
    assert len(set(current)) == len(current)
    assert len(set(former)) == len(former)
    assert not set(former) & set(current)
    assert not set(RETIRED) & (set(current) | set(former))


@pytest.mark.parametrize(("path", "old"), FORMER, ids=[old for _, old in FORMER])
def test_a_former_name_still_works_with_one_line_naming_the_new_one(
    path: str, old: str, caplog: pytest.LogCaptureFixture
) -> None:
    variable = variables()[path]
    value = probe_value(variable)
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        via_old = Settings.from_env({old: value})
    assert via_old == Settings.from_env({variable.name: value}) != Settings.from_env({})
    [line] = [r.getMessage() for r in caplog.records if r.name == LOGGER]
    assert line == f"{old} is deprecated: rename it {variable.name}"
    assert old in variable.aliases  # and the reference page lists it beside the new name


def test_the_new_name_wins_over_a_former_one_and_the_line_says_so(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        settings = Settings.from_env(
            {"HOOKSTREAM_PROCESSORS_BATCH_SIZE": "7", "HOOKSTREAM_PROCESSOR_BATCH": "9"}
        )
    assert settings.processors.batch_size == 7
    assert [r.getMessage() for r in caplog.records if r.name == LOGGER] == [
        "HOOKSTREAM_PROCESSOR_BATCH is deprecated and ignored: "
        "HOOKSTREAM_PROCESSORS_BATCH_SIZE is set and wins"
    ]


def test_a_bad_value_under_a_former_name_is_reported_under_that_name() -> None:
    with pytest.raises(ConfigError, match="HOOKSTREAM_PROCESSOR_BATCH must be an integer"):
        Settings.from_env({"HOOKSTREAM_PROCESSOR_BATCH": "many"})


def test_current_names_log_nothing(caplog: pytest.LogCaptureFixture) -> None:
    every = {v.name: probe_value(v) for v in variables().values()}
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        Settings.from_env(every)
    assert [r for r in caplog.records if r.name == LOGGER] == []


def test_a_retired_variable_is_accepted_with_a_line_saying_it_has_no_effect(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        settings = Settings.from_env({"HOOKSTREAM_SINK_DEDUP_LOOKBACK_S": "60"})
    assert settings == Settings.from_env({})
    [line] = [r.getMessage() for r in caplog.records if r.name == LOGGER]
    assert line.startswith("HOOKSTREAM_SINK_DEDUP_LOOKBACK_S has no effect")
    assert not hasattr(settings.sink, "dedup_lookback_s")


def test_the_deprecation_line_never_carries_the_value(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        Settings.from_env({"HOOKSTREAM_SANDBOX_FAULTS": "s3cr3t-looking-value"})
    assert "s3cr3t" not in caplog.text


def test_overlay_lets_a_former_name_win_over_a_default_under_the_current_one() -> None:
    base = {"HOOKSTREAM_SINK_QUERY_URL": "http://stack:9102", "HOOKSTREAM_OPS_SENDER_URL": "x"}
    merged = overlay(base, {"HOOKSTREAM_SINK_URL": "http://mine:9102"})
    assert merged == {"HOOKSTREAM_SINK_URL": "http://mine:9102", "HOOKSTREAM_OPS_SENDER_URL": "x"}
    assert Settings.from_env(merged).sink.query_url == "http://mine:9102"
    assert overlay(base, {"KAFKA_LINGER_MS": "1"}) == {**base, "KAFKA_LINGER_MS": "1"}


def test_current_names_renames_former_ones_for_a_child_process() -> None:
    renamed = current_names(
        {
            "HOOKSTREAM_SINK_URL": "http://mine:9102",
            "HOOKSTREAM_PROCESSOR_BATCH": "9",
            "HOOKSTREAM_PROCESSORS_BATCH_SIZE": "7",
            "PAGE_1001_TOKEN": "t",
        }
    )
    assert renamed == {
        "HOOKSTREAM_SINK_QUERY_URL": "http://mine:9102",
        "HOOKSTREAM_PROCESSORS_BATCH_SIZE": "7",
        "PAGE_1001_TOKEN": "t",
    }


ROOT = Path(__file__).parents[4]
# Where a former name may still appear: the settings that read it, the tests of that, the
# generated page listing it, and the changelog's history.
MAY_NAME_FORMER = {
    "hookstream/runtime/settings",
    "docs/reference/configuration.md",
    "docs/changelog.md",
    "tests/unit",
}
SEARCHED = ("deploy", "bench", ".ci", "docs", "hookstream", "ingress", "processors", "senders",
            "sinks", "schemas", "tests", "docker-compose.yml", "Makefile", "README.md")  # fmt: skip


def test_the_tree_uses_only_current_names() -> None:
    former = re.compile(r"\b(?:" + "|".join(old for _, old in FORMER) + r")\b")
    found = []
    for top in SEARCHED:
        paths = [ROOT / top] if (ROOT / top).is_file() else sorted((ROOT / top).rglob("*"))
        for path in paths:
            shown = path.relative_to(ROOT).as_posix()
            if not path.is_file() or path.suffix in {".pyc", ".png", ".svg"}:
                continue
            if any(shown == kept or shown.startswith(f"{kept}/") for kept in MAY_NAME_FORMER):
                continue
            text = path.read_text(encoding="utf-8", errors="replace")
            found += [f"{shown}: {m}" for m in sorted(set(former.findall(text)))]
    assert found == []
