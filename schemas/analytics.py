"""Analytics facts on the `analytics` topic (key: conversation id), bound for ClickHouse.

Every fact has a deterministic `fact_id` (the same input always yields the same id), so the
ClickHouse tables can deduplicate replays and redeliveries. `fact` names the kind of row.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from schemas.errors import SchemaError
from schemas.records import build, encode_record, load_json_object

ANALYTICS_SCHEMA_VERSION = 1


@dataclass(frozen=True, slots=True)
class MessageReceived:
    """One normalized webhook event, as the processors understood it."""

    fact_id: str  # "msg:<event_id>"
    event_id: str
    event_time_ms: int
    received_at_ms: int
    processed_at_ms: int
    platform: str
    page_id: str
    conversation_id: str
    user_id: str
    direction: str  # in | out (echo) | none (reads, deliveries, ...)
    kind: str
    text_length: int = 0
    attachment_types: list[str] = field(default_factory=list)
    rate_limited: bool = False
    test: bool = False
    # Why no reply was planned ("" when one was): one of NO_REPLY_REASONS.
    no_reply: str = ""
    # Where it came from: the ingress request and its `inbound` record (-1: not known).
    request_id: str = ""
    source_topic: str = ""
    source_partition: int = -1
    source_offset: int = -1
    fact: str = "message_received"
    schema_version: int = ANALYTICS_SCHEMA_VERSION


@dataclass(frozen=True, slots=True)
class ReplyPlanned:
    """A reply the processors decided to send, and why."""

    fact_id: str  # "plan:<command_id>"
    command_id: str
    event_id: str
    page_id: str
    conversation_id: str
    responder: str  # rules | llm | fallback
    rule_id: str
    planned_at_ms: int
    event_received_at_ms: int
    messaging_type: str = "RESPONSE"
    fact: str = "reply_planned"
    schema_version: int = ANALYTICS_SCHEMA_VERSION


@dataclass(frozen=True, slots=True)
class DeliveryResult:
    """One outcome of the sender for one command."""

    fact_id: str  # "dlv:<command_id>:<status>:<attempts>"
    command_id: str
    page_id: str
    conversation_id: str
    status: str  # delivered | retried | dead_lettered | skipped_duplicate | held
    attempts: int
    created_at_ms: int
    finished_at_ms: int
    latency_ms: int  # command created -> this outcome
    error_code: int = 0
    error_subcode: int = 0
    error_message: str = ""
    message_id: str = ""
    event_received_at_ms: int = 0  # webhook received -> delivered is the end-to-end latency
    fact: str = "delivery_result"
    schema_version: int = ANALYTICS_SCHEMA_VERSION


@dataclass(frozen=True, slots=True)
class DeadLettered:
    """A record that went to the dlq, for the DLQ volume panels."""

    fact_id: str  # "dlq:<dead_letter_id>"
    dead_letter_id: str
    source_topic: str
    service: str
    reason: str
    page_id: str
    failed_at_ms: int
    conversation_id: str = ""
    fact: str = "dead_lettered"
    schema_version: int = ANALYTICS_SCHEMA_VERSION


@dataclass(frozen=True, slots=True)
class DuplicateDropped:
    """A copy of an event the processors had seen already (Meta's redelivery, or the same event
    twice in one batch), dropped by the dedupe on its event id: no state change, no reply.

    The id is the copy's record (topic, partition, offset), so processing that record again
    (a restart before the commit) yields the same fact, and each redelivery its own."""

    fact_id: str  # "dup:<event_id>:<topic>:<partition>:<offset>"
    event_id: str
    page_id: str
    conversation_id: str
    platform: str
    kind: str
    received_at_ms: int  # this copy, by the ingress
    first_received_at_ms: int  # the copy that was processed (from the dedupe state)
    processed_at_ms: int
    request_id: str  # the ingress request that carried this copy
    source_topic: str
    source_partition: int
    source_offset: int
    fact: str = "duplicate_dropped"
    schema_version: int = ANALYTICS_SCHEMA_VERSION


# MessageReceived.no_reply: why an event got no reply ("" when one was planned).
NO_REPLY_REASONS: dict[str, str] = {
    "not_replyable": "not a message or postback from a user (echo, read, reaction, ...)",
    "standby": "arrived on standby: another app controls the thread",
    "no_user_id": "no user id to answer",
    "rate_limited": "rate-limited: too many automatic replies to this user within the window",
    "page_not_configured": "the page is not in the pages file",
    "responder_none": "the page's responder is none",
    "responder_unavailable": "the page's responder (llm) is not configured in the processors",
    "outside_window": "outside the 24-hour window and the page has no outside_window_tag",
    "no_rule_matched": "no rule matched and the page has no fallback",
}

Fact = MessageReceived | ReplyPlanned | DeliveryResult | DeadLettered | DuplicateDropped
FACT_TYPES: dict[str, type[Any]] = {
    "message_received": MessageReceived,
    "reply_planned": ReplyPlanned,
    "delivery_result": DeliveryResult,
    "dead_lettered": DeadLettered,
    "duplicate_dropped": DuplicateDropped,
}


def encode_fact(fact: Fact) -> bytes:
    return encode_record(fact)


def decode_fact(payload: bytes | None) -> Fact:
    data = load_json_object(payload, "analytics")
    kind = data.get("fact")
    cls = FACT_TYPES.get(kind) if isinstance(kind, str) else None
    if cls is None:
        raise SchemaError(f"unknown analytics fact {kind!r}")
    fact: Fact = build(cls, data, ANALYTICS_SCHEMA_VERSION, f"{kind} fact")
    return fact
