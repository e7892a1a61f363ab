"""`hookstream ingress` serves with the head limits of its settings
(HOOKSTREAM_INGRESS_HEAD_TIMEOUT_S, HOOKSTREAM_INGRESS_MAX_HEAD_BYTES)."""

from __future__ import annotations

import argparse
from typing import Any

import pytest
import uvicorn

from hookstream.cli import ingress as ingress_command
from hookstream.runtime.errors import ConfigError
from hookstream.runtime.settings import Settings


def served_protocol(monkeypatch: pytest.MonkeyPatch, env: dict[str, str]) -> Any:
    calls: list[dict[str, Any]] = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: calls.append(kw))
    args = argparse.Namespace(host="127.0.0.1", port=0)
    ingress_command._serve(None, args, Settings.from_env(env).ingress)  # type: ignore[arg-type]
    [call] = calls
    return call["http"]


def test_the_head_limits_come_from_the_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    protocol = served_protocol(
        monkeypatch,
        {"HOOKSTREAM_INGRESS_HEAD_TIMEOUT_S": "2.5", "HOOKSTREAM_INGRESS_MAX_HEAD_BYTES": "8192"},
    )
    assert (protocol.head_timeout_s, protocol.max_head_bytes) == (2.5, 8192)


def test_the_default_head_limits(monkeypatch: pytest.MonkeyPatch) -> None:
    protocol = served_protocol(monkeypatch, {})
    assert (protocol.head_timeout_s, protocol.max_head_bytes) == (10.0, 64 * 1024)


@pytest.mark.parametrize(
    "name", ["HOOKSTREAM_INGRESS_HEAD_TIMEOUT_S", "HOOKSTREAM_INGRESS_MAX_HEAD_BYTES"]
)
def test_a_limit_must_be_positive(name: str) -> None:
    with pytest.raises(ConfigError, match=f"{name} must be positive"):
        Settings.from_env({name: "0"})
