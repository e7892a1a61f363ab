"""The local Apache Kafka runner (hookstream/embedded/apache_kafka.py) against real JVM brokers:
start, stop, a restart that keeps topics and records, and each bad start as one line."""

from __future__ import annotations

import os
import shutil
import socket
from pathlib import Path

import pytest
from aiokafka import TopicPartition

from hookstream.embedded import kafka_maven
from hookstream.embedded.apache_kafka import ApacheKafka, KafkaStartError
from hookstream.runtime.kafka import ensure_topics, new_consumer, new_producer
from hookstream.runtime.settings import KafkaSettings
from tests.support.brokers import local_kafka_unavailable_reason

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.fixture(scope="module", autouse=True)
def _needs_local_kafka() -> None:
    reason = local_kafka_unavailable_reason()
    if reason:
        pytest.skip(reason)


def _our_children() -> set[int]:
    """Processes whose parent is this test process (the runner's JVMs, and whatever the
    session's fixtures started)."""
    pids = set()
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                fields = (proc / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == os.getpid():
                pids.add(int(proc.name))
    return pids


async def _produce_and_count(kafka: KafkaSettings, records: int) -> int:
    producer = new_producer(kafka)
    await producer.start()
    try:
        for i in range(records):
            await producer.send(kafka.topic("inbound"), b"v%d" % i, key=b"k%d" % i)
        await producer.flush()
    finally:
        await producer.stop()
    return await _count(kafka)


async def _count(kafka: KafkaSettings, partitions: int = 3) -> int:
    """Records on `inbound`, from its end offsets (exact on real Kafka, batches or not)."""
    consumer = new_consumer(kafka, group_id=None)
    await consumer.start()
    try:
        tps = [TopicPartition(kafka.topic("inbound"), p) for p in range(partitions)]
        return sum((await consumer.end_offsets(tps)).values())
    finally:
        await consumer.stop()


async def test_start_stop_and_a_restart_keeps_topics_and_records(tmp_path: Path) -> None:
    before = _our_children()  # e.g. the session's broker
    cluster = ApacheKafka(tmp_path / "kafka").start()
    try:
        kafka = KafkaSettings(bootstrap_servers=cluster.bootstrap_servers, partitions=3)
        await ensure_topics(kafka)
        assert await _produce_and_count(kafka, 25) == 25  # idempotent producer: real Kafka can
        cluster_id = cluster.cluster_id
        cluster.stop()
        assert not cluster.running
        cluster.start()
        assert cluster.cluster_id == cluster_id
        assert await ensure_topics(kafka) == []  # every topic survived
        assert await _count(kafka) == 25
    finally:
        cluster.stop()
    assert _our_children() <= before  # nothing of ours left running


def test_a_taken_port_is_one_line_before_anything_starts(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(KafkaStartError) as caught:
            ApacheKafka(tmp_path, ports=(port,)).start()
    assert f"port {port} is taken" in str(caught.value)
    assert "\n" not in str(caught.value)
    assert not (tmp_path / "node-1" / "data").exists()


def test_a_log_dir_of_another_cluster_is_refused(tmp_path: Path) -> None:
    data = tmp_path / "node-1" / "data"
    data.mkdir(parents=True)
    (data / "meta.properties").write_text(
        "version=1\ncluster.id=AAAAAAAAAAAAAAAAAAAAAA\nnode.id=1\n"
    )
    with pytest.raises(KafkaStartError, match=r"formatted for cluster id AAAA.*not BBBB"):
        ApacheKafka(tmp_path, cluster_id="BBBBBBBBBBBBBBBBBBBBBB").start()


def test_a_missing_jar_names_the_problem_and_the_log(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = Path(kafka_maven.classpath()).parent
    broken = tmp_path / "cache"
    broken.mkdir()
    for jar in real.iterdir():
        if not jar.name.startswith("scala-library"):
            (broken / jar.name).symlink_to(jar)
    monkeypatch.setenv("HOOKSTREAM_KAFKA_CACHE", str(broken))
    before = _our_children()
    with pytest.raises(KafkaStartError) as caught:
        ApacheKafka(tmp_path / "kafka").start(timeout_s=60)
    message = str(caught.value)
    assert "a jar is missing" in message
    assert str(tmp_path / "kafka" / "node-1" / "broker.log") in message
    assert "\n" not in message
    assert _our_children() <= before
    shutil.rmtree(broken)
