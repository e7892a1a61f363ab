"""The sender against the sandbox over real HTTP and the embedded broker.

One sender runs for the whole module (a group join takes seconds on the embedded broker); each
test uses its own pages and conversations, and sets its own faults on its pages.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, replace

import pytest
import pytest_asyncio

from hookstream.embedded.tansu import EmbeddedBroker
from hookstream.runtime.kafka import ensure_topics
from hookstream.runtime.pages import PageConfig, PagesConfig
from hookstream.runtime.settings import Secret, Settings
from hookstream.sandbox.app import Sandbox
from senders.service import Sender
from tests.conftest import kafka_settings_for, settings_for
from tests.support.sender_rig import (
    command,
    command_ids,
    dead_letters,
    deliveries,
    expected_texts,
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

ORDER_PAGES = ("1101", "1102")
THROTTLED, STOPPED, RUNNING, PERMANENT, TYPING = "1201", "1301", "1302", "1401", "1501"
NO_TOKEN = "1601"


def rig_pages() -> PagesConfig:
    ids = (*ORDER_PAGES, THROTTLED, STOPPED, RUNNING, PERMANENT)
    pages = {pid: PageConfig(pid, access_token=Secret(f"token-{pid}")) for pid in ids}
    pages[TYPING] = PageConfig(TYPING, access_token=Secret("token-typing"), typing_on=True)
    pages[NO_TOKEN] = PageConfig(NO_TOKEN, access_token_ref="env:PAGE_1601_TOKEN")
    return PagesConfig(pages)


@dataclass
class Rig:
    settings: Settings
    sandbox: Sandbox
    url: str
    sender: Sender


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def rig(broker: EmbeddedBroker) -> AsyncIterator[Rig]:
    kafka = kafka_settings_for(broker)
    await ensure_topics(kafka)
    pages = rig_pages()
    async with sandbox_and_url(pages) as (sandbox, url):
        settings = sender_settings(settings_for(kafka), url)
        async with running_sender(settings, pages) as sender:
            yield Rig(settings, sandbox, url, sender)


async def test_order_per_conversation_under_temporary_errors(rig: Rig) -> None:
    commands = [
        command(page, f"u{user}", i) for i in range(15) for page in ORDER_PAGES for user in range(4)
    ]
    for page in ORDER_PAGES:
        await set_faults(
            rig.url,
            [
                {"page_id": page, "code": 2, "rate": 0.25},
                {"page_id": page, "status": 502, "rate": 0.1},
                {"page_id": page, "code": 1200, "rate": 0.05},
            ],
        )
    await produce(rig.settings.kafka, commands)
    await wait_for(
        lambda: sum(len(sent_messages(rig.sandbox, p)) for p in ORDER_PAGES) >= len(commands),
        "deliveries",
    )
    received = [m for p in ORDER_PAGES for m in sent_messages(rig.sandbox, p)]
    assert sorted(command_ids(received)) == sorted(c.command_id for c in commands)
    assert texts_by_conversation(received) == expected_texts(commands)
    assert rig.sender.metrics.retries.labels("temporary")._value.get() > 0
    facts = [f for f in await deliveries(rig.settings.kafka) if f.page_id in ORDER_PAGES]
    delivered = {f.command_id for f in facts if f.status == "delivered"}
    assert delivered == {c.command_id for c in commands}
    assert any(f.status == "retried" and f.error_code == 2 for f in facts)
    assert all(f.latency_ms >= 0 and f.message_id for f in facts if f.status == "delivered")


async def test_throttling_slows_the_page_down_and_recovers(rig: Rig) -> None:
    commands = [command(THROTTLED, f"t{user}", i) for i in range(10) for user in range(3)]
    await set_faults(
        rig.url,
        [
            {"page_id": THROTTLED, "code": 613, "count": 4},
            {"page_id": THROTTLED, "code": 4, "count": 2},
        ],
    )
    await produce(rig.settings.kafka, commands)
    await wait_for(
        lambda: len(sent_messages(rig.sandbox, THROTTLED)) >= len(commands),
        "throttled page delivered",
    )
    received = sent_messages(rig.sandbox, THROTTLED)
    assert texts_by_conversation(received) == expected_texts(commands)
    assert rig.sandbox.store.counts["error_613"] == 4
    assert rig.sender.metrics.retries.labels("throttled")._value.get() >= 6
    assert rig.sender.deliverer is not None
    bucket = rig.sender.deliverer.buckets[THROTTLED]
    lowest = rig.sender.metrics.page_rate.labels(THROTTLED)._value.get()
    assert 0 < lowest < bucket.max_rate  # slowed down
    await wait_for(lambda: bucket.refresh() >= bucket.max_rate, "rate recovered", 30)


async def test_invalid_token_stops_one_page_and_not_the_others(rig: Rig) -> None:
    stopped = [command(STOPPED, f"s{user}", i) for i in range(3) for user in range(2)]
    running = [command(RUNNING, f"r{user}", i) for i in range(3) for user in range(2)]
    await set_faults(rig.url, [{"page_id": STOPPED, "code": 190}])
    await produce(rig.settings.kafka, stopped + running)
    await wait_for(lambda: len(sent_messages(rig.sandbox, RUNNING)) >= len(running), "running")
    gauge = rig.sender.metrics.page_stopped.labels(STOPPED)
    await wait_for(lambda: gauge._value.get() == 1, "page stopped")
    await wait_for(lambda: rig.sender.metrics.held._value.get() >= 2, "commands held")
    assert sent_messages(rig.sandbox, STOPPED) == []
    assert rig.sender.metrics.page_stopped.labels(RUNNING)._value.get() == 0
    await set_faults(rig.url, [])  # the token works again: the next probe resumes the page
    await wait_for(lambda: len(sent_messages(rig.sandbox, STOPPED)) >= len(stopped), "resumed")
    assert texts_by_conversation(sent_messages(rig.sandbox, STOPPED)) == expected_texts(stopped)
    assert gauge._value.get() == 0
    letters = [d for d in await dead_letters(rig.settings.kafka) if d.page_id == STOPPED]
    assert letters == []
    facts = [f for f in await deliveries(rig.settings.kafka) if f.page_id == STOPPED]
    assert {f.command_id for f in facts if f.status == "held"} <= {c.command_id for c in stopped}
    assert any(f.status == "held" and f.error_code == 190 for f in facts)


async def test_permanent_errors_and_bad_input_go_to_dlq(rig: Rig) -> None:
    await set_faults(
        rig.url,
        [
            {"page_id": PERMANENT, "code": 551, "count": 2},
            {"page_id": PERMANENT, "code": 10, "subcode": 2018278, "count": 1},
        ],
    )
    failing = [command(PERMANENT, f"p{user}", 0) for user in range(3)]
    await produce(rig.settings.kafka, failing)
    await wait_for(lambda: rig.sandbox.store.counts["error_10"] == 1, "permanent errors")
    await produce_raw(rig.settings.kafka, f"{PERMANENT}:p0".encode(), b"{not json")
    too_many = [{"content_type": "text", "title": f"q{i}", "payload": "Q"} for i in range(14)]
    invalid = replace(
        command(PERMANENT, "p0", 1), message={"text": "hi", "quick_replies": too_many}
    )
    bad = [command("9999", "x", 0), command(NO_TOKEN, "x", 0), invalid]
    await produce(rig.settings.kafka, bad)
    after = command(PERMANENT, "p0", 2)  # behind the bad ones in the same conversation
    await produce(rig.settings.kafka, [after])
    await wait_for(lambda: len(sent_messages(rig.sandbox, PERMANENT)) >= 1, "next delivered")
    assert command_ids(sent_messages(rig.sandbox, PERMANENT)) == [after.command_id]
    assert rig.sandbox.store.counts["error_551"] == 2  # never retried
    reasons = sorted(
        d.reason
        for d in await dead_letters(rig.settings.kafka, expected=7)
        if d.page_id in (PERMANENT, NO_TOKEN, "9999", "")
    )
    assert reasons == sorted(
        [
            "person_unavailable",
            "person_unavailable",
            "outside_window",
            "invalid_command",
            "unknown_page",
            "page_without_token",
            "invalid_command",
        ]
    )


async def test_long_text_is_split_after_typing_on_and_attachments_go_out(rig: Rig) -> None:
    words = " ".join(f"word{i:04d}" for i in range(500))  # 4,499 characters
    quick = [{"content_type": "text", "title": "Yes", "payload": "YES"}]
    long_text = replace(command(TYPING, "y", 0), message={"text": words, "quick_replies": quick})
    by_url = replace(
        command(TYPING, "y", 1),
        message={"attachment": {"type": "image", "payload": {"url": "https://example.com/a.png"}}},
    )
    seen = replace(command(TYPING, "y", 2), message=None, sender_action="mark_seen")
    await produce(rig.settings.kafka, [long_text, by_url, seen])
    await wait_for(
        lambda: any(m["sender_action"] == "mark_seen" for m in rig.sandbox.store.select(TYPING)),
        "all sent",
    )
    calls = rig.sandbox.store.select(TYPING)
    kinds = [m["sender_action"] or ("text" if m["text"] else "attachment") for m in calls]
    assert kinds == ["typing_on", "text", "text", "text", "typing_on", "attachment", "mark_seen"]
    parts = [m for m in calls if m["text"]]
    assert all(len(m["text"]) <= 2000 for m in parts)
    assert " ".join(m["text"] for m in parts) == words
    assert [bool(m["quick_replies"]) for m in parts] == [False, False, True]
