"""Send API outages, stale replies and poison commands: the sender against the sandbox over real
HTTP and the session's broker. Outages are the sandbox's fault injection (every call of a page
fails), switched on and off by the test; budgets are short (a 10 s outage, a 30 s budget)."""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace
from typing import Any

import orjson
import pytest

from hookstream.runtime.settings import Settings
from tests.support.sender_rig import (
    command,
    command_ids,
    dead_letters,
    deliveries,
    expected_texts,
    make_pages,
    produce,
    produce_raw,
    running_sender,
    sandbox_and_url,
    sender_settings,
    sent_messages,
    set_faults,
    texts_by_conversation,
    wait_for,
)

pytestmark = pytest.mark.integration

DOWN, UP = "4101", "4102"
OUTAGE_S = 10.0


def outage(page_id: str) -> list[dict[str, Any]]:
    """Every call of the page fails: 503 with HTML, Meta's error 2, and hung calls."""
    return [
        {"page_id": page_id, "status": 503, "rate": 0.4},
        {"page_id": page_id, "code": 2, "timeout_s": 1, "rate": 0.2},
        {"page_id": page_id, "code": 2},
    ]


async def test_an_outage_of_one_page_is_waited_out_in_order_and_nothing_is_sent_twice(
    settings: Settings,
) -> None:
    pages = make_pages(extra=(DOWN, UP))
    down = [command(DOWN, f"d{user}", i) for i in range(6) for user in range(5)]
    up = [command(UP, f"u{user}", i) for i in range(6) for user in range(5)]
    async with sandbox_and_url(pages) as (sandbox, url):
        config = sender_settings(settings, url, retry_budget_s=30.0, backoff_max_s=1.0)
        await set_faults(url, outage(DOWN))
        began = time.monotonic()
        async with running_sender(config, pages) as sender:
            await produce(settings.kafka, [c for pair in zip(down, up, strict=True) for c in pair])
            # The other page's conversations keep flowing while this one is down.
            await wait_for(
                lambda: len(sent_messages(sandbox, UP)) >= len(up), "the page that is up"
            )
            retrying = sender.metrics.retrying
            await wait_for(lambda: retrying._value.get() == 5, "each conversation's head retrying")
            await wait_for(lambda: sandbox.store.counts["rejected"] >= 25, "calls failing")
            assert sent_messages(sandbox, DOWN) == []
            await asyncio.sleep(max(0.0, OUTAGE_S - (time.monotonic() - began)))
            await set_faults(url, [])
            await wait_for(lambda: len(sent_messages(sandbox, DOWN)) >= len(down), "after it", 60)
            await wait_for(lambda: sender.metrics.in_flight._value.get() == 0, "settled")
        received = sent_messages(sandbox, DOWN)
    assert sorted(command_ids(received)) == sorted(c.command_id for c in down)  # once each
    assert texts_by_conversation(received) == expected_texts(down)  # in order per conversation
    assert texts_by_conversation(sent_messages(sandbox, UP)) == expected_texts(up)
    letters = await dead_letters(settings.kafka)
    assert [d for d in letters if d.page_id in (DOWN, UP)] == []
    facts = [f for f in await deliveries(settings.kafka) if f.page_id == DOWN]
    assert {f.command_id for f in facts if f.status == "delivered"} == {c.command_id for c in down}
    assert sum(1 for f in facts if f.status == "retried") >= 25


async def test_replies_that_turn_stale_in_an_outage_are_dead_lettered_not_sent_late(
    settings: Settings,
) -> None:
    pages = make_pages(extra=(DOWN,))
    stale = [command(DOWN, "s", i) for i in range(3)]
    async with sandbox_and_url(pages) as (sandbox, url):
        config = sender_settings(
            settings, url, retry_budget_s=60.0, max_reply_age_s=3.0, backoff_max_s=0.5
        )
        await set_faults(url, outage(DOWN))
        async with running_sender(config, pages) as sender:
            await produce(settings.kafka, stale)
            stale_count = sender.metrics.dead_letters.labels("stale")
            await wait_for(lambda: stale_count._value.get() >= len(stale), "stale replies")
            await set_faults(url, [])
            fresh = command(DOWN, "s", 3)
            await produce(settings.kafka, [fresh])
            await wait_for(lambda: len(sent_messages(sandbox, DOWN)) >= 1, "the fresh reply")
        assert command_ids(sent_messages(sandbox, DOWN)) == [fresh.command_id]
    letters = [d for d in await dead_letters(settings.kafka, expected=3) if d.page_id == DOWN]
    assert [d.reason for d in letters] == ["stale"] * 3
    assert {orjson.loads(d.original_value)["command_id"] for d in letters} == {
        c.command_id for c in stale
    }


def deep_attachment(depth: int) -> bytes:
    """A command whose attachment payload is nested deeper than orjson can write (254)."""
    good = orjson.loads(command(DOWN, "p", 99).encode())
    good["message"] = "@@"
    payload = '{"k":' * depth + '"x"' + "}" * depth
    attachment = f'{{"attachment":{{"type":"template","payload":{payload}}}}}'
    return orjson.dumps(good).replace(b'"@@"', attachment.encode())


async def test_poison_commands_are_dead_lettered_and_their_conversation_goes_on(
    settings: Settings,
) -> None:
    pages = make_pages(extra=(DOWN,))
    key = f"{DOWN}:p".encode()
    good = [command(DOWN, "p", i) for i in range(3)]
    wrong_type = orjson.loads(good[0].encode()) | {"created_at_ms": "yesterday"}
    not_text = replace(good[0], command_id="cmd_not_text", message={"text": {"a": [1]}})
    poison = [
        b"{not json",
        b"\xff\xfe\x00",
        b"[1, 2, 3]",
        b"[" * 1500 + b"]" * 1500,
        orjson.dumps(wrong_type),
        deep_attachment(300),
        not_text.encode(),
    ]
    async with sandbox_and_url(pages) as (sandbox, url):
        async with running_sender(sender_settings(settings, url), pages) as sender:
            await produce(settings.kafka, good[:1])
            for value in poison:
                await produce_raw(settings.kafka, key, value)
            await produce(settings.kafka, good[1:])
            await wait_for(lambda: len(sent_messages(sandbox, DOWN)) >= len(good), "delivered")
            assert sender.ready
        assert command_ids(sent_messages(sandbox, DOWN)) == [c.command_id for c in good]
    letters = await dead_letters(settings.kafka, expected=len(poison))
    assert sorted(d.original_bytes() for d in letters) == sorted(poison)
    assert {d.reason for d in letters} == {"invalid_command"}
    assert all(d.error for d in letters)
