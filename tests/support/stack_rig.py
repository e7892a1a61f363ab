"""`hookstream up`'s stack around a sink, and the CLI tools run beside it as a user runs them."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import orjson

from hookstream.embedded.apache_kafka import ApacheKafka
from hookstream.embedded.processes import free_port
from hookstream.embedded.stack import ServiceSpec, Stack
from hookstream.embedded.tansu import EmbeddedBroker
from hookstream.runtime.settings import KafkaSettings
from tests.support.sink_rig import encoded, message, produce

# what the tools must not inherit from the test's environment: they find the stack themselves
_OWN = ("KAFKA_", "HOOKSTREAM_", "CLICKHOUSE_", "GRAPH_", "INSTAGRAM_")


def sink_stack(state_dir: Path, broker: EmbeddedBroker | ApacheKafka | None = None) -> Stack:
    """A stack of the broker and one sink (what stats and trace read), on free ports."""
    return Stack(
        settings_env={},
        partitions=2,
        state_dir=state_dir,
        services=(ServiceSpec("sink", free_port(), "analytics -> ClickHouse"),),
        broker=broker if broker is not None else EmbeddedBroker(port=free_port()),
    )


def send_message(stack: Stack, i: int) -> str:
    """One inbound message fact (now) onto the stack's analytics topic; its conversation id."""
    kafka = KafkaSettings(
        bootstrap_servers=stack.broker.bootstrap_servers,
        enable_idempotence=stack.broker.idempotence,
    )
    fact = message(i, "1001", at_ms=int(time.time() * 1000))
    asyncio.run(produce(kafka, encoded([fact])))
    return fact.conversation_id


def tool(state_dir: Path, *argv: str) -> subprocess.CompletedProcess[str]:
    """`hookstream <argv>` as a user runs it beside the stack (found through its stack file)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(_OWN)}
    env["HOOKSTREAM_STATE_DIR"] = str(state_dir)
    return subprocess.run(
        [sys.executable, "-m", "hookstream", *argv],
        env=env,
        cwd=state_dir,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def stats(state_dir: Path) -> dict[str, Any] | None:
    """`stats --json --since 1h`, None while the sink cannot answer yet."""
    done = tool(state_dir, "stats", "--json", "--since", "1h")
    if done.returncode != 0:
        return None
    answer: dict[str, Any] = orjson.loads(done.stdout)
    return answer


def wait_stored(state_dir: Path, events: int, timeout_s: float = 90.0) -> dict[str, Any]:
    """stats once at least `events` are stored (the sink consumes in the background)."""
    deadline = time.monotonic() + timeout_s
    while True:
        answer = stats(state_dir)
        if answer is not None and answer["events"] >= events:
            return answer
        assert time.monotonic() < deadline, f"not {events} events stored in time: {answer}"
        time.sleep(0.5)


def traced(state_dir: Path, conversation: str) -> bool:
    """`trace <conversation>` finds it (exit 0) or says there is none (exit 1, not an error)."""
    done = tool(state_dir, "trace", conversation, "--json")
    assert done.returncode in (0, 1), done.stderr
    assert "Traceback" not in done.stderr, done.stderr
    return done.returncode == 0
