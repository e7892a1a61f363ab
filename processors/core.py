"""The processing of one normalized message against its conversation's state.

    outcome = await processor.process(state, message, now_ms)

gives the new state, the outbound commands and the analytics facts. No Kafka here: the faust
adapter (processors/app.py) feeds records in and sends what comes out.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import NamedTuple

from hookstream.runtime.pages import PageConfig, PagesConfig
from hookstream.runtime.settings import ProcessorSettings
from processors.llm import LlmResponder
from processors.policy import Delivery, delivery_for, rate_limit
from processors.rules import Reply, match_rules
from processors.state import (
    ConversationState,
    apply_message,
    dedupe_key,
    is_duplicate,
    remember,
)
from schemas.analytics import Fact, MessageReceived, ReplyPlanned
from schemas.commands import OutboundCommand, command_id_for
from schemas.events import is_user_id
from schemas.messages import NormalizedMessage

REPLYABLE_KINDS = frozenset({"message", "postback"})


@dataclass(frozen=True, slots=True)
class Outcome:
    state: ConversationState
    duplicate: bool = False
    commands: tuple[OutboundCommand, ...] = ()
    facts: tuple[Fact, ...] = ()
    first_seen_ms: int = 0  # a duplicate: when the copy that was processed arrived


def wants_reply(message: NormalizedMessage) -> bool:
    """Only what a user wrote or tapped; never echoes, reads, deliveries, reactions, standby,
    and never anything without a real user id to answer (no reply to `_`)."""
    return (
        message.direction == "in"
        and message.kind in REPLYABLE_KINDS
        and message.source != "standby"
        and is_user_id(message.user_id, message.page_id)
    )


def not_replyable(message: NormalizedMessage) -> str:
    """Why `wants_reply` says no, as a `MessageReceived.no_reply` reason ("" if it says yes)."""
    if message.direction != "in" or message.kind not in REPLYABLE_KINDS:
        return "not_replyable"
    if message.source == "standby":
        return "standby"
    if not is_user_id(message.user_id, message.page_id):
        return "no_user_id"
    return ""


class Origin(NamedTuple):
    """Where a message came from, for its MessageReceived fact (what `hookstream trace` shows):
    the ingress request and the `inbound` record. (A tuple: built for every event.)"""

    request_id: str = ""
    topic: str = ""
    partition: int = -1
    offset: int = -1


NO_ORIGIN = Origin()


def received_fact(
    message: NormalizedMessage,
    now_ms: int,
    rate_limited: bool,
    no_reply: str = "",
    origin: Origin = NO_ORIGIN,
) -> MessageReceived:
    return MessageReceived(
        fact_id=f"msg:{message.event_id}",
        event_id=message.event_id,
        event_time_ms=message.event_time_ms,
        received_at_ms=message.received_at_ms,
        processed_at_ms=now_ms,
        platform=message.platform,
        page_id=message.page_id,
        conversation_id=message.conversation_id,
        user_id=message.user_id,
        direction=message.direction,
        kind=message.kind,
        text_length=len(message.text),
        attachment_types=message.attachment_types,
        rate_limited=rate_limited,
        test=message.test,
        no_reply=no_reply,
        request_id=origin.request_id,
        source_topic=origin.topic,
        source_partition=origin.partition,
        source_offset=origin.offset,
    )


def command_for(
    message: NormalizedMessage,
    index: int,
    delivery: Delivery,
    origin: str,
    now_ms: int,
    body: dict[str, object] | None = None,
    action: str | None = None,
) -> OutboundCommand:
    return OutboundCommand(
        command_id=command_id_for(message.event_id, index),
        page_id=message.page_id,
        recipient_id=message.user_id,
        conversation_id=message.conversation_id,
        created_at_ms=now_ms,
        messaging_type=delivery.messaging_type,
        message=body,
        sender_action=action,
        tag=delivery.tag,
        platform=message.platform,
        origin=origin,
        cause_event_id=message.event_id,
        reply_index=index,
        event_received_at_ms=message.received_at_ms,
    )


def plan_reply(
    message: NormalizedMessage, page: PageConfig, reply: Reply, delivery: Delivery, now_ms: int
) -> tuple[list[OutboundCommand], list[Fact]]:
    """Commands (an optional typing_on first, then the reply) and their ReplyPlanned facts."""
    commands: list[OutboundCommand] = []
    if page.typing_on:
        commands.append(
            command_for(message, 0, delivery, reply.responder, now_ms, action="typing_on")
        )
    command = command_for(
        message, len(commands), delivery, reply.responder, now_ms, body=reply.message
    )
    commands.append(command)
    fact = ReplyPlanned(
        fact_id=f"plan:{command.command_id}",
        command_id=command.command_id,
        event_id=message.event_id,
        page_id=message.page_id,
        conversation_id=message.conversation_id,
        responder=reply.responder,
        rule_id=reply.rule_id,
        planned_at_ms=now_ms,
        event_received_at_ms=message.received_at_ms,
        messaging_type=delivery.messaging_type,
    )
    return commands, [fact]


class Processor:
    """Decisions for one message; `pages()` gives the current pages file (it reloads)."""

    def __init__(
        self,
        settings: ProcessorSettings,
        pages: Callable[[], PagesConfig],
        llm: LlmResponder | None = None,
    ) -> None:
        self.settings, self.pages, self.llm = settings, pages, llm
        self.dedupe_window_ms = int(settings.dedupe_window_s * 1000)
        self.rate_window_ms = int(settings.rate_limit_window_s * 1000)

    def receive(
        self, state: ConversationState, message: NormalizedMessage
    ) -> tuple[ConversationState, bool, bool]:
        """(new state, duplicate?, rate limited?) — the pure part before any responder."""
        clock = message.received_at_ms
        if is_duplicate(state, message.event_id, clock, self.dedupe_window_ms):
            return state, True, False
        seen = remember(
            state, message.event_id, clock, self.dedupe_window_ms, self.settings.dedupe_max_ids
        )
        state = replace(apply_message(state, message, self.settings.history_size), seen=seen)
        if not wants_reply(message):
            return state, False, False
        rate = rate_limit(
            state.recent_replies_ms,
            message.event_time_ms,
            self.settings.rate_limit_count,
            self.rate_window_ms,
        )
        return replace(state, recent_replies_ms=rate.recent_ms), False, not rate.allowed

    async def respond(
        self, page: PageConfig, message: NormalizedMessage, state: ConversationState
    ) -> Reply | None:
        if page.responder == "llm" and self.llm is not None:
            return await self.llm.reply(page, message, state.history)
        if page.responder == "rules":
            return match_rules(page, message)
        return None

    def silent_because(self, page: PageConfig) -> str:
        """Why `respond` gave no reply for this page (a `no_reply` reason)."""
        if page.responder == "none":
            return "responder_none"
        if page.responder == "llm" and self.llm is None:
            return "responder_unavailable"
        return "no_rule_matched"

    async def process(
        self,
        state: ConversationState,
        message: NormalizedMessage,
        now_ms: int,
        origin: Origin = NO_ORIGIN,
    ) -> Outcome:
        state, duplicate, limited = self.receive(state, message)
        if duplicate:  # the state is as it was: it says when the processed copy arrived
            seen_at = state.seen.get(dedupe_key(message.event_id), 0)
            return Outcome(state, duplicate=True, first_seen_ms=seen_at)
        why = not_replyable(message)
        page = self.pages().page(message.page_id) if not why else None
        if not why:
            why = "rate_limited" if limited else "page_not_configured" if page is None else ""
        if why or page is None:
            return Outcome(state, facts=(received_fact(message, now_ms, limited, why, origin),))
        delivery = delivery_for(state.last_inbound_ms, now_ms, page.outside_window_tag)
        if delivery is None:
            fact = received_fact(message, now_ms, False, "outside_window", origin)
            return Outcome(state, facts=(fact,))
        reply = await self.respond(page, message, state)
        if reply is None:
            why = self.silent_because(page)
            return Outcome(state, facts=(received_fact(message, now_ms, False, why, origin),))
        commands, planned = plan_reply(message, page, reply, delivery, now_ms)
        facts: list[Fact] = [received_fact(message, now_ms, False, "", origin), *planned]
        return Outcome(state, commands=tuple(commands), facts=tuple(facts))
