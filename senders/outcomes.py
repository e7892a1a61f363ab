"""Outcome facts of the sender for `analytics`, and dead letters for `dlq`. Pure."""

from __future__ import annotations

from hookstream.runtime.consumer import Consumed
from schemas.analytics import DeadLettered, DeliveryResult
from schemas.commands import OutboundCommand
from schemas.dlq import DeadLetter, dead_letter_for
from senders.errors import SendError

# Where a command came from on `outbound` (for the dead letter, the key, its trace and redrive
# time): the record as the shared consumer loop reads it. The name stays for senders/delivery.py.
Source = Consumed


def delivery_fact(
    command: OutboundCommand,
    status: str,
    attempts: int,
    now_ms: int,
    error: SendError | None = None,
    message_id: str = "",
) -> DeliveryResult:
    return DeliveryResult(
        fact_id=f"dlv:{command.command_id}:{status}:{attempts}",
        command_id=command.command_id,
        page_id=command.page_id,
        conversation_id=command.conversation_id,
        status=status,
        attempts=attempts,
        created_at_ms=command.created_at_ms,
        finished_at_ms=now_ms,
        latency_ms=max(0, now_ms - command.created_at_ms),
        error_code=error.code if error else 0,
        error_subcode=error.subcode if error else 0,
        error_message=str(error)[:500] if error else "",
        message_id=message_id,
        event_received_at_ms=command.event_received_at_ms or 0,
    )


def dead_letter(
    source: Consumed, reason: str, error: str, now_ms: int, page_id: str = ""
) -> DeadLetter:
    return dead_letter_for(
        topic=source.topic,
        partition=source.partition,
        offset=source.offset,
        key=source.key,
        value=source.value,
        reason=reason,
        error=error[:1000],
        service="sender",
        failed_at_ms=now_ms,
        page_id=page_id,
    )


def dead_lettered_fact(letter: DeadLetter, conversation_id: str = "") -> DeadLettered:
    return DeadLettered(
        fact_id=f"dlq:{letter.dead_letter_id}",
        dead_letter_id=letter.dead_letter_id,
        source_topic=letter.source_topic,
        service="sender",
        reason=letter.reason,
        page_id=letter.page_id,
        failed_at_ms=letter.failed_at_ms,
        conversation_id=conversation_id,
    )
