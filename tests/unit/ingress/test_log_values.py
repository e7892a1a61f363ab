"""Client-controlled values reach logs truncated and escaped (issue 11, item 5)."""

from __future__ import annotations

import logging

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hookstream.runtime.logging import (
    CLIENT_VALUE_CHARS,
    JsonFormatter,
    TextFormatter,
    client_value,
)
from ingress.webhook import REQUEST_ID_CHARS, request_id_from


@pytest.mark.parametrize(
    ("value", "logged"),
    [
        ("subscribe", "subscribe"),
        ("a\nb", "a\\x0ab"),
        ("\x1b[31mred", "\\x1b[31mred"),
        ("back\\slash", "back\\\\slash"),
        ("\u202eevil", "\\u202eevil"),
        (b"\xff\x00", "\xff\\x00"),
        ("h\u00e4 \u4e2d", "h\u00e4 \u4e2d"),  # printable text stays readable
        (None, "None"),
    ],
)
def test_values_are_escaped(value: object, logged: str) -> None:
    assert client_value(value) == logged


def test_long_values_are_cut_with_what_was_left_off() -> None:
    assert client_value("x" * 1_000_000) == "x" * CLIENT_VALUE_CHARS + "...(+999800 chars)"
    assert client_value("y" * 100, limit=10) == "y" * 10 + "...(+90 chars)"


@settings(
    max_examples=200, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
)
@given(st.text(max_size=400) | st.binary(max_size=400))
def test_any_value_is_one_bounded_printable_field(value: str | bytes) -> None:
    text = client_value(value)
    assert text.isprintable()
    assert len(text) <= CLIENT_VALUE_CHARS * 10 + 30  # an escape is at most 10 characters


@settings(
    max_examples=100, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
)
@given(st.text(max_size=300))
def test_a_logged_value_stays_on_one_line_in_both_formats(value: str) -> None:
    record = logging.LogRecord("x", logging.WARNING, "", 0, "refused", (), None)
    record.fields = {"mode": client_value(value)}
    for formatter in (JsonFormatter(), TextFormatter()):
        assert "\n" not in formatter.format(record)
    assert orjson.loads(JsonFormatter().format(record))["mode"] == client_value(value)


def test_a_clients_request_id_is_kept_when_short_and_printable_else_bounded() -> None:
    assert request_id_from(b"abc-123") == "abc-123"
    long = request_id_from(b"r" * 10_000)
    assert long.startswith("r" * REQUEST_ID_CHARS) and len(long) < REQUEST_ID_CHARS + 30
    assert "\n" not in request_id_from(b"a\nforged log line")
