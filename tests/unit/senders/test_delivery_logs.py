"""The sender's log lines name the trace of the command: a failed call, its retry and its
dead letter at INFO and above; a successful call only at DEBUG."""

from __future__ import annotations

import asyncio
import logging
import random
import time
from dataclasses import dataclass
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from hookstream.runtime.pages import PageConfig, PagesConfig
from hookstream.runtime.settings import Secret, SenderSettings
from hookstream.runtime.tracing import TraceContext, parse_traceparent
from schemas.commands import OutboundCommand, command_id_for
from senders.classify import SendSuccess
from senders.delivery import Deliverer
from senders.errors import TemporarySendError
from senders.graph import Answer
from senders.metrics import SenderMetrics

PAGE = "1001"
TRACE = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
COMMAND_ID = command_id_for("evt-logs", 0)


def outbound_record() -> Record:
    """A command planned just now (its age counts against the sender's max reply age)."""
    command = OutboundCommand(
        command_id=COMMAND_ID,
        page_id=PAGE,
        recipient_id="u",
        conversation_id=f"{PAGE}:u",
        created_at_ms=int(time.time() * 1000),
        message={"text": "hi"},
    )
    return Record(command.encode(), parse_traceparent(TRACE))


@dataclass(frozen=True)
class Record:
    """An `outbound` record as the sender reads it (what `Deliverer.deliver` uses of one)."""

    value: bytes
    trace: TraceContext | None
    topic: str = "outbound"
    partition: int = 0
    offset: int = 3
    key: bytes | None = b"1001:u"
    read_at: float = 0.0
    redriven_at_ms: int = 0


@dataclass
class Api:
    fail: bool
    now: list[float]

    async def send(self, page_id: str, token: str, body: dict[str, Any]) -> Answer:
        self.now[0] += 0.05
        if self.fail:
            raise TemporarySendError("Send API down")
        return Answer(SendSuccess("u", "m_1"), 0.0)


class Ledger:
    def outcome(self, key: str) -> str | None:
        return None

    async def record(self, key: str, status: str, message_id: str = "") -> asyncio.Future[object]:
        return done()


def done() -> asyncio.Future[object]:
    future: asyncio.Future[object] = asyncio.get_running_loop().create_future()
    future.set_result(None)
    return future


def deliverer(fail: bool) -> Deliverer:
    now = [1000.0]

    async def sleep(seconds: float) -> None:
        now[0] += seconds

    async def emit(*_record: object) -> asyncio.Future[object]:
        return done()

    return Deliverer(
        SenderSettings(retry_budget_s=2.0, backoff_base_s=0.2, backoff_max_s=1.0),
        PagesConfig({PAGE: PageConfig(PAGE, access_token=Secret("token"))}),
        Api(fail, now),
        Ledger(),
        emit,
        {"analytics": "analytics", "dlq": "dlq"},
        SenderMetrics(CollectorRegistry()),
        rng=random.Random(5),
        clock=lambda: now[0],
        sleep=sleep,
    )


def lines(caplog: pytest.LogCaptureFixture) -> list[tuple[str, dict[str, Any]]]:
    return [(rec.getMessage(), getattr(rec, "fields", {})) for rec in caplog.records]


async def test_failed_retried_and_dead_lettered_calls_name_their_trace(
    caplog: pytest.LogCaptureFixture,
) -> None:
    record = outbound_record()
    with caplog.at_level(logging.INFO):
        assert await deliverer(fail=True).deliver(record)  # type: ignore[arg-type]
    logged = lines(caplog)
    trace_id = TRACE.split("-")[1]
    named = {name for name, fields in logged if fields.get("trace_id") == trace_id}
    assert {"send_api_call_failed", "send_retry", "command_dead_lettered"} <= named
    failed = next(fields for name, fields in logged if name == "send_api_call_failed")
    assert failed["command_id"] == COMMAND_ID and failed["attempt"] == 1
    assert failed["error"] == "Send API down" and failed["outcome"] != "ok"
    dead = next(fields for name, fields in logged if name == "command_dead_lettered")
    assert dead["command_id"] == COMMAND_ID
    assert "send_api_call" not in {name for name, _ in logged}  # successes: DEBUG only


async def test_a_successful_call_logs_only_at_debug(caplog: pytest.LogCaptureFixture) -> None:
    record = outbound_record()
    with caplog.at_level(logging.INFO):
        assert await deliverer(fail=False).deliver(record)  # type: ignore[arg-type]
    assert caplog.records == []
    with caplog.at_level(logging.DEBUG):
        assert await deliverer(fail=False).deliver(record)  # type: ignore[arg-type]
    [(name, fields)] = [line for line in lines(caplog) if line[0].startswith("send_api")]
    assert name == "send_api_call" and fields["trace_id"] == TRACE.split("-")[1]
