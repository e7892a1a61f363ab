"""The replay guarantee, end to end: replaying `inbound` into a fresh processors group
re-normalizes and re-plans every event (the same command ids appear again on `outbound`), yet
nothing reaches a user twice (the sender's ledger) and nothing is counted twice in ClickHouse."""

from __future__ import annotations

import collections
import subprocess
import sys
from pathlib import Path

import pytest
from clickhouse_connect.driver.client import Client

from hookstream.runtime.pages import load_pages
from hookstream.runtime.settings import KafkaSettings, Settings
from ingress.splitter import split
from schemas.commands import command_id_for, decode_command
from schemas.envelope import decode_envelope
from tests.support.kafka import read_topic
from tests.support.processors_rig import Service, produce, service_env, text_event
from tests.support.sender_rig import (
    command_ids,
    running_sender,
    sandbox_and_url,
    sender_settings,
    sent_messages,
    wait_for,
)
from tests.support.sink_rig import (
    poll,
    running_sink,
    scalar,
    sink_settings,
)

pytestmark = [pytest.mark.integration, pytest.mark.slow]

PAGES = """\
pages:
  "1001":
    access_token: "token-1001"
    rules:
      - name: pricing
        match: {keywords: [price]}
        reply: {text: "Plans start at 9 EUR."}
"""
EVENTS = 20


def inbound_records() -> list[tuple[bytes, bytes]]:
    events = [text_event(f"u{i % 5}", i, "what is the price?") for i in range(EVENTS)]
    body = {"object": "page", "entry": [{"id": "1001", "time": 1, "messaging": events}]}
    return [(r.key, r.value) for r in split(body, 1_767_225_600_000, "replay-test")]


def counts(client: Client) -> dict[str, int]:
    return {
        "messages": scalar(client, "SELECT count() FROM hookstream.messages"),
        "replies": scalar(client, "SELECT count() FROM hookstream.replies"),
        "delivered": scalar(
            client, "SELECT count() FROM hookstream.deliveries WHERE status = 'delivered'"
        ),
        "rollup_events": scalar(client, "SELECT sum(events) FROM hookstream.messages_1m"),
        "rollup_replies": scalar(client, "SELECT sum(replies) FROM hookstream.replies_1m"),
        "rollup_delivered": scalar(
            client, "SELECT sum(outcomes) FROM hookstream.deliveries_1m WHERE status = 'delivered'"
        ),
    }


def skipped(client: Client) -> int:
    return scalar(
        client, "SELECT count() FROM hookstream.deliveries WHERE status = 'skipped_duplicate'"
    )


def replay(env: dict[str, str], group: str, *extra: str) -> str:
    command = ["replay", "--group", group, "--topic", "inbound", "--from", "earliest"]
    argv = [sys.executable, "-m", "hookstream", *command, *extra, "--execute"]
    done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


@pytest.mark.embedded_default  # the whole pipeline on the embedded default, too
async def test_replaying_inbound_replans_but_sends_and_counts_nothing_twice(
    kafka_settings: KafkaSettings,
    chdb_url: str,
    ch: Client,
    tmp_path: Path,
) -> None:
    env = service_env(kafka_settings, tmp_path)
    (tmp_path / "pages.yaml").write_text(PAGES)
    pages = load_pages(tmp_path / "pages.yaml", {})
    live = Service("processors", env, tmp_path).start()
    async with (
        sandbox_and_url(pages) as (sandbox, url),
        running_sink(sink_settings(kafka_settings, chdb_url)),
        running_sender(sender_settings(Settings(kafka=kafka_settings), url), pages),
    ):
        try:
            await live.ready()
            await produce(kafka_settings, inbound_records())
            await wait_for(lambda: len(sent_messages(sandbox)) >= EVENTS, "replies", 120)
            # Every count complete before the snapshot (waiting on one of them once took the
            # snapshot with 18 of 20 replies counted).
            await poll(lambda: set(counts(ch).values()) == {EVENTS}, 60, "facts in ClickHouse")
            before = counts(ch)
        finally:
            live.stop()
        fresh_group = f"{kafka_settings.topic_prefix}processors-v2"
        assert "inbound" in replay(env, fresh_group)
        rerun = Service(
            "processors", {**env, "HOOKSTREAM_PROCESSORS_APP_ID": fresh_group}, tmp_path
        ).start()
        try:
            await rerun.ready()
            outbound = await read_topic(
                kafka_settings, "outbound", expected=2 * EVENTS, timeout_s=120
            )
            # The sender's skips come after the replayed facts of the same conversations.
            await poll(lambda: skipped(ch) >= EVENTS, 90, "skips recorded")
        finally:
            rerun.stop()
        delivered = command_ids(sent_messages(sandbox))
    planned = collections.Counter(decode_command(r.value).command_id for r in outbound)
    assert len(planned) == EVENTS and set(planned.values()) == {2}, "every event re-planned"
    assert sorted(delivered) == sorted(planned), "each reply reached the user exactly once"
    assert before == {key: EVENTS for key in before}
    assert counts(ch) == before, "the replay changed what ClickHouse counts"
    assert skipped(ch) == EVENTS


async def test_bounded_replay_replans_only_the_range(
    kafka_settings: KafkaSettings, tmp_path: Path
) -> None:
    env = service_env(kafka_settings, tmp_path)
    live = Service("processors", env, tmp_path).start()
    try:
        await live.ready()
        await produce(kafka_settings, inbound_records())
        await read_topic(kafka_settings, "outbound", expected=EVENTS, timeout_s=120)
    finally:
        live.stop()
    inbound = await read_topic(kafka_settings, "inbound", expected=EVENTS)
    in_range = {
        command_id_for(decode_envelope(r.value).event_id, 0) for r in inbound if r.offset < 2
    }
    fresh_group = f"{kafka_settings.topic_prefix}processors-bounded"
    replay(env, fresh_group, "--to", "2")
    rerun = Service(
        "processors", {**env, "HOOKSTREAM_PROCESSORS_APP_ID": fresh_group}, tmp_path
    ).start()
    try:
        await rerun.ready()
        skipped_metric = "hookstream_processor_beyond_replay_bound_total"
        await poll(
            lambda: _metric_at_least(rerun, skipped_metric, EVENTS - len(in_range)),
            90,
            "records past the bound acknowledged",
        )
        outbound = await read_topic(kafka_settings, "outbound", idle_s=2.0)
    finally:
        rerun.stop()
    counted = collections.Counter(decode_command(r.value).command_id for r in outbound)
    replanned = {command for command, n in counted.items() if n == 2}
    assert 0 < len(in_range) < EVENTS
    assert replanned == in_range, "exactly the records below the bound were re-planned"
    assert sum(counted.values()) == EVENTS + len(in_range)


async def _metric_at_least(service: Service, name: str, value: int) -> bool:
    current = await service.metric(name)
    return current is not None and current >= value
