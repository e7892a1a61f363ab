"""The generated reference pages are the ones checked in, and the generator ties each variable to
the setting it really fills."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from hookstream.runtime.settings import reference


def test_checked_in_reference_pages_are_current() -> None:
    assert reference.stale() == [], "run: python -m hookstream.runtime.settings.reference"


def test_variables_are_tied_to_the_settings_they_fill() -> None:
    found = {v.name: v for v in reference.variables()}
    assert found["KAFKA_BOOTSTRAP_SERVERS"].field == "kafka.bootstrap_servers"
    assert found["KAFKA_BOOTSTRAP_SERVERS"].default == "127.0.0.1:9092"
    assert found["HOOKSTREAM_APP_SECRETS"].kind == "secrets"
    assert found["HOOKSTREAM_INGRESS_ALLOW_SHA1_SIGNATURE"].kind == "flag"
    assert found["HOOKSTREAM_LOG_FORMAT"].kind == "choice"
    assert set(found["HOOKSTREAM_LOG_FORMAT"].allowed) == {"json", "text"}
    assert found["HOOKSTREAM_SENDER_HTTP_TIMEOUT_S"].field == "sender.http_timeout_s"
    assert found["HOOKSTREAM_SENDER_HTTP_TIMEOUT_S"].aliases == ("HOOKSTREAM_SEND_TIMEOUT_S",)


def test_every_public_contract_variable_is_documented() -> None:
    page = reference.CONFIGURATION_PAGE.read_text()
    for name in (
        "HOOKSTREAM_APP_SECRETS",
        "HOOKSTREAM_VERIFY_TOKEN",
        "HOOKSTREAM_API_KEY",
        "HOOKSTREAM_PAGES_FILE",
        "KAFKA_BOOTSTRAP_SERVERS",
        "HOOKSTREAM_TOPIC_PREFIX",
        "CLICKHOUSE_URL",
        "GRAPH_API_BASE_URL",
        "GRAPH_API_VERSION",
        "HOOKSTREAM_LOG_FORMAT",
    ):
        assert f"| `{name}`" in page, name


def test_a_variable_without_a_meaning_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    meanings = dict(reference.MEANINGS)
    del meanings["KAFKA_PARTITIONS"]
    monkeypatch.setattr(reference, "MEANINGS", meanings)
    [row] = [
        line
        for line in reference.render_configuration().splitlines()
        if line.startswith("| `KAFKA_PARTITIONS`")
    ]
    assert reference.MISSING_MEANING.replace("|", "\\|") in row


@dataclass(frozen=True)
class _Documented:
    # the comment above
    above: int = 1
    beside: str = "x"  # the comment beside
    bare: float = 2.0


def test_meanings_fall_back_to_the_comments_in_the_settings_source() -> None:
    assert reference._comments(_Documented) == {
        "above": "the comment above",
        "beside": "the comment beside",
    }


def test_a_stale_page_is_reported(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    page = tmp_path / "configuration.md"
    page.write_text("# old\n")
    monkeypatch.setattr(reference, "PAGES", {page: reference.render_configuration})
    assert reference.stale() == [page]
    assert reference.main(["--check"]) == 1
    assert reference.main([]) == 0
    assert reference.stale() == []
