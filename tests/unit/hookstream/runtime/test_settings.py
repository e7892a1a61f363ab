from __future__ import annotations

from pathlib import Path

import pytest

from hookstream.runtime.errors import ConfigError
from hookstream.runtime.settings import Secret, Settings


def test_defaults_follow_the_contract() -> None:
    settings = Settings.from_env({})
    assert settings.kafka.topic_prefix == "hookstream."
    assert settings.kafka.topic("inbound") == "hookstream.inbound"
    assert settings.sink.clickhouse_url == "chdb://./.hookstream/analytics"
    assert settings.sender.graph_api_base_url == "https://graph.facebook.com"
    assert settings.sender.graph_api_version == "v27.0"  # current per Meta (contract: v24.0)
    assert settings.log_format == "json"
    assert settings.ingress.ack_deadline_s == 3.0
    assert settings.ingress.max_body_bytes == 1024 * 1024


def test_environment_is_read_into_typed_sections() -> None:
    settings = Settings.from_env(
        {
            "HOOKSTREAM_APP_SECRETS": "a, b ,",
            "KAFKA_BOOTSTRAP_SERVERS": "k1:9092,k2:9092",
            "HOOKSTREAM_TOPIC_PREFIX": "x.",
            "KAFKA_ENABLE_IDEMPOTENCE": "false",
            "GRAPH_API_BASE_URL": "http://sandbox:8081/",
            "HOOKSTREAM_LOG_FORMAT": "TEXT",
        }
    )
    assert [s.reveal() for s in settings.ingress.app_secrets] == ["a", "b"]
    assert settings.kafka.bootstrap_servers == "k1:9092,k2:9092"
    assert settings.kafka.enable_idempotence is False
    assert settings.sender.graph_api_base_url == "http://sandbox:8081"
    assert settings.log_format == "text"


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"HOOKSTREAM_INGRESS_ACK_DEADLINE_S": "soon"}, "HOOKSTREAM_INGRESS_ACK_DEADLINE_S"),
        ({"KAFKA_PARTITIONS": "8.5"}, "KAFKA_PARTITIONS"),
        ({"KAFKA_ENABLE_IDEMPOTENCE": "maybe"}, "KAFKA_ENABLE_IDEMPOTENCE"),
        ({"HOOKSTREAM_LOG_FORMAT": "xml"}, "HOOKSTREAM_LOG_FORMAT"),
    ],
)
def test_invalid_values_fail_naming_the_variable(env: dict[str, str], named: str) -> None:
    with pytest.raises(ConfigError, match=named):
        Settings.from_env(env)


def test_missing_required_ingress_settings_are_named_one_at_a_time() -> None:
    with pytest.raises(ConfigError, match="HOOKSTREAM_APP_SECRETS is required"):
        Settings.from_env({}).ingress.require()
    with pytest.raises(ConfigError, match="HOOKSTREAM_VERIFY_TOKEN is required"):
        Settings.from_env({"HOOKSTREAM_APP_SECRETS": "x"}).ingress.require()
    Settings.from_env(
        {"HOOKSTREAM_APP_SECRETS": "x", "HOOKSTREAM_VERIFY_TOKEN": "y"}
    ).ingress.require()


def test_secrets_never_print() -> None:
    settings = Settings.from_env(
        {"HOOKSTREAM_APP_SECRETS": "topsecret", "HOOKSTREAM_VERIFY_TOKEN": "alsosecret"}
    )
    assert "topsecret" not in repr(settings) and "alsosecret" not in str(settings)
    assert settings.ingress.app_secrets[0].reveal() == "topsecret"
    assert Secret("a") == Secret("a") and Secret("a") != Secret("b")


def test_dotenv_is_read_and_the_environment_wins(tmp_path: Path) -> None:
    dotenv = tmp_path / ".env"
    dotenv.write_text(
        "# comment\nexport HOOKSTREAM_TOPIC_PREFIX=\"dot.\"\nKAFKA_BOOTSTRAP_SERVERS='dot:1'\n\n"
    )
    settings = Settings.load({"KAFKA_BOOTSTRAP_SERVERS": "env:2"}, dotenv)
    assert settings.kafka.topic_prefix == "dot."
    assert settings.kafka.bootstrap_servers == "env:2"


def test_broken_dotenv_names_file_and_line(tmp_path: Path) -> None:
    dotenv = tmp_path / ".env"
    dotenv.write_text("A=1\nthis line has no equals sign\n")
    with pytest.raises(ConfigError, match=r"\.env:2: expected KEY=VALUE"):
        Settings.load({}, dotenv)
