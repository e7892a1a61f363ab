"""HOOKSTREAM_SENDER_STOPPED_PAGE_DLQ_AFTER_S against the sandbox over real HTTP and the embedded
broker: a page stopped by error 190 keeps its commands waiting, dead-letters them once they
waited the configured time, and the other pages keep delivering meanwhile."""

from __future__ import annotations

import pytest

from hookstream.runtime.settings import Settings
from schemas.analytics import DeliveryResult
from schemas.commands import decode_command
from tests.support import sender_rig as rig
from tests.support.sender_rig import PAGE_A, PAGE_B, command

pytestmark = pytest.mark.integration

DLQ_AFTER_S = 3.0


def first_held_ms(facts: list[DeliveryResult], page_id: str) -> int:
    return min(f.finished_at_ms for f in facts if f.status == "held" and f.page_id == page_id)


async def test_a_stopped_page_dead_letters_its_waiting_commands_after_the_set_time(
    settings: Settings,
) -> None:
    pages = rig.make_pages()
    stopped = [command(PAGE_A, f"s{user}", i) for i in range(3) for user in range(2)]
    running = [command(PAGE_B, f"r{user}", i) for i in range(3) for user in range(2)]
    late = [command(PAGE_B, "late", i) for i in range(3)]
    async with rig.sandbox_and_url(pages) as (sandbox, url):
        await rig.set_faults(url, [{"page_id": PAGE_A, "code": 190}])
        # The probe would come long after: only the time limit ends the wait.
        config = rig.sender_settings(
            settings, url, stopped_page_dlq_after_s=DLQ_AFTER_S, stopped_page_probe_s=120.0
        )
        async with rig.running_sender(config, pages) as sender:
            metrics = sender.metrics
            await rig.produce(settings.kafka, stopped + running)
            await rig.wait_for(
                lambda: metrics.page_stopped.labels(PAGE_A)._value.get() == 1, "page stopped"
            )
            await rig.wait_for(lambda: metrics.held._value.get() >= 2, "commands held")
            assert metrics.outcomes.labels("dead_lettered")._value.get() == 0  # still waiting
            await rig.produce(settings.kafka, late)  # the other page is not held up
            await rig.wait_for(
                lambda: len(rig.sent_messages(sandbox, PAGE_B)) >= len(running + late),
                "other page delivered",
            )
            letters = await rig.dead_letters(settings.kafka, expected=len(stopped))
            await rig.wait_for(lambda: metrics.held._value.get() == 0, "nothing held")
    assert sorted(decode_command(d.original_value.encode()).command_id for d in letters) == sorted(
        c.command_id for c in stopped
    )
    assert {(d.reason, d.page_id, d.service) for d in letters} == {
        ("page_stopped", PAGE_A, "sender")
    }
    assert rig.sent_messages(sandbox, PAGE_A) == []
    assert sandbox.store.counts["error_190"] <= 2  # one call per conversation, no retry loop
    facts = await rig.deliveries(settings.kafka)
    dead = [f for f in facts if f.status == "dead_lettered"]
    assert sorted(f.command_id for f in dead) == sorted(c.command_id for c in stopped)
    assert all(f.error_code == 190 for f in dead)
    waited_ms = min(f.finished_at_ms for f in dead) - first_held_ms(facts, PAGE_A)
    assert waited_ms >= DLQ_AFTER_S * 1000 - 100  # the wall clock of the facts, not monotonic
    delivered = {f.command_id for f in facts if f.status == "delivered"}
    assert delivered == {c.command_id for c in running + late}
