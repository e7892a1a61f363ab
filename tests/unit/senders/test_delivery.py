"""The Deliverer on simulated time: outages within the budget, Meta's waits, stale replies, and
records that must never stop the sender. A scripted client stands for the Send API."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import orjson
import pytest
from aiokafka.errors import KafkaTimeoutError
from prometheus_client import CollectorRegistry

from hookstream.runtime.consumer import REDRIVE_HEADER, Consumed, Headers
from hookstream.runtime.pages import PageConfig, PagesConfig
from hookstream.runtime.settings import Secret, SenderSettings
from schemas.analytics import DeliveryResult, decode_fact
from schemas.commands import OutboundCommand, command_id_for
from schemas.dlq import decode_dead_letter
from senders.classify import SendSuccess
from senders.delivery import Deliverer
from senders.errors import SendError, TemporarySendError, ThrottledError
from senders.graph import Answer
from senders.metrics import SenderMetrics

PAGE = "1001"
OK = Answer(SendSuccess("u", "m_1"), 0.0)
Script = Callable[[float, dict[str, Any]], Answer | BaseException]


def done() -> asyncio.Future[object]:
    future: asyncio.Future[object] = asyncio.get_running_loop().create_future()
    future.set_result(None)
    return future


@dataclass
class Clock:
    now: float = 1000.0
    sleeps: list[float] = field(default_factory=list)

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds
        await asyncio.sleep(0)


@dataclass
class Api:
    """The Send API: `script(seconds since the first call, body)` answers each call."""

    clock: Clock
    script: Script
    calls: list[tuple[float, dict[str, Any]]] = field(default_factory=list)

    async def send(self, page_id: str, token: str, body: dict[str, Any]) -> Answer:
        first = self.calls[0][0] if self.calls else self.clock.now
        self.calls.append((self.clock.now, body))
        self.clock.now += 0.05  # each call takes 50 ms
        result = self.script(self.clock.now - first, body)
        if isinstance(result, BaseException):
            raise result
        return result


@dataclass
class Ledger:
    known: dict[str, str] = field(default_factory=dict)

    def outcome(self, key: str) -> str | None:
        return self.known.get(key)

    async def record(self, key: str, status: str, message_id: str = "") -> asyncio.Future[object]:
        self.known[key] = status
        return done()


@dataclass
class Rig:
    deliverer: Deliverer
    api: Api
    clock: Clock
    ledger: Ledger
    written: list[tuple[str, bytes]]

    def dead_letters(self) -> list[Any]:
        return [decode_dead_letter(v) for t, v in self.written if t == "dlq"]

    def facts(self) -> list[DeliveryResult]:
        facts = [decode_fact(v) for t, v in self.written if t == "analytics"]
        return [f for f in facts if isinstance(f, DeliveryResult)]


def rig(script: Script, **settings: Any) -> Rig:
    clock = Clock()
    api = Api(clock, script)
    ledger = Ledger()
    written: list[tuple[str, bytes]] = []

    async def emit(topic: str, key: bytes | None, value: bytes) -> asyncio.Future[object]:
        written.append((topic, value))
        return done()

    section = SenderSettings(
        retry_budget_s=300.0, max_reply_age_s=900.0, backoff_base_s=0.2, backoff_max_s=15.0
    )
    deliverer = Deliverer(
        replace(section, **settings),
        PagesConfig({PAGE: PageConfig(PAGE, access_token=Secret("token"))}),
        api,
        ledger,
        emit,
        {"analytics": "analytics", "dlq": "dlq"},
        SenderMetrics(CollectorRegistry()),
        rng=random.Random(5),
        clock=clock,
        sleep=clock.sleep,
    )
    return Rig(deliverer, api, clock, ledger, written)


def command(index: int = 0, age_s: float = 0.0, **fields: Any) -> OutboundCommand:
    return OutboundCommand(
        command_id=command_id_for(f"evt-{index}", 0),
        page_id=PAGE,
        recipient_id="u",
        conversation_id=f"{PAGE}:u",
        created_at_ms=int((time.time() - age_s) * 1000),
        message={"text": f"reply {index}"},
        **fields,
    )


def source(value: bytes | None, offset: int = 0, redriven_at_ms: int = 0) -> Consumed:
    """A record of `outbound`; redriven from the dead letters at `redriven_at_ms` if set."""
    headers: Headers = ((REDRIVE_HEADER, b"outbound:0:0"),) if redriven_at_ms else ()
    key = f"{PAGE}:u".encode()
    return Consumed("outbound", 0, offset, key, value, redriven_at_ms or -1, headers)


def down_for(seconds: float, error: Callable[[str], SendError] = TemporarySendError) -> Script:
    def script(elapsed: float, _body: dict[str, Any]) -> Answer | BaseException:
        return error("Send API down") if elapsed < seconds else OK

    return script


async def test_a_two_minute_outage_is_waited_out_and_the_reply_delivered_once() -> None:
    r = rig(down_for(120.0))
    assert await r.deliverer.deliver(source(command().encode()))
    assert r.dead_letters() == []
    assert [f.status for f in r.facts()][-1] == "delivered"
    assert r.ledger.known == {command().command_id: "delivered"}
    assert sum(1 for _, body in r.api.calls if body.get("message")) > 10  # retried throughout
    last_failure, delivery = r.api.calls[-2][0], r.api.calls[-1][0]
    assert delivery - r.api.calls[0][0] >= 120.0
    assert delivery - last_failure <= 15.0 + 0.05  # the backoff never exceeds its ceiling
    assert r.deliverer.metrics.retrying._value.get() == 0


async def test_an_outage_longer_than_the_budget_is_dead_lettered_at_its_end() -> None:
    r = rig(down_for(10_000.0), retry_budget_s=30.0)
    assert await r.deliverer.deliver(source(command().encode()))
    [letter] = r.dead_letters()
    assert letter.reason == "retries_exhausted"
    first, last = r.api.calls[0][0], r.api.calls[-1][0]
    assert 30.0 - 0.1 <= last - first <= 30.0 + 0.1  # the last retry at the budget's end
    assert r.deliverer.metrics.dead_letters.labels("retries_exhausted")._value.get() == 1


async def test_retry_after_holds_the_next_call_back() -> None:
    def script(elapsed: float, _body: dict[str, Any]) -> Answer | BaseException:
        if elapsed < 1.0:
            return TemporarySendError("busy", status=503, retry_after=7.0)
        return OK

    r = rig(script)
    assert await r.deliverer.deliver(source(command().encode()))
    (first, _), (second, _) = r.api.calls
    assert second - first >= 7.0


async def test_a_throttled_page_waits_for_the_time_meta_gives() -> None:
    def script(elapsed: float, _body: dict[str, Any]) -> Answer | BaseException:
        return ThrottledError("(#32) limit", code=32, retry_after=120.0) if elapsed < 1 else OK

    r = rig(script)
    assert await r.deliverer.deliver(source(command().encode()))
    (first, _), (second, _) = r.api.calls
    assert second - first >= 120.0
    bucket = r.deliverer.buckets[PAGE]
    assert bucket.rate < bucket.max_rate  # and it sends slower afterwards


async def test_a_page_blocked_beyond_the_budget_is_not_called_again_meanwhile() -> None:
    def script(_elapsed: float, _body: dict[str, Any]) -> Answer | BaseException:
        return ThrottledError("(#32) limit", code=32, retry_after=1200.0)  # 20 minutes

    r = rig(script)
    assert await r.deliverer.deliver(source(command(1).encode(), offset=1))
    assert await r.deliverer.deliver(source(command(2).encode(), offset=2))
    assert len(r.api.calls) == 1  # the second one never called the blocked page
    assert [d.reason for d in r.dead_letters()] == ["retries_exhausted", "stale"]


async def test_a_reply_older_than_the_age_limit_is_stale_and_not_sent() -> None:
    r = rig(down_for(0.0), max_reply_age_s=900.0)
    assert await r.deliverer.deliver(source(command(age_s=1000.0).encode()))
    assert r.api.calls == []
    [letter] = r.dead_letters()
    assert letter.reason == "stale" and "not sent late" in letter.error
    assert [f.status for f in r.facts()] == ["dead_lettered"]


async def test_a_reply_that_turns_stale_while_retrying_is_never_sent_late() -> None:
    r = rig(down_for(10_000.0), max_reply_age_s=60.0)
    assert await r.deliverer.deliver(source(command(age_s=20.0).encode()))
    [letter] = r.dead_letters()
    assert letter.reason == "stale"
    assert all(at - r.api.calls[0][0] + 20.0 < 60.0 for at, _ in r.api.calls)


async def test_a_redriven_reply_counts_its_age_from_the_redrive() -> None:
    r = rig(down_for(0.0), max_reply_age_s=900.0)
    old = command(age_s=5000.0).encode()
    assert await r.deliverer.deliver(source(old, redriven_at_ms=int(time.time() * 1000)))
    assert r.dead_letters() == [] and len(r.api.calls) == 1


async def test_a_message_already_partly_sent_is_finished_even_when_it_turns_stale() -> None:
    sent: list[str] = []

    def script(elapsed: float, body: dict[str, Any]) -> Answer | BaseException:
        if sent and elapsed < 30.0:
            return TemporarySendError("down")
        sent.append(body["message"]["text"])
        return OK

    r = rig(script, max_reply_age_s=60.0)
    words = " ".join(f"word{i:04d}" for i in range(300))  # 2,699 characters: two parts
    long = replace(command(age_s=50.0), message={"text": words})
    assert await r.deliverer.deliver(source(long.encode()))
    assert r.dead_letters() == []
    assert " ".join(sent) == words


def nested_json(depth: int) -> str:
    """JSON text nested `depth` objects deep (deeper than orjson.dumps can write, 254)."""
    return '{"k":' * depth + '"deep"' + "}" * depth


def raw_command(**overrides: Any) -> bytes:
    data = orjson.loads(command(9).encode())
    data.update(overrides)
    return orjson.dumps(data)


def deep_command(depth: int) -> bytes:
    head = raw_command().decode().rstrip("}")
    attachment = f'{{"attachment":{{"type":"image","payload":{nested_json(depth)}}}}}'
    return (head.replace('"message":{"text":"reply 9"}', f'"message":{attachment}') + "}").encode()


@pytest.mark.parametrize(
    "value,reason",
    [
        (None, "invalid_command"),
        (b"", "invalid_command"),
        (b"{not json", "invalid_command"),
        (b"\xff\xfe", "invalid_command"),
        (b"null", "invalid_command"),
        (b"[1, 2]", "invalid_command"),
        (b"[" * 1100 + b"]" * 1100, "invalid_command"),
        (raw_command(schema_version=99), "invalid_command"),
        (raw_command(created_at_ms="yesterday"), "invalid_command"),
        (raw_command(message={"text": 5}), "invalid_command"),
        (raw_command(message={"text": "x", "quick_replies": "yes"}), "invalid_command"),
        (deep_command(300), "invalid_command"),
        (raw_command(page_id="9999", conversation_id="9999:u"), "unknown_page"),
    ],
)
async def test_a_record_that_cannot_be_sent_is_dead_lettered_and_the_next_one_goes(
    value: bytes | None, reason: str
) -> None:
    r = rig(down_for(0.0))
    assert await r.deliverer.deliver(source(value, offset=1))
    assert await r.deliverer.deliver(source(command(2).encode(), offset=2))
    [letter] = r.dead_letters()
    assert (letter.reason, letter.source_offset) == (reason, 1)
    assert letter.original_bytes() == (value or b"")
    assert len(r.api.calls) == 1  # only the good one was sent


async def test_an_unexpected_failure_of_one_record_is_dead_lettered_not_raised() -> None:
    def script(_elapsed: float, body: dict[str, Any]) -> Answer | BaseException:
        return RuntimeError("bug") if body["message"]["text"] == "reply 1" else OK

    r = rig(script)
    assert await r.deliverer.deliver(source(command(1).encode(), offset=1))
    assert await r.deliverer.deliver(source(command(2).encode(), offset=2))
    [letter] = r.dead_letters()
    assert letter.reason == "sender_error" and "RuntimeError: bug" in letter.error
    assert r.ledger.known == {command(2).command_id: "delivered"}


async def test_a_kafka_failure_still_stops_the_worker() -> None:
    r = rig(down_for(0.0))

    async def broken(topic: str, key: bytes | None, value: bytes) -> asyncio.Future[object]:
        raise KafkaTimeoutError

    r.deliverer.emit = broken
    with pytest.raises(KafkaTimeoutError):
        await r.deliverer.deliver(source(command().encode()))
