"""End to end: a real Prometheus scrapes the lag exporter while the consumer group is stopped and
records keep arriving; the lag alert goes pending, then firing; the group resumes; it resolves.

The rule is HookstreamConsumerLagHigh from deploy/prometheus/alerts.yml with a test threshold
(3 records) and `for: 3s`, so the test runs in seconds. The "processors" are a plain consumer
committing under the group id (what any pipeline service does).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml
from aiokafka import TopicPartition

from hookstream.embedded import processes
from hookstream.runtime.kafka import new_consumer
from hookstream.runtime.settings import KafkaSettings
from tests.support.ops_rig import commit_as_group, produce_one_per_batch

pytestmark = [
    pytest.mark.integration,
    pytest.mark.slow,
    pytest.mark.skipif(
        shutil.which("prometheus") is None,
        reason="prometheus not installed (Debian package `prometheus`)",
    ),
]

RULES = Path(__file__).resolve().parents[2] / "deploy" / "prometheus" / "alerts.yml"
ALERT = "HookstreamConsumerLagHigh"


def lag_rule_for_test(path: Path) -> Path:
    """alerts.yml's lag rule with a 3-record threshold and a 3 s `for:`."""
    rule = next(
        r
        for g in yaml.safe_load(RULES.read_text())["groups"]
        for r in g["rules"]
        if r.get("alert") == ALERT
    )
    assert rule["expr"].endswith("> 1000")
    rule = {**rule, "expr": rule["expr"].removesuffix("> 1000") + "> 3", "for": "3s"}
    path.write_text(yaml.safe_dump({"groups": [{"name": "test", "rules": [rule]}]}))
    return path


def wait_http(url: str, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=1.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"{url} did not answer within {timeout_s}s")


@pytest.fixture
def exporter(kafka_settings: KafkaSettings, tmp_path: Path) -> Iterator[str]:
    port = processes.free_port()
    env = {
        **os.environ,
        "KAFKA_BOOTSTRAP_SERVERS": kafka_settings.bootstrap_servers,
        "HOOKSTREAM_TOPIC_PREFIX": kafka_settings.topic_prefix,
        "KAFKA_ENABLE_IDEMPOTENCE": "false",
        "HOOKSTREAM_OPS_LAG_TOPICS": "inbound",
        "HOOKSTREAM_OPS_LAG_INTERVAL_S": "0.5",
        "HOOKSTREAM_OPS_STATUS_WINDOW_S": "3",
    }
    log = (tmp_path / "exporter.log").open("wb")
    child = processes.spawn(
        [sys.executable, "-m", "hookstream", "lag-exporter", "--port", str(port)],
        env=env,
        stdout=log,
        stderr=log,
    )
    try:
        wait_http(f"http://127.0.0.1:{port}/readyz")
        yield f"127.0.0.1:{port}"
    finally:
        processes.stop(child)
        log.close()


@pytest.fixture
def prometheus(exporter: str, tmp_path: Path) -> Iterator[str]:
    port = processes.free_port()
    config = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(lag_rule_for_test(tmp_path / "rules.yml"))],
        "scrape_configs": [
            {"job_name": "hookstream-lag-exporter", "static_configs": [{"targets": [exporter]}]}
        ],
    }
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(config))
    log = (tmp_path / "prometheus.log").open("wb")
    binary = shutil.which("prometheus") or "prometheus"
    child = processes.spawn(
        [
            binary,
            f"--config.file={tmp_path / 'prometheus.yml'}",
            f"--storage.tsdb.path={tmp_path / 'tsdb'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        stdout=log,
        stderr=log,
    )
    try:
        wait_http(f"http://127.0.0.1:{port}/-/ready")
        yield f"http://127.0.0.1:{port}"
    finally:
        processes.stop(child)
        log.close()


async def alert_states(client: httpx.AsyncClient, base: str, group: str) -> set[str]:
    answer = (await client.get(f"{base}/api/v1/alerts")).json()
    return {
        a["state"]
        for a in answer["data"]["alerts"]
        if a["labels"].get("alertname") == ALERT and a["labels"].get("consumergroup") == group
    }


async def wait_state(
    client: httpx.AsyncClient, base: str, group: str, wanted: str | None, timeout_s: float = 60.0
) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while loop.time() < deadline:
        states = await alert_states(client, base, group)
        if (wanted in states) if wanted else not states:
            return
        await asyncio.sleep(0.2)
    raise AssertionError(f"alert never reached {wanted or 'resolved'} within {timeout_s}s")


async def keep_producing(settings: KafkaSettings, topic: str) -> None:
    """Events keep arriving while the group is stopped: one record per batch."""
    while True:
        await produce_one_per_batch(settings, topic, {0: 1})
        await asyncio.sleep(0.3)


async def consume_to_end(settings: KafkaSettings, group: str, tp: TopicPartition) -> None:
    """The group resumes: read everything there is and commit it."""
    consumer = new_consumer(settings, group_id=group)
    await consumer.start()
    try:
        consumer.assign([tp])
        end = (await consumer.end_offsets([tp]))[tp]
        position = await consumer.committed(tp) or 0
        consumer.seek(tp, position)
        while position < end:
            for records in (await consumer.getmany(tp, timeout_ms=500)).values():
                position = records[-1].offset + 1
        await consumer.commit({tp: position})
    finally:
        await consumer.stop()


async def test_lag_alert_pending_firing_resolved(
    kafka_settings: KafkaSettings,
    prometheus: str,
) -> None:
    topic = kafka_settings.topic("inbound")
    tp = TopicPartition(topic, 0)
    group = f"{kafka_settings.topic_prefix}processors"
    await produce_one_per_batch(kafka_settings, topic, {0: 2})
    await commit_as_group(kafka_settings, group, {tp: 2})  # caught up, then it stops
    async with httpx.AsyncClient(timeout=5.0) as client:
        assert await alert_states(client, prometheus, group) == set()
        producer_task = asyncio.create_task(keep_producing(kafka_settings, topic))
        try:
            await wait_state(client, prometheus, group, "pending")
            await wait_state(client, prometheus, group, "firing")
            status = (
                await client.get(
                    f"{prometheus}/api/v1/query",
                    params={"query": f'kafka_consumergroup_status{{consumergroup="{group}"}}'},
                )
            ).json()
            assert [r["value"][1] for r in status["data"]["result"]] == ["3"]  # STOP
        finally:
            producer_task.cancel()
            await asyncio.gather(producer_task, return_exceptions=True)
        await consume_to_end(kafka_settings, group, tp)
        await wait_state(client, prometheus, group, None)
        lag = (
            await client.get(
                f"{prometheus}/api/v1/query",
                params={"query": f'kafka_consumergroup_lag_sum{{consumergroup="{group}"}}'},
            )
        ).json()
        assert [float(r["value"][1]) for r in lag["data"]["result"]] == [0.0]
