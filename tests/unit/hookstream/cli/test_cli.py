from __future__ import annotations

from pathlib import Path

import pytest

from hookstream.cli import main


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)  # no .env, no pages.yaml
    for name in ("HOOKSTREAM_APP_SECRETS", "HOOKSTREAM_VERIFY_TOKEN", "HOOKSTREAM_LOG_FORMAT"):
        monkeypatch.delenv(name, raising=False)


def test_missing_required_setting_is_one_line_naming_it(
    clean_env: None, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["ingress", "--port", "0"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [
        "hookstream ingress: configuration error: HOOKSTREAM_APP_SECRETS is required: "
        "comma-separated Meta app secrets"
    ]


def test_invalid_setting_is_named(
    clean_env: None, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("HOOKSTREAM_INGRESS_ACK_DEADLINE_S", "soon")
    assert main(["ingress"]) == 2
    assert (
        "HOOKSTREAM_INGRESS_ACK_DEADLINE_S must be a number, got 'soon'" in capsys.readouterr().err
    )


def test_every_contract_command_is_registered(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    for command in (
        "up",
        "ingress",
        "processors",
        "sender",
        "sink",
        "lag-exporter",
        "sandbox",
        "simulate",
        "replay",
        "dlq",
        "stats",
        "lag",
        "topics",
    ):
        assert command in out


def test_unreachable_kafka_is_one_clear_line(
    clean_env: None, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from hookstream.embedded.processes import free_port

    address = f"127.0.0.1:{free_port()}"
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", address)
    assert main(["lag"]) == 1
    err = capsys.readouterr().err
    assert f"hookstream lag: Kafka at {address} failed: " in err
    assert "Traceback" not in err
