"""CLI start-up: settings from the stack file under the explicit environment; quiet tools."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from hookstream.cli._common import load_settings, start_command
from hookstream.embedded import stack_file


@pytest.fixture
def terminal(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    for name in list(os.environ):
        if name.startswith(("KAFKA_", "HOOKSTREAM_", "GRAPH_", "CLICKHOUSE_")):
            monkeypatch.delenv(name)
    stack_file.write(
        tmp_path / ".hookstream",
        bootstrap_servers="127.0.0.1:19092",
        broker="embedded",
        idempotence=False,
        clickhouse_url="chdb://./.hookstream/analytics",
        topic_prefix="demo.",
        pages_file=Path("deploy/pages.example.yaml"),
        ports={"sink": 19102, "sandbox": 18081},
    )
    return tmp_path


def test_a_tool_beside_the_stack_takes_its_settings(terminal: Path) -> None:
    settings, stack = load_settings("lag")
    assert stack is not None and stack.broker == "embedded"
    assert settings.kafka.bootstrap_servers == "127.0.0.1:19092"
    assert settings.kafka.enable_idempotence is False
    assert settings.kafka.topic_prefix == "demo."
    assert settings.pages_file == terminal / "deploy/pages.example.yaml"
    assert settings.sink.query_url == "http://127.0.0.1:19102"
    assert settings.sender.graph_api_base_url == "http://127.0.0.1:18081"
    assert settings.state_dir == terminal / ".hookstream"


def test_explicit_environment_wins(terminal: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOOKSTREAM_TOPIC_PREFIX", "mine.")
    settings, stack = load_settings("lag")
    assert stack is not None and settings.kafka.topic_prefix == "mine."
    (terminal / ".env").write_text("HOOKSTREAM_PAGES_FILE=other.yaml\n")
    settings, _ = load_settings("lag")
    assert settings.pages_file == Path("other.yaml")


def test_an_explicit_former_name_wins_over_the_stack(
    terminal: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(
        "HOOKSTREAM_SINK_URL", "http://mine:9102"
    )  # former HOOKSTREAM_SINK_QUERY_URL
    settings, stack = load_settings("stats")
    assert stack is not None and settings.sink.query_url == "http://mine:9102"


def test_an_explicit_broker_ignores_the_stack(
    terminal: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "kafka.example:9092")
    settings, stack = load_settings("replay")
    assert stack is None and settings.kafka.bootstrap_servers == "kafka.example:9092"
    assert settings.kafka.enable_idempotence is True  # real Kafka's default


def test_up_never_takes_another_stacks_settings(terminal: Path) -> None:
    settings, stack = load_settings("up")
    assert stack is None and settings.kafka.bootstrap_servers == "127.0.0.1:9092"


@pytest.fixture
def restore_logging() -> Iterator[None]:
    root, kafka = logging.getLogger(), logging.getLogger("aiokafka")
    saved = (root.level, list(root.handlers), kafka.level)
    yield
    root.setLevel(saved[0])
    root.handlers[:] = saved[1]
    kafka.setLevel(saved[2])


def test_tools_log_warnings_as_text_services_log_json(
    terminal: Path, restore_logging: None
) -> None:
    settings, _ = start_command("lag")
    assert (settings.log_level, settings.log_format) == ("WARNING", "text")
    assert logging.getLogger().level == logging.WARNING
    assert logging.getLogger("aiokafka").level == logging.CRITICAL
    settings, _ = start_command("ingress")
    assert (settings.log_level, settings.log_format) == ("INFO", "json")


def test_log_level_can_still_be_asked_for(terminal: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOOKSTREAM_LOG_LEVEL", "debug")
    settings, _ = load_settings("replay")
    assert settings.log_level == "DEBUG"
