"""kill -9 of the processors, the sender, the sink and the ingress in turn, under webhook load,
with exact accounting.

Every service runs as `hookstream <service>` (a child process); the load generator posts signed
webhooks over HTTP and re-posts a body until it gets its 200, as Meta does. Afterwards:

- every webhook answered 200 is on `inbound` (distinct event ids);
- every reply reached the sandbox, and none twice — except a reply whose Send API call the
  killed sender made but did not get to record in its ledger: no Send API call carries an
  idempotency key, so such a call cannot be told from a lost one and is made again. Each sender
  incarnation has its own sandbox port, so those calls are known exactly (accepted through the
  killed incarnation's port, absent from the ledger as the kill left it);
- ClickHouse counts every message, reply and delivery once.

`make chaos` runs the long version: kills in random order for CHAOS_DURATION_S seconds
(default 300) at CHAOS_RATE webhooks/s (default 10), one kill every CHAOS_KILL_EVERY_S
(default 15).
"""

from __future__ import annotations

import asyncio
import os
import random
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from hookstream.runtime.settings import KafkaSettings
from tests.support.faults_rig import (
    Pipeline,
    SandboxRig,
    WebhookLoad,
    account,
    assert_counts,
    clickhouse_counts,
    ledger_keys,
    pipeline_on,
    settle,
    until,
)

# Generous: the machine is shared; on a quiet one each test takes a fraction of this.
pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(900)]

VICTIMS = ("processors", "sender", "sink", "ingress")


@dataclass
class Kills:
    """What each kill left: for the sender, the calls its incarnation made that its ledger does
    not know (the only replies that may reach a user twice)."""

    done: list[str] = field(default_factory=list)
    uncertain: set[str] = field(default_factory=set)
    incarnations: dict[str, set[str]] = field(default_factory=dict)  # tag -> ledger at its kill


async def kill_and_restart(
    victim: str, pipe: Pipeline, sandbox: SandboxRig, kafka: KafkaSettings, kills: Kills
) -> None:
    service = pipe[victim]
    service.kill()  # SIGKILL
    kills.done.append(victim)
    if victim == "sender":
        tag = f"sender-{service.starts}"
        kills.incarnations[tag] = await ledger_keys(kafka)  # final: its writer is dead
        service.env["GRAPH_API_BASE_URL"] = await sandbox.url_for(f"sender-{service.starts + 1}")
    service.start()
    await service.ready(120)


def uncertain_calls(sandbox: SandboxRig, kills: Kills) -> set[str]:
    made: dict[str, set[str]] = {}
    for cid, tag in sandbox.accepted():
        made.setdefault(tag, set()).add(cid)
    out: set[str] = set()
    for tag, ledger in kills.incarnations.items():
        out |= made.get(tag, set()) - ledger
    return out


async def progress(load: WebhookLoad, sandbox: SandboxRig, acked: int, sent: int) -> None:
    """Wait until the pipeline moved on: more webhooks acknowledged and more replies sent."""
    await until(lambda: len(load.acked) >= acked, f"{acked} webhooks acknowledged", 120)
    await until(lambda: len(sandbox.accepted()) >= sent, f"{sent} replies sent", 120)


async def run_kills(
    kafka: KafkaSettings,
    tmp_path: Path,
    victims: list[str] | None,
    duration_s: float = 0.0,
    every_s: float = 0.0,
    rate: float = 10.0,
) -> tuple[dict[str, object], dict[str, int]]:
    clickhouse = f"chdb://{tmp_path / 'chdb'}"
    kills = Kills()
    async with pipeline_on(kafka, tmp_path, clickhouse) as (pipe, sandbox):
        async with WebhookLoad(pipe.webhook_url, uuid.uuid4().hex[:6], rate) as load:
            await progress(load, sandbox, 40, 20)
            rng = random.Random(int(os.environ.get("CHAOS_SEED", "0")) or None)
            order = list(victims or ())
            deadline = time.monotonic() + duration_s
            for step in range(10_000):
                if victims is not None and step >= len(order):
                    break
                if victims is None:  # chaos: random victims, one every every_s, until time
                    if time.monotonic() > deadline:
                        break
                    order.append(rng.choice(VICTIMS))
                    await asyncio.sleep(every_s)  # pacing of the kills
                victim = order[step]
                load.phase = f"kill-{step}-{victim}"
                await kill_and_restart(victim, pipe, sandbox, kafka, kills)
                await progress(load, sandbox, len(load.acked) + 20, len(sandbox.accepted()) + 10)
            load.phase = "end"
            await load.finish()
        dead = await settle(pipe, load, sandbox, kafka)
        accounting = await account(load, kafka, sandbox)
        uncertain = uncertain_calls(sandbox, kills)
    counts = clickhouse_counts(clickhouse)
    n = len(load.generated)
    print(
        f"\nkills {kills.done}: {accounting.line()}; uncertain sender calls {len(uncertain)};"
        f" load {load.summary()}; clickhouse {counts}"
    )
    assert dead == []
    statuses = set(load.statuses())
    assert statuses <= {"200", "503", "connect_error"}, load.summary()
    assert all(a.phase.endswith("ingress") for a in load.attempts if a.status == "connect_error"), (
        "connection refused while the ingress was up"
    )
    assert accounting.acked_missing_on_inbound == [], "acknowledged but not on inbound"
    assert accounting.acknowledged == accounting.inbound_distinct == n
    assert accounting.replies_missing == [] and accounting.replies_unexpected == []
    assert set(accounting.duplicates) <= uncertain, "a reply sent twice by a live sender"
    assert all(k == 2 for k in accounting.duplicates.values())
    assert_counts(counts, n)
    return load.summary(), counts


async def test_kill_9_of_each_service_in_turn_under_load(
    kafka_settings: KafkaSettings, broker: object, tmp_path: Path
) -> None:
    if not getattr(broker, "real_kafka", False):
        pytest.skip("counted on real Kafka (the embedded broker's end offsets undercount)")
    await run_kills(kafka_settings, tmp_path, list(VICTIMS))


@pytest.mark.skipif(not os.environ.get("CHAOS_DURATION_S"), reason="the long version: make chaos")
async def test_chaos_kills_for_a_while(
    kafka_settings: KafkaSettings, broker: object, tmp_path: Path
) -> None:
    await run_kills(
        kafka_settings,
        tmp_path,
        None,
        duration_s=float(os.environ["CHAOS_DURATION_S"]),
        every_s=float(os.environ.get("CHAOS_KILL_EVERY_S", "15")),
        rate=float(os.environ.get("CHAOS_RATE", "10")),
    )
