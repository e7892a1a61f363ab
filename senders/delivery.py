"""Deliver one command: ledger check, page and token, pacing, retries, outcome. The policy lives
in the pure modules (classify, pacing, retry, pages, build); this module applies it to one command.

Whatever one record does, the sender goes on: a record that cannot be decoded, checked, encoded
or sent is dead-lettered with the reason and the original. Only a failure of Kafka itself (the
ledger, the dead letters, the facts cannot be written) stops the worker.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from aiokafka.errors import KafkaError

from hookstream.runtime.logging import event, get_logger
from hookstream.runtime.pages import PageConfig, PagesConfig
from hookstream.runtime.settings import SenderSettings
from hookstream.runtime.tracing import NOOP, TraceContext, Tracer, record_headers
from schemas.analytics import DeliveryResult, encode_fact
from schemas.commands import OutboundCommand, decode_command
from schemas.errors import SchemaError
from senders.build import SendCall, build_calls, check_command
from senders.errors import SendError, UndeliverableCommand
from senders.graph import Answer
from senders.ledger import part_key
from senders.metrics import SenderMetrics
from senders.outcomes import Source, dead_letter, dead_lettered_fact, delivery_fact
from senders.pacing import PageBucket
from senders.pages import PageGate
from senders.retry import STALE, GiveUp, Retry, RetryPolicy

log = get_logger("sender")


class Client(Protocol):
    async def send(self, page_id: str, token: str, body: dict[str, Any]) -> Answer: ...


class Book(Protocol):
    def outcome(self, key: str) -> str | None: ...
    async def record(
        self, key: str, status: str, message_id: str = ""
    ) -> asyncio.Future[object]: ...


# (topic name, key, value[, headers]) -> the producer's delivery future
Emit = Callable[..., Awaitable["asyncio.Future[object]"]]


def now_ms() -> int:
    return int(time.time() * 1000)


@dataclass
class Attempt:
    command: OutboundCommand
    page: PageConfig
    attempts: int = 0  # failed calls of this command (all its parts), for the facts
    held_since: float | None = None
    read_at: float = 0.0
    probing: bool = False
    abandoned: Callable[[], bool] = lambda: False
    failures: int = 0  # consecutive failures of the current call
    failing_since: float | None = None  # monotonic: the current call's first failure
    sent_any: bool = False  # a part reached the user: the rest follows, never stale half-way
    retrying: bool = False  # counted in the `retrying` gauge
    trace: TraceContext | None = None  # the command's, from its record's traceparent

    age_at_start_s: float = 0.0  # its age when this attempt began (wall clock)
    started: float = 0.0  # monotonic time this attempt began

    def age_s(self, now: float) -> float:
        """How old the reply is; 0 once part of it went out (a message is never cut short)."""
        return 0.0 if self.sent_any else self.age_at_start_s + (now - self.started)


def policy_of(settings: SenderSettings) -> RetryPolicy:
    return RetryPolicy(
        budget_s=settings.retry_budget_s,
        base_s=settings.backoff_base_s,
        max_s=settings.backoff_max_s,
        max_age_s=settings.max_reply_age_s,
        max_attempts=settings.max_attempts,
    )


@dataclass
class Deliverer:
    settings: SenderSettings
    pages: PagesConfig
    client: Client
    ledger: Book
    emit: Emit
    topics: dict[str, str]  # analytics, dlq
    metrics: SenderMetrics
    rng: random.Random = field(default_factory=random.Random)
    gate: PageGate = field(default_factory=PageGate)
    buckets: dict[str, PageBucket] = field(default_factory=dict)
    http_slots: asyncio.Semaphore | None = None
    policy: RetryPolicy = field(default_factory=RetryPolicy)
    # Time, replaceable by the unit tests: the monotonic clock and the sleep that goes with it.
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
    tracer: Tracer = NOOP  # a span "sender.attempt" per Send API call when exporting

    def __post_init__(self) -> None:
        self.gate = PageGate(
            self.settings.stopped_page_probe_s, self.settings.stopped_page_dlq_after_s
        )
        self.http_slots = asyncio.Semaphore(self.settings.concurrency)
        self.policy = policy_of(self.settings)

    async def deliver(self, source: Source, abandoned: Callable[[], bool] = lambda: False) -> bool:
        """Finish one record: True when its outcome is recorded (offset may be committed),
        False when abandoned (partition revoked, the next owner takes over)."""
        try:
            return await self._deliver(source, abandoned)
        except KafkaError:
            raise  # Kafka itself failed: the worker stops, its records are read again
        except Exception as exc:  # noqa: BLE001 - a record must never stop the sender
            event(
                log,
                "command_failed_unexpectedly",
                logging.ERROR,
                error_type=type(exc).__name__,
                error=str(exc)[:200],
                partition=source.partition,
                offset=source.offset,
                trace_id=_trace_id(source.trace),
            )
            error = f"{type(exc).__name__}: {exc}"
            return await _settled(await self._dead_letter(source, None, "sender_error", error, ""))

    async def _deliver(self, source: Source, abandoned: Callable[[], bool]) -> bool:
        writes: list[asyncio.Future[object]] = []
        try:
            command = decode_command(source.value)
        except SchemaError as exc:
            writes += await self._dead_letter(source, None, "invalid_command", str(exc), "")
            return await _settled(writes)
        if self.ledger.outcome(command.command_id) == "delivered":
            self.metrics.outcomes.labels("skipped_duplicate").inc()
            writes.append(
                await self._fact(
                    delivery_fact(command, "skipped_duplicate", 0, now_ms()), source.trace
                )
            )
            return await _settled(writes)
        attempt: Attempt | None = None
        try:
            attempt = Attempt(
                command,
                self._page_for(command),
                read_at=source.read_at,
                abandoned=abandoned,
                age_at_start_s=(now_ms() - (source.redriven_at_ms or command.created_at_ms)) / 1000,
                started=self.clock(),
                trace=source.trace,
            )
            message_id = await self._send_all(attempt)
        except _Abandoned:
            return False
        except SendError as exc:
            tries = attempt.attempts + 1 if attempt else 0
            writes += await self._failed(source, command, exc, tries)
            return await _settled(writes)
        finally:
            if attempt is not None:
                self._settle_gauges(attempt)
        writes += await self._delivered(command, attempt.attempts, message_id, source.trace)
        return await _settled(writes)

    def _page_for(self, command: OutboundCommand) -> PageConfig:
        page = self.pages.page(command.page_id)
        if page is None:
            raise UndeliverableCommand(
                f"page {command.page_id} is not in the pages file", reason="unknown_page"
            )
        if not page.access_token:
            ref = f" ({page.access_token_ref} is not set)" if page.access_token_ref else ""
            raise UndeliverableCommand(
                f"page {command.page_id} has no access token{ref}", reason="page_without_token"
            )
        problem = check_command(command)
        if problem:
            raise UndeliverableCommand(problem)
        return page

    def _settle_gauges(self, attempt: Attempt) -> None:
        if attempt.held_since is not None:
            attempt.held_since = None
            self.metrics.held.dec()
        if attempt.retrying:
            attempt.retrying = False
            self.metrics.retrying.dec()

    async def _send_all(self, attempt: Attempt) -> str:
        command, page = attempt.command, attempt.page
        calls = build_calls(
            command, typing_on=page.typing_on, tag_metadata=page.platform == "messenger"
        )
        last = max(call.part for call in calls)
        message_id = ""
        for call in calls:
            key = part_key(command.command_id, call.part)
            if call.part < last and self.ledger.outcome(key) == "delivered":
                continue  # this part reached the user before a restart
            answer = await self._send_one(attempt, call)
            message_id = answer.success.message_id if answer else message_id
            attempt.sent_any = attempt.sent_any or (answer is not None and call.is_message)
            if call.is_message and call.part < last:
                await await_all([await self.ledger.record(key, "delivered", message_id)])
        return message_id

    async def _send_one(self, attempt: Attempt, call: SendCall) -> Answer | None:
        while True:
            await self._wait_turn(attempt)
            try:
                answer = await self._post(attempt, call)
            except SendError as exc:
                if not call.is_message and not (exc.retriable or exc.stops_page):
                    return None  # a typing indicator that cannot be shown is not worth a dlq
                await self._handle_error(attempt, exc)
                continue
            attempt.failures, attempt.failing_since = 0, None
            await self._after_success(attempt, answer)
            return answer

    async def _post(self, attempt: Attempt, call: SendCall) -> Answer:
        page = attempt.page
        assert self.http_slots is not None  # noqa: S101 - set in __post_init__
        trace = attempt.trace
        span = None
        if self.tracer.enabled and trace is not None:
            span = self.tracer.start("sender.attempt", trace, _span_attributes(attempt, call))
        async with self.http_slots:
            try:
                answer = await self.client.send(page.page_id, page.access_token.reveal(), call.body)
            except SendError as exc:
                self.metrics.calls.labels(exc.reason).inc()
                _log_call(attempt, call, exc)
                if span is not None:
                    span.set("outcome", exc.reason)
                    span.set("error.code", exc.code)
                    span.set("error.subcode", exc.subcode)
                    span.fail(exc.reason)
                    span.end()
                raise
            except BaseException as exc:
                if span is not None:
                    span.fail(type(exc).__name__)
                    span.end()
                raise
        self.metrics.calls.labels("ok").inc()
        _log_call(attempt, call)
        if span is not None:
            span.set("outcome", "ok")
            span.end()
        return answer

    async def _wait_turn(self, attempt: Attempt) -> None:
        page_id = attempt.page.page_id
        while True:
            if attempt.abandoned():
                raise _Abandoned
            self._check_age(attempt, 0.0)
            decision, wait = self.gate.decide(page_id, self.clock(), attempt.held_since)
            if decision == "dead_letter":
                raise self._stopped_error(page_id)
            attempt.probing = decision == "probe"
            if decision != "wait":
                break
            if attempt.held_since is None:  # queued behind the page's stop: held as well
                await self._mark_held(attempt, self._stopped_error(page_id))
                continue
            await self.sleep(wait)
        bucket = self._bucket(page_id)
        delay = bucket.reserve(self.clock())
        if delay > 0:
            self._check_age(attempt, delay)
            await self.sleep(delay)
            if attempt.abandoned():
                raise _Abandoned

    def _check_age(self, attempt: Attempt, wait_s: float) -> None:
        """Raise `stale` when the reply is too old now, or would be after waiting `wait_s`."""
        age = attempt.age_s(self.clock())
        if self.policy.until_stale(age) <= wait_s:
            raise self._stale_error(age + wait_s)

    def _stale_error(self, age_s: float) -> SendError:
        error = SendError(
            f"the reply would be {age_s:.0f} s old, older than "
            f"HOOKSTREAM_SENDER_MAX_REPLY_AGE_S={self.policy.max_age_s:g}: not sent late"
        )
        error.reason = STALE
        return error

    def _bucket(self, page_id: str) -> PageBucket:
        bucket = self.buckets.get(page_id)
        if bucket is None:
            bucket = self.buckets[page_id] = PageBucket(self.settings.page_rate_per_s)
        return bucket

    async def _after_success(self, attempt: Attempt, answer: Answer) -> None:
        page_id = attempt.page.page_id
        if answer.usage_percent:
            self._bucket(page_id).usage(self.clock(), answer.usage_percent)
        self._settle_gauges(attempt)
        if attempt.probing and self.gate.resume(page_id):
            self.metrics.page_stopped.labels(page_id).set(0)
            event(log, "page_resumed", page_id=page_id)

    async def _handle_error(self, attempt: Attempt, exc: SendError) -> None:
        page_id, now = attempt.page.page_id, self.clock()
        bucket = self._bucket(page_id)
        if exc.usage:
            bucket.usage(now, exc.usage)
        if exc.stops_page:
            await self._hold(attempt, exc)
            return
        if not exc.retriable:
            raise exc
        attempt.attempts += 1
        attempt.failures += 1
        if attempt.failing_since is None:
            attempt.failing_since = now
        step = self.policy.after_failure(
            attempt.failures,
            now - attempt.failing_since,
            attempt.age_s(now),
            self.rng,
            exc.retry_after or 0.0,
        )
        pause = step.delay_s if isinstance(step, Retry) else exc.retry_after or 0.0
        if exc.throttled:  # the whole page waits (its bucket), and sends slower afterwards
            bucket.throttled(self.clock(), pause)
            self.metrics.page_rate.labels(page_id).set(bucket.rate)
        elif exc.retry_after:  # Meta asked the page to wait: its other commands wait as well
            bucket.pause(self.clock(), exc.retry_after)
        if isinstance(step, GiveUp):
            exc.reason = step.reason
            raise exc
        if not attempt.retrying:
            attempt.retrying = True
            self.metrics.retrying.inc()
        self.metrics.retries.labels(exc.reason).inc()
        event(
            log,
            "send_retry",
            reason=exc.reason,
            attempt=attempt.attempts,
            delay_s=round(pause if exc.throttled else step.delay_s, 3),
            command_id=attempt.command.command_id,
            page_id=page_id,
            trace_id=_trace_id(attempt.trace),
        )
        await await_all(
            [
                await self._fact(
                    delivery_fact(attempt.command, "retried", attempt.attempts, now_ms(), exc),
                    attempt.trace,
                )
            ]
        )
        if not exc.throttled:  # a throttled call waits on its page's bucket
            await self.sleep(step.delay_s)

    async def _hold(self, attempt: Attempt, exc: SendError) -> None:
        page_id = attempt.page.page_id
        if self.gate.stop(page_id, self.clock(), exc.code, str(exc)):
            self.metrics.page_stopped.labels(page_id).set(1)
            event(
                log,
                "page_stopped",
                logging.ERROR,
                page_id=page_id,
                code=exc.code,
                error=str(exc),
                action="holding its commands; fix the token or policy",
                command_id=attempt.command.command_id,
                trace_id=_trace_id(attempt.trace),
            )
        if attempt.held_since is None:
            await self._mark_held(attempt, exc)

    async def _mark_held(self, attempt: Attempt, exc: SendError) -> None:
        """The command waits on its stopped page, since it was read or the page stopped
        (whichever came later): `stopped_page_dlq_after_s` counts from then."""
        stopped = self.gate.stopped.get(attempt.page.page_id)
        attempt.held_since = max(attempt.read_at, stopped.since if stopped else self.clock())
        self.metrics.held.inc()
        await await_all(
            [
                await self._fact(
                    delivery_fact(attempt.command, "held", attempt.attempts, now_ms(), exc),
                    attempt.trace,
                )
            ]
        )

    def _stopped_error(self, page_id: str) -> SendError:
        stopped = self.gate.stopped.get(page_id)
        error = SendError(
            f"page {page_id} stopped: {stopped.message if stopped else ''}",
            code=stopped.code if stopped else 0,
        )
        error.reason = "page_stopped"
        return error

    async def _delivered(
        self,
        command: OutboundCommand,
        attempts: int,
        message_id: str,
        trace: TraceContext | None = None,
    ) -> list[asyncio.Future[object]]:
        finished = now_ms()
        self.metrics.outcomes.labels("delivered").inc()
        self.metrics.latency.observe(max(0, finished - command.created_at_ms) / 1000)
        fact = delivery_fact(command, "delivered", attempts + 1, finished, message_id=message_id)
        return [
            await self.ledger.record(command.command_id, "delivered", message_id),
            await self._fact(fact, trace),
        ]

    async def _failed(
        self, source: Source, command: OutboundCommand, exc: SendError, attempts: int
    ) -> list[asyncio.Future[object]]:
        writes = await self._dead_letter(source, command, exc.reason, str(exc), command.page_id)
        fact = delivery_fact(command, "dead_lettered", attempts, now_ms(), exc)
        writes.append(await self._fact(fact, source.trace))
        return writes

    async def _dead_letter(
        self, source: Source, command: OutboundCommand | None, reason: str, error: str, page_id: str
    ) -> list[asyncio.Future[object]]:
        self.metrics.outcomes.labels("dead_lettered").inc()
        self.metrics.dead_letters.labels(reason).inc()
        event(
            log,
            "command_dead_lettered",
            logging.WARNING,
            reason=reason,
            error=error[:200],
            page_id=page_id,
            command_id=command.command_id if command else "",
            offset=source.offset,
            partition=source.partition,
            trace_id=_trace_id(source.trace),
        )
        letter = dead_letter(source, reason, error, now_ms(), page_id)
        fact = dead_lettered_fact(letter, command.conversation_id if command else "")
        return [
            await self._write(self.topics["dlq"], source.key, letter.encode(), source.trace),
            await self._write(
                self.topics["analytics"], source.key, encode_fact(fact), source.trace
            ),
        ]

    async def _fact(
        self, fact: DeliveryResult, trace: TraceContext | None = None
    ) -> asyncio.Future[object]:
        return await self._write(
            self.topics["analytics"], fact.conversation_id.encode(), encode_fact(fact), trace
        )

    async def _write(
        self, topic: str, key: bytes | None, value: bytes, trace: TraceContext | None
    ) -> asyncio.Future[object]:
        """A record on analytics/dlq, carrying the command's trace (a child context)."""
        if trace is None:
            return await self.emit(topic, key, value)
        return await self.emit(topic, key, value, record_headers(trace.child()))


class _Abandoned(Exception):
    pass


def _span_attributes(attempt: Attempt, call: SendCall) -> dict[str, Any]:
    command = attempt.command
    return {
        "command.id": command.command_id,
        "page.id": command.page_id,
        "call.part": call.part,
        "attempt": attempt.attempts + 1,
    }


def _trace_id(trace: TraceContext | None) -> str:
    return trace.trace_id if trace is not None else ""


def _log_call(attempt: Attempt, call: SendCall, failure: SendError | None = None) -> None:
    """One line per Send API call, naming its trace: a success at DEBUG (costs nothing at the
    default level), a failure at WARNING (what follows, a retry, a hold or a dead letter, has
    its own line with the same trace_id)."""
    level = logging.DEBUG if failure is None else logging.WARNING
    if not log.isEnabledFor(level):
        return
    fields: dict[str, Any] = {
        "trace_id": _trace_id(attempt.trace),
        "command_id": attempt.command.command_id,
        "page_id": attempt.page.page_id,
        "part": call.part,
        "outcome": "ok" if failure is None else failure.reason,
        "code": 0 if failure is None else failure.code,
    }
    if failure is not None:
        fields |= {
            "attempt": attempt.attempts + 1,
            "subcode": failure.subcode,
            "error": str(failure)[:200],
        }
    event(log, "send_api_call" if failure is None else "send_api_call_failed", level, **fields)


async def await_all(futures: list[asyncio.Future[object]]) -> None:
    if futures:
        await asyncio.gather(*futures)


async def _settled(futures: list[asyncio.Future[object]]) -> bool:
    await await_all(futures)
    return True
