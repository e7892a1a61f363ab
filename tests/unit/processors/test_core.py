from __future__ import annotations

from dataclasses import replace

from hookstream.runtime.settings import ProcessorSettings
from processors.core import Outcome, Processor
from processors.normalize import normalize
from processors.state import ConversationState
from schemas.analytics import MessageReceived, ReplyPlanned
from schemas.commands import command_id_for
from tests.support.meta_samples import MESSENGER
from tests.support.processors_unit import T0, messaging, pages, postback, text_message

SETTINGS = ProcessorSettings(rate_limit_count=3, rate_limit_window_s=60)


def processor() -> Processor:
    config = pages()
    return Processor(SETTINGS, lambda: config)


async def test_a_message_gives_one_command_with_a_deterministic_id_and_two_facts() -> None:
    message = text_message("m1", "price?")
    outcome = await processor().process(ConversationState(), message, T0 + 100)
    [command] = outcome.commands
    assert command.command_id == command_id_for("message:m1", 0)
    assert (command.page_id, command.recipient_id, command.messaging_type) == (
        "1001",
        "2002",
        "RESPONSE",
    )
    assert command.message is not None and command.message["text"] == "Plans start at 9 EUR."
    received, planned = outcome.facts
    assert isinstance(received, MessageReceived) and received.fact_id == "msg:message:m1"
    assert received.text_length == 6 and received.processed_at_ms == T0 + 100
    assert isinstance(planned, ReplyPlanned)
    assert planned.fact_id == f"plan:{command.command_id}" and planned.rule_id == "pricing"


async def test_replaying_gives_the_same_ids() -> None:
    first = await processor().process(ConversationState(), text_message("m1", "hi"), T0)
    again = await processor().process(ConversationState(), text_message("m1", "hi"), T0 + 999)
    assert [c.command_id for c in first.commands] == [c.command_id for c in again.commands]
    assert [f.fact_id for f in first.facts] == [f.fact_id for f in again.facts]


async def test_a_redelivery_is_a_duplicate_with_no_output() -> None:
    p = processor()
    first = await p.process(ConversationState(), text_message("m1", "hi"), T0)
    redelivered = text_message("m1", "hi", received_at_ms=T0 + 60_000)
    second = await p.process(first.state, redelivered, T0 + 60_000)
    assert second.duplicate and not second.commands and not second.facts
    assert second.first_seen_ms == T0  # the copy that was processed (the batch's fact says it)


def no_reply(outcome: Outcome) -> str:
    [received] = [f for f in outcome.facts if isinstance(f, MessageReceived)]
    return received.no_reply


async def test_every_path_without_a_reply_names_its_reason() -> None:
    p = processor()
    answered = await p.process(ConversationState(), text_message("m0", "price"), T0)
    assert answered.commands and no_reply(answered) == ""
    unknown = replace(text_message("m1", "hi"), page_id="7777", conversation_id="7777:2002")
    silent = replace(text_message("m2", "hi"), page_id="1002", conversation_id="1002:2002")
    standby = replace(text_message("m3", "hi"), source="standby")
    late = T0 + 24 * 3600 * 1000
    echo = next(s[1] for s in MESSENGER if s[0] == "echo")
    cases = [
        (unknown, T0, "page_not_configured"),
        (silent, T0, "responder_none"),
        (standby, T0, "standby"),
        (text_message("m4", "hi", at_ms=T0), late, "outside_window"),
        (normalize(messaging(echo)), T0, "not_replyable"),
    ]
    for message, now, reason in cases:
        outcome = await p.process(ConversationState(), message, now)
        assert not outcome.commands and no_reply(outcome) == reason, reason


async def test_no_rule_and_no_fallback_and_an_llm_page_without_the_llm() -> None:
    config = pages()
    base = config.page("1001")
    assert base is not None
    bare = replace(base, fallback=None)
    llm = replace(base, responder="llm")
    by_id = {"1001": bare, "1004": llm}
    p = Processor(SETTINGS, lambda: replace(config, pages={**config.pages, **by_id}))
    outcome = await p.process(ConversationState(), text_message("m1", "nothing known"), T0)
    assert not outcome.commands and no_reply(outcome) == "no_rule_matched"
    other = replace(text_message("m2", "hi"), page_id="1004", conversation_id="1004:2002")
    outcome = await p.process(ConversationState(), other, T0)
    assert not outcome.commands and no_reply(outcome) == "responder_unavailable"


async def test_echoes_reads_deliveries_and_reactions_never_get_replies() -> None:
    for name in ("echo", "read", "delivery", "reaction", "unreaction"):
        event = next(s[1] for s in MESSENGER if s[0] == name)
        outcome = await processor().process(ConversationState(), normalize(messaging(event)), T0)
        assert not outcome.commands, name
        assert len(outcome.facts) == 1


async def test_pages_without_config_or_with_responder_none_are_recorded_not_answered() -> None:
    unknown = replace(text_message("m1", "hi"), page_id="7777", conversation_id="7777:2002")
    silent = replace(text_message("m2", "hi"), page_id="1002", conversation_id="1002:2002")
    for message in (unknown, silent):
        outcome = await processor().process(ConversationState(), message, T0)
        assert not outcome.commands and len(outcome.facts) == 1


async def test_over_the_rate_limit_no_reply_but_the_message_is_recorded() -> None:
    p, state = processor(), ConversationState()
    answered = []
    for i in range(4):
        outcome = await p.process(state, text_message(f"m{i}", "hi", at_ms=T0 + i), T0 + i)
        state = outcome.state
        answered.append(bool(outcome.commands))
        received = outcome.facts[0]
        assert isinstance(received, MessageReceived)
        assert received.rate_limited == (i == 3)
        assert received.no_reply == ("rate_limited" if i == 3 else "")
    assert answered == [True, True, True, False]
    later = await p.process(state, text_message("m9", "hi", at_ms=T0 + 60_000), T0 + 60_000)
    assert later.commands


async def test_outside_the_window_no_reply_unless_the_page_has_a_tag() -> None:
    late = T0 + 24 * 3600 * 1000
    old = text_message("m1", "hi", at_ms=T0)
    assert not (await processor().process(ConversationState(), old, late)).commands
    tagged = replace(old, page_id="1003", conversation_id="1003:2002")
    outcome = await processor().process(ConversationState(), tagged, late)
    typing, reply = outcome.commands
    assert typing.sender_action == "typing_on" and typing.reply_index == 0
    assert (reply.messaging_type, reply.tag, reply.reply_index) == ("MESSAGE_TAG", "HUMAN_AGENT", 1)
    assert reply.command_id == command_id_for("message:m1", 1)


async def test_postback_payload_rule() -> None:
    outcome = await processor().process(ConversationState(), postback("p1", "GET_STARTED"), T0)
    assert outcome.commands[0].message == {"text": "Welcome!"}
