from __future__ import annotations

import logging

import orjson
import pytest

from hookstream.runtime.logging import (
    JsonFormatter,
    TextFormatter,
    event,
    get_logger,
    request_id_var,
)
from hookstream.runtime.settings import Secret


def record(log: logging.Logger, capture: list[logging.LogRecord]) -> None:
    class Keep(logging.Handler):
        def emit(self, r: logging.LogRecord) -> None:
            capture.append(r)

    log.addHandler(Keep())
    log.setLevel(logging.DEBUG)


def test_json_lines_carry_event_fields_and_request_id() -> None:
    captured: list[logging.LogRecord] = []
    log = get_logger("test-json")
    record(log, captured)
    token = request_id_var.set("req-42")
    try:
        event(log, "webhook_rejected", logging.WARNING, status=401, reason="bad_signature")
    finally:
        request_id_var.reset(token)
    line = JsonFormatter().format(captured[0])
    assert "\n" not in line
    data = orjson.loads(line)
    assert data["event"] == "webhook_rejected" and data["level"] == "warning"
    assert (data["request_id"], data["status"], data["reason"]) == ("req-42", 401, "bad_signature")


@pytest.mark.parametrize("formatter", [JsonFormatter(), TextFormatter()])
def test_secrets_logged_by_mistake_stay_hidden(formatter: logging.Formatter) -> None:
    captured: list[logging.LogRecord] = []
    log = get_logger("test-secret")
    record(log, captured)
    event(log, "oops", secret=Secret("hunter2"))
    assert "hunter2" not in formatter.format(captured[0])
