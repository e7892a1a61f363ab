"""`hookstream reprocess --as NEW` beside a stack (its stack file only): the range of inbound is
replayed into a new group by the processors run in that command, with the stack's pages; they
plan the replies; the command exits when done, and the finished group can be deleted."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from pathlib import Path

import orjson
import pytest
from aiokafka import TopicPartition

from hookstream.embedded import stack_file
from hookstream.runtime.kafka import new_consumer, new_producer
from hookstream.runtime.settings import KafkaSettings
from ingress.splitter import split
from tests.support.kafka import read_topic
from tests.support.processors_rig import PAGES_YAML

pytestmark = [pytest.mark.integration, pytest.mark.slow]


async def produce_inbound(settings: KafkaSettings, users: int) -> None:
    now = int(time.time() * 1000)
    body = {
        "object": "page",
        "entry": [
            {
                "id": "1001",
                "time": now,
                "messaging": [
                    {
                        "sender": {"id": f"u{i}"},
                        "recipient": {"id": "1001"},
                        "timestamp": now,
                        "message": {"mid": f"m-reprocess-{i}", "text": "what price?"},
                    }
                    for i in range(users)
                ],
            }
        ],
    }
    producer = new_producer(settings, linger_ms=0)
    await producer.start()
    try:
        for record in split(body, now, "r-reprocess"):
            await producer.send_and_wait(settings.topic("inbound"), record.value, key=record.key)
    finally:
        await producer.stop()


def cli_env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HOOKSTREAM_", "KAFKA_"))}
    env.update(
        HOOKSTREAM_PROCESSORS_SESSION_TIMEOUT_S="6",
        HOOKSTREAM_PROCESSORS_BATCH_WITHIN_S="0.02",
        HOOKSTREAM_PROCESSORS_RATE_LIMIT_COUNT="1000000",
    )
    return env


def hookstream(cwd: Path, env: dict[str, str], *argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "hookstream", *argv],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )


async def test_reprocess_into_a_new_group_with_the_stacks_pages(
    kafka_settings: KafkaSettings, tmp_path: Path
) -> None:
    pages = tmp_path / "pages.yaml"
    pages.write_text(PAGES_YAML)
    stack_file.write(
        tmp_path / ".hookstream",
        bootstrap_servers=kafka_settings.bootstrap_servers,
        broker="embedded",
        idempotence=False,
        clickhouse_url="chdb://./.hookstream/analytics",
        topic_prefix=kafka_settings.topic_prefix,
        pages_file=pages,
        ports={},
        partitions=kafka_settings.partitions,
    )
    await produce_inbound(kafka_settings, 6)
    env, group = cli_env(tmp_path), f"{kafka_settings.topic_prefix}processors-v2"

    planned = await asyncio.to_thread(
        hookstream, tmp_path, env, "reprocess", "--as", group, "--from", "earliest", "--dry-run"
    )
    assert planned.returncode == 0, planned.stderr
    assert "6 record(s) to reprocess" in planned.stdout and "dry run" in planned.stdout

    done = await asyncio.to_thread(
        hookstream, tmp_path, env, "reprocess", "--as", group, "--from", "earliest"
    )
    assert done.returncode == 0, done.stdout + done.stderr[-3000:]
    assert f"done: 6 record(s) reprocessed as group {group}" in done.stdout
    assert "0 pages configured" not in done.stderr
    outbound = await read_topic(kafka_settings, "outbound", expected=6)
    replies = [orjson.loads(r.value or b"{}") for r in outbound]
    assert sorted(r["recipient_id"] for r in replies) == [f"u{i}" for i in range(6)]
    assert {r["message"]["text"] for r in replies} == {"Plans start at 9 EUR."}

    again = await asyncio.to_thread(
        hookstream, tmp_path, env, "reprocess", "--as", group, "--from", "earliest"
    )
    assert again.returncode == 1 and "already has committed offsets" in again.stderr

    deleted = await asyncio.to_thread(hookstream, tmp_path, env, "groups", "delete", group)
    assert deleted.returncode == 0, deleted.stderr
    assert deleted.stdout.strip() == f"deleted group {group}"
    reader = new_consumer(kafka_settings, group_id=group)
    await reader.start()
    try:
        tp = TopicPartition(kafka_settings.topic("inbound"), 0)
        assert await reader.committed(tp) is None
    finally:
        await reader.stop()


async def test_processors_without_pages_warn_and_name_the_file(
    kafka_settings: KafkaSettings, tmp_path: Path
) -> None:
    """No stack file, no pages.yaml here: the warning names what was looked for."""
    env = cli_env(tmp_path)
    env.update(
        KAFKA_BOOTSTRAP_SERVERS=kafka_settings.bootstrap_servers,
        KAFKA_ENABLE_IDEMPOTENCE="false",
        HOOKSTREAM_TOPIC_PREFIX=kafka_settings.topic_prefix,
        HOOKSTREAM_LOG_FORMAT="text",
    )
    child = subprocess.Popen(
        [sys.executable, "-m", "hookstream", "processors", "--as", "no-pages", "--port", "0"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stderr is not None
        line = await asyncio.wait_for(asyncio.to_thread(first_warning, child.stderr), 60)
    finally:
        child.terminate()
        child.wait(30)
        if child.stderr is not None:
            child.stderr.close()
    assert "0 pages configured" in line
    assert f"{tmp_path / 'pages.yaml'} does not exist" in line


def first_warning(stream: object) -> str:
    for line in stream:  # type: ignore[attr-defined]
        if "processors_no_pages" in line:
            return str(line)
    return ""
