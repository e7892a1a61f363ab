"""The operator's canonical replay, on the suite's broker (real Apache Kafka by default):

    stop the processors
    hookstream replay --group <their group> --topic inbound --from <time> --execute
    start them again

The range from <time> is re-normalized and re-planned (its command ids appear on `outbound` a
second time), yet nothing reaches a user twice (the sender's ledger) and nothing is counted twice
in ClickHouse (deterministic fact ids). Everything before <time> is left alone.
"""

from __future__ import annotations

import collections
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest

from hookstream.runtime.settings import KafkaSettings
from schemas.commands import decode_command
from tests.support.faults_rig import (
    assert_counts,
    clickhouse_counts,
    expected_command_id,
    http_status,
    pipeline_drained,
    pipeline_on,
    post_messages,
    processors_group,
    read_to_end,
    until,
)

# Generous: the machine is shared; on a quiet one each test takes a fraction of this.
pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(900)]

BEFORE, AFTER = 12, 16  # messages before and after the replay's --from time


def replay(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    argv = [sys.executable, "-m", "hookstream", "replay", *args]
    return subprocess.run(argv, env=env, capture_output=True, text=True, timeout=120, check=False)


def iso(at_ms: int) -> str:
    return datetime.fromtimestamp(at_ms / 1000, UTC).isoformat(timespec="milliseconds")


async def outbound_counts(kafka: KafkaSettings) -> collections.Counter[str]:
    records = await read_to_end(kafka, "outbound")
    return collections.Counter(decode_command(r.value).command_id for r in records if r.value)


async def test_stop_replay_from_a_time_start_replans_the_range_once_to_users(
    kafka_settings: KafkaSettings, broker: object, tmp_path: Path
) -> None:
    if not getattr(broker, "real_kafka", False):
        pytest.skip("the canonical replay of a stopped live group needs real Kafka")
    kafka = kafka_settings
    clickhouse = f"chdb://{tmp_path / 'chdb'}"
    run_id = uuid.uuid4().hex[:6]
    async with pipeline_on(kafka, tmp_path, clickhouse) as (pipe, sandbox):
        env = pipe.env
        early = await post_messages(pipe.webhook_url, run_id, 0, BEFORE)
        await until(lambda: pipeline_drained(kafka), "the first messages handled", 120)
        since_ms = int(time.time() * 1000)
        await until(lambda: int(time.time() * 1000) > since_ms, "the clock to move on")
        late = await post_messages(pipe.webhook_url, run_id, BEFORE, AFTER)
        everything = early + late
        # The complete pre-replay state: every reply delivered, every fact stored.
        expected = {expected_command_id(m) for m in everything}
        await until(lambda: set(sandbox.counts()) >= expected, "every reply delivered", 120)
        await until(lambda: pipeline_drained(kafka), "every fact stored", 120)
        pipe["sink"].stop()  # one process per chDB path: count while the sink is down
        before = clickhouse_counts(clickhouse)
        pipe["sink"].start()
        await pipe["sink"].ready(90)

        pipe["processors"].stop()  # the operator stops the processors (SIGTERM)
        group = processors_group(kafka)
        args = ("--group", group, "--topic", "inbound", "--from", iso(since_ms))
        dry = replay(env, *args)
        assert dry.returncode == 0, dry.stderr[-2000:]
        done = replay(env, *args, "--execute")
        assert done.returncode == 0, (done.stdout + done.stderr)[-2000:]
        pipe["processors"].start()
        await pipe["processors"].ready(90)

        replanned = {expected_command_id(m) for m in late}
        await until(lambda: _planned_twice(kafka, replanned), "the range re-planned", 120)
        await until(lambda: pipeline_drained(kafka), "the replay handled", 120)
        assert await http_status(f"{pipe['sender'].url}/healthz") == 200
        planned = await outbound_counts(kafka)
        dead = await read_to_end(kafka, "dlq")
        pipe.stop()
        sent = sandbox.counts()
    after = clickhouse_counts(clickhouse)
    n = len(everything)
    print(
        f"\ncanonical replay: {n} messages, {len(late)} replayed; outbound {sum(planned.values())}"
        f" records (copies per command: {dict(collections.Counter(planned.values()))});"
        f" sends {sum(sent.values())}; clickhouse before {before} after {after};"
        f" plan: {dry.stdout.strip()}"
    )
    # Planning is at least once (a worker may process a record again, e.g. after faust seeks
    # its partitions back to the committed offsets): the range again, and nothing else.
    assert set(planned) == expected
    assert {cid for cid, k in planned.items() if k >= 2} == replanned, "the range re-planned"
    assert {cid for cid, k in planned.items() if k == 1} == expected - replanned
    assert set(sent) == expected and sum(sent.values()) == n, "a reply reached a user twice"
    assert_counts(before, n)
    assert {k: v for k, v in after.items() if k != "skipped_duplicate"} == {
        k: v for k, v in before.items() if k != "skipped_duplicate"
    }, "the replay changed what ClickHouse counts"
    assert after["skipped_duplicate"] == len(late), "each replayed reply skipped once"
    assert dead == []


async def _planned_twice(kafka: KafkaSettings, ids: set[str]) -> bool:
    counts = await outbound_counts(kafka)
    return all(counts[cid] >= 2 for cid in ids)
