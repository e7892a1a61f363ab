"""Broker faults on real Apache Kafka, under webhook load, counted exactly.

The whole pipeline runs as `hookstream <service>` child processes (ingress, processors, sender,
sink) against local Kafka nodes of this test; a load generator posts signed webhooks over HTTP
and, like Meta, re-posts a body until it gets its 200. The Send API sandbox runs in the test.

- one broker, kill -9 under load, restarted on the same log dir;
- three brokers (replication 3, min.insync.replicas=2, acks=all), kill -9 of the node leading
  every `inbound` partition, then it rejoins.

Afterwards: every webhook answered 200 is on `inbound` (distinct event ids), every reply reached
the sandbox exactly once, ClickHouse counts each fact once, and no service was restarted.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiokafka.admin import NewTopic

from hookstream.embedded.apache_kafka import ApacheKafka
from hookstream.embedded.kafka_maven import java_binary
from hookstream.runtime.kafka import new_admin
from hookstream.runtime.settings import KafkaSettings
from tests.support.faults_rig import (
    PIPELINE,
    Accounting,
    BrokerThread,
    Pipeline,
    Read,
    SandboxRig,
    WebhookLoad,
    account,
    assert_counts,
    clickhouse_counts,
    create_topics,
    http_status,
    kafka_settings,
    pipeline_on,
    settle,
    until,
)

# Generous: the machine is shared; on a quiet one each test takes a fraction of this.
pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(900)]


def _java_or_skip() -> None:
    try:
        java_binary()
    except Exception as exc:  # noqa: BLE001 - no Java: these tests cannot run here
        pytest.skip(f"needs Java 17+ for a local Apache Kafka: {exc}")


@pytest.fixture
async def nodes() -> AsyncIterator[BrokerThread]:
    _java_or_skip()
    thread = BrokerThread()
    yield thread
    thread.close()


async def _inbound_with_leader(kafka: KafkaSettings, leader: int, others: list[int]) -> None:
    """`inbound` with every partition led by `leader` (first in each replica list), so one kill
    moves the leadership of all of them; the other topics spread as Kafka chooses."""
    admin = new_admin(kafka)
    await admin.start()
    try:
        replicas = [leader, *others]
        await admin.create_topics(
            [
                NewTopic(
                    kafka.topic("inbound"),
                    num_partitions=-1,
                    replication_factor=-1,
                    replica_assignments={p: replicas for p in range(kafka.partitions)},
                    topic_configs={"min.insync.replicas": "2"},
                )
            ]
        )
    finally:
        await admin.close()


def assert_exact(accounting: Accounting, counts: dict[str, int], n: int) -> None:
    assert accounting.acked_missing_on_inbound == [], "acknowledged but not on inbound"
    assert accounting.acknowledged == n and accounting.inbound_distinct == n
    assert accounting.replies_missing == [] and accounting.replies_unexpected == []
    assert accounting.duplicates == {}, "a reply reached the user twice"
    assert accounting.replies_delivered == accounting.sends == n
    assert_counts(counts, n)


async def wind_down(
    pipe: Pipeline,
    pids: dict[str, int],
    load: WebhookLoad,
    sandbox: SandboxRig,
    kafka: KafkaSettings,
) -> tuple[list[Read], Accounting]:
    assert pipe.pids() == pids, "a service was restarted"
    dead = await settle(pipe, load, sandbox, kafka)
    return dead, await account(load, kafka, sandbox)


def verdict(
    what: str, load: WebhookLoad, accounting: Accounting, counts: dict[str, int], dead: list[Read]
) -> None:
    print(f"\n{what}: {accounting.line()}; load {load.summary()}; clickhouse {counts}")
    assert dead == [], "something was dead-lettered"
    no_bad_answers(load)
    assert_exact(accounting, counts, len(load.generated))


def no_bad_answers(load: WebhookLoad) -> None:
    statuses = load.statuses()
    assert set(statuses) <= {"200", "503"}, f"unexpected answers: {load.summary()}"
    assert all(a.retry_after for a in load.attempts if a.status == "503"), "503 without Retry-After"


async def test_one_broker_killed_under_load_and_restarted_on_its_log_dir(
    tmp_path: Path, nodes: BrokerThread
) -> None:
    broker = ApacheKafka(tmp_path / "kafka")
    await nodes(broker.start)
    try:
        kafka = kafka_settings(broker.bootstrap_servers, f"f{uuid.uuid4().hex[:8]}.")
        await create_topics(kafka)
        clickhouse = f"chdb://{tmp_path / 'chdb'}"
        async with pipeline_on(kafka, tmp_path, clickhouse) as (pipe, sandbox):
            pids = pipe.pids()
            readyz = f"{pipe['ingress'].url}/readyz"
            async with WebhookLoad(pipe.webhook_url, uuid.uuid4().hex[:6]) as load:
                await until(lambda: len(load.acked) >= 60, "webhooks before the kill")
                load.phase = "outage"
                await nodes(broker.kill, 1)
                await until(lambda: _is(readyz, 503), "/readyz 503 while the broker is dead")
                await until(lambda: load.count_in("outage", "503") >= 5, "503s in the outage")
                load.phase = "restart"
                await nodes(broker.restart, 1, 240.0)
                await until(lambda: _is(readyz, 200), "/readyz 200 again", 60)
                load.phase = "after"
                await until(lambda: load.count_in("after", "200") >= 20, "200s after", 60)
                await load.finish()
            dead, accounting = await wind_down(pipe, pids, load, sandbox, kafka)
        counts = clickhouse_counts(clickhouse)
    finally:
        await nodes(broker.stop)
    verdict("one broker kill -9", load, accounting, counts, dead)


async def test_three_brokers_leader_of_inbound_killed_under_load(
    tmp_path: Path, nodes: BrokerThread
) -> None:
    cluster = ApacheKafka(tmp_path / "kafka", nodes=3, overrides={"min.insync.replicas": "2"})
    await nodes(cluster.start)
    try:
        kafka = kafka_settings(
            cluster.bootstrap_servers, f"f{uuid.uuid4().hex[:8]}.", replication=3
        )
        leader = 1
        await _inbound_with_leader(kafka, leader, [2, 3])
        await create_topics(kafka, {"min.insync.replicas": "2"})  # inbound exists already
        inbound = kafka.topic("inbound")
        clickhouse = f"chdb://{tmp_path / 'chdb'}"
        async with pipeline_on(kafka, tmp_path, clickhouse) as (pipe, sandbox):
            pids = pipe.pids()
            assert {cluster.leader(inbound, p) for p in range(kafka.partitions)} == {leader}
            async with WebhookLoad(pipe.webhook_url, uuid.uuid4().hex[:6]) as load:
                await until(lambda: len(load.acked) >= 60, "webhooks before the kill")
                load.phase = "failover"
                await nodes(cluster.kill, leader)
                for p in range(kafka.partitions):
                    await nodes(cluster.leader, inbound, p, {leader})
                load.phase = "moved"
                await until(lambda: load.count_in("moved", "200") >= 20, "200s after", 60)
                load.phase = "rejoin"
                await nodes(cluster.restart, leader, 240.0)
                await until(lambda: _rejoined(cluster, kafka, leader), "back in sync", 120)
                await until(lambda: load.count_in("rejoin", "200") >= 10, "200s", 60)
                await load.finish()
            dead, accounting = await wind_down(pipe, pids, load, sandbox, kafka)
        counts = clickhouse_counts(clickhouse)
    finally:
        await nodes(cluster.stop)
    verdict("leader kill -9", load, accounting, counts, dead)


async def _is(url: str, status: int) -> bool:
    return await http_status(url) == status


async def _rejoined(cluster: ApacheKafka, kafka: KafkaSettings, node: int) -> bool:
    """The node is back in the in-sync replicas of every pipeline partition."""

    def check() -> bool:
        try:
            return all(
                node in cluster.in_sync(kafka.topic(name), p)
                for name in PIPELINE
                for p in range(kafka.partitions)
            )
        except Exception:  # noqa: BLE001 - metadata while the node rejoins: ask again
            return False

    return await asyncio.to_thread(check)
